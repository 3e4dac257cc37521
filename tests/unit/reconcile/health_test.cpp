// Health verdicts from a stream of check results, by the job file's thresholds.
#include "reconcile/health.h"

#include <gtest/gtest.h>

namespace ozy {
namespace {

TEST(HealthTracker, StartsWithoutAVerdictAndTurnsHealthyAfterTheThreshold) {
  HealthTracker t(2, 3);
  EXPECT_EQ(t.verdict(), HealthVerdict::kStarting);
  EXPECT_FALSE(t.record(true));
  EXPECT_EQ(t.verdict(), HealthVerdict::kStarting);
  EXPECT_TRUE(t.record(true));
  EXPECT_EQ(t.verdict(), HealthVerdict::kHealthy);
}

TEST(HealthTracker, NeedsConsecutiveFailuresToTurnUnhealthy) {
  HealthTracker t(1, 3);
  t.record(true);
  t.record(false, "HTTP 500");
  t.record(false, "HTTP 500");
  t.record(true);  // the run of failures is broken
  t.record(false, "HTTP 502");
  t.record(false, "HTTP 502");
  EXPECT_EQ(t.verdict(), HealthVerdict::kHealthy);
  EXPECT_TRUE(t.record(false, "HTTP 503"));
  EXPECT_EQ(t.verdict(), HealthVerdict::kUnhealthy);
  EXPECT_EQ(t.lastFailure(), "HTTP 503");
}

TEST(HealthTracker, RecoversAfterTheHealthyThreshold) {
  HealthTracker t(2, 1);
  t.record(false, "refused");
  EXPECT_EQ(t.verdict(), HealthVerdict::kUnhealthy);  // also from the start
  EXPECT_FALSE(t.record(true));
  EXPECT_EQ(t.verdict(), HealthVerdict::kUnhealthy);
  EXPECT_TRUE(t.record(true));
  EXPECT_EQ(t.verdict(), HealthVerdict::kHealthy);
}

TEST(HealthTracker, TreatsThresholdsBelowOneAsOne) {
  HealthTracker t(0, 0);
  EXPECT_TRUE(t.record(true));
  EXPECT_TRUE(t.record(false));
}

}  // namespace
}  // namespace ozy
