// How the CLI shows problems: readable lines on stderr for people, the RFC
// 7807 document on stdout for scripts (--output json).
#pragma once

#include <optional>
#include <string>

#include "job/job.h"
#include "problem/problem.h"

namespace ozy {

// Prints `problem` for a person ("error: <title>: <detail>" plus any field
// errors, indented) or as JSON.
void printProblem(const Problem& problem, bool json);

// Reads, parses and validates a job file; on failure prints why (see
// printProblem) and returns nothing.
std::optional<Job> loadJobFile(const std::string& path, bool json);

}  // namespace ozy
