// What a node sets up so its pods live on the cluster network:
//  - a CNI bridge network on the node's subnet, written as a conflist in
//    podman's CNI config dir (podman 4.3 here uses CNI): the bridge is the
//    subnet's gateway (.1), and CNI's own masquerading is off;
//  - the node's own masquerading instead, only of pod traffic leaving the
//    cluster network, so a pod on another node sees the real source pod
//    address while traffic to the outside still leaves as the node's;
//  - forwarding of the cluster network's traffic (flannel's two FORWARD
//    rules), for hosts whose FORWARD policy drops.
// Every iptables rule carries the comment kRuleComment: rules of an earlier
// subnet are found and removed by it, and nobody else's are touched.
#pragma once

#include <filesystem>
#include <string>

#include "common/result.h"
#include "network/ipv4.h"

namespace ozy {

inline constexpr const char* kPodNetworkName = "ozy";
inline constexpr const char* kRuleComment = "ozy-pod-network";

struct PodNetworkSpec {
  Ipv4Cidr network;  // the cluster's
  Ipv4Cidr subnet;   // this node's
  std::filesystem::path cniConfigDir = "/etc/cni/net.d";
};

// The bridge's interface name: "ozy" and the subnet's base address in hex
// ("ozy0af40300" for 10.244.3.0/24), within the kernel's 15 characters.
std::string bridgeName(const Ipv4Cidr& subnet);

// The conflist (JSON) of the node's network.
std::string cniConfList(const PodNetworkSpec& spec);

// Writes the conflist (if it differs) and puts the iptables rules in place,
// removing those of another subnet. Idempotent: the agent runs it at start
// and whenever its subnet changes.
Result<std::monostate, std::string> installPodNetwork(const PodNetworkSpec& spec);

}  // namespace ozy
