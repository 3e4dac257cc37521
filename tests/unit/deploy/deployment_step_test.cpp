// The next step of a deployment, decided from where the job stands. Each
// test sets a scene (the job's instances by node and version, what their
// nodes report, the deployment record, the time) and says what the step
// must be.
#include "deploy/deployment_step.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "../support/deploy_printers.h"

namespace ozy {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
using Ids = std::vector<std::uint32_t>;

constexpr std::int64_t kStart = 1'000'000;  // when the deployment started
constexpr std::int64_t kSecond = 1000;

UpdatePolicy rolling(std::uint32_t maxParallel) {
  UpdatePolicy p;
  p.maxParallel = maxParallel;
  p.minHealthyTime = Millis(30 * kSecond);
  p.healthyDeadline = Millis(300 * kSecond);
  p.progressDeadline = Millis(600 * kSecond);
  p.autoRevert = false;
  p.canary = 0;
  p.strategy = UpdateStrategy::kRolling;
  return p;
}

UpdatePolicy recreate() {
  UpdatePolicy p = rolling(1);
  p.strategy = UpdateStrategy::kRecreate;
  return p;
}

UpdatePolicy withCanary(UpdatePolicy p, std::uint32_t canaries) {
  p.canary = canaries;
  return p;
}

Job webSpec(std::uint32_t instances, const UpdatePolicy& policy) {
  Container app;
  app.name = "app";
  app.image = "registry/web:2";
  app.memory = 256 * kMiB;
  Job job;
  job.name = "web";
  job.numInstances = instances;
  job.containers.push_back(app);
  job.update = policy;
  return job;
}

Job publishingHostPort(Job job) {
  PortMapping port;
  port.hostPort = 8080;
  port.containerPort = 80;
  job.containers[0].ports.push_back(port);
  return job;
}

// A job being deployed from version `from` to `to`, and what its nodes say.
class Scene {
 public:
  Scene(const Job& spec, std::uint64_t from, std::uint64_t to) {
    job_.spec = spec;
    job_.specVersion = to;
    deployment_.version = to;
    deployment_.fromVersion = from;
    deployment_.state = DeploymentState::kRunning;
    deployment_.policy = spec.update;
    deployment_.startedAtMs = kStart;
    deployment_.updatedAtMs = kStart;
    deployment_.progressDeadlineMs = kStart + spec.update.progressDeadline.count();
  }

  // `ids` of `version` run on `node` (one group), healthy since the start
  // unless a report says otherwise.
  Scene& runs(const std::string& node, std::uint64_t version, const Ids& ids) {
    Assignment a;
    a.job = job_.spec.name;
    a.version = version;
    a.instances = ids;
    a.perInstance = Resources{256 * kMiB, 0};
    a.hostPorts = {};
    assignments_.emplace_back(node, a);
    for (auto id : ids) report(id, node, version, InstanceState::kHealthy, kStart - 3600 * kSecond);
    return *this;
  }
  // The old version's instances, one node each (n<id>).
  Scene& old(std::uint64_t version, const Ids& ids) {
    for (auto id : ids) runs("n" + std::to_string(id), version, {id});
    return *this;
  }
  // The deployed version's instances that are done with: not in a batch.
  Scene& fresh(const Ids& ids) {
    for (auto id : ids) runs("n" + std::to_string(id), deployment_.version, {id});
    return *this;
  }
  // A batch of the deployed version placed at `placedAtMs`, one node each,
  // not reporting yet.
  Scene& batch(const Ids& ids, std::int64_t placedAtMs) {
    for (auto id : ids) {
      runs("n" + std::to_string(id), deployment_.version, {id});
      statuses_.erase(id);
    }
    deployment_.batch = ids;
    deployment_.batchPlacedAtMs = placedAtMs;
    return *this;
  }
  Scene& report(std::uint32_t id, const std::string& node, std::uint64_t version,
                InstanceState state, std::int64_t sinceMs, const std::string& reason = "") {
    InstanceStatus s;
    s.node = node;
    s.state = state;
    s.reason = reason;
    s.restarts = 0;
    s.podIp = "10.88.0." + std::to_string(id + 2);
    s.sinceMs = sinceMs;
    s.version = version;
    statuses_[id] = s;
    return *this;
  }
  // What the instance's own node says of it, running the deployed version.
  Scene& healthySince(std::uint32_t id, std::int64_t sinceMs) {
    return report(id, nodeOf(id), deployment_.version, InstanceState::kHealthy, sinceMs);
  }
  // What the instance's own node says of it: running the deployed version,
  // in `state` since the start.
  Scene& reports(std::uint32_t id, InstanceState state, const std::string& reason = "") {
    return report(id, nodeOf(id), deployment_.version, state, kStart, reason);
  }
  Scene& noReport(std::uint32_t id) {
    statuses_.erase(id);
    return *this;
  }
  Scene& pending(const Ids& ids) {
    job_.pending = ids;
    return *this;
  }
  Scene& wanted(std::uint32_t instances) {
    job_.spec.numInstances = instances;
    return *this;
  }
  Scene& at(std::int64_t nowMs) {
    now_ = nowMs;
    return *this;
  }

