// LogThrottle: one line per interval, counting the events it kept quiet.
#include "dns/log_throttle.h"

#include <chrono>
#include <optional>

#include <gtest/gtest.h>

namespace ozy::dns {
namespace {

using namespace std::chrono_literals;

TEST(LogThrottleTest, LogsOncePerIntervalAndCountsWhatItSkipped) {
  LogThrottle throttle(10s);
  const LogThrottle::TimePoint start{};
  EXPECT_EQ(throttle.event(start), std::optional<std::size_t>(0));
  EXPECT_EQ(throttle.event(start + 1s), std::nullopt);
  EXPECT_EQ(throttle.event(start + 9s), std::nullopt);
  EXPECT_EQ(throttle.event(start + 10s), std::optional<std::size_t>(2));
  EXPECT_EQ(throttle.event(start + 30s), std::optional<std::size_t>(0));
}

TEST(LogThrottleTest, SaysHowManyWentUnloggedOnlyWhenSomeDid) {
  EXPECT_EQ(andUnlogged(0), "");
  EXPECT_EQ(andUnlogged(3), " (and 3 more since the last such line)");
}

}  // namespace
}  // namespace ozy::dns
