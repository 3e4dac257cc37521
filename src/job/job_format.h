// A Job written back out in the job file's own syntax, with every default
// filled in: JSON for scripts and storage, YAML for people. parseJob() reads
// both back to an equal Job.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "job/job.h"

namespace ozy {

// Ordered, so containers keep the file's order (which parseJob() preserves).
nlohmann::ordered_json toJson(const Job& job);
std::string toYaml(const Job& job);

// Block-style YAML for any JSON value (objects keep their key order as given).
std::string jsonToYaml(const nlohmann::ordered_json& value);

}  // namespace ozy
