// Which subnet a node should lease: a pure choice, made again after every
// lost race (subnet_lease.h does the reading and the claiming).
//
//  1. The node's own: a lease whose PublicIP is the node's address, so a
//     restarted node takes back its subnet and its pods keep their addresses.
//  2. Else `preferred` if it is free (the subnet the node held before its
//     lease ran out).
//  3. Else a free subnet between SubnetMin and SubnetMax, picked by `seed`
//     uniformly among the free ones, as flannel picks randomly: nodes that
//     start together then mostly try different subnets instead of all racing
//     for the first free one.
//
// A subnet is taken when any lease or skipped entry with a subnet overlaps it
// (a hand-written /23 takes two /24s).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "common/result.h"
#include "network/flannel_layout.h"
#include "network/ipv4.h"
#include "network/network_config.h"

namespace ozy {

struct SubnetRequest {
  Ipv4Address publicIp;
  std::optional<Ipv4Cidr> preferred;
  std::uint64_t seed = 0;  // the same seed and table give the same choice
};

struct SubnetChoice {
  Ipv4Cidr subnet;
  // Set when the node takes back its own lease: the claim re-attaches that
  // key (comparing its modRevision) instead of creating one.
  std::optional<SubnetLease> existing;

  bool operator==(const SubnetChoice&) const = default;
};

// Fails only when every subnet in range is taken; the message says so, e.g.
// "network 10.244.0.0/16 has no free /24 subnet: all 256 are leased".
Result<SubnetChoice, std::string> chooseSubnet(const NetworkConfig& config,
                                               const SubnetTable& table,
                                               const SubnetRequest& request);

}  // namespace ozy
