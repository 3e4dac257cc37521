// The planner's side of versions and deployments: what a submission, a new
// version and a deployment's step write, applied to MiniEtcd so a scenario
// reads like the cluster's history.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "../support/deploy_printers.h"
#include "mini_etcd.h"
#include "scheduler/keys.h"
#include "scheduler/planner.h"

namespace ozy {
namespace {

using ::testing::UnorderedElementsAre;
using testing_support::addNode;
using testing_support::hasCompare;
using testing_support::job;
using testing_support::MiniEtcd;
using testing_support::plainJob;
using Ids = std::vector<std::uint32_t>;
using Target = KeyCompare::Target;

// "web" as plainJob() makes it, with another image: a change that needs new pods.
Job webWithImage(const std::string& image, std::uint32_t instances = 2,
                 const std::string& memory = "1G") {
  return job("name: web\nnumInstances: " + std::to_string(instances) +
             "\ncontainers:\n  app:\n    image: " + image + "\n    memory: " + memory + "\n");
}

// A new version of web as the control plane asks for it: with the versions
// and the deployment read with the job.
UpdateRequest updateTo(const MiniEtcd& etcd, const Job& spec, bool inPlace, std::int64_t nowMs) {
  UpdateRequest u;
  u.spec = spec;
  u.inPlace = inPlace;
  u.changes = {R"(containers.app.image: "x" -> "y")"};
  u.revertOf = 0;
  u.nowMs = nowMs;
  u.versions = etcd.versions("web");
  u.deployment = etcd.deployment("web");
  u.interrupted = DeploymentOutcome::kSuperseded;
  u.versionsKept = 10;
  return u;
}

void commitUpdate(MiniEtcd& etcd, const Job& spec, bool inPlace, std::int64_t nowMs) {
  ASSERT_TRUE(etcd.commit(planUpdate(etcd.snapshot(), etcd.job("web"), updateTo(etcd, spec, inPlace, nowMs))));
}

// A step of web's deployment, its record otherwise as read.
DeployStepWrite stepOf(const MiniEtcd& etcd, std::uint32_t place, const Ids& remove,
                       std::int64_t nowMs) {
  DeployStepWrite w;
  w.deployment = *etcd.deployment("web");
  w.next = w.deployment.record;
  w.next.message = "a step";
  w.place = place;
  w.remove = remove;
  w.version = std::nullopt;
  w.nowMs = nowMs;
  return w;
}

// The deployment of version 1 done: as the step that ends it writes.
void succeedDeployment(MiniEtcd& etcd, std::uint64_t version) {
  DeploymentRecord d = etcd.deployment("web")->record;
  d.state = DeploymentState::kSucceeded;
  d.batch.clear();
  etcd.put(keys::deployment("web"), encode(d));
  VersionRecord v = *etcd.version("web", version);
  v.outcome = DeploymentOutcome::kSucceeded;
  etcd.put(keys::version("web", version), encode(v));
}

// node -> version -> ids
std::map<std::string, std::map<std::uint64_t, Ids>> groupsOf(const JobEntry& entry) {
  std::map<std::string, std::map<std::uint64_t, Ids>> out;
  for (const auto& [node, a] : entry.assignments) out[node][a.version] = a.instances;
  return out;
}

bool writes(const CommitPlan& plan, const std::string& key) {
  return std::any_of(plan.puts.begin(), plan.puts.end(), [&](const KeyPut& p) { return p.key == key; });
}

std::vector<std::string> versionDeletes(const CommitPlan& plan) {
  std::vector<std::string> out;
  for (const auto& k : plan.deletes) {
    if (k.starts_with(keys::kVersions)) out.push_back(k);
  }
  return out;
}

// ---- submit -----------------------------------------------------------------

TEST(DeployPlanner, ASubmissionWritesVersion1AndADeploymentThatWaitsForItToBeHealthy) {
  MiniEtcd etcd;
  for (const char* n : {"a", "b", "c"}) addNode(etcd, n, 8 * kGiB);
  const Job spec = plainJob(3, "1G");
  auto plan = planSubmit(etcd.snapshot(), spec, 1000);
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(etcd.commit(*plan));

  EXPECT_EQ(etcd.job("web").record.specVersion, 1u);
  const auto v1 = etcd.version("web", 1);
  ASSERT_TRUE(v1);
  EXPECT_EQ(v1->version, 1u);
  EXPECT_EQ(v1->spec, spec);
  EXPECT_EQ(v1->submittedAtMs, 1000);
  EXPECT_EQ(v1->outcome, DeploymentOutcome::kRunning) << "no version to revert to until it is healthy";
  EXPECT_EQ(v1->revertOf, 0u);

  const auto d = etcd.deployment("web");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->record.version, 1u);
  EXPECT_EQ(d->record.fromVersion, 0u);
  EXPECT_EQ(d->record.state, DeploymentState::kRunning);
  EXPECT_TRUE(d->record.batch.empty()) << "the end of the deployment checks every instance";
  EXPECT_EQ(d->record.startedAtMs, 1000);
  EXPECT_EQ(d->record.progressDeadlineMs, 1000 + spec.update.progressDeadline.count());
  EXPECT_EQ(d->record.policy, spec.update);
  for (const auto& [node, a] : etcd.job("web").assignments) EXPECT_EQ(a.version, 1u) << node;
}

// ---- update -----------------------------------------------------------------

TEST(DeployPlanner, ANewVersionNeedingNewPodsStartsADeploymentAndLeavesTheInstancesAlone) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  addNode(etcd, "b", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(2, "1G"), 0)));
  succeedDeployment(etcd, 1);
  const JobEntry before = etcd.job("web");
  const auto deploymentBefore = etcd.deployment("web");
  const Job v2 = webWithImage("y");

  const CommitPlan plan = planUpdate(etcd.snapshot(), before, updateTo(etcd, v2, false, 5000));
  EXPECT_TRUE(hasCompare(plan, keys::job("web"), Target::kModRevision, before.modRevision));
  EXPECT_TRUE(hasCompare(plan, keys::deployment("web"), Target::kModRevision,
                         deploymentBefore->modRevision));
  for (const auto& p : plan.puts) {
    EXPECT_FALSE(p.key.starts_with(keys::kAssignments)) << p.key;
    EXPECT_FALSE(p.key.starts_with(keys::kUsage)) << p.key;
  }
  EXPECT_FALSE(writes(plan, keys::version("web", 1))) << "its deployment is over: no outcome to change";
  ASSERT_TRUE(etcd.commit(plan));

  const JobEntry after = etcd.job("web");
  EXPECT_EQ(after.record.specVersion, 2u);
  EXPECT_EQ(after.record.spec, v2);
  EXPECT_EQ(after.record.version, before.record.version + 1);
  EXPECT_EQ(groupsOf(after), groupsOf(before)) << "the old instances keep running version 1";

  const auto version = etcd.version("web", 2);
  ASSERT_TRUE(version);
  EXPECT_EQ(version->spec, v2);
  EXPECT_EQ(version->submittedAtMs, 5000);
  EXPECT_EQ(version->changes, (std::vector<std::string>{R"(containers.app.image: "x" -> "y")"}));
  EXPECT_EQ(version->outcome, DeploymentOutcome::kRunning);

  const DeploymentRecord d = etcd.deployment("web")->record;
  EXPECT_EQ(d.version, 2u);
  EXPECT_EQ(d.fromVersion, 1u);
  EXPECT_EQ(d.state, DeploymentState::kRunning);
  EXPECT_TRUE(d.batch.empty()) << "its first step places the first batch";
  EXPECT_EQ(d.batchesDone, 0u);
  EXPECT_EQ(d.startedAtMs, 5000);
  EXPECT_EQ(d.progressDeadlineMs, 5000 + v2.update.progressDeadline.count());
  EXPECT_EQ(d.revertsFailed, 0u);
  EXPECT_EQ(etcd.version("web", 1)->outcome, DeploymentOutcome::kSucceeded);
}

