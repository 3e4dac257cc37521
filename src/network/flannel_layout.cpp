// flannel's keys and subnet values; see flannel_layout.h.
#include "network/flannel_layout.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

namespace ozy {

std::string flannel::subnetKey(const Ipv4Cidr& subnet) {
  return std::string(kSubnetsPrefix) + subnet.toFlannelKey();
}

std::string encodeSubnetValue(Ipv4Address publicIp, std::string_view backendType) {
  nlohmann::ordered_json out;
  out["PublicIP"] = publicIp.toString();
  out["BackendType"] = std::string(backendType);
  return out.dump();
}

Result<SubnetLease, SkippedSubnet> decodeSubnetLease(std::string_view key, std::string_view value) {
  SkippedSubnet skipped{std::string(key), std::nullopt, {}};
  if (!key.starts_with(flannel::kSubnetsPrefix)) {
    skipped.reason = fmt::format("the key is not under {}", flannel::kSubnetsPrefix);
    return fail(std::move(skipped));
  }
  auto subnet = Ipv4Cidr::fromFlannelKey(key.substr(flannel::kSubnetsPrefix.size()));
  if (!subnet) {
    skipped.reason = "the key does not name a subnet: " + subnet.error();
    return fail(std::move(skipped));
  }
  skipped.subnet = *subnet;

  const auto json = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) {
    skipped.reason = "the value is not a JSON object";
    return fail(std::move(skipped));
  }
  const auto ip = json.find("PublicIP");
  if (ip == json.end() || !ip->is_string()) {
    skipped.reason = "the value has no PublicIP string";
    return fail(std::move(skipped));
  }
  auto address = Ipv4Address::parse(ip->get<std::string>());
  if (!address) {
    skipped.reason = "PublicIP " + address.error();
    return fail(std::move(skipped));
  }
  const auto backend = json.find("BackendType");
  if (backend == json.end() || !backend->is_string()) {
    skipped.reason = "the value has no BackendType string";
    return fail(std::move(skipped));
  }
  return SubnetLease{*subnet, *address, backend->get<std::string>(), 0, 0};
}

}  // namespace ozy
