// Who re-places a dead node's instances: every agent must compute the same
// order from the same live nodes, or several would act at once (harmless,
// but thousands of agents racing is the herd the ranking exists to avoid).
#include "agent/replacer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include <fmt/format.h>

namespace ozy {
namespace {

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

}  // namespace
}  // namespace ozy