TEST(DeployPlanner, ANewVersionEndsTheActiveDeploymentAsTheCallerSays) {
  struct Case {
    DeploymentOutcome interrupted;
    std::uint64_t revertsFailed;
  };
  for (const Case& c : {Case{DeploymentOutcome::kSuperseded, 0}, Case{DeploymentOutcome::kFailed, 2}}) {
    SCOPED_TRACE(toString(c.interrupted));
    MiniEtcd etcd;
    addNode(etcd, "a", 8 * kGiB);
    ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(2, "1G"), 0)));
    succeedDeployment(etcd, 1);
    commitUpdate(etcd, webWithImage("y"), false, 1000);  // version 2, deploying
    DeploymentRecord failing = etcd.deployment("web")->record;
    failing.message = "batch 1 was not healthy";
    etcd.put(keys::deployment("web"), encode(failing));
    const std::int64_t v2Revision = etcd.modRevision(keys::version("web", 2));

    UpdateRequest u = updateTo(etcd, plainJob(2, "1G"), false, 2000);
    u.interrupted = c.interrupted;
    u.revertOf = c.revertsFailed != 0 ? 1 : 0;
    const CommitPlan plan = planUpdate(etcd.snapshot(), etcd.job("web"), u);
    EXPECT_TRUE(hasCompare(plan, keys::version("web", 2), Target::kModRevision, v2Revision))
        << "the outcome is rewritten only over the record read";
    ASSERT_TRUE(etcd.commit(plan));

    EXPECT_EQ(etcd.version("web", 2)->outcome, c.interrupted);
    EXPECT_EQ(etcd.version("web", 1)->outcome, DeploymentOutcome::kSucceeded);
    const auto v3 = etcd.version("web", 3);
    ASSERT_TRUE(v3);
    EXPECT_EQ(v3->outcome, DeploymentOutcome::kRunning);
    EXPECT_EQ(v3->revertOf, u.revertOf);
    const DeploymentRecord d = etcd.deployment("web")->record;
    EXPECT_EQ(d.version, 3u);
    EXPECT_EQ(d.fromVersion, 2u);
    EXPECT_EQ(d.state, DeploymentState::kRunning);
    EXPECT_EQ(d.revertsFailed, c.revertsFailed);
    if (c.revertsFailed != 0) {
      EXPECT_EQ(d.message, "reverting version 2: batch 1 was not healthy");
    }
  }
}

