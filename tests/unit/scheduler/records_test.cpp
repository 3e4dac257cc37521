// Stored records survive encode/decode, and unreadable values say which kind
// of record was broken.
#include "scheduler/records.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "job/job_parser.h"

namespace ozy {
namespace {

using ::testing::HasSubstr;

TEST(Records, RoundTripEveryKind) {
  const NodeRecord node{"node-a", "10.0.0.1", "http://10.0.0.1:7700", {8 * kGiB, 100 * kGiB}, 42,
                        {{53, Protocol::kTcp}, {53, Protocol::kUdp}, {7700, Protocol::kTcp}}};
  EXPECT_EQ(*decodeNode(encode(node)), node);

  const UsageRecord usage{{2 * kGiB, 1 * kGiB}, {{53, Protocol::kUdp}, {80, Protocol::kTcp}}, 3};
  EXPECT_EQ(*decodeUsage(encode(usage)), usage);

  const std::vector<Assignment> groups{
      {"web", 2, {0, 4, 7}, {kGiB, 0}, {{80, Protocol::kTcp}}},
      {"web", 3, {8}, {2 * kGiB, 0}, {}}};
  EXPECT_EQ(*decodeAssignments(encode(groups)), groups);

  auto spec = parseJob("name: web\nnumInstances: 2\ncontainers:\n  app:\n    image: x\n");
  ASSERT_TRUE(spec.ok());
  const JobRecord job{*spec, 3, {"node-a", "node-b"}, {5}, kGiB, 1234, {}};
  EXPECT_EQ(*decodeJob(encode(job)), job);
  const JobRecord claiming{*spec, 1, {}, {}, 0, 5, {{"shop.example.com", "web.ozy.local"}, {22, 15432}}};
  EXPECT_EQ(*decodeJob(encode(claiming)), claiming);

  const SharedPoolRecord pool{100 * kGiB, 3 * kGiB};
  EXPECT_EQ(*decodeSharedPool(encode(pool)), pool);

  const DrainRecord drain{1795683600000, "node-b"};
  EXPECT_EQ(*decodeDrain(encode(drain)), drain);
}

TEST(Records, EveryInstanceStateRoundTripsByItsName) {
  for (auto state : {InstanceState::kPending, InstanceState::kPulling, InstanceState::kStarting,
                     InstanceState::kHealthy, InstanceState::kUnhealthy, InstanceState::kFailed,
                     InstanceState::kUnknown, InstanceState::kStopping}) {
    const InstanceStatus status{"node-a", state, "why", 2, "10.88.0.5", 1795683600000};
    auto decoded = decodeInstanceStatus(encode(status));
    ASSERT_TRUE(decoded.ok()) << toString(state) << ": " << decoded.error();
    EXPECT_EQ(*decoded, status) << toString(state);
  }
  EXPECT_EQ(toString(InstanceState::kStopping), "stopping");
  auto unknown = decodeInstanceStatus(
      R"({"node":"a","state":"draining","reason":"","restarts":0,"podIp":"","sinceMs":0})");
  ASSERT_FALSE(unknown.ok());
  EXPECT_THAT(unknown.error(), HasSubstr("unknown state \"draining\""));
}

TEST(Records, ReadANodeRecordWrittenBeforeReservedPorts) {
  auto node = decodeNode(
      R"({"name":"a","address":"10.0.0.1","api":"http://x","capacity":{"memory":1,"disk":2},)"
      R"("startedAtMs":5})");
  ASSERT_TRUE(node.ok()) << node.error();
  EXPECT_TRUE(node->reservedPorts.empty());
}

// Records of jobs without claims keep the form they had before claims
// existed, and such records (every job stored until then) read as holding none.
TEST(Records, WriteIngressClaimsOnlyWhenHeld) {
  auto spec = parseJob("name: web\ncontainers:\n  app:\n    image: x\n");
  ASSERT_TRUE(spec.ok());
  const JobRecord plain{*spec, 1, {}, {}, 0, 5, {}};
  EXPECT_THAT(encode(plain), ::testing::Not(HasSubstr("\"ingress\"")));
  JobRecord claiming = plain;
  claiming.ingress.tcp = {2222};
  EXPECT_THAT(encode(claiming), HasSubstr(R"("ingress":{"hosts":[],"tcp":[2222]})"));
}

TEST(Records, RefuseIngressClaimsThatCannotBeClaimKeys) {
  auto spec = parseJob("name: web\ncontainers:\n  app:\n    image: x\n");
  ASSERT_TRUE(spec.ok());
  JobRecord claiming{*spec, 1, {}, {}, 0, 5, {{"shop.example.com"}, {22}}};
  std::string text = encode(claiming);
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"shop.example.com", "../jobs/other"}, {"[22]", "[0]"}, {"[22]", "[65536]"}}) {
    SCOPED_TRACE(to);
    std::string broken = text;
    broken.replace(broken.find(from), from.size(), to);
    auto decoded = decodeJob(broken);
    ASSERT_FALSE(decoded.ok());
    EXPECT_THAT(decoded.error(), HasSubstr("bad ingress"));
  }
}

TEST(Records, ReportWhichRecordIsUnreadable) {
  auto broken = decodeUsage("{\"used\": 3}");
  ASSERT_FALSE(broken.ok());
  EXPECT_THAT(broken.error(), HasSubstr("usage record"));
  EXPECT_FALSE(decodeNode("not json").ok());
  EXPECT_FALSE(decodeJob("{\"spec\": {\"name\": \"BAD NAME\"}}").ok());
}

}  // namespace
}  // namespace ozy
