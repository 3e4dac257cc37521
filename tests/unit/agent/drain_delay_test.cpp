// The drain delay's rule, case by case: a pod that may be serving is
// withdrawn first and removed the delay after; anything that cannot be
// serving goes at once.
#include "agent/drain_delay.h"

#include <gtest/gtest.h>

namespace ozy {
namespace {

constexpr std::int64_t kNowMs = 100'000;
constexpr std::int64_t kDelay = 2000;

Action removal(std::string job, RemovalReason why) {
  return {ActionKind::kRemovePod, "ozy-web-1.node-a", std::move(job), 1, "", "for people", 0, why};
}

TEST(DrainDelay, TellsWhyAPodGoes) {
  using enum RemovalReason;
  EXPECT_EQ(removalCause(removal("", kNotAssigned), false), RemovalCause::kStray);
  EXPECT_EQ(removalCause(removal("web", kNotAssigned), false), RemovalCause::kLeaving);
  EXPECT_EQ(removalCause(removal("web", kSpecChanged), true), RemovalCause::kReplaced);
  EXPECT_EQ(removalCause(removal("web", kDuplicate), true), RemovalCause::kRepair);
  EXPECT_EQ(removalCause(removal("web", kBroken), true), RemovalCause::kRepair);
}

TEST(DrainDelay, ThePodOfTheReconcilersReplacementIsKnownAsOne) {
  // The reconciler's own wording, not a copy of it.
  auto spec = std::make_shared<Job>();
  spec->name = "web";
  const std::vector<DesiredInstance> desired{{"web", 1, 2, spec}};
  const std::vector<ObservedPod> observed{{"ozy-web-1", "web", 1, 1, {}}};
  const auto actions = reconcile(desired, observed, kNowMs);
  ASSERT_FALSE(actions.empty());
  ASSERT_EQ(actions.front().kind, ActionKind::kRemovePod);
  EXPECT_TRUE(replacesWithNewSpec(actions.front())) << actions.front().reason;
  EXPECT_EQ(removalCause(actions.front(), true), RemovalCause::kReplaced);
}

struct Case {
  const char* name;
  RemovalFacts facts;
  std::optional<std::int64_t> withdrawnAtMs;
  std::int64_t delayMs;
  RemovalPlan want;
};

TEST(DrainDelay, Plans) {
  using enum RemovalCause;
  using enum RemovalStep;
  // Facts are {cause, running, published}.
  // clang-format off: a case on two lines, what it shows, then what goes in and what comes out.
  const Case cases[] = {
      {"a serving instance that leaves is withdrawn first",
       {kLeaving, true, true}, {}, kDelay, {kWithdraw, kNowMs + kDelay}},
      {"so is one whose pod a new spec replaces",
       {kReplaced, true, true}, {}, kDelay, {kWithdraw, kNowMs + kDelay}},
      {"during the delay it waits",
       {kLeaving, true, true}, kNowMs - 500, kDelay, {kWait, kNowMs - 500 + kDelay}},
      {"after it, it goes",
       {kLeaving, true, true}, kNowMs - kDelay, kDelay, {kNow, kNowMs}},
      {"a handover's withdrawal counts from when it was made",
       {kLeaving, true, false}, kNowMs - 300, kDelay, {kWait, kNowMs - 300 + kDelay}},
      {"a long handover has waited enough",
       {kLeaving, true, false}, kNowMs - 60'000, kDelay, {kNow, kNowMs}},
      {"never published healthy: nobody sends it requests",
       {kLeaving, true, false}, {}, kDelay, {kNow, kNowMs}},
      {"nothing running: nothing to finish",
       {kLeaving, false, true}, {}, kDelay, {kNow, kNowMs}},
      {"stopped running during the delay",
       {kReplaced, false, true}, kNowMs - 100, kDelay, {kNow, kNowMs}},
      {"a duplicate goes at once",
       {kRepair, true, true}, {}, kDelay, {kNow, kNowMs}},
      {"a stray goes at once",
       {kStray, true, true}, {}, kDelay, {kNow, kNowMs}},
      {"a delay of 0 waits for nothing",
       {kLeaving, true, true}, {}, 0, {kNow, kNowMs}},
      {"nor does it for one withdrawn already",
       {kLeaving, true, true}, kNowMs - 1, 0, {kNow, kNowMs}},
  };
  // clang-format on
  for (const Case& c : cases) {
    EXPECT_EQ(planRemoval(c.facts, c.withdrawnAtMs, kNowMs, c.delayMs), c.want) << c.name;
  }
}

}  // namespace
}  // namespace ozy
