// Stored records survive encode/decode, and unreadable values say which kind
// of record was broken.
#include "scheduler/records.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

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
  const JobRecord job{*spec, 3, {"node-a", "node-b"}, {5}, kGiB, 1234, {}, 7};
  EXPECT_EQ(*decodeJob(encode(job)), job);
  const JobRecord claiming{*spec, 1, {}, {}, 0, 5, {{"shop.example.com", "web.ozy.local"}, {22, 15432}}, 1};
  EXPECT_EQ(*decodeJob(encode(claiming)), claiming);

  const SharedPoolRecord pool{100 * kGiB, 3 * kGiB};
  EXPECT_EQ(*decodeSharedPool(encode(pool)), pool);

  const DrainRecord drain{1795683600000, "node-b"};
  EXPECT_EQ(*decodeDrain(encode(drain)), drain);
}

TEST(Records, RoundTripVersionAndDeploymentRecords) {
  auto spec = parseJob("name: web\nnumInstances: 3\ncontainers:\n  app:\n    image: x:2\n"
                       "update: {max_parallel: 2, canary: 1, auto_revert: true}\n");
  ASSERT_TRUE(spec.ok());
  VersionRecord version;
  version.version = 4;
  version.spec = *spec;
  version.submittedAtMs = 1795683600000;
  version.changes = {R"(containers.app.image: "x:1" -> "x:2")", "numInstances: 2 -> 3"};
  version.outcome = DeploymentOutcome::kFailed;
  version.revertOf = 2;
  auto decodedVersion = decodeVersion(encode(version));
  ASSERT_TRUE(decodedVersion.ok()) << decodedVersion.error();
  EXPECT_EQ(*decodedVersion, version);

  DeploymentRecord deployment;
  deployment.version = 4;
  deployment.fromVersion = 3;
  deployment.state = DeploymentState::kPaused;
  deployment.policy.maxParallel = 2;
  deployment.policy.minHealthyTime = Millis(1500);
  deployment.policy.healthyDeadline = Millis(60'000);
  deployment.policy.progressDeadline = Millis(120'000);
  deployment.policy.autoRevert = true;
  deployment.policy.canary = 1;
  deployment.policy.strategy = UpdateStrategy::kRecreate;
  deployment.startedAtMs = 1000;
  deployment.updatedAtMs = 2000;
  deployment.progressDeadlineMs = 122'000;
  deployment.batch = {3, 7};
  deployment.batchPlacedAtMs = 1500;
  deployment.canaryBatch = true;
  deployment.promoted = true;
  deployment.removing = {1, 2};
  deployment.batchesDone = 5;
  deployment.message = "1 canary healthy; waiting for `ozy job promote web`";
  deployment.revertsFailed = 6;
  auto decodedDeployment = decodeDeployment(encode(deployment));
  ASSERT_TRUE(decodedDeployment.ok()) << decodedDeployment.error();
  EXPECT_EQ(*decodedDeployment, deployment);
}

TEST(Records, EveryDeploymentStateAndOutcomeRoundTripsByItsName) {
  for (auto state : {DeploymentState::kRunning, DeploymentState::kPaused, DeploymentState::kSucceeded,
                     DeploymentState::kFailed, DeploymentState::kSuperseded}) {
    DeploymentRecord d;
    d.state = state;
    auto decoded = decodeDeployment(encode(d));
    ASSERT_TRUE(decoded.ok()) << toString(state) << ": " << decoded.error();
    EXPECT_EQ(decoded->state, state) << toString(state);
  }
  auto spec = parseJob("name: web\ncontainers:\n  app:\n    image: x\n");
  ASSERT_TRUE(spec.ok());
  for (auto outcome : {DeploymentOutcome::kNone, DeploymentOutcome::kRunning,
                       DeploymentOutcome::kSucceeded, DeploymentOutcome::kFailed,
                       DeploymentOutcome::kSuperseded}) {
    VersionRecord v;
    v.spec = *spec;
    v.outcome = outcome;
    auto decoded = decodeVersion(encode(v));
    ASSERT_TRUE(decoded.ok()) << toString(outcome) << ": " << decoded.error();
    EXPECT_EQ(decoded->outcome, outcome) << toString(outcome);
  }
}

// Assignment keys written before versions held one group, without a version.
TEST(Records, AnAssignmentFromBeforeVersionsReadsAsOneGroupOfVersion1) {
  auto groups = decodeAssignments(
      R"({"job":"web","jobVersion":3,"instances":[1],"perInstance":{"memory":1,"disk":0},"hostPorts":[]})");
  ASSERT_TRUE(groups.ok()) << groups.error();
  ASSERT_EQ(groups->size(), 1u);
  const Assignment& a = groups->front();
  EXPECT_EQ(a.job, "web");
  EXPECT_EQ(a.version, 1u) << "jobVersion counted changes of the job record, not versions";
  EXPECT_EQ(a.instances, (std::vector<std::uint32_t>{1}));
  EXPECT_EQ(a.perInstance, (Resources{1, 0}));
  EXPECT_TRUE(a.hostPorts.empty());
}

TEST(Records, AStatusFromBeforeVersionsReadsAsVersion0) {
  auto status = decodeInstanceStatus(
      R"({"node":"a","state":"healthy","reason":"","restarts":0,"podIp":"","sinceMs":5})");
  ASSERT_TRUE(status.ok()) << status.error();
  EXPECT_EQ(status->version, 0u) << "no version: a deployment never counts it as the new one";
}

TEST(Records, RefuseAssignmentGroupsOutOfVersionOrder) {
  for (const std::vector<int>& versions :
       {std::vector<int>{2, 1}, std::vector<int>{2, 2}, std::vector<int>{0}}) {
    std::string text = R"({"job":"web","groups":[)";
    for (std::size_t i = 0; i < versions.size(); ++i) {
      text += fmt::format(R"({}{{"version":{},"instances":[{}],"perInstance":{{"memory":1,"disk":0}},)"
                          R"("hostPorts":[]}})",
                          i == 0 ? "" : ",", versions[i], i);
    }
    text += "]}";
    SCOPED_TRACE(text);
    auto groups = decodeAssignments(text);
    ASSERT_FALSE(groups.ok());
    EXPECT_THAT(groups.error(), HasSubstr("ascending version order"));
  }
}

TEST(Records, EveryInstanceStateRoundTripsByItsName) {
  for (auto state : {InstanceState::kPending, InstanceState::kPulling, InstanceState::kStarting,
                     InstanceState::kHealthy, InstanceState::kUnhealthy, InstanceState::kFailed,
                     InstanceState::kUnknown, InstanceState::kStopping}) {
    const InstanceStatus status{"node-a", state, "why", 2, "10.88.0.5", 1795683600000, 3};
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
  const JobRecord plain{*spec, 1, {}, {}, 0, 5, {}, 1};
  EXPECT_THAT(encode(plain), ::testing::Not(HasSubstr("\"ingress\"")));
  JobRecord claiming = plain;
  claiming.ingress.tcp = {2222};
  EXPECT_THAT(encode(claiming), HasSubstr(R"("ingress":{"hosts":[],"tcp":[2222]})"));
}

TEST(Records, RefuseIngressClaimsThatCannotBeClaimKeys) {
  auto spec = parseJob("name: web\ncontainers:\n  app:\n    image: x\n");
  ASSERT_TRUE(spec.ok());
  JobRecord claiming{*spec, 1, {}, {}, 0, 5, {{"shop.example.com"}, {22}}, 1};
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