TEST(DeployPlanner, ANewVersionSupersedesTheFirstVersionsDeploymentWhileItRuns) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(2, "1G"), 0)));
  commitUpdate(etcd, webWithImage("y"), false, 1000);
  EXPECT_EQ(etcd.version("web", 1)->outcome, DeploymentOutcome::kSuperseded);
}

TEST(DeployPlanner, InPlaceTheNewestVersionsGroupsAreRelabelledOnTheirNodes) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  addNode(etcd, "b", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(2, "1G"), 0)));  // one each
  commitUpdate(etcd, webWithImage("y"), false, 1000);
  ASSERT_TRUE(etcd.commit(*planDeployStep(etcd.snapshot(), etcd.job("web"), stepOf(etcd, 2, {}, 2000))));
  const JobEntry before = etcd.job("web");
  const auto groups = groupsOf(before);
  ASSERT_EQ(groups.at("a").size(), 2u) << "versions 1 and 2 on a";
  ASSERT_EQ(groups.at("b").size(), 2u) << "versions 1 and 2 on b";
  const UsageRecord usageA = etcd.usage("a");
  const UsageRecord usageB = etcd.usage("b");

  // Only the ingress changes: version 3, the same pods.
  const CommitPlan plan =
      planUpdate(etcd.snapshot(), before, updateTo(etcd, webWithImage("y"), true, 3000));
  for (const auto& p : plan.puts) EXPECT_FALSE(p.key.starts_with(keys::kUsage)) << p.key;
  ASSERT_TRUE(etcd.commit(plan));

  const auto relabelled = groupsOf(etcd.job("web"));
  for (const char* node : {"a", "b"}) {
    SCOPED_TRACE(node);
    const auto& was = groups.at(node);
    EXPECT_EQ(relabelled.at(node), (std::map<std::uint64_t, Ids>{{1, was.at(1)}, {3, was.at(2)}}));
  }
  EXPECT_EQ(etcd.usage("a"), usageA);
  EXPECT_EQ(etcd.usage("b"), usageB);
  // The deployment goes on, towards version 3.
  const DeploymentRecord d = etcd.deployment("web")->record;
  EXPECT_EQ(d.version, 3u);
  EXPECT_EQ(d.state, DeploymentState::kRunning);
  EXPECT_EQ(etcd.version("web", 2)->outcome, DeploymentOutcome::kSuperseded);
  EXPECT_EQ(etcd.version("web", 3)->outcome, DeploymentOutcome::kRunning);
}

