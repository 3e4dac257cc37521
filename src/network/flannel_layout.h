// flannel's etcd layout for a pod network, which this agent writes so that
// flannel-aware tools read it (docs/network.md):
//
//   /coreos.com/network/config                -> the NetworkConfig (network_config.h)
//   /coreos.com/network/subnets/10.244.3.0-24 -> {"PublicIP": "10.0.0.5", "BackendType": "host-gw"}
//
// Each subnet key is one node's lease of that subnet, attached to an etcd
// lease its node renews. This file holds the keys and the subnet value's
// format; it is pure, so a watcher can decode events with it too.
//
// Decoding is defensive: a value may have been written by flannel, by another
// version or by hand. A bad entry becomes a SkippedSubnet with the reason,
// never a crash, and when its key still names a subnet, that subnet counts as
// taken (someone meant to hold it).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "network/ipv4.h"

namespace ozy {

namespace flannel {
inline constexpr std::string_view kPrefix = "/coreos.com/network/";
inline constexpr std::string_view kConfigKey = "/coreos.com/network/config";
inline constexpr std::string_view kSubnetsPrefix = "/coreos.com/network/subnets/";

std::string subnetKey(const Ipv4Cidr& subnet);  // kSubnetsPrefix + "10.244.3.0-24"
}  // namespace flannel

// A node's lease of a subnet, as read from one subnet key.
struct SubnetLease {
  Ipv4Cidr subnet;
  Ipv4Address publicIp;          // the node's address: the next hop of routes to the subnet
  std::string backendType;       // "host-gw" for this agent's nodes
  std::int64_t leaseId = 0;      // the etcd lease the key is attached to; 0 for none
  std::int64_t modRevision = 0;  // the key's, for a Txn that must find it unchanged

  bool operator==(const SubnetLease&) const = default;
};

// An entry that is not a usable lease, and why.
struct SkippedSubnet {
  std::string key;
  std::optional<Ipv4Cidr> subnet;  // when the key names one: that subnet counts as taken
  std::string reason;

  bool operator==(const SkippedSubnet&) const = default;
};

// Every subnet key under kSubnetsPrefix, decoded.
struct SubnetTable {
  std::vector<SubnetLease> leases;  // in key order
  std::vector<SkippedSubnet> skipped;
};

// The value of a subnet key.
std::string encodeSubnetValue(Ipv4Address publicIp, std::string_view backendType);
// One subnet key and its value; leaseId and modRevision are left 0 (the
// caller has them from the store). Unknown members of the value (flannel's
// BackendData, PublicIPv6, ...) are ignored.
Result<SubnetLease, SkippedSubnet> decodeSubnetLease(std::string_view key, std::string_view value);

}  // namespace ozy
