// Cluster description files for offline planning (`ozy plan --cluster`):
// nodes with capacity, current use and host ports in use, and the shared pool.
#pragma once

#include <string_view>
#include <vector>

#include "common/result.h"
#include "job/job_parser.h"
#include "placement/cluster.h"
#include "problem/problem.h"

namespace ozy {

Result<ClusterState, std::vector<FieldError>> parseClusterFile(std::string_view text);

}  // namespace ozy