TEST(DeployPlanner, InPlaceWithoutADeploymentTheNewVersionTakesTheOutcomeOfTheOneItRelabels) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(2, "1G"), 0)));
  succeedDeployment(etcd, 1);
  const auto deploymentRevision = etcd.modRevision(keys::deployment("web"));
  commitUpdate(etcd, plainJob(2, "1G"), true, 1000);
  EXPECT_EQ(groupsOf(etcd.job("web")).at("a"), (std::map<std::uint64_t, Ids>{{2, {0, 1}}}));
  EXPECT_EQ(etcd.version("web", 2)->outcome, DeploymentOutcome::kSucceeded);
  EXPECT_EQ(etcd.modRevision(keys::deployment("web")), deploymentRevision) << "no deployment";
}

TEST(DeployPlanner, HistoryKeepsTheNewestVersionsThoseInstancesRunAndTheNewestThatSucceeded) {
  const Job spec = plainJob(2, "1G");
  JobEntry entry;
  entry.record.spec = spec;
  entry.record.specVersion = 6;
  entry.record.nodes = {"a", "b"};
  entry.modRevision = 40;
  Assignment oldest;
  oldest.job = "web";
  oldest.version = 1;  // still runs there: a deployment that failed long ago left it
  oldest.instances = {0};
  oldest.perInstance = Resources{kGiB, 0};
  oldest.hostPorts = {};
  Assignment newest = oldest;
  newest.version = 6;
  newest.instances = {1};
  entry.assignments = {{"a", oldest}, {"b", newest}};

  UpdateRequest u;
  u.spec = spec;
  u.inPlace = false;
  u.changes = {};
  u.revertOf = 0;
  u.nowMs = 9000;
  const DeploymentOutcome outcomes[] = {
      DeploymentOutcome::kFailed,     DeploymentOutcome::kSucceeded,  // 1, 2
      DeploymentOutcome::kSucceeded,  DeploymentOutcome::kSuperseded,  // 3, 4
      DeploymentOutcome::kFailed,     DeploymentOutcome::kFailed,      // 5, 6
  };
  for (std::uint64_t n = 1; n <= 6; ++n) {
    VersionEntry v;
    v.record.version = n;
    v.record.spec = spec;
    v.record.outcome = outcomes[n - 1];
    v.modRevision = static_cast<std::int64_t>(n);
    u.versions.push_back(v);
  }
  std::reverse(u.versions.begin(), u.versions.end());  // as stored: any order
  u.deployment = std::nullopt;
  u.interrupted = DeploymentOutcome::kSuperseded;
  u.versionsKept = 3;

  const CommitPlan plan = planUpdate(ClusterSnapshot{}, entry, u);
  // Kept: 7 (new), 6 and 5 (the newest three), 1 (instances run it), 3 (the
  // newest that succeeded: what a revert goes back to).
  EXPECT_THAT(versionDeletes(plan),
              UnorderedElementsAre(keys::version("web", 2), keys::version("web", 4)));
  EXPECT_TRUE(writes(plan, keys::version("web", 7)));
}

// ---- deployment steps -------------------------------------------------------

