// RateLimiter: the token bucket per client, the truncated responses among
// the limited ones, and the bounded table of clients. Time is a value the
// tests advance by hand.
#include "dns/rate_limiter.h"

#include <chrono>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace ozy::dns {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using TimePoint = RateLimiter::TimePoint;

const TimePoint kStart{};

ClientAddress address(const std::string& text) {
  auto parsed = parseClientAddress(text);
  EXPECT_TRUE(parsed) << text;
  return parsed.value_or(ClientAddress{});
}

RateLimit limitOf(std::uint32_t perSecond, std::uint32_t burst, std::uint32_t slip = 0,
                  std::size_t maxClients = kDefaultMaxClients) {
  RateLimit limit;
  limit.queriesPerSecond = perSecond;
  limit.burst = burst;
  limit.slip = slip;
  limit.maxClients = maxClients;
  return limit;
}

struct Query {
  std::chrono::milliseconds at;
  std::string client;
  Verdict expected;
};

struct Case {
  std::string behaviour;
  RateLimit limit;
  std::vector<Query> queries;
};

constexpr Verdict kAnswer = Verdict::kAnswer;
constexpr Verdict kDrop = Verdict::kDrop;
constexpr Verdict kTruncate = Verdict::kTruncate;

TEST(RateLimiterTest, Rules) {
  const std::vector<Case> cases = {
      {"answers a burst at once, then limits",
       limitOf(10, 3),
       {{0ms, "10.0.0.1", kAnswer},
        {0ms, "10.0.0.1", kAnswer},
        {0ms, "10.0.0.1", kAnswer},
        {0ms, "10.0.0.1", kDrop}}},
      {"refills at the rate, in fractions of a token",
       limitOf(4, 3),
       {{0ms, "10.0.0.1", kAnswer},
        {0ms, "10.0.0.1", kAnswer},
        {0ms, "10.0.0.1", kAnswer},
        {250ms, "10.0.0.1", kAnswer},
        {250ms, "10.0.0.1", kDrop},
        {375ms, "10.0.0.1", kDrop},
        {500ms, "10.0.0.1", kAnswer},
        {625ms, "10.0.0.1", kDrop}}},
      {"refills no further than the burst",
       limitOf(10, 2),
       {{0ms, "10.0.0.1", kAnswer},
        {0ms, "10.0.0.1", kAnswer},
        {10000ms, "10.0.0.1", kAnswer},
        {10000ms, "10.0.0.1", kAnswer},
        {10000ms, "10.0.0.1", kDrop}}},
      {"truncates every slip-th limited query in a row, drops the others",
       limitOf(1, 1, 2),
       {{0ms, "10.0.0.1", kAnswer},
        {0ms, "10.0.0.1", kDrop},
        {0ms, "10.0.0.1", kTruncate},
        {0ms, "10.0.0.1", kDrop},
        {0ms, "10.0.0.1", kTruncate}}},
      {"with a slip of 1 truncates every limited query",
       limitOf(1, 1, 1),
       {{0ms, "10.0.0.1", kAnswer}, {0ms, "10.0.0.1", kTruncate}, {0ms, "10.0.0.1", kTruncate}}},
      {"counts the slip afresh once the client was answered again",
       limitOf(1, 1, 2),
       {{0ms, "10.0.0.1", kAnswer},
        {0ms, "10.0.0.1", kDrop},
        {1000ms, "10.0.0.1", kAnswer},
        {1000ms, "10.0.0.1", kDrop},
        {1000ms, "10.0.0.1", kTruncate}}},
      {"gives every address a bucket of its own, IPv6 too",
       limitOf(1, 1),
       {{0ms, "10.0.0.1", kAnswer},
        {0ms, "10.0.0.1", kDrop},
        {0ms, "10.0.0.2", kAnswer},
        {0ms, "fd00::1", kAnswer},
        {0ms, "fd00::1", kDrop},
        {0ms, "fd00::2", kAnswer}}},
      {"refills nothing for a time earlier than one seen",
       limitOf(4, 1),
       {{1000ms, "10.0.0.1", kAnswer},
        {500ms, "10.0.0.1", kDrop},
        {1000ms, "10.0.0.1", kDrop},
        {1250ms, "10.0.0.1", kAnswer}}},
      {"with a rate of 0 answers everything",
       limitOf(0, 0),
       {{0ms, "10.0.0.1", kAnswer}, {0ms, "10.0.0.1", kAnswer}, {0ms, "10.0.0.1", kAnswer}}},
  };
  for (const Case& c : cases) {
    RateLimiter limiter(c.limit, 7);
    for (std::size_t i = 0; i < c.queries.size(); ++i) {
      const Query& q = c.queries[i];
      EXPECT_EQ(limiter.admit(address(q.client), kStart + q.at).verdict, q.expected)
          << c.behaviour << ": query " << i << " from " << q.client << " at " << q.at.count()
          << " ms";
    }
  }
}

