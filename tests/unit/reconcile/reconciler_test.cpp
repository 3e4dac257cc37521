// The reconciler's rules: what a node does to make its pods match its
// assignments, with restart policies and back-off.
#include "reconcile/reconciler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "job/job_parser.h"

namespace ozy {
namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::shared_ptr<const Job> spec(const std::string& restart = "always") {
  auto job = parseJob("name: web\ncontainers:\n  app:\n    image: x\n    restart: " + restart +
                      "\n    depends_on: [db]\n  db:\n    image: y\n    restart: " + restart + "\n");
  EXPECT_TRUE(job.ok());
  return std::make_shared<const Job>(*job);
}

DesiredInstance want(std::uint32_t id, std::shared_ptr<const Job> s = spec(), std::uint64_t version = 1) {
  return DesiredInstance{"web", id, version, std::move(s)};
}

ObservedContainer container(const std::string& name, ContainerState state, int exitCode = 0,
                            std::uint32_t restarts = 0, std::int64_t lastStartMs = 0) {
  return ObservedContainer{name, state, exitCode, true, restarts, lastStartMs};
}

ObservedPod pod(std::uint32_t id, std::vector<ObservedContainer> containers, std::uint64_t version = 1) {
  return ObservedPod{podName("web", id), "web", id, version, std::move(containers)};
}

ObservedPod healthyPod(std::uint32_t id) {
  return pod(id, {container("db", ContainerState::kRunning), container("app", ContainerState::kRunning)});
}

auto kind(ActionKind k) { return Field(&Action::kind, k); }

TEST(Reconciler, CreatesAPodForEveryAssignedInstanceWithoutOne) {
  const auto actions = reconcile({want(0), want(1)}, {healthyPod(0)}, 0);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, ActionKind::kCreatePod);
  EXPECT_EQ(actions[0].pod, "ozy-web-1");
}

TEST(Reconciler, RemovesPodsThatAreNoLongerAssigned) {
  const auto actions = reconcile({want(0)}, {healthyPod(0), healthyPod(7)}, 0);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, ActionKind::kRemovePod);
  EXPECT_EQ(actions[0].pod, "ozy-web-7");
}

TEST(Reconciler, DoesNothingWhenEverythingRuns) {
  EXPECT_THAT(reconcile({want(0)}, {healthyPod(0)}, 0), IsEmpty());
}

TEST(Reconciler, RecreatesAPodWhoseJobChanged) {
  const auto actions = reconcile({want(0, spec(), 2)}, {healthyPod(0)}, 0);
  EXPECT_THAT(actions, ElementsAre(kind(ActionKind::kRemovePod), kind(ActionKind::kCreatePod)));
  EXPECT_THAT(actions[0].reason, HasSubstr("version 1 to 2"));
}

TEST(Reconciler, RecreatesAPodThatLostAContainer) {
  const auto actions = reconcile({want(0)}, {pod(0, {container("db", ContainerState::kRunning)})}, 0);
  EXPECT_THAT(actions, ElementsAre(kind(ActionKind::kRemovePod), kind(ActionKind::kCreatePod)));
}

TEST(Reconciler, StartsContainersInDependsOnOrder) {
  // db first; app only once db runs.
  auto actions = reconcile(
      {want(0)}, {pod(0, {container("db", ContainerState::kCreated), container("app", ContainerState::kCreated)})}, 0);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].container, "db");
  actions = reconcile(
      {want(0)}, {pod(0, {container("db", ContainerState::kRunning), container("app", ContainerState::kCreated)})}, 0);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].container, "app");
}

TEST(Reconciler, WaitsForAnUnhealthyDependencyBeforeStartingDependents) {
  auto db = container("db", ContainerState::kRunning);
  db.healthy = false;
  const auto actions = reconcile({want(0, spec("no"))}, {pod(0, {db, container("app", ContainerState::kCreated)})}, 0);
  EXPECT_THAT(actions, IsEmpty());
}

TEST(Reconciler, DependentsWaitForADependencyStillStartingAndLeaveItAlone) {
  auto db = container("db", ContainerState::kRunning);
  db.ready = false;  // its health check has not passed yet, nor failed
  const auto waiting = reconcile({want(0)}, {pod(0, {db, container("app", ContainerState::kCreated)})}, 1'000'000);
  EXPECT_THAT(waiting, IsEmpty());  // no start of app, no restart of db
  db.ready = true;
  const auto started = reconcile({want(0)}, {pod(0, {db, container("app", ContainerState::kCreated)})}, 1'000'000);
  ASSERT_EQ(started.size(), 1u);
  EXPECT_EQ(started[0].kind, ActionKind::kStartContainer);
  EXPECT_EQ(started[0].container, "app");
}

