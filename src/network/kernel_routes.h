// KernelRoutes: the RouteTable of this network namespace's main routing
// table, through `ip route`. Every route it makes carries its own protocol
// number (kRouteProtocol), so the routes it lists after a restart are
// exactly the ones an agent made, and nobody else's are ever touched.
#pragma once

#include "network/routes.h"

namespace ozy {

// The kernel's main routing table of this network namespace, through `ip`.
class KernelRoutes final : public RouteTable {
 public:
  Result<std::vector<Route>, std::string> list() override;
  Result<std::monostate, std::string> replace(const Route& route) override;
  Result<std::monostate, std::string> remove(const Ipv4Cidr& subnet) override;
};

}  // namespace ozy
