#include "network/routes.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

namespace ozy {

std::vector<Route> wantedRoutes(const std::vector<SubnetLease>& leases, const Ipv4Cidr& network, Ipv4Address self,
                                std::string_view backendType, std::vector<std::string>* skipped) {
  std::vector<Route> out;
  for (const SubnetLease& lease : leases) {
    if (lease.publicIp == self || lease.subnet.contains(self)) continue;
    if (!network.contains(lease.subnet)) {
      if (skipped) {
        skipped->push_back(fmt::format("{} of node {} is outside the pod network {}: not routed",
                                       lease.subnet.toString(), lease.publicIp.toString(), network.toString()));
      }
      continue;
    }
    if (lease.backendType != backendType) {
      if (skipped) {
        skipped->push_back(fmt::format("{} of node {} uses backend {}, not {}: not routed",
                                       lease.subnet.toString(), lease.publicIp.toString(),
                                       lease.backendType, backendType));
      }
      continue;
    }
    out.push_back({lease.subnet, lease.publicIp});
  }
  std::sort(out.begin(), out.end());
  return out;
}

RouteChanges planRoutes(const std::vector<Route>& wanted, const std::vector<Route>& current) {
  std::map<Ipv4Cidr, Ipv4Address> have;
  for (const Route& r : current) have[r.subnet] = r.via;
  std::map<Ipv4Cidr, Ipv4Address> want;
  for (const Route& r : wanted) want[r.subnet] = r.via;
  RouteChanges changes;
  for (const auto& [subnet, via] : want) {
    auto it = have.find(subnet);
    if (it == have.end() || it->second != via) changes.replace.push_back({subnet, via});
  }
  for (const auto& [subnet, via] : have) {
    if (!want.contains(subnet)) changes.remove.push_back(subnet);
  }
  return changes;
}

Result<RouteChanges, std::vector<std::string>> HostGwBackend::apply(const std::vector<SubnetLease>& leases) {
  std::vector<std::string> errors;
  const std::vector<Route> wanted = wantedRoutes(leases, network_, self_, type(), &errors);
  auto current = routes_.list();
  if (!current) return fail(std::vector<std::string>{std::move(current).error()});
  RouteChanges changes = planRoutes(wanted, *current);
  for (const Route& route : changes.replace) {
    if (auto done = routes_.replace(route); !done) {
      // "Nexthop has invalid gateway": the node is not on this one's segment.
      errors.push_back(fmt::format("{} (host-gw routes need every node on one L2 segment)", done.error()));
    }
  }
  for (const Ipv4Cidr& subnet : changes.remove) {
    if (auto done = routes_.remove(subnet); !done) errors.push_back(done.error());
  }
  if (!errors.empty()) return fail(std::move(errors));
  return changes;
}

}  // namespace ozy
