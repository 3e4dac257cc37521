// The directories behind a job's volumes on this node.
//
// local:  <local root>/<job>/<instance id>/<container>/<volume index>, made
//         when the instance's pod is created, deleted when etcd says the
//         instance left the node (or after a grace period unused), never
//         when the node merely stands down or restarts.
// shared: <shared root>/<job>/<container>/<volume index>, one per job and
//         volume, seen by every instance on every node that mounts the same
//         shared root (NFS or similar on a real cluster). Kept when a job
//         stops: shared data is the operator's to delete.
//
// Owner: a volume directory belongs to the pods' root (the host id that
// container uid 0 maps to, runtime::IdMap), so containers in their user
// namespace can write it while host root's files stay out of their reach.
// Only the volume directory itself is handed over, and only when its owner
// is outside the containers' ids (new, or made before user namespaces):
// what a container did inside it, such as handing its data to another of
// its users, stays as it left it.
//
// Space: the scheduler accounts every volume's `space` against the node's
// disk (local) or the cluster's shared pool (shared); nothing here limits
// how much a container writes (see docs/operations.md).
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"
#include "job/job.h"
#include "runtime/runtime.h"

namespace ozy {

class VolumeDirs {
 public:
  // With an empty `owner` (no user namespace) directories stay root's.
  VolumeDirs(std::filesystem::path localRoot, std::filesystem::path sharedRoot,
             runtime::IdMap owner = {})
      : localRoot_(std::move(localRoot)), sharedRoot_(std::move(sharedRoot)), owner_(owner) {}

  // Creates (if missing) the container's volume directories and returns its mounts.
  Result<std::vector<runtime::Mount>, std::string> prepare(const std::string& job, std::uint32_t id,
                                                           const Container& container) const;
  // Deletes an instance's local volumes; a missing directory is not an error.
  Result<bool, std::string> removeLocal(const std::string& job, std::uint32_t id) const;
  // The instances that have local volumes on this node.
  std::vector<std::pair<std::string, std::uint32_t>> listLocal() const;

  std::filesystem::path localDir(const std::string& job, std::uint32_t id) const;

 private:
  std::filesystem::path localRoot_;
  std::filesystem::path sharedRoot_;
  runtime::IdMap owner_;
};

}  // namespace ozy
