// The placement engine's rules, one behaviour per test.
#include "placement/placer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <set>

namespace ozy {
namespace {

using ::testing::HasSubstr;

// Builders keep the tests about the rule, not the setup.
NodeState node(std::string name, Bytes memory, Bytes disk = 100 * kGiB) {
  NodeState n;
  n.name = std::move(name);
  n.capacity = {memory, disk};
  return n;
}

JobDemand demand(Bytes memory, Bytes disk = 0, std::vector<HostPort> ports = {},
                 Bytes shared = 0) {
  return JobDemand{"my-cool-job", {memory, disk}, std::move(ports), shared};
}

PlacementRequest request(JobDemand d, std::uint32_t count,
                         PlacementMode mode = PlacementMode::kAllOrNothing) {
  return PlacementRequest{std::move(d), count, {}, true, mode};
}

ClusterState cluster(std::vector<NodeState> nodes, Bytes shared = 0) {
  return ClusterState{std::move(nodes), shared, 0};
}

TEST(Placer, PlacesEveryInstanceWhenTheyFit) {
  Placer placer(cluster({node("a", 8 * kGiB), node("b", 8 * kGiB)}));
  auto outcome = placer.place(request(demand(2 * kGiB), 4));
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->nodes.size(), 4u);
  EXPECT_EQ(outcome->pending, 0u);
  EXPECT_EQ(placer.state().nodes[0].used.memory + placer.state().nodes[1].used.memory, 8 * kGiB);
}

TEST(Placer, ChoosesTheNodeWithTheLeastMemoryLeftThatFits) {
  // Best fit keeps the big hole on "large" for a big job later.
  Placer placer(cluster({node("large", 32 * kGiB), node("small", 4 * kGiB),
                         node("tiny", 1 * kGiB)}));
  auto outcome = placer.place(request(demand(2 * kGiB), 1));
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->nodes, std::vector<std::uint32_t>{1});
  auto big = placer.place(request(demand(30 * kGiB), 1));
  ASSERT_TRUE(big.ok());
  EXPECT_EQ(big->nodes, std::vector<std::uint32_t>{0});
}

TEST(Placer, SpreadsInstancesOfOneJobOverDistinctNodes) {
  Placer placer(cluster({node("a", 16 * kGiB), node("b", 16 * kGiB), node("c", 16 * kGiB)}));
  auto outcome = placer.place(request(demand(1 * kGiB), 3));
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(std::set<std::uint32_t>(outcome->nodes.begin(), outcome->nodes.end()).size(), 3u);
}

TEST(Placer, SharesANodeWhenSpreadingWouldLeaveInstancesUnplaced) {
  Placer placer(cluster({node("a", 16 * kGiB), node("b", 1 * kGiB)}));
  auto outcome = placer.place(request(demand(2 * kGiB), 4));
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->nodes, (std::vector<std::uint32_t>{0, 0, 0, 0}));
}

TEST(Placer, SpreadsEvenlyWhenAJobHasMoreInstancesThanNodes) {
  Placer placer(cluster({node("a", 64 * kGiB), node("b", 64 * kGiB), node("c", 64 * kGiB)}));
  auto outcome = placer.place(request(demand(1 * kGiB), 9));
  ASSERT_TRUE(outcome.ok());
  std::map<std::uint32_t, int> perNode;
  for (auto n : outcome->nodes) ++perNode[n];
  EXPECT_EQ(perNode, (std::map<std::uint32_t, int>{{0, 3}, {1, 3}, {2, 3}}));
}

TEST(Placer, SpreadsAwayFromNodesThatAlreadyRunTheJob) {
  Placer placer(cluster({node("a", 4 * kGiB), node("b", 8 * kGiB)}));
  auto req = request(demand(1 * kGiB), 1);
  req.nodesWithJob = {0};
  auto outcome = placer.place(req);
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->nodes, std::vector<std::uint32_t>{1});
}

TEST(Placer, NeverPutsTwoInstancesPublishingTheSameHostPortOnOneNode) {
  Placer placer(cluster({node("a", 64 * kGiB), node("b", 64 * kGiB)}));
  auto two = placer.place(request(demand(1 * kGiB, 0, {{80, Protocol::kTcp}}), 2));
  ASSERT_TRUE(two.ok());
  EXPECT_NE(two->nodes[0], two->nodes[1]);
  auto third = placer.place(request(demand(1 * kGiB, 0, {{80, Protocol::kTcp}}), 1));
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().type.slug, "insufficient-ports");
  EXPECT_THAT(third.error().detail, HasSubstr("80/tcp"));
}

