// What a new spec changes in a running job, and so what running it again
// does (docs/jobs.md#update): nothing, a scale, a new version the running
// instances take in place, or a new version that needs new pods (a
// deployment). Pure.
#pragma once

#include <string>
#include <vector>

#include "job/job.h"

namespace ozy {

enum class SpecChange {
  kUnchanged,  // the same spec
  kScale,      // only numInstances or the update section
  kInPlace,    // also the ingress: a new version, the same pods
  kNewPods,    // anything else in a container: a new version, rolled out
};

SpecChange classifyChange(const Job& from, const Job& to);

// What differs, as short lines "containers.web.image: \"a:1\" -> \"a:2\"",
// at most `limit` of them (the last then says how many more), each value cut
// to a few dozen characters: for `ozy job history`, not for machines.
std::vector<std::string> describeChanges(const Job& from, const Job& to, std::size_t limit = 20);

}  // namespace ozy
