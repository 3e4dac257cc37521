#include "agent/pod_policy.h"

#include <algorithm>

#include <fmt/format.h>

#include "job/capabilities.h"

namespace ozy {

std::optional<std::string> refusal(const Job& job, const PodPolicy& policy) {
  if (auto missing = firstCapabilityNotAllowed(job, policy.allowedCapabilities)) {
    return fmt::format(
        "container {} asks for capability {}, which this node does not allow (the operator "
        "allows it with ozy agent --allow-capability {})",
        missing->container, missing->capability, missing->capability);
  }
  for (const auto& c : job.containers) {
    for (const auto& p : c.ports) {
      // A port without a host IP goes on the node's address, never on every
      // address (0.0.0.0) of the host.
      if (!p.hostIp.empty() && p.hostIp != policy.address &&
          std::find(policy.allowedHostIps.begin(), policy.allowedHostIps.end(), p.hostIp) ==
              policy.allowedHostIps.end()) {
        return fmt::format(
            "container {} publishes port {} on host address {}, but this node publishes only on "
            "{}{} (the operator allows more with ozy agent --allow-host-ip {})",
            c.name, toString(p), p.hostIp, policy.address,
            policy.allowedHostIps.empty() ? ""
                                          : fmt::format(" and {}", fmt::join(policy.allowedHostIps, ", ")),
            p.hostIp);
      }
      const HostPort wanted{p.hostPort, p.protocol};
      if (p.hostPort != 0 && std::find(policy.reservedPorts.begin(), policy.reservedPorts.end(),
                                       wanted) != policy.reservedPorts.end()) {
        return fmt::format(
            "container {} publishes host port {}, which this node reserves for its agent API, etcd "
            "or DNS",
            c.name, toString(wanted));
      }
    }
  }
  return std::nullopt;
}

}  // namespace ozy
