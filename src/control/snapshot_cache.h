// A live copy of what the scheduler reads (nodes, their usage, the shared
// pool, drained nodes), kept current by etcd watches, so a submission plans without a read
// round trip and without decoding every node again.
//
// Staleness is safe: every commit compares the revisions the plan relied on,
// so a plan from an outdated view fails its Txn and the control plane falls
// back to a direct read. The cache folds its own agent's commits in at once
// (applyCommit) so back-to-back submissions through one agent do not trip
// over their own writes. A PrefixFollower (store/prefix_follower.h) reads
// and watches the four prefixes; when a watch ends (etcd compacted the
// revision it needed), the cache re-reads everything and watches again, and
// offers no view until it has.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "common/result.h"
#include "problem/problem.h"
#include "scheduler/planner.h"
#include "store/prefix_follower.h"
#include "store/store.h"

namespace ozy {

class SnapshotCache {
 public:
  // Reads the state and starts the watches; fails if etcd cannot be read.
  static Result<std::unique_ptr<SnapshotCache>, StoreError> start(Store& store);
  ~SnapshotCache();
  SnapshotCache(const SnapshotCache&) = delete;
  SnapshotCache& operator=(const SnapshotCache&) = delete;

  // A copy of the current view, or nothing while it is being rebuilt.
  std::optional<ClusterSnapshot> current() const;

  // Applies the puts and deletes of a plan committed at `revision`.
  void applyCommit(const CommitPlan& plan, std::int64_t revision);

  // Ends the watches and the re-reading; returns once no update runs.
  void stop();

 private:
  SnapshotCache() = default;
  // The follower's callbacks.
  void replaceAll(const std::vector<KeyValue>& kvs, std::int64_t revision);
  void applyEvents(const std::vector<WatchEvent>& events);

  mutable std::mutex mutex_;
  ClusterSnapshot view_;  // nodes sorted by name
  bool valid_ = false;
  std::unique_ptr<PrefixFollower> follower_;
};

}  // namespace ozy
