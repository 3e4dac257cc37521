// What a node agrees to run: the operator's limits on a job's pods, checked
// before a pod is made (docs/operations.md#security).
//
// Pure: the supervisor asks refusal() and, if it answers, fails the instance
// with that reason instead of creating the pod. The scheduler already keeps
// reserved ports free (NodeRecord::reservedPorts); checking them here too
// covers instances placed before the node reserved them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "job/job.h"
#include "placement/cluster.h"

namespace ozy {

struct PodPolicy {
  std::string address;                       // the node's --address: always allowed
  std::vector<std::string> allowedHostIps;   // --allow-host-ip
  std::vector<std::string> allowedCapabilities;  // --allow-capability, beyond the default set
  std::vector<HostPort> reservedPorts;       // the agent's, etcd's and DNS's ports
};

// Why the node will not run `job`, in words for the instance's status (naming
// the flag that would allow it); nullopt if it will.
std::optional<std::string> refusal(const Job& job, const PodPolicy& policy);

}  // namespace ozy
