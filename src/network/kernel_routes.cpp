#include "network/kernel_routes.h"

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "network/command.h"

namespace ozy {

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

}  // namespace ozy
