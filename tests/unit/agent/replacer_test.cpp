// Who re-places a dead node's instances: every agent must compute the same
// order from the same live nodes, or several would act at once (harmless,
// but thousands of agents racing is the herd the ranking exists to avoid).
#include "agent/replacer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

namespace ozy {
namespace {

using namespace std::chrono_literals;

std::vector<std::string> nodes(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(fmt::format("node-{}", i));
  return out;
}

TEST(RankFor, TheLiveNodesTakeEveryRankOnce) {
  const auto live = nodes(7);
  std::set<std::size_t> ranks;
  for (const auto& n : live) ranks.insert(rankFor("dead-1", n, live));
  EXPECT_EQ(ranks, (std::set<std::size_t>{0, 1, 2, 3, 4, 5, 6}));
}

TEST(RankFor, DoesNotDependOnTheOrderNodesAreListedIn) {
  auto live = nodes(9);
  auto reversed = live;
  std::reverse(reversed.begin(), reversed.end());
  for (const auto& n : live) EXPECT_EQ(rankFor("dead-1", n, live), rankFor("dead-1", n, reversed));
}

TEST(RankFor, ANodeThatIsNotLiveNeverActs) {
  const auto live = nodes(3);
  EXPECT_EQ(rankFor("dead-1", "elsewhere", live), live.size());
}

TEST(RankFor, DifferentWorkGoesToDifferentNodesFirst) {
  const auto live = nodes(10);
  std::set<std::string> firsts;
  for (int dead = 0; dead < 200; ++dead) {
    for (const auto& n : live) {
      if (rankFor(fmt::format("gone-{}", dead), n, live) == 0) firsts.insert(n);
    }
  }
  EXPECT_EQ(firsts.size(), live.size()) << "every node should be first for some dead node";
}

TEST(RankFor, LosingAnotherNodeKeepsTheFirst) {
  auto live = nodes(8);
  std::string first;
  for (const auto& n : live) {
    if (rankFor("dead-1", n, live) == 0) first = n;
  }
  ASSERT_FALSE(first.empty());
  for (const auto& leaving : live) {
    if (leaving == first) continue;
    auto fewer = live;
    std::erase(fewer, leaving);
    EXPECT_EQ(rankFor("dead-1", first, fewer), 0u) << "after " << leaving << " left";
  }
}

// A view with `live` nodes, and `gone` ones that still hold instances.
ClusterSnapshot viewOf(const std::vector<std::string>& live, const std::vector<std::string>& gone) {
  ClusterSnapshot view;
  for (const auto& n : live) {
    NodeEntry e;
    e.name = n;
    e.live = true;
    view.nodes.push_back(e);
  }
  for (const auto& n : gone) {
    NodeEntry e;
    e.name = n;
    e.usage.instances = 2;
    e.usageModRevision = 5;
    view.nodes.push_back(e);
  }
  std::sort(view.nodes.begin(), view.nodes.end(),
            [](const NodeEntry& a, const NodeEntry& b) { return a.name < b.name; });
  return view;
}

// The live node ranked `rank` for `work`.
std::string ranked(const std::string& work, std::size_t rank, const std::vector<std::string>& live) {
  for (const auto& n : live) {
    if (rankFor(work, n, live) == rank) return n;
  }
  return "";
}

class DueWork : public ::testing::Test {
 protected:
  using Clock = ReplacementMemory::Clock;
  DueWork() {
    config.fallbackDelay = std::chrono::seconds(5);
    config.pendingInterval = std::chrono::seconds(10);
  }
  ReplacementWork at(const std::string& node, const ClusterSnapshot& view, std::chrono::seconds t) {
    config.node = node;
    return dueWork(view, config, memoryOf[node], start + t);
  }
  ReplacerConfig config;
  std::map<std::string, ReplacementMemory> memoryOf;
  const Clock::time_point start = Clock::now();
  const std::vector<std::string> live = nodes(6);
};

TEST_F(DueWork, TheFirstActsAtOnceTheNextTwoOnlyAfterTheirDelay) {
  const ClusterSnapshot view = viewOf(live, {"dead"});
  EXPECT_TRUE(at(ranked("dead", 0, live), view, 0s).nodesToVacate.contains("dead"));
  EXPECT_TRUE(at(ranked("dead", 1, live), view, 0s).nodesToVacate.empty());
  EXPECT_TRUE(at(ranked("dead", 1, live), view, 4s).nodesToVacate.empty());
  EXPECT_TRUE(at(ranked("dead", 1, live), view, 5s).nodesToVacate.contains("dead"));
  EXPECT_TRUE(at(ranked("dead", 2, live), view, 0s).nodesToVacate.empty());
  EXPECT_TRUE(at(ranked("dead", 2, live), view, 9s).nodesToVacate.empty());
  EXPECT_TRUE(at(ranked("dead", 2, live), view, 10s).nodesToVacate.contains("dead"));
  EXPECT_TRUE(at(ranked("dead", 3, live), view, 0s).nodesToVacate.empty());
  EXPECT_TRUE(at(ranked("dead", 3, live), view, 600s).nodesToVacate.empty()) << "the rest never act";
}

TEST_F(DueWork, AGoneNodeWithoutInstancesIsNoWork) {
  ClusterSnapshot view = viewOf(live, {"dead"});
  for (auto& e : view.nodes) e.usage.instances = 0;
  EXPECT_TRUE(at(ranked("dead", 0, live), view, 0s).nodesToVacate.empty());
}

TEST_F(DueWork, TheDelayStartsAgainWhenTheWorkComesBack) {
  const std::string second = ranked("dead", 1, live);
  EXPECT_TRUE(at(second, viewOf(live, {"dead"}), 0s).nodesToVacate.empty());
  EXPECT_TRUE(at(second, viewOf(live, {}), 3s).nodesToVacate.empty());  // someone did it
  EXPECT_TRUE(at(second, viewOf(live, {"dead"}), 6s).nodesToVacate.empty()) << "seen again at 6 s";
  EXPECT_TRUE(at(second, viewOf(live, {"dead"}), 11s).nodesToVacate.contains("dead"));
}

TEST_F(DueWork, PendingInstancesAreLookedAtEveryIntervalWithFallbacks) {
  const ClusterSnapshot view = viewOf(live, {});
  const std::string first = ranked("pending instances", 0, live);
  EXPECT_TRUE(at(first, view, 0s).pending);
  EXPECT_FALSE(at(first, view, 9s).pending);
  EXPECT_TRUE(at(first, view, 10s).pending);
  const std::string second = ranked("pending instances", 1, live);
  EXPECT_TRUE(at(second, view, 0s).pending) << "nothing looked yet";
  EXPECT_FALSE(at(second, view, 59s).pending);
  EXPECT_TRUE(at(second, view, 60s).pending);
  EXPECT_FALSE(at(ranked("pending instances", 3, live), view, 0s).pending);
}

// A live node that is drained and still holds `instances`.
void drainIn(ClusterSnapshot& view, const std::string& node, std::uint32_t instances) {
  for (auto& e : view.nodes) {
    if (e.name != node) continue;
    e.drainModRevision = 7;
    e.usage.instances = instances;
  }
}

TEST_F(DueWork, ADrainedNodeWithInstancesIsWorkLikeAGoneOne) {
  ClusterSnapshot view = viewOf(live, {});
  const std::string drained = live[4];
  drainIn(view, drained, 3);
  // Ranked among all live nodes, the drained one included: it can act too.
  EXPECT_TRUE(at(ranked(drained, 0, live), view, 0s).nodesToVacate.contains(drained));
  EXPECT_TRUE(at(ranked(drained, 1, live), view, 0s).nodesToVacate.empty());
  EXPECT_TRUE(at(ranked(drained, 1, live), view, 5s).nodesToVacate.contains(drained));
  drainIn(view, drained, 0);
  EXPECT_TRUE(at(ranked(drained, 0, live), view, 6s).nodesToVacate.empty()) << "nothing left";
}

TEST_F(DueWork, ADrainThatFoundNoRoomIsTriedAgainWhenItMovedSomeOrAfterThePendingInterval) {
  ClusterSnapshot view = viewOf(live, {});
  const std::string drained = live[2];
  const std::string first = ranked(drained, 0, live);
  drainIn(view, drained, 3);
  EXPECT_TRUE(at(first, view, 0s).nodesToVacate.contains(drained));
  EXPECT_TRUE(at(first, view, 1s).nodesToVacate.empty()) << "nothing moved: wait for room";
  EXPECT_TRUE(at(first, view, 9s).nodesToVacate.empty());
  EXPECT_TRUE(at(first, view, 10s).nodesToVacate.contains(drained)) << "the pending interval";
  drainIn(view, drained, 2);
  EXPECT_TRUE(at(first, view, 11s).nodesToVacate.contains(drained)) << "one moved: go on";
  // A gone node is never held back like this: its instances go pending at once.
  const ClusterSnapshot gone = viewOf(live, {"dead"});
  const std::string firstForDead = ranked("dead", 0, live);
  EXPECT_TRUE(at(firstForDead, gone, 0s).nodesToVacate.contains("dead"));
  EXPECT_TRUE(at(firstForDead, gone, 1s).nodesToVacate.contains("dead"));
}

TEST_F(DueWork, ALiveNodeThatIsNotDrainedIsNoWork) {
  ClusterSnapshot view = viewOf(live, {});
  for (auto& e : view.nodes) e.usage.instances = 5;
  for (const auto& n : live) EXPECT_TRUE(at(n, view, 0s).nodesToVacate.empty()) << n;
}

}  // namespace
}  // namespace ozy