TEST(DeployPlanner, ABatchJoinsTheNodesGroupOfItsVersionWithoutDroppingItsInstances) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);  // every instance lands here
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(2, "1G"), 0)));
  commitUpdate(etcd, webWithImage("y"), false, 1000);
  ASSERT_TRUE(etcd.commit(*planDeployStep(etcd.snapshot(), etcd.job("web"), stepOf(etcd, 1, {}, 2000))));
  EXPECT_EQ(groupsOf(etcd.job("web")).at("a"), (std::map<std::uint64_t, Ids>{{1, {0, 1}}, {2, {2}}}));

  // The next batch lands on a too, which already runs version 2.
  auto plan = planDeployStep(etcd.snapshot(), etcd.job("web"), stepOf(etcd, 1, {0}, 3000));
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(etcd.commit(*plan));
  EXPECT_EQ(groupsOf(etcd.job("web")).at("a"), (std::map<std::uint64_t, Ids>{{1, {1}}, {2, {2, 3}}}));
  EXPECT_EQ(etcd.usage("a").instances, 3u);
  EXPECT_EQ(etcd.usage("a").used.memory, 3 * kGiB);
  EXPECT_EQ(etcd.deployment("web")->record.batch, (Ids{3}));
}

TEST(DeployPlanner, AStepRemovesInstancesGivingBackWhatTheyHeld) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  addNode(etcd, "b", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(
      etcd.snapshot(),
      job("name: web\nnumInstances: 2\ncontainers:\n  app:\n    image: x\n    memory: 1G\n"
          "    ports: [\"8080:80/udp\"]\n"),
      0)));  // one on each node
  const Ids onA = groupsOf(etcd.job("web")).at("a").at(1);
  const UsageRecord usageB = etcd.usage("b");
  // The new spec publishes no port and asks for more memory: what goes back
  // is what the instance was placed with.
  commitUpdate(etcd, webWithImage("y", 2, "2G"), false, 1000);
  auto plan = planDeployStep(etcd.snapshot(), etcd.job("web"), stepOf(etcd, 0, onA, 2000));
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->removed.size(), 1u);
  EXPECT_EQ(plan->removed[0].node, "a");
  ASSERT_TRUE(etcd.commit(*plan));
  EXPECT_EQ(etcd.usage("a"), UsageRecord{});
  EXPECT_EQ(etcd.usage("b"), usageB);
  EXPECT_FALSE(etcd.has(keys::assignment("a", "web")));
  const JobEntry after = etcd.job("web");
  EXPECT_EQ(after.record.nodes, (std::vector<std::string>{"b"}));
  EXPECT_EQ(after.record.version, 3u) << "submit, update, step";
}

TEST(DeployPlanner, NewIdsAreNeverOnesRemovedInTheSameStepOrStillStopping) {
  MiniEtcd etcd;
  addNode(etcd, "a", 16 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(4, "1G"), 0)));
  commitUpdate(etcd, webWithImage("y", 4), false, 1000);
  DeployStepWrite first = stepOf(etcd, 0, {0, 1}, 2000);
  first.next.removing = {0, 1};
  ASSERT_TRUE(etcd.commit(*planDeployStep(etcd.snapshot(), etcd.job("web"), first)));

  // 0 and 1 still drain; 3 goes now (a job without host ports does not
  // wait for it): the lowest ids free are 4 and 5.
  DeployStepWrite second = stepOf(etcd, 2, {3}, 3000);
  second.next.removing = {0, 1};
  auto plan = planDeployStep(etcd.snapshot(), etcd.job("web"), second);
  ASSERT_TRUE(plan.ok());
  Ids placed;
  for (const auto& p : plan->placed) placed.push_back(p.id);
  EXPECT_THAT(placed, UnorderedElementsAre(4u, 5u));
  ASSERT_TRUE(etcd.commit(*plan));
  const DeploymentRecord d = etcd.deployment("web")->record;
  EXPECT_EQ(d.batch, (Ids{4, 5}));
  EXPECT_EQ(d.batchPlacedAtMs, 3000);
  EXPECT_EQ(d.removing, (Ids{0, 1}));
}

