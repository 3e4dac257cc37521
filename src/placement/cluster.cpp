#include "placement/cluster.h"

#include <algorithm>

#include <fmt/format.h>

namespace ozy {

std::string toString(const HostPort& port) {
  return fmt::format("{}/{}", port.port, toString(port.protocol));
}

JobDemand demandOf(const Job& job) {
  JobDemand d;
  d.job = job.name;
  for (const auto& c : job.containers) {
    // Saturating: validation bounds these sums, but a job built in code
    // must not wrap around to a small demand either.
    d.perInstance.memory = saturatingAdd(d.perInstance.memory, c.memory);
    for (const auto& v : c.volumes) {
      if (v.type == VolumeType::kLocal) {
        d.perInstance.disk = saturatingAdd(d.perInstance.disk, v.space);
      } else {
        d.sharedSpace = saturatingAdd(d.sharedSpace, v.space);
      }
    }
    for (const auto& p : c.ports) {
      if (p.hostPort != 0) d.hostPorts.push_back(HostPort{p.hostPort, p.protocol});
    }
  }
  std::sort(d.hostPorts.begin(), d.hostPorts.end());
  d.hostPorts.erase(std::unique(d.hostPorts.begin(), d.hostPorts.end()), d.hostPorts.end());
  return d;
}

}  // namespace ozy