  DeploymentRecord& deployment() { return deployment_; }

  DeploymentStep step() const {
    return decideStep(DeploymentView{job_, assignments_, deployment_, statuses_, now_});
  }

 private:
  std::string nodeOf(std::uint32_t id) const {
    for (const auto& [node, a] : assignments_) {
      if (std::find(a.instances.begin(), a.instances.end(), id) != a.instances.end()) return node;
    }
    ADD_FAILURE() << "instance " << id << " runs nowhere";
    return "";
  }

  JobRecord job_;
  std::vector<std::pair<std::string, Assignment>> assignments_;
  DeploymentRecord deployment_;
  std::map<std::uint32_t, InstanceStatus> statuses_;
  std::int64_t now_ = kStart;
};

constexpr std::int64_t kMinHealthy = 30 * kSecond;      // rolling()'s min_healthy_time
constexpr std::int64_t kHealthyDeadline = 300 * kSecond;
constexpr std::int64_t kProgressDeadline = 600 * kSecond;

// ---- rolling ----------------------------------------------------------------

TEST(DeploymentStep, RollingPlacesTheFirstBatchOfMaxParallelBesideTheOldInstances) {
  Scene scene(webSpec(4, rolling(2)), 1, 2);
  scene.old(1, {0, 1, 2, 3}).at(kStart + 5 * kSecond);
  const DeploymentStep step = scene.step();
  EXPECT_EQ(step.kind, StepKind::kAdvance);
  EXPECT_EQ(step.place, 2u);
  EXPECT_FALSE(step.placeCanaries);
  EXPECT_TRUE(step.remove.empty()) << "the old instances serve until the batch is healthy";
  EXPECT_EQ(step.next.state, DeploymentState::kRunning);
  EXPECT_EQ(step.next.progressDeadlineMs, kStart + kProgressDeadline) << "no batch completed";
  EXPECT_EQ(step.next.batchesDone, 0u);
  EXPECT_TRUE(step.next.batch.empty()) << "the planner picks the batch's ids";
  EXPECT_EQ(step.next.updatedAtMs, kStart + 5 * kSecond);
  EXPECT_THAT(step.next.message, HasSubstr("batch 1: placing 2 instances"));
}

TEST(DeploymentStep, ABatchHealthyForMinHealthyTimeRemovesAsManyOldAndPlacesTheNextBatch) {
  Scene scene(webSpec(4, rolling(2)), 1, 2);
  const std::int64_t now = kStart + 60 * kSecond;
  scene.old(1, {0, 1, 2, 3}).batch({4, 5}, kStart).at(now);
  scene.healthySince(4, now - kMinHealthy - 1).healthySince(5, now - kMinHealthy);
  const DeploymentStep step = scene.step();
  EXPECT_EQ(step.kind, StepKind::kAdvance);
  EXPECT_EQ(step.remove, (Ids{3, 2})) << "all serve and run version 1: highest ids first";
  EXPECT_EQ(step.place, 2u) << "the next batch starts in the same step";
  EXPECT_EQ(step.next.batchesDone, 1u);
  EXPECT_TRUE(step.next.batch.empty());
  EXPECT_EQ(step.next.progressDeadlineMs, now + kProgressDeadline);
  // Not waited for (no host port), but their ids are not given out again
  // while their old pods drain.
  EXPECT_EQ(step.next.removing, (Ids{3, 2}));
  EXPECT_THAT(step.next.message, HasSubstr("batch 2: placing 2 instances; 2 old instances left"));
}

TEST(DeploymentStep, OldInstancesGoNotServingFirstThenOlderVersionsThenHighestIds) {
  Scene scene(webSpec(6, rolling(3)), 2, 3);
  const std::int64_t now = kStart + 60 * kSecond;
  scene.old(1, {0}).old(2, {1, 2}).old(1, {3}).old(2, {4, 5});
  scene.report(2, "n2", 2, InstanceState::kUnhealthy, kStart);
  scene.noReport(5);
  scene.batch({10, 11, 12}, kStart).at(now);
  for (std::uint32_t id : {10, 11, 12}) scene.healthySince(id, kStart);
  const DeploymentStep step = scene.step();
  ASSERT_EQ(step.kind, StepKind::kAdvance);
  // 5 has not reported and 2 is unhealthy: neither serves. Then version 1's
  // instances, highest id first.
  EXPECT_EQ(step.remove, (Ids{5, 2, 3}));
  EXPECT_EQ(step.place, 3u);
}

TEST(DeploymentStep, ABatchHealthyForLessThanMinHealthyTimeWaitsUntilItWillHaveBeen) {
  Scene scene(webSpec(4, rolling(2)), 1, 2);
  const std::int64_t now = kStart + 60 * kSecond;
  scene.old(1, {0, 1, 2, 3}).batch({4, 5}, kStart).at(now);
  scene.healthySince(4, kStart).healthySince(5, now - 20 * kSecond);
  const DeploymentStep step = scene.step();
  EXPECT_EQ(step.kind, StepKind::kWait);
  EXPECT_EQ(step.place, 0u);
  EXPECT_TRUE(step.remove.empty());
  EXPECT_EQ(step.next, scene.deployment()) << "nothing to write";
  EXPECT_EQ(step.lookAgainAtMs, now + 10 * kSecond) << "when 5 will have been healthy for 30s";
}

TEST(DeploymentStep, OnlyTheInstancesOwnNodeReportingTheNewVersionHealthyCounts) {
  struct Case {
    const char* what;
    std::string node;
    std::uint64_t version;
    InstanceState state;
    bool counts;
  };
  const Case cases[] = {
      {"its node, the new version, healthy", "n5", 2, InstanceState::kHealthy, true},
      {"a report from another node (where it ran before)", "n9", 2, InstanceState::kHealthy, false},
      {"the old pod's report, of version 1", "n5", 1, InstanceState::kHealthy, false},
      {"a report from before versions existed", "n5", 0, InstanceState::kHealthy, false},
      {"starting", "n5", 2, InstanceState::kStarting, false},
      {"stopping", "n5", 2, InstanceState::kStopping, false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Scene scene(webSpec(4, rolling(2)), 1, 2);
    scene.old(1, {0, 1, 2, 3}).batch({4, 5}, kStart).at(kStart + 100 * kSecond);
    scene.healthySince(4, kStart);
    scene.report(5, c.node, c.version, c.state, kStart);
    const DeploymentStep step = scene.step();
    if (c.counts) {
      EXPECT_EQ(step.kind, StepKind::kAdvance);
      EXPECT_EQ(step.remove.size(), 2u);
    } else {
      EXPECT_EQ(step.kind, StepKind::kWait);
      EXPECT_TRUE(step.remove.empty());
      EXPECT_EQ(step.place, 0u);
    }
  }
}

// A node that died with a batch instance: the replacer found no room for
// it elsewhere, so it waits in the job's pending list, and runs nowhere.
TEST(DeploymentStep, ABatchInstanceWaitingForRoomIsNotHealthy) {
  Scene scene(webSpec(4, rolling(2)), 1, 2);
  scene.old(1, {0, 1, 2, 3}).batch({4}, kStart).healthySince(4, kStart).pending({5});
  scene.deployment().batch = {4, 5};
  scene.at(kStart + 100 * kSecond);
  const DeploymentStep step = scene.step();
  EXPECT_EQ(step.kind, StepKind::kWait);
  EXPECT_TRUE(step.remove.empty()) << "one new instance serves: two old must not go";
  EXPECT_EQ(step.place, 0u);

  scene.at(kStart + kHealthyDeadline);
  const DeploymentStep late = scene.step();
  EXPECT_EQ(late.kind, StepKind::kFail);
  EXPECT_THAT(late.next.message, HasSubstr("instance 5 waits for a node with room"));
}

// A scale down may take a batch instance (an unhealthy one goes first): the
// batch is then what is left of it.
TEST(DeploymentStep, ABatchInstanceAScaleDownRemovedIsNotWaitedFor) {
  Scene scene(webSpec(5, rolling(2)), 1, 2);
  scene.old(1, {0, 1, 2, 3}).batch({4}, kStart).healthySince(4, kStart);
  scene.deployment().batch = {4, 5};
  scene.at(kStart + 100 * kSecond);
  const DeploymentStep step = scene.step();
  EXPECT_EQ(step.kind, StepKind::kAdvance);
  EXPECT_EQ(step.next.batchesDone, 1u);
}

// An automatic revert that fails too is not reverted again: the version it
// went back to would be tried over and over.
TEST(DeploymentStep, AFailedRevertIsNotRevertedAgain) {
  UpdatePolicy policy = rolling(2);
  policy.autoRevert = true;
  Scene scene(webSpec(4, policy), 1, 2);
  const std::int64_t placedAt = kStart + 10 * kSecond;
  scene.old(1, {0, 1, 2, 3}).batch({4, 5}, placedAt);
  scene.deployment().revertsFailed = 7;
  scene.at(placedAt + kHealthyDeadline);
  const DeploymentStep step = scene.step();
  EXPECT_EQ(step.kind, StepKind::kFail);
  EXPECT_FALSE(step.revert);
}

TEST(DeploymentStep, NeverMoreCanariesThanTheJobWantsInstances) {
  UpdatePolicy policy = rolling(1);
  policy.canary = 10;
  Scene scene(webSpec(3, policy), 1, 2);
  scene.old(1, {0, 1, 2}).at(kStart + kSecond);
  const DeploymentStep step = scene.step();
  EXPECT_TRUE(step.placeCanaries);
  EXPECT_EQ(step.place, 3u);
}

TEST(DeploymentStep, ABatchNotHealthyByItsHealthyDeadlineFailsNamingTheInstance) {
  for (bool autoRevert : {false, true}) {
    SCOPED_TRACE(autoRevert ? "auto_revert" : "no auto_revert");
    UpdatePolicy policy = rolling(2);
    policy.autoRevert = autoRevert;
    Scene scene(webSpec(4, policy), 1, 2);
    const std::int64_t placedAt = kStart + 10 * kSecond;
    scene.old(1, {0, 1, 2, 3}).batch({4, 5}, placedAt);
    scene.healthySince(4, placedAt + kSecond).reports(5, InstanceState::kUnhealthy, "http 500");

    scene.at(placedAt + kHealthyDeadline - 1);
    const DeploymentStep before = scene.step();
    EXPECT_EQ(before.kind, StepKind::kWait);
    EXPECT_EQ(before.lookAgainAtMs, placedAt + kHealthyDeadline);

    scene.at(placedAt + kHealthyDeadline);
    const DeploymentStep step = scene.step();
    EXPECT_EQ(step.kind, StepKind::kFail);
    EXPECT_EQ(step.revert, autoRevert);
    EXPECT_EQ(step.next.state, DeploymentState::kFailed);
    EXPECT_THAT(step.next.message, HasSubstr("within healthy_deadline 5m"));
    EXPECT_THAT(step.next.message, HasSubstr("instance 5 on n5 is unhealthy: http 500"));
    EXPECT_TRUE(step.next.batch.empty());
    EXPECT_TRUE(step.remove.empty()) << "a failed deployment leaves the old instances running";
    EXPECT_EQ(step.place, 0u);
  }
}

TEST(DeploymentStep, AFailureSaysWhyEachKindOfInstanceWasNotReady) {
  struct Case {
    const char* what;
    std::function<void(Scene&)> make;
    const char* says;
  };
  const Case cases[] = {
      {"no report", [](Scene& s) { s.noReport(5); }, "instance 5 on n5 has not reported"},
      {"the old pod's report",
       [](Scene& s) { s.report(5, "n5", 1, InstanceState::kHealthy, kStart); },
       "instance 5 on n5 has not started version 2"},
      {"healthy too briefly", [](Scene& s) { s.healthySince(5, kStart + kHealthyDeadline - kSecond); },
       "instance 5 on n5 has been healthy for less than min_healthy_time"},
      {"pulling", [](Scene& s) { s.reports(5, InstanceState::kPulling, "pulling registry/web:2"); },
       "instance 5 on n5 is pulling: pulling registry/web:2"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Scene scene(webSpec(4, rolling(2)), 1, 2);
    scene.old(1, {0, 1, 2, 3}).batch({4, 5}, kStart).healthySince(4, kStart);
    c.make(scene);
    scene.at(kStart + kHealthyDeadline);
    const DeploymentStep step = scene.step();
    ASSERT_EQ(step.kind, StepKind::kFail);
    EXPECT_THAT(step.next.message, HasSubstr(c.says));
  }
}

TEST(DeploymentStep, NoBatchCompletedByTheProgressDeadlineFails) {
  // Nothing placed at all (e.g. no room for a batch all along).
  Scene idle(webSpec(4, rolling(2)), 1, 2);
  idle.old(1, {0, 1, 2, 3}).at(kStart + kProgressDeadline - 1);
  EXPECT_EQ(idle.step().kind, StepKind::kAdvance);
  idle.at(kStart + kProgressDeadline);
  const DeploymentStep idleStep = idle.step();
  EXPECT_EQ(idleStep.kind, StepKind::kFail);
  EXPECT_EQ(idleStep.place, 0u);
  EXPECT_THAT(idleStep.next.message, HasSubstr("no batch completed within progress_deadline 10m"));

  // A batch placed late, within its own healthy deadline, still unhealthy.
  Scene late(webSpec(4, rolling(2)), 1, 2);
  late.old(1, {0, 1, 2, 3}).batch({4, 5}, kStart + kProgressDeadline - 60 * kSecond);
  late.reports(4, InstanceState::kStarting).reports(5, InstanceState::kStarting);
  late.at(kStart + kProgressDeadline);
  const DeploymentStep lateStep = late.step();
  EXPECT_EQ(lateStep.kind, StepKind::kFail);
  EXPECT_THAT(lateStep.next.message, HasSubstr("progress_deadline"));
}

TEST(DeploymentStep, TheLastBatchRemovesTheLastOldInstancesAndSucceedsInTheSameStep) {
  Scene scene(webSpec(4, rolling(2)), 1, 2);
  const std::int64_t now = kStart + 200 * kSecond;
  scene.old(1, {0, 1}).fresh({4, 5}).batch({6, 7}, kStart + 100 * kSecond).at(now);
  scene.deployment().batchesDone = 1;
  scene.healthySince(4, kStart + 50 * kSecond).healthySince(5, kStart + 50 * kSecond);
  scene.healthySince(6, kStart + 110 * kSecond).healthySince(7, kStart + 120 * kSecond);
  const DeploymentStep step = scene.step();
  EXPECT_EQ(step.kind, StepKind::kSucceed);
  EXPECT_EQ(step.remove, (Ids{1, 0}));
  EXPECT_EQ(step.place, 0u);
  EXPECT_EQ(step.next.state, DeploymentState::kSucceeded);
  EXPECT_EQ(step.next.batchesDone, 2u);
  EXPECT_TRUE(step.next.removing.empty());
  EXPECT_EQ(step.next.message, "4 instances run version 2");
}

TEST(DeploymentStep, ItSucceedsOnlyOnceEveryNewInstanceIsHealthyForMinHealthyTime) {
  // The batches are done, but instance 5 (moved off a dead node, say) has
  // not been healthy long enough, and instance 4 is not healthy at all.
  Scene scene(webSpec(2, rolling(1)), 1, 2);
  const std::int64_t now = kStart + 200 * kSecond;
  scene.fresh({4, 5}).at(now);
  scene.deployment().batchesDone = 2;
  scene.reports(4, InstanceState::kUnhealthy, "down").healthySince(5, now - kMinHealthy / 2);
  DeploymentStep step = scene.step();
  EXPECT_NE(step.kind, StepKind::kSucceed);
  EXPECT_THAT(step.next.message, ::testing::HasSubstr("instance 4"));
  scene.healthySince(4, now - 2 * kMinHealthy);
  step = scene.step();
  EXPECT_NE(step.kind, StepKind::kSucceed);
  EXPECT_EQ(step.lookAgainAtMs, now + kMinHealthy / 2) << "when instance 5 will have been healthy long enough";
  scene.at(now + kMinHealthy);
  EXPECT_EQ(scene.step().kind, StepKind::kSucceed);
}

TEST(DeploymentStep, AFirstVersionSucceedsOnceItsWholeBatchIsHealthy) {
  // planSubmit's deployment: every instance placed in one batch, no old one.
  Scene scene(webSpec(2, rolling(1)), 0, 1);
  scene.batch({0, 1}, kStart).healthySince(0, kStart + kSecond).healthySince(1, kStart + kSecond);
  scene.at(kStart + kSecond + kMinHealthy);
  const DeploymentStep step = scene.step();
  EXPECT_EQ(step.kind, StepKind::kSucceed);
  EXPECT_TRUE(step.remove.empty());
  EXPECT_EQ(step.place, 0u);
  EXPECT_EQ(step.next.message, "2 instances run version 1");
}

// ---- canaries ---------------------------------------------------------------

TEST(DeploymentStep, CanariesArePlacedFirstInAdditionToTheOldInstances) {
  Scene scene(webSpec(4, withCanary(rolling(2), 1)), 1, 2);
  scene.old(1, {0, 1, 2, 3});
  const DeploymentStep step = scene.step();
  EXPECT_EQ(step.kind, StepKind::kAdvance);
  EXPECT_EQ(step.place, 1u) << "the canary count, not max_parallel";
  EXPECT_TRUE(step.placeCanaries);
  EXPECT_TRUE(step.next.canaryBatch);
  EXPECT_TRUE(step.remove.empty());
}

TEST(DeploymentStep, HealthyCanariesPauseTheDeploymentForPromotion) {
  Scene scene(webSpec(4, withCanary(rolling(2), 1)), 1, 2);
  const std::int64_t now = kStart + 100 * kSecond;
  scene.old(1, {0, 1, 2, 3}).batch({4}, kStart).healthySince(4, kStart).at(now);
  scene.deployment().canaryBatch = true;
  const DeploymentStep step = scene.step();
  EXPECT_EQ(step.kind, StepKind::kPause);
  EXPECT_EQ(step.next.state, DeploymentState::kPaused);
  EXPECT_THAT(step.next.message, HasSubstr("1 canary healthy; waiting for `ozy job promote web`"));
  EXPECT_TRUE(step.remove.empty()) << "every old instance keeps serving";
  EXPECT_EQ(step.place, 0u);
  EXPECT_EQ(step.next.batch, (Ids{4})) << "still the canaries' batch";
  EXPECT_EQ(step.next.updatedAtMs, now);
}

TEST(DeploymentStep, APromotedDeploymentRemovesAnOldInstanceForEachCanaryAndGoesOn) {
  Scene scene(webSpec(4, withCanary(rolling(2), 1)), 1, 2);
  const std::int64_t now = kStart + 500 * kSecond;
  scene.old(1, {0, 1, 2, 3}).batch({4}, now - kSecond).healthySince(4, kStart).at(now);
  scene.deployment().canaryBatch = true;
  scene.deployment().promoted = true;  // `ozy job promote`, which restarts the batch's deadline
  const DeploymentStep step = scene.step();
  EXPECT_EQ(step.kind, StepKind::kAdvance);
  EXPECT_EQ(step.remove, (Ids{3}));
  EXPECT_EQ(step.place, 2u) << "then batches of max_parallel";
  EXPECT_FALSE(step.placeCanaries);
  EXPECT_FALSE(step.next.canaryBatch);
  EXPECT_EQ(step.next.batchesDone, 1u);
}

// ---- recreate ---------------------------------------------------------------

TEST(DeploymentStep, RecreateFirstRemovesEveryOldInstance) {
  Scene scene(webSpec(3, recreate()), 1, 2);
  scene.old(1, {0, 1, 2});
  const DeploymentStep step = scene.step();
  EXPECT_EQ(step.kind, StepKind::kAdvance);
  EXPECT_THAT(step.remove, UnorderedElementsAre(0u, 1u, 2u));
  EXPECT_EQ(step.place, 0u) << "no new instance while an old one runs";
  EXPECT_THAT(step.next.removing, UnorderedElementsAre(0u, 1u, 2u));
}

TEST(DeploymentStep, RecreateWaitsWhileARemovedInstanceStillReports) {
  Scene scene(webSpec(3, recreate()), 1, 2);
  scene.deployment().removing = {0, 1, 2};
  scene.deployment().message = "stopping 3 old instances";
  scene.report(1, "n1", 1, InstanceState::kStopping, kStart);  // its pod drains still
  scene.at(kStart + 20 * kSecond);
  const DeploymentStep step = scene.step();
  EXPECT_EQ(step.place, 0u);
  EXPECT_TRUE(step.remove.empty());
  EXPECT_EQ(step.next.removing, (Ids{1})) << "those gone are forgotten";
  EXPECT_THAT(step.next.message, HasSubstr("waiting for 1 old instance to stop"));

  // Looking again before it is gone writes nothing.
  scene.deployment() = step.next;
  const DeploymentStep again = scene.step();
  EXPECT_EQ(again.kind, StepKind::kWait);
  EXPECT_EQ(again.next, step.next);
}

TEST(DeploymentStep, RecreatePlacesEveryWantedInstanceAtOnceWhenTheOldAreGone) {
  Scene scene(webSpec(3, recreate()), 1, 2);
  scene.deployment().removing = {0, 1, 2};
  const DeploymentStep step = scene.step();
  EXPECT_EQ(step.kind, StepKind::kAdvance);
  EXPECT_EQ(step.place, 3u) << "not max_parallel (1)";
  EXPECT_TRUE(step.next.removing.empty());
}

TEST(DeploymentStep, RecreateSucceedsOnceTheNewInstancesAreHealthy) {
  Scene scene(webSpec(3, recreate()), 1, 2);
  scene.batch({3, 4, 5}, kStart + 10 * kSecond);
  for (std::uint32_t id : {3, 4, 5}) scene.healthySince(id, kStart + 20 * kSecond);
  scene.at(kStart + 20 * kSecond + kMinHealthy - 1);
  EXPECT_EQ(scene.step().kind, StepKind::kWait);
  scene.at(kStart + 20 * kSecond + kMinHealthy);
  const DeploymentStep step = scene.step();
  EXPECT_EQ(step.kind, StepKind::kSucceed);
  EXPECT_EQ(step.next.message, "3 instances run version 2");
}

// ---- host ports -------------------------------------------------------------

TEST(DeploymentStep, AJobPublishingAHostPortPlacesTheNextBatchOnceTheRemovedInstancesStopped) {
  Scene scene(publishingHostPort(webSpec(4, rolling(2))), 1, 2);
  const std::int64_t now = kStart + 100 * kSecond;
  scene.old(1, {0, 1, 2, 3}).batch({4, 5}, kStart).at(now);
  scene.healthySince(4, kStart).healthySince(5, kStart);
  const DeploymentStep removed = scene.step();
  EXPECT_EQ(removed.kind, StepKind::kAdvance);
  EXPECT_EQ(removed.remove, (Ids{3, 2}));
  EXPECT_EQ(removed.place, 0u) << "3 and 2 still hold port 8080 on their nodes";
  EXPECT_EQ(removed.next.removing, (Ids{3, 2}));
  EXPECT_THAT(removed.next.message, HasSubstr("(they hold host ports)"));

  // After that write: 3 and 2 have left the assignments; 3's node still
  // reports it (draining), 2's has deleted its status.
  Scene stopping(publishingHostPort(webSpec(4, rolling(2))), 1, 2);
  stopping.old(1, {0, 1}).fresh({4, 5}).at(now + 5 * kSecond);
  stopping.deployment() = removed.next;
  stopping.report(3, "n3", 1, InstanceState::kStopping, now);
  const DeploymentStep waiting = stopping.step();
  EXPECT_EQ(waiting.place, 0u);
  EXPECT_EQ(waiting.next.removing, (Ids{3}));

  stopping.noReport(3);
  const DeploymentStep placing = stopping.step();
  EXPECT_EQ(placing.kind, StepKind::kAdvance);
  EXPECT_EQ(placing.place, 2u);
  EXPECT_TRUE(placing.next.removing.empty());
}

// ---- states that do nothing -------------------------------------------------

TEST(DeploymentStep, APausedOrFinishedDeploymentWaitsAndChangesNothing) {
  for (auto state : {DeploymentState::kPaused, DeploymentState::kSucceeded, DeploymentState::kFailed,
                     DeploymentState::kSuperseded}) {
    SCOPED_TRACE(toString(state));
    Scene scene(webSpec(4, rolling(2)), 1, 2);
    // Past every deadline, with a healthy batch and old instances to remove.
    scene.old(1, {0, 1, 2, 3}).batch({4, 5}, kStart).healthySince(4, kStart).healthySince(5, kStart);
    scene.at(kStart + 10 * kProgressDeadline);
    scene.deployment().state = state;
    const DeploymentStep step = scene.step();
    EXPECT_EQ(step.kind, StepKind::kWait);
    EXPECT_EQ(step.next, scene.deployment());
    EXPECT_EQ(step.place, 0u);
    EXPECT_TRUE(step.remove.empty());
    EXPECT_FALSE(step.revert);
    EXPECT_EQ(step.lookAgainAtMs, 0);
  }
}

// ---- scaling during a deployment --------------------------------------------

TEST(DeploymentStep, AfterAScaleDownTheOldInstancesBeyondWhatIsWantedGo) {
  Scene scene(webSpec(4, rolling(2)), 1, 2);
  scene.old(1, {0, 1, 2, 3}).batch({4, 5}, kStart).healthySince(4, kStart).healthySince(5, kStart);
  scene.wanted(2).at(kStart + 100 * kSecond);
  const DeploymentStep step = scene.step();
  EXPECT_EQ(step.kind, StepKind::kAdvance);
  EXPECT_EQ(step.place, 0u) << "the two new instances are all the job wants";
  EXPECT_THAT(step.remove, UnorderedElementsAre(0u, 1u, 2u, 3u));
}

TEST(DeploymentStep, AScaleDownKeepsTheOldInstancesTheJobStillNeeds) {
  // 2 new + 2 old, 3 wanted: one old goes for the batch of two, one new
  // replaces the other.
  Scene scene(webSpec(4, rolling(2)), 1, 2);
  scene.old(1, {0, 1}).batch({4, 5}, kStart).healthySince(4, kStart).healthySince(5, kStart);
  scene.wanted(3).at(kStart + 100 * kSecond);
  const DeploymentStep step = scene.step();
  EXPECT_EQ(step.remove, (Ids{1}));
  EXPECT_EQ(step.place, 1u);
}

TEST(DeploymentStep, PendingInstancesCountAsNew) {
  // They will be placed with the job's (new) version.
  Scene full(webSpec(4, rolling(2)), 1, 2);
  full.old(1, {0, 1}).fresh({4, 5}).pending({6, 7});
  const DeploymentStep allThere = full.step();
  EXPECT_EQ(allThere.place, 0u);
  EXPECT_THAT(allThere.remove, UnorderedElementsAre(0u, 1u));

  Scene partly(webSpec(4, rolling(2)), 1, 2);
  partly.old(1, {0, 1, 2, 3}).batch({4, 5}, kStart).healthySince(4, kStart).healthySince(5, kStart);
  partly.pending({6}).at(kStart + 100 * kSecond);
  const DeploymentStep step = partly.step();
  EXPECT_EQ(step.remove, (Ids{3, 2}));
  EXPECT_EQ(step.place, 1u) << "4, 5 and pending 6 are new: one more makes 4";
}

}  // namespace
}  // namespace ozy