TEST(DeployPlanner, AStepIsGuardedByTheJobAndTheDeploymentAsRead) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(2, "1G"), 0)));
  commitUpdate(etcd, webWithImage("y"), false, 1000);
  const JobEntry entry = etcd.job("web");
  const DeployStepWrite write = stepOf(etcd, 1, {}, 2000);
  auto plan = planDeployStep(etcd.snapshot(), entry, write);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(hasCompare(*plan, keys::job("web"), Target::kModRevision, entry.modRevision));
  EXPECT_TRUE(hasCompare(*plan, keys::deployment("web"), Target::kModRevision,
                         write.deployment.modRevision));

  // `ozy job promote` (or another agent's step) wrote the deployment meanwhile.
  DeploymentRecord promoted = write.deployment.record;
  promoted.promoted = true;
  etcd.put(keys::deployment("web"), encode(promoted));
  EXPECT_FALSE(etcd.commit(*plan));
}

TEST(DeployPlanner, TheStepThatEndsADeploymentWritesItsVersionsOutcome) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(2, "1G"), 0)));
  DeployStepWrite write = stepOf(etcd, 0, {}, 2000);
  write.next.state = DeploymentState::kSucceeded;
  VersionEntry v1{*etcd.version("web", 1), etcd.modRevision(keys::version("web", 1))};
  v1.record.outcome = DeploymentOutcome::kSucceeded;
  write.version = v1;
  const JobEntry entry = etcd.job("web");
  auto plan = planDeployStep(etcd.snapshot(), entry, write);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(hasCompare(*plan, keys::version("web", 1), Target::kModRevision, v1.modRevision));
  EXPECT_FALSE(writes(*plan, keys::job("web"))) << "nothing placed or removed";
  ASSERT_TRUE(etcd.commit(*plan));
  EXPECT_EQ(etcd.version("web", 1)->outcome, DeploymentOutcome::kSucceeded);
  EXPECT_EQ(etcd.deployment("web")->record.state, DeploymentState::kSucceeded);
  EXPECT_EQ(etcd.job("web").modRevision, entry.modRevision);
}

TEST(DeployPlanner, ABatchThatDoesNotFitIsRefusedWhole) {
  MiniEtcd etcd;
  addNode(etcd, "a", 3 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(2, "1G"), 0)));
  commitUpdate(etcd, webWithImage("y"), false, 1000);
  auto plan = planDeployStep(etcd.snapshot(), etcd.job("web"), stepOf(etcd, 2, {}, 2000));
  ASSERT_FALSE(plan.ok()) << "room for one of the two";
  EXPECT_EQ(plan.error().type.slug, "insufficient-memory");
}

// ---- two versions on one node -----------------------------------------------

TEST(DeployPlanner, TwoVersionsOnANodeShareItsAssignmentKeyAndItsUsage) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(2, "1G"), 0)));
  commitUpdate(etcd, webWithImage("y", 2, "2G"), false, 1000);
  ASSERT_TRUE(etcd.commit(*planDeployStep(etcd.snapshot(), etcd.job("web"), stepOf(etcd, 1, {}, 2000))));

  auto stored = decodeAssignments(etcd.value(keys::assignment("a", "web")));
  ASSERT_TRUE(stored.ok()) << stored.error();
  ASSERT_EQ(stored->size(), 2u);
  EXPECT_EQ((*stored)[0].version, 1u);
  EXPECT_EQ((*stored)[0].instances, (Ids{0, 1}));
  EXPECT_EQ((*stored)[0].perInstance.memory, kGiB);
  EXPECT_EQ((*stored)[1].version, 2u);
  EXPECT_EQ((*stored)[1].instances, (Ids{2}));
  EXPECT_EQ((*stored)[1].perInstance.memory, 2 * kGiB) << "what version 2 asks for";
  EXPECT_EQ(etcd.usage("a").instances, 3u);
  EXPECT_EQ(etcd.usage("a").used.memory, 4 * kGiB);
  EXPECT_EQ(etcd.job("web").record.nodes, (std::vector<std::string>{"a"}));

  // Stopping gives back both, and takes the history and the deployment.
  ASSERT_TRUE(etcd.commit(planStop(etcd.snapshot(), etcd.job("web"))));
  EXPECT_EQ(etcd.usage("a"), UsageRecord{});
  EXPECT_FALSE(etcd.has(keys::assignment("a", "web")));
  EXPECT_FALSE(etcd.has(keys::deployment("web")));
  EXPECT_TRUE(etcd.versions("web").empty());
}

}  // namespace
}  // namespace ozy
