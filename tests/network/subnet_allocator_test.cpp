// Choosing a node's subnet: its own first, then the one it held before, then
// a free one picked by the seed; what counts as taken; a full network.
#include "network/subnet_allocator.h"

#include <gtest/gtest.h>

#include <set>

namespace ozy {
namespace {

Ipv4Address ip(std::string_view text) {
  return *Ipv4Address::parse(text);
}
Ipv4Cidr cidr(std::string_view text) {
  return *Ipv4Cidr::parse(text);
}

NetworkConfig config(std::string_view json = R"({"Network": "10.244.0.0/16"})") {
  auto decoded = decodeNetworkConfig(json);
  EXPECT_TRUE(decoded);
  return decoded ? *decoded : NetworkConfig{};
}

SubnetLease lease(std::string_view subnet, std::string_view publicIp) {
  return SubnetLease{cidr(subnet), ip(publicIp), "host-gw", 7, 1};
}

SubnetRequest requestFor(std::string_view publicIp, std::uint64_t seed = 0) {
  return SubnetRequest{ip(publicIp), std::nullopt, seed};
}

TEST(SubnetAllocatorTest, ANodeTakesBackTheSubnetLeasedToItsAddress) {
  SubnetTable table;
  table.leases = {lease("10.244.3.0/24", "10.0.0.3"), lease("10.244.5.0/24", "10.0.0.5")};
  auto choice = chooseSubnet(config(), table, requestFor("10.0.0.5"));
  ASSERT_TRUE(choice) << choice.error();
  EXPECT_EQ(choice->subnet, cidr("10.244.5.0/24"));
  ASSERT_TRUE(choice->existing);
  EXPECT_EQ(*choice->existing, table.leases[1]);
}

TEST(SubnetAllocatorTest, ALeaseOfTheAddressThatDoesNotFitTheConfigIsNotTakenBack) {
  SubnetTable table;
  table.leases = {lease("10.244.4.0/23", "10.0.0.5"), lease("10.99.0.0/24", "10.0.0.5")};
  auto choice = chooseSubnet(config(), table, requestFor("10.0.0.5"));
  ASSERT_TRUE(choice) << choice.error();
  EXPECT_FALSE(choice->existing);
  EXPECT_FALSE(choice->subnet.overlaps(cidr("10.244.4.0/23")));
}

TEST(SubnetAllocatorTest, PrefersTheSubnetHeldBeforeWhileItIsFree) {
  SubnetRequest request = requestFor("10.0.0.5");
  request.preferred = cidr("10.244.9.0/24");
  SubnetTable table;
  auto choice = chooseSubnet(config(), table, request);
  ASSERT_TRUE(choice);
  EXPECT_EQ(choice->subnet, cidr("10.244.9.0/24"));

  table.leases = {lease("10.244.9.0/24", "10.0.0.9")};
  choice = chooseSubnet(config(), table, request);
  ASSERT_TRUE(choice);
  EXPECT_NE(choice->subnet, cidr("10.244.9.0/24")) << "taken by another node meanwhile";

  request.preferred = cidr("10.244.0.0/24");  // below SubnetMin
  choice = chooseSubnet(config(), {}, request);
  ASSERT_TRUE(choice);
  EXPECT_NE(choice->subnet, cidr("10.244.0.0/24"));
}

TEST(SubnetAllocatorTest, ChoosesAFreeSubnetInsideTheRangeTheSameWayForTheSameSeed) {
  const NetworkConfig narrow = config(
      R"({"Network": "10.244.0.0/16", "SubnetMin": "10.244.10.0", "SubnetMax": "10.244.19.0"})");
  for (std::uint64_t seed = 0; seed < 50; ++seed) {
    auto choice = chooseSubnet(narrow, {}, requestFor("10.0.0.5", seed));
    ASSERT_TRUE(choice);
    EXPECT_GE(choice->subnet.base(), ip("10.244.10.0"));
    EXPECT_LE(choice->subnet.base(), ip("10.244.19.0"));
    EXPECT_EQ(choice->subnet.prefixLength(), 24);
    EXPECT_EQ(chooseSubnet(narrow, {}, requestFor("10.0.0.5", seed))->subnet, choice->subnet);
  }
}

// Nodes starting together (different seeds) should mostly try different
// subnets, not all race for the first free one.
TEST(SubnetAllocatorTest, DifferentSeedsSpreadOverTheFreeSubnets) {
  std::set<Ipv4Cidr> chosen;
  for (std::uint64_t seed = 0; seed < 100; ++seed) {
    chosen.insert(chooseSubnet(config(), {}, requestFor("10.0.0.5", seed))->subnet);
  }
  EXPECT_GT(chosen.size(), 70u) << "100 seeds over 255 subnets";
}

TEST(SubnetAllocatorTest, AnythingOverlappingASubnetTakesIt) {
  const NetworkConfig narrow = config(
      R"({"Network": "10.244.0.0/16", "SubnetMin": "10.244.0.0", "SubnetMax": "10.244.4.0"})");
  SubnetTable table;
  table.leases = {lease("10.244.0.0/23", "10.0.0.1"),    // a hand-written /23: two subnets
                  lease("10.244.3.128/25", "10.0.0.2"),  // half of one
                  lease("10.99.0.0/24", "10.0.0.3")};    // outside the network: no effect
  table.skipped = {SkippedSubnet{"/coreos.com/network/subnets/10.244.4.0-24", cidr("10.244.4.0/24"),
                                 "the value is not a JSON object"},
                   SkippedSubnet{"/coreos.com/network/subnets/junk", std::nullopt, "no subnet"}};
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    auto choice = chooseSubnet(narrow, table, requestFor("10.0.0.9", seed));
    ASSERT_TRUE(choice) << choice.error();
    EXPECT_EQ(choice->subnet, cidr("10.244.2.0/24")) << "the only one left";
  }
}

TEST(SubnetAllocatorTest, AFullRangeIsAClearErrorCountingTheSubnets) {
  const NetworkConfig whole = config(
      R"({"Network": "10.244.0.0/16", "SubnetMin": "10.244.0.0", "SubnetMax": "10.244.255.0"})");
  SubnetTable table;
  for (int i = 0; i < 256; ++i) {
    const std::string node = "10.1." + std::to_string(i / 200) + "." + std::to_string(i % 200);
    auto choice = chooseSubnet(whole, table, requestFor(node, static_cast<std::uint64_t>(i)));
    ASSERT_TRUE(choice) << "claim " << i << ": " << choice.error();
    table.leases.push_back(SubnetLease{choice->subnet, ip(node), "host-gw", 1, 1});
  }
  std::set<Ipv4Cidr> distinct;
  for (const SubnetLease& l : table.leases) distinct.insert(l.subnet);
  EXPECT_EQ(distinct.size(), 256u);

  auto full = chooseSubnet(whole, table, requestFor("10.2.0.1"));
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error(), "network 10.244.0.0/16 has no free /24 subnet: all 256 are leased");
}

TEST(SubnetAllocatorTest, AFullDefaultRangeNamesItsBounds) {
  const NetworkConfig small = config(R"({"Network": "10.244.0.0/22"})");  // 3 leasable /24s
  SubnetTable table;
  table.leases = {lease("10.244.1.0/24", "10.0.0.1"), lease("10.244.2.0/24", "10.0.0.2"),
                  lease("10.244.3.0/24", "10.0.0.3")};
  auto full = chooseSubnet(small, table, requestFor("10.0.0.4"));
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error(),
            "network 10.244.0.0/22 has no free /24 subnet: all 3 from 10.244.1.0 to 10.244.3.0 "
            "are leased");
  EXPECT_TRUE(chooseSubnet(small, table, requestFor("10.0.0.2"))) << "its own is still there";
}

}  // namespace
}  // namespace ozy
