// Property tests: for many random clusters and job streams (seeded, so a
// failure reproduces), the engine never exceeds a node's capacity, never
// publishes a host port twice on a node, keeps all-or-nothing promises, and
// its bookkeeping matches the placements it returned.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "placement/placer.h"

namespace ozy {
namespace {

struct Scenario {
  ClusterState cluster;
  std::vector<PlacementRequest> requests;
};

Scenario randomScenario(std::mt19937_64& rng) {
  auto pick = [&](auto lo, auto hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
  };
  Scenario s;
  const auto nodes = pick(0, 12);
  for (std::uint64_t i = 0; i < nodes; ++i) {
    NodeState n;
    n.name = "node-" + std::to_string(i);
    n.capacity = {pick(1, 32) * kGiB, pick(0, 100) * kGiB};
    n.used = {pick(0, n.capacity.memory), pick(0, n.capacity.disk)};
    for (auto p = pick(0, 3); p > 0; --p) {
      n.portsInUse.push_back({static_cast<std::uint16_t>(pick(80, 84)),
                              pick(0, 1) ? Protocol::kUdp : Protocol::kTcp});
    }
    s.cluster.nodes.push_back(std::move(n));
  }
  s.cluster.sharedCapacity = pick(0, 20) * kGiB;
  const auto jobs = pick(1, 15);
  for (std::uint64_t j = 0; j < jobs; ++j) {
    JobDemand d;
    d.job = "job-" + std::to_string(j);
    d.perInstance = {pick(1, 16) * 512 * kMiB, pick(0, 20) * kGiB};
    for (auto p = pick(0, 2); p > 0; --p) {
      d.hostPorts.push_back({static_cast<std::uint16_t>(pick(80, 84)),
                             pick(0, 1) ? Protocol::kUdp : Protocol::kTcp});
    }
    std::sort(d.hostPorts.begin(), d.hostPorts.end());
    d.hostPorts.erase(std::unique(d.hostPorts.begin(), d.hostPorts.end()), d.hostPorts.end());
    d.sharedSpace = pick(0, 1) ? pick(1, 8) * kGiB : 0;
    PlacementRequest r;
    r.demand = std::move(d);
    r.count = static_cast<std::uint32_t>(pick(0, 12));
    r.mode = pick(0, 1) ? PlacementMode::kAllOrNothing : PlacementMode::kAsManyAsFit;
    s.requests.push_back(std::move(r));
  }
  return s;
}

TEST(PlacerProperties, NeverOvercommitsNorReusesAHostPortAndKeepsItsBooks) {
  for (std::uint64_t seed = 1; seed <= 3000; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    const Scenario s = randomScenario(rng);
    Placer placer(s.cluster);

    // Our own ledger of what the engine said it did.
    std::vector<Resources> used;
    std::vector<std::multiset<HostPort>> ports;
    for (const auto& n : s.cluster.nodes) {
      used.push_back(n.used);
      ports.emplace_back(n.portsInUse.begin(), n.portsInUse.end());
    }
    Bytes sharedUsed = 0;

    for (const auto& r : s.requests) {
      auto outcome = placer.place(r);
      if (!outcome.ok()) {
        ASSERT_EQ(r.mode, PlacementMode::kAllOrNothing) << "as-many-as-fit never fails";
        EXPECT_EQ(outcome.error().toJson()["job"], r.demand.job);
        continue;
      }
      const auto& placed = outcome->nodes;
      ASSERT_EQ(placed.size() + outcome->pending, r.count);
      if (r.mode == PlacementMode::kAllOrNothing) {
        ASSERT_EQ(outcome->pending, 0u);
      }
      if (outcome->pending > 0) {
        ASSERT_TRUE(outcome->why.has_value());
      }
      for (auto n : placed) {
        ASSERT_LT(n, s.cluster.nodes.size());
        used[n].memory += r.demand.perInstance.memory;
        used[n].disk += r.demand.perInstance.disk;
        for (const auto& p : r.demand.hostPorts) ports[n].insert(p);
      }
      if (!placed.empty()) sharedUsed += r.demand.sharedSpace;
    }

    const ClusterState& state = placer.state();
    ASSERT_EQ(state.sharedUsed, sharedUsed);
    EXPECT_LE(state.sharedUsed, state.sharedCapacity);
    for (std::size_t i = 0; i < state.nodes.size(); ++i) {
      const NodeState& n = state.nodes[i];
      EXPECT_EQ(n.used, used[i]) << n.name;
      EXPECT_LE(n.used.memory, n.capacity.memory) << n.name;
      EXPECT_LE(n.used.disk, n.capacity.disk) << n.name;
      // Ports the engine added are unique; the node's own may repeat in input.
      std::multiset<HostPort> added = ports[i];
      for (const auto& p : s.cluster.nodes[i].portsInUse) added.erase(added.find(p));
      for (const auto& p : added) {
        EXPECT_EQ(ports[i].count(p), 1u) << n.name << " publishes " << toString(p) << " twice";
      }
      EXPECT_EQ(std::multiset<HostPort>(n.portsInUse.begin(), n.portsInUse.end()), ports[i]);
    }
  }
}

TEST(PlacerProperties, AllOrNothingFailsOnlyWhenAsManyAsFitWouldLeaveSomePending) {
  // Greedy placement is deterministic: the same request in the other mode
  // on the same state must place everything exactly when all-or-nothing does.
  for (std::uint64_t seed = 1; seed <= 1000; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    const Scenario s = randomScenario(rng);
    for (const auto& r : s.requests) {
      Placer strict(s.cluster);
      Placer lenient(s.cluster);
      PlacementRequest a = r;
      a.mode = PlacementMode::kAllOrNothing;
      PlacementRequest b = r;
      b.mode = PlacementMode::kAsManyAsFit;
      auto strictOutcome = strict.place(a);
      auto lenientOutcome = lenient.place(b);
      ASSERT_TRUE(lenientOutcome.ok());
      EXPECT_EQ(strictOutcome.ok(), lenientOutcome->pending == 0);
      if (strictOutcome.ok()) {
        EXPECT_EQ(strictOutcome->nodes, lenientOutcome->nodes);
      }
    }
  }
}

}  // namespace
}  // namespace ozy