TEST(RateLimiterTest, FlagsOnlyTheFirstLimitedQueryInARow) {
  RateLimiter limiter(limitOf(1, 1, 2), 7);
  const ClientAddress client = address("10.0.0.1");
  std::vector<bool> starts;
  for (auto at : {0ms, 0ms, 0ms, 0ms, 1000ms, 1000ms}) {
    starts.push_back(limiter.admit(client, kStart + at).startsLimiting);
  }
  EXPECT_THAT(starts, ElementsAre(false, true, false, false, false, true));
}

TEST(RateLimiterTest, KeepsAtMostMaxClientsForgettingTheOneHeardFromLeastRecently) {
  RateLimiter limiter(limitOf(1, 1, 0, 3), 7);
  for (const char* client : {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"}) {
    (void)limiter.admit(address(client), kStart);
  }
  EXPECT_EQ(limiter.trackedClients(), 3u);
  EXPECT_FALSE(limiter.tracks(address("10.0.0.1")));
  EXPECT_TRUE(limiter.tracks(address("10.0.0.2")));
  EXPECT_TRUE(limiter.tracks(address("10.0.0.4")));
}

TEST(RateLimiterTest, AClientHeardFromAgainIsNotTheOneForgotten) {
  RateLimiter limiter(limitOf(1, 1, 0, 3), 7);
  for (const char* client : {"10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1", "10.0.0.4"}) {
    (void)limiter.admit(address(client), kStart);
  }
  EXPECT_TRUE(limiter.tracks(address("10.0.0.1")));
  EXPECT_FALSE(limiter.tracks(address("10.0.0.2")));
  EXPECT_EQ(limiter.trackedClients(), 3u);
}

TEST(RateLimiterTest, AForgottenClientStartsAgainWithAFullBucket) {
  RateLimiter limiter(limitOf(1, 1, 0, 1), 7);
  const ClientAddress first = address("10.0.0.1");
  EXPECT_EQ(limiter.admit(first, kStart).verdict, kAnswer);
  EXPECT_EQ(limiter.admit(first, kStart).verdict, kDrop);
  EXPECT_EQ(limiter.admit(address("10.0.0.2"), kStart).verdict, kAnswer);
  EXPECT_EQ(limiter.admit(first, kStart).verdict, kAnswer);
}

TEST(RateLimiterTest, AFloodOfDistinctSourcesStaysWithinTheTable) {
  RateLimiter limiter(limitOf(100, 200), 7);
  ClientAddress client;
  client.v6 = true;
  for (std::uint32_t i = 0; i < 3 * kDefaultMaxClients; ++i) {
    client.bytes[12] = static_cast<std::uint8_t>(i >> 24);
    client.bytes[13] = static_cast<std::uint8_t>(i >> 16);
    client.bytes[14] = static_cast<std::uint8_t>(i >> 8);
    client.bytes[15] = static_cast<std::uint8_t>(i);
    EXPECT_EQ(limiter.admit(client, kStart).verdict, kAnswer);
  }
  EXPECT_EQ(limiter.trackedClients(), kDefaultMaxClients);
  EXPECT_TRUE(limiter.tracks(client));
}

TEST(RateLimiterTest, WithoutALimitTracksNobody) {
  RateLimiter limiter(limitOf(0, 0), 7);
  (void)limiter.admit(address("10.0.0.1"), kStart);
  EXPECT_EQ(limiter.trackedClients(), 0u);
}

TEST(RateLimiterTest, ProblemsNameEveryUnusableField) {
  EXPECT_THAT(rateLimitProblems(RateLimit{}), IsEmpty());
  EXPECT_THAT(rateLimitProblems(limitOf(0, 0, 0, 0)), IsEmpty());
  EXPECT_THAT(rateLimitProblems(limitOf(50, 0, 2, 0)),
              ElementsAre(HasSubstr("50 queries a second needs a burst of at least 1"),
                          HasSubstr("at least 1 client")));
}

TEST(ClientAddressTest, ReadsAndWritesIpv4AndIpv6) {
  EXPECT_EQ(toString(address("10.1.2.3")), "10.1.2.3");
  EXPECT_EQ(toString(address("fd00::1")), "fd00::1");
  EXPECT_FALSE(parseClientAddress("localhost"));
  EXPECT_NE(address("10.0.0.1"), address("::a00:1"));
}

TEST(ClientAddressTest, TheHashDependsOnTheSeed) {
  const ClientAddress client = address("10.0.0.1");
  EXPECT_EQ(ClientAddressHash{1}(client), ClientAddressHash{1}(client));
  EXPECT_NE(ClientAddressHash{1}(client), ClientAddressHash{2}(client));
}

}  // namespace
}  // namespace ozy::dns
