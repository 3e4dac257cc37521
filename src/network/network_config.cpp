// Decoding, checking and encoding the pod network config; see network_config.h.
#include "network/network_config.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>

#include "job/suggest.h"

namespace ozy {
namespace {

using nlohmann::json;

constexpr int kMaxSubnetLen = 30;  // a /30 still leaves two usable addresses
// The longest Network flannel's SubnetLen default can divide (+2 gives /30).
constexpr int kLongestDefaultedNetwork = 28;

constexpr std::array<std::string_view, 5> kFields = {"Network", "SubnetLen", "SubnetMin",
                                                     "SubnetMax", "Backend"};
// flannel fields for what this agent does not do: refused with the reason
// rather than as unknown, so a flannel user learns what is missing.
constexpr std::array<std::string_view, 5> kIpv6Fields = {
    "EnableIPv6", "IPv6Network", "IPv6SubnetLen", "IPv6SubnetMin", "IPv6SubnetMax"};

// Collects the errors of one decode.
class Checker {
 public:
  void error(std::string path, std::string message) {
    errors_.push_back(FieldError{std::move(path), std::move(message), 0, 0});
  }
  bool ok() const { return errors_.empty(); }
  std::vector<FieldError> take() { return std::move(errors_); }

 private:
  std::vector<FieldError> errors_;
};

std::string unknownFieldMessage(const std::string& name, std::span<const std::string_view> known) {
  std::string message = "is not a field of a pod network config";
  if (auto guess = closestMatch(name, known)) {
    message += fmt::format(" (did you mean \"{}\"?)", *guess);
  } else {
    message += fmt::format(" (the fields are {})", fmt::join(known, ", "));
  }
  return message;
}

void checkFieldNames(const json& object, Checker& check) {
  for (const auto& [name, value] : object.items()) {
    if (std::find(kFields.begin(), kFields.end(), name) != kFields.end()) continue;
    if (std::find(kIpv6Fields.begin(), kIpv6Fields.end(), name) != kIpv6Fields.end()) {
      // flannel writes "EnableIPv6": false in some examples: harmless.
      if (name == "EnableIPv6" && value == false) continue;
      check.error(name, "IPv6 pod networks are not supported: this agent leases IPv4 subnets only");
      continue;
    }
    if (name == "EnableIPv4") {
      if (value != true) check.error(name, "must be true: this agent leases IPv4 subnets only");
      continue;
    }
    check.error(name, unknownFieldMessage(name, kFields));
  }
}

std::optional<Ipv4Cidr> decodeNetwork(const json& object, Checker& check) {
  const auto it = object.find("Network");
  if (it == object.end()) {
    check.error("Network",
                "is required: the IPv4 network the nodes' subnets are taken from, "
                "such as \"10.244.0.0/16\"");
    return std::nullopt;
  }
  if (!it->is_string()) {
    check.error("Network", "must be a string such as \"10.244.0.0/16\"");
    return std::nullopt;
  }
  auto network = Ipv4Cidr::parse(it->get<std::string>());
  if (!network) {
    check.error("Network", network.error());
    return std::nullopt;
  }
  return *network;
}

// The SubnetLen given or flannel's default; nullopt when neither works.
std::optional<int> decodeSubnetLen(const json& object, const std::optional<Ipv4Cidr>& network,
                                   Checker& check) {
  const int shortest = network ? network->prefixLength() + 1 : 1;
  const auto it = object.find("SubnetLen");
  if (it == object.end()) {
    if (!network) return std::nullopt;
    const int prefix = network->prefixLength();
    if (prefix > kLongestDefaultedNetwork) {
      check.error("Network", fmt::format("{} is too small to give each node a subnet: use a "
                                         "network of /{} or shorter, such as 10.244.0.0/16",
                                         network->toString(), kLongestDefaultedNetwork));
      return std::nullopt;
    }
    return prefix <= 22 ? 24 : prefix + 2;
  }
  const std::string range =
      network ? fmt::format(
                    "from {} to {} (longer than the Network's /{}, and at most /{} so "
                    "that a subnet holds two usable addresses)",
                    shortest, kMaxSubnetLen, network->prefixLength(), kMaxSubnetLen)
              : fmt::format("from 1 to {}", kMaxSubnetLen);
  if (!it->is_number_integer()) {
    check.error("SubnetLen", "must be a whole number " + range);
    return std::nullopt;
  }
  const auto length = it->get<std::int64_t>();
  if (length < shortest || length > kMaxSubnetLen) {
    check.error("SubnetLen", fmt::format("{} is out of range: it must be {}", length, range));
    return std::nullopt;
  }
  return static_cast<int>(length);
}

// SubnetMin or SubnetMax: an address inside the network where a subnet starts.
std::optional<Ipv4Address> decodeBound(const json& object, const char* name,
                                       const std::optional<Ipv4Cidr>& network,
                                       std::optional<int> subnetLen, Checker& check) {
  const auto it = object.find(name);
  if (it == object.end()) return std::nullopt;
  if (!it->is_string()) {
    check.error(name, "must be a string such as \"10.244.1.0\": the first address of a subnet");
    return std::nullopt;
  }
  auto address = Ipv4Address::parse(it->get<std::string>());
  if (!address) {
    check.error(name, address.error());
    return std::nullopt;
  }
  if (network && !network->contains(*address)) {
    check.error(name, fmt::format("{} is not inside the Network {}", address->toString(),
                                  network->toString()));
    return std::nullopt;
  }
  if (subnetLen && !Ipv4Cidr::of(*address, *subnetLen)) {
    const std::uint32_t mask = ~std::uint32_t{0} << (32 - *subnetLen);
    check.error(name, fmt::format("{} is not the start of a /{} subnet (the subnet holding it "
                                  "starts at {})",
                                  address->toString(), *subnetLen,
                                  Ipv4Address(address->toUint() & mask).toString()));
    return std::nullopt;
  }
  return *address;
}

std::string decodeBackend(const json& object, Checker& check) {
  const auto it = object.find("Backend");
  if (it == object.end()) return std::string(kHostGwBackend);
  if (!it->is_object()) {
    check.error("Backend", "must be an object such as {\"Type\": \"host-gw\"}");
    return {};
  }
  for (const auto& [name, value] : it->items()) {
    if (name != "Type") {
      check.error("Backend." + name, "is not a setting of the host-gw backend (it has none)");
    }
  }
  const auto type = it->find("Type");
  if (type == it->end()) return std::string(kHostGwBackend);
  if (!type->is_string()) {
    check.error("Backend.Type", "must be a string such as \"host-gw\"");
    return {};
  }
  const auto name = type->get<std::string>();
  if (name != kHostGwBackend) {
    check.error("Backend.Type",
                fmt::format("\"{}\" is not supported: this agent supports only host-gw (routes "
                            "to each node's subnet via the node's address), because these "
                            "machines' kernel has no vxlan, geneve or ipip devices for an "
                            "overlay; docs/network.md says what one would take",
                            name));
    return {};
  }
  return name;
}

}  // namespace

Result<NetworkConfig, std::vector<FieldError>> decodeNetworkConfig(std::string_view text) {
  Checker check;
  const json object = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded()) {
    check.error("", "the pod network config is not JSON");
    return fail(check.take());
  }
  if (!object.is_object()) {
    check.error("",
                "the pod network config must be a JSON object such as "
                "{\"Network\": \"10.244.0.0/16\"}");
    return fail(check.take());
  }
  checkFieldNames(object, check);
  const auto network = decodeNetwork(object, check);
  const auto subnetLen = decodeSubnetLen(object, network, check);
  const auto subnetMin = decodeBound(object, "SubnetMin", network, subnetLen, check);
  const auto subnetMax = decodeBound(object, "SubnetMax", network, subnetLen, check);
  std::string backend = decodeBackend(object, check);
  if (subnetMin && subnetMax && *subnetMin > *subnetMax) {
    check.error("SubnetMax", fmt::format("{} is below SubnetMin {}: no subnet could be leased",
                                         subnetMax->toString(), subnetMin->toString()));
  }
  if (!check.ok()) return fail(check.take());