TEST(Placer, TreatsTcpAndUdpOnTheSamePortAsDifferentPorts) {
  Placer placer(cluster({node("a", 64 * kGiB)}));
  ASSERT_TRUE(placer.place(request(demand(1 * kGiB, 0, {{53, Protocol::kTcp}}), 1)).ok());
  EXPECT_TRUE(placer.place(request(demand(1 * kGiB, 0, {{53, Protocol::kUdp}}), 1)).ok());
}

TEST(Placer, RespectsPortsAlreadyInUseOnANode) {
  NodeState busy = node("busy", 64 * kGiB);
  busy.portsInUse = {{80, Protocol::kTcp}};
  Placer placer(cluster({busy, node("free", 4 * kGiB)}));
  auto outcome = placer.place(request(demand(1 * kGiB, 0, {{80, Protocol::kTcp}}), 1));
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->nodes, std::vector<std::uint32_t>{1});
}

TEST(Placer, ReportsInsufficientMemoryWithTheTotalsInTheReferenceWording) {
  NodeState a = node("a", 8 * kGiB);
  a.used.memory = 2 * kGiB;
  Placer placer(cluster({a, node("b", 4 * kGiB)}));  // 10G free in all
  auto outcome = placer.place(request(demand(4 * kGiB), 3));
  ASSERT_FALSE(outcome.ok());
  const Problem& p = outcome.error();
  EXPECT_EQ(p.type.slug, "insufficient-memory");
  EXPECT_EQ(p.type.title, "Insufficient memory for job");
  EXPECT_EQ(p.detail, "Job requires 12G of memory but only 10G can be allocated.");
  EXPECT_EQ(p.toJson()["job"], "my-cool-job");
  EXPECT_EQ(p.toJson()["type"], "/docs/errors.md#insufficient-memory");
}

TEST(Placer, ReportsFragmentedMemoryPerInstance) {
  // 12G free in total, but no node has 5G.
  Placer placer(cluster({node("a", 4 * kGiB), node("b", 4 * kGiB), node("c", 4 * kGiB)}));
  auto outcome = placer.place(request(demand(5 * kGiB), 1));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().type.slug, "insufficient-memory");
  EXPECT_THAT(outcome.error().detail, HasSubstr("5G of memory per instance"));
  EXPECT_THAT(outcome.error().detail, HasSubstr("only 0 of 1 instances fit"));
}

TEST(Placer, ChecksLocalDisk) {
  Placer placer(cluster({node("a", 64 * kGiB, 10 * kGiB)}));
  auto outcome = placer.place(request(demand(1 * kGiB, 6 * kGiB), 2));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().type.slug, "insufficient-disk");
  EXPECT_EQ(outcome.error().detail, "Job requires 12G of disk but only 10G can be allocated.");
}

TEST(Placer, ReportsFragmentedDisk) {
  Placer placer(cluster({node("a", 64 * kGiB, 5 * kGiB), node("b", 64 * kGiB, 5 * kGiB)}));
  auto outcome = placer.place(request(demand(1 * kGiB, 6 * kGiB), 1));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().type.slug, "insufficient-disk");
  EXPECT_THAT(outcome.error().detail, HasSubstr("per instance"));
}

TEST(Placer, AllOrNothingLeavesTheClusterUnchangedOnFailure) {
  Placer placer(cluster({node("a", 8 * kGiB), node("b", 8 * kGiB)}, 10 * kGiB));
  auto outcome = placer.place(request(demand(3 * kGiB, 0, {}, 1 * kGiB), 6));
  ASSERT_FALSE(outcome.ok());
  for (const auto& n : placer.state().nodes) EXPECT_EQ(n.used, Resources{});
  EXPECT_EQ(placer.state().sharedUsed, 0u);
  // And the nodes are still usable afterwards: the index was rolled back too.
  EXPECT_TRUE(placer.place(request(demand(8 * kGiB), 2)).ok());
}

