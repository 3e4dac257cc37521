// The pod network's configuration, in flannel's format: the JSON value of
// /coreos.com/network/config (docs/network.md), e.g.
//
//   {"Network": "10.244.0.0/16", "SubnetLen": 24, "Backend": {"Type": "host-gw"}}
//
// decodeNetworkConfig checks every rule and returns every broken one as a
// FieldError (path = the field, as "Backend.Type"); what it returns is
// complete: defaults filled in, so two configs that mean the same compare
// equal. encode writes every field explicitly, which flannel reads too.
//
// Defaults are flannel's, so that a config written for flannel means the same
// here: SubnetLen 24 (for a Network shorter than /23; for /23 to /28, two bits
// longer than the Network), SubnetMin the second subnet (flannel leaves the
// first one out) and SubnetMax the last. One difference: an absent Backend
// means host-gw here, where flannel would take udp; a config meant for both
// should name its Backend.Type.
//
// Pure: no I/O.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "network/ipv4.h"
#include "problem/problem.h"

namespace ozy {

// The only backend this agent runs: routes to the other nodes' subnets via
// their addresses, which needs every node on one layer-2 network and no
// kernel tunnel devices (docs/network.md says what an overlay would take).
inline constexpr std::string_view kHostGwBackend = "host-gw";

// The network `ozy agent --pod-network auto` makes when etcd has none.
inline constexpr const char* kDefaultPodNetwork =
    R"({"Network": "10.244.0.0/16", "SubnetLen": 24, "Backend": {"Type": "host-gw"}})";

struct NetworkConfig {
  Ipv4Cidr network;
  int subnetLen = 24;     // prefix length of each node's subnet
  Ipv4Address subnetMin;  // first address of the first subnet nodes may lease
  Ipv4Address subnetMax;  // first address of the last one
  std::string backendType{kHostGwBackend};

  bool operator==(const NetworkConfig&) const = default;
};

Result<NetworkConfig, std::vector<FieldError>> decodeNetworkConfig(std::string_view json);
std::string encode(const NetworkConfig& config);

// "10.244.0.0/16 (/24 subnets from 10.244.1.0 to 10.244.255.0, host-gw)",
// for messages and logs.
std::string describe(const NetworkConfig& config);

// The invalid-network-config problem for errors from decodeNetworkConfig.
Problem invalidNetworkConfigProblem(const std::vector<FieldError>& errors);

}  // namespace ozy
