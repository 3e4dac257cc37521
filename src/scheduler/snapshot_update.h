// Folding news about single keys into a ClusterSnapshot: from the state
// cache's watches, from the agent's own commits, and from the keys a lost
// commit read back. Older news than the snapshot holds (by mod_revision) is
// ignored, so the sources may arrive in any order. Pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "scheduler/planner.h"

namespace ozy {

// `value` null: the key is gone (as of `modRevision`, or of any revision
// when 0). Returns false when the value cannot be decoded: a node key is
// then taken as gone, and other keys are left as they were.
bool applyKey(ClusterSnapshot& view, const std::string& key, const std::string* value,
              std::int64_t modRevision);

// A node's usage as of `modRevision`; `usage` null when the key is gone.
void applyUsage(ClusterSnapshot& view, std::string_view node, const UsageRecord* usage,
                std::int64_t modRevision);

// Drops entries that are neither live nodes nor hold usage nor are drained.
void prune(ClusterSnapshot& view);

}  // namespace ozy