TEST(Placer, AsManyAsFitPlacesWhatFitsAndSaysWhyTheRestWait) {
  Placer placer(cluster({node("a", 8 * kGiB), node("b", 4 * kGiB)}));
  auto outcome = placer.place(request(demand(4 * kGiB), 5, PlacementMode::kAsManyAsFit));
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(outcome->nodes.size(), 3u);
  EXPECT_EQ(outcome->pending, 2u);
  ASSERT_TRUE(outcome->why.has_value());
  EXPECT_EQ(outcome->why->type.slug, "insufficient-memory");
}

TEST(Placer, DrawsSharedSpaceOncePerJob) {
  Placer placer(cluster({node("a", 64 * kGiB), node("b", 64 * kGiB)}, 3 * kGiB));
  ASSERT_TRUE(placer.place(request(demand(1 * kGiB, 0, {}, 2 * kGiB), 10)).ok());
  EXPECT_EQ(placer.state().sharedUsed, 2 * kGiB);
  auto second = placer.place(request(demand(1 * kGiB, 0, {}, 2 * kGiB), 1));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().type.slug, "insufficient-shared-space");
  EXPECT_EQ(second.error().detail,
            "Job requires 2G of shared volume space but only 1G is free in the shared pool.");
}

TEST(Placer, DoesNotChargeSharedSpaceAgainWhenAskedNotTo) {
  Placer placer(cluster({node("a", 64 * kGiB)}, 2 * kGiB));
  ASSERT_TRUE(placer.place(request(demand(1 * kGiB, 0, {}, 2 * kGiB), 1)).ok());
  auto scaleUp = request(demand(1 * kGiB, 0, {}, 2 * kGiB), 1);
  scaleUp.chargeSharedSpace = false;
  EXPECT_TRUE(placer.place(scaleUp).ok());
  EXPECT_EQ(placer.state().sharedUsed, 2 * kGiB);
}

TEST(Placer, TreatsOvercommittedNodesAsFull) {
  NodeState over = node("over", 4 * kGiB);
  over.used.memory = 6 * kGiB;
  Placer placer(cluster({over}));
  auto outcome = placer.place(request(demand(1 * kGiB), 1));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().detail, "Job requires 1G of memory but only 0B can be allocated.");
}