  NetworkConfig config;
  config.network = *network;
  config.subnetLen = *subnetLen;
  // flannel leaves the network's first subnet out unless told otherwise.
  config.subnetMin = subnetMin ? *subnetMin : network->subnet(*subnetLen, 1)->base();
  config.subnetMax =
      subnetMax ? *subnetMax
                : network->subnet(*subnetLen, network->subnetCount(*subnetLen) - 1)->base();
  if (config.subnetMin > config.subnetMax) {
    // Only one bound was given, past the other's default.
    check.error(subnetMin ? "SubnetMin" : "SubnetMax",
                fmt::format("leaves no subnet to lease: SubnetMin {} is above SubnetMax {}",
                            config.subnetMin.toString(), config.subnetMax.toString()));
    return fail(check.take());
  }
  config.backendType = std::move(backend);
  return config;
}

std::string encode(const NetworkConfig& config) {
  // Ordered as flannel's documentation writes it, for people reading etcdctl.
  nlohmann::ordered_json out;
  out["Network"] = config.network.toString();
  out["SubnetLen"] = config.subnetLen;
  out["SubnetMin"] = config.subnetMin.toString();
  out["SubnetMax"] = config.subnetMax.toString();
  out["Backend"] = {{"Type", config.backendType}};
  return out.dump();
}

std::string describe(const NetworkConfig& config) {
  return fmt::format("{} (/{} subnets from {} to {}, {})", config.network.toString(),
                     config.subnetLen, config.subnetMin.toString(), config.subnetMax.toString(),
                     config.backendType);
}

Problem invalidNetworkConfigProblem(const std::vector<FieldError>& errors) {
  std::string detail = "The pod network config is not valid";
  if (!errors.empty()) detail += ": " + errors.front().toString();
  if (errors.size() > 1) detail += fmt::format(" (and {} more)", errors.size() - 1);
  detail += ".";
  return makeFieldProblem(problems::kInvalidNetworkConfig, std::move(detail), errors);
}

}  // namespace ozy
