// Routes to the other nodes' pod subnets: the pod network's backends.
//
// host-gw, the one backend here, routes each other node's subnet via that
// node's address (`ip route replace SUBNET via PUBLICIP`), which works when
// every node is on one L2 segment. An overlay (vxlan) would be a second
// NetworkBackend: these machines' kernel has no vxlan, geneve or ipip
// devices, so none is built (docs/network.md says what one would take).
//
// The kernel's routes are reached through RouteTable (KernelRoutes,
// kernel_routes.h, is the real one): this file is pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "network/flannel_layout.h"
#include "network/ipv4.h"

namespace ozy {

// The protocol number of the agent's routes (`ip route show proto 211`).
inline constexpr int kRouteProtocol = 211;

struct Route {
  Ipv4Cidr subnet;
  Ipv4Address via;
  auto operator<=>(const Route&) const = default;
};

struct RouteChanges {
  std::vector<Route> replace;        // missing, or via another address
  std::vector<Ipv4Cidr> remove;      // no lease wants them any more
  bool empty() const { return replace.empty() && remove.empty(); }
};

// The routes a node at `self` wants: every other lease's subnet via its
// PublicIP, for leases of `backendType` (a node of another backend is not
// reachable this way: it is skipped, and listed in `skipped`). A lease with
// the node's own address, or whose subnet holds it, is not routed; nor is a
// subnet outside `network`: a key written by hand as 192.168.0.0-16 must not
// take over the node's traffic.
std::vector<Route> wantedRoutes(const std::vector<SubnetLease>& leases, const Ipv4Cidr& network, Ipv4Address self,
                                std::string_view backendType, std::vector<std::string>* skipped = nullptr);

// What turns `current` (the agent's routes in the kernel) into `wanted`.
RouteChanges planRoutes(const std::vector<Route>& wanted, const std::vector<Route>& current);

class RouteTable {
 public:
  virtual ~RouteTable() = default;
  // The routes this agent made (kRouteProtocol).
  virtual Result<std::vector<Route>, std::string> list() = 0;
  virtual Result<std::monostate, std::string> replace(const Route& route) = 0;
  virtual Result<std::monostate, std::string> remove(const Ipv4Cidr& subnet) = 0;
};

// Makes the kernel route what the leases say.
class NetworkBackend {
 public:
  virtual ~NetworkBackend() = default;
  virtual std::string_view type() const = 0;
  // Brings the routes to other nodes' subnets in line with `leases`; each
  // route that cannot be made is an error in the result, and the others are
  // still made.
  virtual Result<RouteChanges, std::vector<std::string>> apply(const std::vector<SubnetLease>& leases) = 0;
};

class HostGwBackend final : public NetworkBackend {
 public:
  HostGwBackend(RouteTable& routes, Ipv4Cidr network, Ipv4Address self)
      : routes_(routes), network_(network), self_(self) {}
  std::string_view type() const override { return "host-gw"; }
  Result<RouteChanges, std::vector<std::string>> apply(const std::vector<SubnetLease>& leases) override;

 private:
  RouteTable& routes_;
  Ipv4Cidr network_;
  Ipv4Address self_;
};

}  // namespace ozy
