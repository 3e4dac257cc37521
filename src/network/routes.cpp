#include "network/routes.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "network/command.h"

namespace ozy {

std::vector<Route> wantedRoutes(const std::vector<SubnetLease>& leases, Ipv4Address self,
                                std::string_view backendType, std::vector<std::string>* skipped) {
  std::vector<Route> out;
  for (const SubnetLease& lease : leases) {
    if (lease.publicIp == self || lease.subnet.contains(self)) continue;
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

namespace {

Result<std::monostate, std::string> ip(const std::vector<std::string>& argv) {
  auto ran = runCommand(argv);
  if (!ran) return fail(std::move(ran).error());
  if (ran->exitCode != 0) {
    std::string why = ran->err;
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return fail(fmt::format("{}: {}", commandText(argv), why.empty() ? "failed" : why));
  }
  return std::monostate{};
}

}  // namespace

Result<std::vector<Route>, std::string> KernelRoutes::list() {
  const std::vector<std::string> argv{"ip", "-j", "-4", "route", "show", "proto", std::to_string(kRouteProtocol)};
  auto ran = runCommand(argv);
  if (!ran) return fail(std::move(ran).error());
  if (ran->exitCode != 0) return fail(fmt::format("{}: {}", commandText(argv), ran->err));
  std::vector<Route> out;
  const auto routes = nlohmann::json::parse(ran->out.empty() ? "[]" : ran->out, nullptr, false);
  if (!routes.is_array()) return fail(fmt::format("{}: not a JSON list", commandText(argv)));
  for (const auto& r : routes) {
    if (!r.is_object() || !r.contains("dst") || !r.contains("gateway")) continue;
    if (!r["dst"].is_string() || !r["gateway"].is_string()) continue;
    auto subnet = Ipv4Cidr::parse(r["dst"].get<std::string>());
    auto via = Ipv4Address::parse(r["gateway"].get<std::string>());
    if (subnet && via) out.push_back({*subnet, *via});
  }
  return out;
}

Result<std::monostate, std::string> KernelRoutes::replace(const Route& route) {
  return ip({"ip", "-4", "route", "replace", route.subnet.toString(), "via", route.via.toString(), "proto",
             std::to_string(kRouteProtocol)});
}

Result<std::monostate, std::string> KernelRoutes::remove(const Ipv4Cidr& subnet) {
  return ip({"ip", "-4", "route", "del", subnet.toString(), "proto", std::to_string(kRouteProtocol)});
}

Result<RouteChanges, std::vector<std::string>> HostGwBackend::apply(const std::vector<SubnetLease>& leases) {
  std::vector<std::string> errors;
  const std::vector<Route> wanted = wantedRoutes(leases, self_, type(), &errors);
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
