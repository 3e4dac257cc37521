// What the placement engine sees of the cluster: nodes with capacity and
// current use, and the cluster-wide shared volume pool. Plain data, built by
// the caller from etcd (the agent) or from a file (`ozy plan`).
#pragma once

#include <compare>
#include <cstdint>
#include <string>
#include <vector>

#include "job/job.h"
#include "job/units.h"

namespace ozy {

struct Resources {
  Bytes memory = 0;
  Bytes disk = 0;
  bool operator==(const Resources&) const = default;
};

// A host port as the node sees it: publishing 80/tcp twice on one node fails.
struct HostPort {
  std::uint16_t port = 0;
  Protocol protocol = Protocol::kTcp;
  auto operator<=>(const HostPort&) const = default;
  std::uint32_t key() const {
    return (static_cast<std::uint32_t>(port) << 1) | (protocol == Protocol::kUdp ? 1U : 0U);
  }
};

std::string toString(const HostPort& port);  // "80/tcp"

struct NodeState {
  std::string name;
  Resources capacity;
  Resources used;
  std::vector<HostPort> portsInUse;
  // Drained by its operator (`ozy node drain`): it keeps what it runs but
  // takes no new instance, and a problem names it when that is why a job
  // does not fit.
  bool drained = false;
};

struct ClusterState {
  std::vector<NodeState> nodes;
  // Shared volumes live on storage every node mounts (NFS or similar); a job
  // draws its shared volumes' space from this pool once, however many
  // instances it runs.
  Bytes sharedCapacity = 0;
  Bytes sharedUsed = 0;
};

// What one instance of a job needs from the node it lands on, and what the
// job needs once from the shared pool.
struct JobDemand {
  std::string job;
  Resources perInstance;             // memory: sum of containers; disk: sum of local volumes
  std::vector<HostPort> hostPorts;   // published by every instance, sorted, unique
  Bytes sharedSpace = 0;             // sum of shared volumes, drawn once per job
};

JobDemand demandOf(const Job& job);

}  // namespace ozy