TEST(Placer, ReportsHugeDemandsWithoutWrappingAround) {
  Placer placer(cluster({node("a", 8 * kGiB)}));
  auto outcome = placer.place(request(demand(1024 * kTiB), 100'000));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().toJson()["required"], std::numeric_limits<Bytes>::max());
}

TEST(Placer, PlacesZeroInstancesTrivially) {
  Placer placer(cluster({}));
  auto outcome = placer.place(request(demand(1 * kGiB), 0));
  ASSERT_TRUE(outcome.ok());
  EXPECT_TRUE(outcome->nodes.empty());
}

TEST(Placer, NeedsNoSharedSpaceForZeroInstances) {
  Placer placer(cluster({node("a", 4 * kGiB)}, 0));
  auto outcome = placer.place(request(demand(1 * kGiB, 0, {}, 1 * kGiB), 0));
  ASSERT_TRUE(outcome.ok());
  EXPECT_EQ(placer.state().sharedUsed, 0u);
}

TEST(Placer, ReleaseGivesBackMemoryDiskAndPorts) {
  Placer placer(cluster({node("a", 4 * kGiB, 10 * kGiB)}));
  const JobDemand d = demand(4 * kGiB, 10 * kGiB, {{80, Protocol::kTcp}});
  auto first = placer.place(request(d, 1));
  ASSERT_TRUE(first.ok());
  ASSERT_FALSE(placer.place(request(d, 1)).ok());
  placer.release(first->nodes[0], d);
  EXPECT_EQ(placer.state().nodes[0].used, Resources{});
  EXPECT_TRUE(placer.state().nodes[0].portsInUse.empty());
  EXPECT_TRUE(placer.place(request(d, 1)).ok());
}

NodeState drainedNode(std::string name, Bytes memory) {
  NodeState n = node(std::move(name), memory);
  n.drained = true;
  return n;
}

TEST(Placer, NeverPlacesOnADrainedNodeInAnyMode) {
  // The drained node is the best fit and the only one without the job: it
  // must still take nothing, whether the request fills nodes, spreads by
  // count or places as many as fit.
  struct Case {
    const char* what;
    std::uint32_t count;
    PlacementMode mode;
  };
  for (const Case& c : {Case{"one, all or nothing", 1, PlacementMode::kAllOrNothing},
                        Case{"spread by count", 6, PlacementMode::kAllOrNothing},
                        Case{"as many as fit", 12, PlacementMode::kAsManyAsFit}}) {
    Placer placer(cluster({node("a", 8 * kGiB), drainedNode("tight", 2 * kGiB), node("b", 8 * kGiB)}));
    auto req = request(demand(1 * kGiB), c.count, c.mode);
    req.nodesWithJob = {0, 2};
    auto outcome = placer.place(req);
    ASSERT_TRUE(outcome.ok()) << c.what;
    EXPECT_EQ(std::count(outcome->nodes.begin(), outcome->nodes.end(), 1u), 0) << c.what;
    EXPECT_EQ(placer.state().nodes[1].used, Resources{}) << c.what;
  }
}

TEST(Placer, NamesDrainedNodesWhenTheyAreWhyAJobDoesNotFit) {
  struct Case {
    const char* what;
    JobDemand demand;
    std::uint32_t count;
    const char* slug;
    const char* detail;
  };
  const Case cases[] = {
      {"totals", demand(4 * kGiB), 2, "insufficient-memory",
       "Job requires 8G of memory but only 4G can be allocated (b is drained)."},
      {"ports", demand(1 * kGiB, 0, {{80, Protocol::kTcp}}), 2, "insufficient-ports",
       "Job publishes host port 80/tcp from each of 2 instances, so it needs 2 nodes where that "
       "is free (neither used by instances nor reserved for the node's own API, etcd or DNS), "
       "but only 1 are (b is drained)."},
  };
  for (const Case& c : cases) {
    Placer placer(cluster({node("a", 4 * kGiB), drainedNode("b", 64 * kGiB)}));
    auto outcome = placer.place(request(c.demand, c.count));
    ASSERT_FALSE(outcome.ok()) << c.what;
    EXPECT_EQ(outcome.error().type.slug, c.slug) << c.what;
    EXPECT_EQ(outcome.error().detail, c.detail) << c.what;
    EXPECT_EQ(outcome.error().toJson()["nodesDrained"], 1) << c.what;
  }
  // Per instance: the only node with room is drained.
  Placer placer(cluster({node("a", 2 * kGiB), node("c", 2 * kGiB), drainedNode("b", 64 * kGiB),
                         drainedNode("d", 64 * kGiB)}));
  auto outcome = placer.place(request(demand(3 * kGiB), 1));
  ASSERT_FALSE(outcome.ok());
  EXPECT_THAT(outcome.error().detail, HasSubstr("(2 of 2 nodes have less) (2 nodes are drained: b, d)."));
}

TEST(Placer, ReleaseOnADrainedNodeKeepsItOutOfReach) {
  Placer placer(cluster({drainedNode("a", 8 * kGiB), node("b", 1 * kGiB)}));
  placer.release(0, demand(1 * kGiB));
  auto outcome = placer.place(request(demand(2 * kGiB), 1));
  ASSERT_FALSE(outcome.ok());
  EXPECT_EQ(outcome.error().type.slug, "insufficient-memory");
}

TEST(Demand, SumsContainersAndSeparatesLocalFromSharedVolumes) {
  Job job;
  job.name = "web";
  Container app;
  app.name = "app";
  app.memory = 2 * kGiB;
  app.ports = {{"", 80, 3000, Protocol::kTcp}, {"", 0, 9000, Protocol::kTcp}};
  app.volumes = {{VolumeType::kShared, "/s", 1 * kGiB}, {VolumeType::kLocal, "/l", 100 * kMiB}};
  Container db;
  db.name = "db";
  db.memory = 4 * kGiB;
  db.ports = {{"", 53, 53, Protocol::kUdp}};
  db.volumes = {{VolumeType::kLocal, "/d", 10 * kGiB}};
  job.containers = {app, db};
  const JobDemand d = demandOf(job);
  EXPECT_EQ(d.job, "web");
  EXPECT_EQ(d.perInstance.memory, 6 * kGiB);
  EXPECT_EQ(d.perInstance.disk, 10 * kGiB + 100 * kMiB);
  EXPECT_EQ(d.sharedSpace, 1 * kGiB);
  // Only published ports take host ports; ephemeral ones ("9000") do not.
  EXPECT_EQ(d.hostPorts, (std::vector<HostPort>{{53, Protocol::kUdp}, {80, Protocol::kTcp}}));
}

}  // namespace
}  // namespace ozy
