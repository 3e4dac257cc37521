// Cluster description files for offline planning (`ozy plan --cluster`):
// nodes with capacity, current use and host ports in use, and the shared pool.
#pragma once

#include <string_view>
#include <vector>

#include "common/result.h"
#include "placement/cluster.h"
#include "problem/problem.h"

namespace ozy {

Result<ClusterState, std::vector<FieldError>> parseClusterFile(std::string_view text);

// RFC 1123 host name: dot-separated DNS labels, at most 253 characters.
bool isHostName(std::string_view name);

}  // namespace ozy
