// The host-gw backend's rules, over a fake routing table: which routes a
// node wants, what it changes, and what it leaves alone.
#include "network/routes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include <nlohmann/json.hpp>

#include "network/pod_network.h"

namespace ozy {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

Ipv4Cidr cidr(const char* text) { return *Ipv4Cidr::parse(text); }
Ipv4Address ip(const char* text) { return *Ipv4Address::parse(text); }
SubnetLease lease(const char* subnet, const char* publicIp, const char* backend = "host-gw") {
  return SubnetLease{cidr(subnet), ip(publicIp), backend, 0, 0};
}

class FakeRoutes final : public RouteTable {
 public:
  Result<std::vector<Route>, std::string> list() override {
    std::vector<Route> out;
    for (const auto& [subnet, via] : routes) out.push_back({subnet, via});
    return out;
  }
  Result<std::monostate, std::string> replace(const Route& route) override {
    if (unreachable.contains(route.via)) return fail(std::string("Nexthop has invalid gateway"));
    routes[route.subnet] = route.via;
    return std::monostate{};
  }
  Result<std::monostate, std::string> remove(const Ipv4Cidr& subnet) override {
    routes.erase(subnet);
    return std::monostate{};
  }
  std::map<Ipv4Cidr, Ipv4Address> routes;
  std::set<Ipv4Address> unreachable;
};

TEST(WantedRoutes, EveryOtherNodesSubnetViaItsAddressButNotTheNodesOwn) {
  std::vector<std::string> skipped;
  const auto routes = wantedRoutes({lease("10.244.2.0/24", "10.0.0.2"), lease("10.244.1.0/24", "10.0.0.1"),
                                    lease("10.244.3.0/24", "10.0.0.3", "vxlan"), lease("192.168.0.0/16", "10.0.0.66")},
                                   cidr("10.244.0.0/16"), ip("10.0.0.1"), "host-gw", &skipped);
  EXPECT_THAT(routes, ElementsAre(Route{cidr("10.244.2.0/24"), ip("10.0.0.2")}));
  ASSERT_EQ(skipped.size(), 2u);
  EXPECT_THAT(skipped[0], HasSubstr("vxlan"));
  EXPECT_THAT(skipped[1], HasSubstr("outside the pod network"));
}

TEST(PlanRoutes, ReplacesWhatIsMissingOrMovedAndRemovesWhatNoLeaseWants) {
  const auto changes = planRoutes(
      {{cidr("10.244.2.0/24"), ip("10.0.0.2")}, {cidr("10.244.3.0/24"), ip("10.0.0.9")}},
      {{cidr("10.244.3.0/24"), ip("10.0.0.3")}, {cidr("10.244.4.0/24"), ip("10.0.0.4")}});
  EXPECT_THAT(changes.replace, ElementsAre(Route{cidr("10.244.2.0/24"), ip("10.0.0.2")},
                                           Route{cidr("10.244.3.0/24"), ip("10.0.0.9")}));
  EXPECT_THAT(changes.remove, ElementsAre(cidr("10.244.4.0/24")));
  EXPECT_TRUE(planRoutes({{cidr("10.244.2.0/24"), ip("10.0.0.2")}}, {{cidr("10.244.2.0/24"), ip("10.0.0.2")}})
                  .empty());
}

TEST(HostGwBackend, FollowsTheLeasesAndNamesANodeItCannotRouteTo) {
  FakeRoutes table;
  HostGwBackend backend(table, cidr("10.244.0.0/16"), ip("10.0.0.1"));
  auto applied = backend.apply({lease("10.244.1.0/24", "10.0.0.1"), lease("10.244.2.0/24", "10.0.0.2")});
  ASSERT_TRUE(applied);
  EXPECT_EQ(table.routes.size(), 1u);
  EXPECT_EQ(table.routes.at(cidr("10.244.2.0/24")), ip("10.0.0.2"));
  // A node left, another joined beyond this segment: the first route goes,
  // the second cannot be made and says why; the one that can is still made.
  table.unreachable.insert(ip("192.0.2.7"));
  applied = backend.apply({lease("10.244.1.0/24", "10.0.0.1"), lease("10.244.5.0/24", "192.0.2.7"),
                           lease("10.244.6.0/24", "10.0.0.6")});
  ASSERT_FALSE(applied);
  ASSERT_EQ(applied.error().size(), 1u);
  EXPECT_THAT(applied.error()[0], HasSubstr("one L2 segment"));
  EXPECT_EQ(table.routes.size(), 1u);
  EXPECT_EQ(table.routes.at(cidr("10.244.6.0/24")), ip("10.0.0.6"));
}

TEST(PodNetworkConfig, ABridgeOnTheSubnetWithoutCnisMasquerading) {
  const auto list = nlohmann::json::parse(cniConfList({cidr("10.244.0.0/16"), cidr("10.244.3.0/24"), "/x"}));
  EXPECT_EQ(list["name"], "ozy");
  const auto& bridge = list["plugins"][0];
  EXPECT_EQ(bridge["type"], "bridge");
  EXPECT_EQ(bridge["bridge"], "ozy0af40300");
  EXPECT_EQ(bridge["ipMasq"], false);
  EXPECT_EQ(bridge["isGateway"], true);
  EXPECT_EQ(bridge["ipam"]["ranges"][0][0]["subnet"], "10.244.3.0/24");
  EXPECT_EQ(bridge["ipam"]["ranges"][0][0]["gateway"], "10.244.3.1");
  EXPECT_LE(bridgeName(cidr("255.255.255.0/24")).size(), 15u);
}

}  // namespace
}  // namespace ozy
