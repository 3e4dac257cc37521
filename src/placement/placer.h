// The placement engine: puts instances of a job onto nodes.
//
// Pure and in memory: built from a ClusterState, it answers place() requests
// one after another, each seeing the use left by the ones before. The agent
// runs it on the state read from etcd and commits the result in a Txn that
// fails if that state changed; `ozy plan` runs it on a file.
//
// Feasibility: the node is not drained; memory, local disk, free host
// ports, and the shared pool.
// Choice: best fit on memory (the feasible node with the least memory left),
// preferring nodes that hold no instance of the job yet. docs/scheduling.md
// explains why.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "common/result.h"
#include "placement/cluster.h"
#include "problem/problem.h"

namespace ozy {

enum class PlacementMode {
  // A submission or scale-up: every instance is placed or none is.
  kAllOrNothing,
  // Re-placing a dead node's instances: place what fits, the rest wait.
  kAsManyAsFit,
};

struct PlacementRequest {
  JobDemand demand;
  std::uint32_t count = 0;  // instances to place now
  // Node indices that already run instances of this job (scale-up,
  // re-placement), so new instances spread away from them.
  std::vector<std::uint32_t> nodesWithJob;
  // False when the job's shared volumes already exist and are paid for.
  bool chargeSharedSpace = true;
  PlacementMode mode = PlacementMode::kAllOrNothing;
};

struct PlacementOutcome {
  std::vector<std::uint32_t> nodes;  // node index of each placed instance
  std::uint32_t pending = 0;         // instances left unplaced (kAsManyAsFit only)
  std::optional<Problem> why;        // why some are pending
};

class Placer {
 public:
  explicit Placer(ClusterState cluster);

  // On success the placed instances count as used for later requests. An
  // all-or-nothing request that does not fit changes nothing and returns the
  // problem (insufficient-memory, -disk, -ports or -shared-space).
  Result<PlacementOutcome, Problem> place(const PlacementRequest& request);

  // Gives back what one instance held on a node (scale-down, a stopped job).
  void release(std::uint32_t node, const JobDemand& demand);

  // The cluster with every placement so far applied.
  const ClusterState& state() const { return cluster_; }

 private:
  struct NodeUse {
    Resources free;
    std::vector<std::uint32_t> ports;  // HostPort::key(), sorted
    bool drained = false;              // never feasible, and not in the index
  };
  using IndexEntry = std::pair<Bytes, std::uint32_t>;  // free memory, node

  struct Pick {
    std::optional<std::uint32_t> node;
    bool holdsJob = false;  // the node already runs an instance of the job
  };
  bool fits(std::uint32_t node, const JobDemand& demand) const;
  Pick pick(const JobDemand& demand) const;
  // Once every feasible node holds an instance of the job: the nodes with
  // the fewest of its instances, in best-fit order (see place()).
  std::optional<std::uint32_t> nextLeastLoaded(const JobDemand& demand);
  void take(std::uint32_t node, const JobDemand& demand);
  // Marks the node's free-memory index entry stale; refreshIndex() brings
  // every stale entry up to date (before the index is read).
  void reindex(std::uint32_t node);
  void refreshIndex();
  Problem explain(const PlacementRequest& request, std::uint32_t placed) const;
  // " (node-x is drained)" when drained nodes took part in the answer.
  std::string drainedNote() const;

  ClusterState cluster_;
  std::vector<NodeUse> use_;
  // Nodes ordered by free memory: best fit is a lower_bound away. A node's
  // entry holds indexed_[node], which lags its free memory while stale.
  // Drained nodes have no entry: no walk meets them.
  std::set<IndexEntry> byFreeMemory_;
  std::vector<Bytes> indexed_;
  std::vector<bool> stale_;
  std::vector<std::uint32_t> staleNodes_;
  // Nodes holding an instance of the job being placed: marks_[n] == stamp_,
  // with jobCount_[n] instances. A new stamp per request clears every mark
  // in O(1).
  std::vector<std::uint32_t> marks_;
  std::vector<std::uint32_t> jobCount_;
  std::uint32_t stamp_ = 0;
  std::vector<std::uint32_t> candidates_;  // for nextLeastLoaded()
  std::size_t nextCandidate_ = 0;
  std::uint32_t drained_ = 0;  // how many nodes are drained
};

}  // namespace ozy