struct RestartCase {
  const char* policy;
  int exitCode;
  bool restarts;
};

class RestartPolicyTable : public ::testing::TestWithParam<RestartCase> {};

TEST_P(RestartPolicyTable, FollowsTheContainersPolicy) {
  const RestartCase c = GetParam();
  const auto actions = reconcile(
      {want(0, spec(c.policy))},
      {pod(0, {container("db", ContainerState::kRunning), container("app", ContainerState::kExited, c.exitCode)})},
      1'000'000);
  if (c.restarts) {
    ASSERT_EQ(actions.size(), 1u);
    EXPECT_EQ(actions[0].kind, ActionKind::kRestartContainer);
    EXPECT_EQ(actions[0].container, "app");
  } else {
    EXPECT_THAT(actions, IsEmpty());
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, RestartPolicyTable,
                         ::testing::Values(RestartCase{"always", 0, true}, RestartCase{"always", 1, true},
                                           RestartCase{"on-failure", 0, false},
                                           RestartCase{"on-failure", 137, true},
                                           RestartCase{"no", 1, false}, RestartCase{"no", 0, false}));

TEST(Reconciler, RestartsAnUnhealthyRunningContainer) {
  auto app = container("app", ContainerState::kRunning);
  app.healthy = false;
  const auto actions = reconcile({want(0)}, {pod(0, {container("db", ContainerState::kRunning), app})}, 1'000'000);
  ASSERT_EQ(actions.size(), 1u);
  EXPECT_EQ(actions[0].kind, ActionKind::kRestartContainer);
  EXPECT_THAT(actions[0].reason, HasSubstr("unhealthy"));
}

TEST(Reconciler, HoldsARestartUntilItsBackOffIsOver) {
  // Third restart: 10 s doubled twice = 40 s after the last start.
  const auto app = container("app", ContainerState::kExited, 1, 2, 100'000);
  const auto early = reconcile({want(0)}, {pod(0, {container("db", ContainerState::kRunning), app})}, 120'000);
  ASSERT_EQ(early.size(), 1u);
  EXPECT_EQ(early[0].kind, ActionKind::kWait);
  EXPECT_EQ(early[0].notBeforeMs, 140'000);
  const auto due = reconcile({want(0)}, {pod(0, {container("db", ContainerState::kRunning), app})}, 140'000);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].kind, ActionKind::kRestartContainer);
}

TEST(Reconciler, BackOffDoublesFromTenSecondsToFiveMinutes) {
  EXPECT_EQ(restartDelay(0).count(), 10'000);
  EXPECT_EQ(restartDelay(1).count(), 20'000);
  EXPECT_EQ(restartDelay(4).count(), 160'000);
  EXPECT_EQ(restartDelay(5).count(), 300'000);
  EXPECT_EQ(restartDelay(1000).count(), 300'000);
}

TEST(Reconciler, RemovesBeforeItCreates) {
  const auto actions = reconcile({want(1)}, {healthyPod(0)}, 0);
  EXPECT_THAT(actions, ElementsAre(kind(ActionKind::kRemovePod), kind(ActionKind::kCreatePod)));
}

}  // namespace
}  // namespace ozy

namespace ozy {
namespace {

TEST(PodHostname, IsTheJobAndIdAndAlwaysAValidDnsLabel) {
  EXPECT_EQ(podHostname("web", 3), "web-3");
  const std::string longest(63, 'a');
  EXPECT_EQ(podHostname(longest, 0), std::string(61, 'a') + "-0");
  EXPECT_EQ(podHostname(longest, 99999), std::string(57, 'a') + "-99999");
  // A cut that would end on '-' drops it.
  const std::string dashed = std::string(59, 'b') + "-ccc";
  EXPECT_EQ(podHostname(dashed, 12), std::string(59, 'b') + "-12");
  for (const std::string& job : {longest, dashed, std::string("x")}) {
    for (std::uint32_t id : {0u, 7u, 12345u, 99999u}) {
      EXPECT_TRUE(isDnsLabel(podHostname(job, id))) << podHostname(job, id);
    }
  }
}

}  // namespace
}  // namespace ozy
