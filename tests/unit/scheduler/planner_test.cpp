// The planner turns decisions into guarded writes. These tests apply its
// plans to a small in-memory model of etcd's Txn (compares on version,
// create and mod revision), so a scenario reads like the cluster's history.
#include "scheduler/planner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <map>

#include <fmt/format.h>

#include "job/job_parser.h"
#include "scheduler/ingress_claims.h"
#include "scheduler/keys.h"
#include "mini_etcd.h"

namespace ozy {
namespace {

using ::testing::HasSubstr;
using testing_support::addNode;
using testing_support::hasCompare;
using testing_support::job;
using testing_support::MiniEtcd;
using testing_support::plainJob;

Job webJob(std::uint32_t instances, const std::string& memory = "1G") {
  return job("name: web\nnumInstances: " + std::to_string(instances) +
             "\ncontainers:\n  app:\n    image: x\n    memory: " + memory +
             "\n    ports: [\"80:3000\"]\n");
}

TEST(Planner, SubmitPlacesEveryInstanceAndFencesTheNodesItTouches) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  addNode(etcd, "b", 8 * kGiB);
  addNode(etcd, "c", 8 * kGiB);
  auto plan = planSubmit(etcd.snapshot(), webJob(2), 1000);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->placed.size(), 2u);
  // The job must not exist; each touched node's usage and registration are fenced.
  EXPECT_EQ(plan->compares[0].key, "/ozy/jobs/web");
  EXPECT_EQ(plan->compares[0].target, KeyCompare::Target::kVersion);
  std::size_t usageFences = 0;
  std::size_t nodeFences = 0;
  for (const auto& c : plan->compares) {
    usageFences += c.key.starts_with(keys::kUsage) ? 1 : 0;
    nodeFences += c.key.starts_with(keys::kNodes) ? 1 : 0;
  }
  EXPECT_EQ(usageFences, 2u);
  EXPECT_EQ(nodeFences, 2u);
  ASSERT_TRUE(etcd.commit(*plan));
  const JobEntry stored = etcd.job("web");
  EXPECT_EQ(stored.record.nodes.size(), 2u);
  EXPECT_EQ(stored.record.createdAtMs, 1000);
  for (const auto& [node, a] : stored.assignments) {
    EXPECT_EQ(a.instances.size(), 1u);
    EXPECT_EQ(etcd.usage(node).used.memory, kGiB);
    EXPECT_EQ(etcd.usage(node).ports, (std::vector<HostPort>{{80, Protocol::kTcp}}));
  }
}

TEST(Planner, NeverPlacesOnAPortTheNodeReserves) {
  MiniEtcd etcd;
  NodeRecord reserving{"a", "10.0.0.1", "http://x", {8 * kGiB, 100 * kGiB}, 0,
                       {{80, Protocol::kTcp}}};
  etcd.put(keys::node("a"), encode(reserving));
  addNode(etcd, "b", 8 * kGiB);
  auto plan = planSubmit(etcd.snapshot(), webJob(1), 0);  // host port 80
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(etcd.commit(*plan));
  EXPECT_EQ(etcd.job("web").record.nodes, (std::vector<std::string>{"b"}));
  // Two instances need two nodes with port 80 free; a reserves it.
  auto two = planSubmit(etcd.snapshot(), job("name: two\ncontainers:\n  app:\n    image: x\n"
                                             "    ports: [\"80:3000\"]\nnumInstances: 1\n"),
                        0);
  ASSERT_FALSE(two.ok());
  EXPECT_EQ(two.error().type.slug, "insufficient-ports");
  EXPECT_THAT(two.error().detail, ::testing::HasSubstr("reserved"));
}

TEST(Planner, ASecondSubmissionOfTheSameNameFailsItsCompare) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  const ClusterSnapshot before = etcd.snapshot();
  auto first = planSubmit(before, webJob(1), 0);
  auto second = planSubmit(before, webJob(1), 0);
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_TRUE(etcd.commit(*first));
  EXPECT_FALSE(etcd.commit(*second));
}

TEST(Planner, PlansFromAStaleSnapshotCannotOvercommitANode) {
  MiniEtcd etcd;
  addNode(etcd, "a", 2 * kGiB);
  const ClusterSnapshot before = etcd.snapshot();
  auto one = planSubmit(before, job("name: one\ncontainers:\n  c:\n    image: x\n    memory: 2G\n"), 0);
  auto two = planSubmit(before, job("name: two\ncontainers:\n  c:\n    image: x\n    memory: 2G\n"), 0);
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_TRUE(etcd.commit(*one));
  EXPECT_FALSE(etcd.commit(*two)) << "the usage fence must stop the second commit";
  auto retry = planSubmit(etcd.snapshot(), job("name: two\ncontainers:\n  c:\n    image: x\n    memory: 2G\n"), 0);
  ASSERT_FALSE(retry.ok());
  EXPECT_EQ(retry.error().type.slug, "insufficient-memory");
}

TEST(Planner, ANodeReRegisteredWithLessCapacityFailsTheCompare) {
  MiniEtcd etcd;
  addNode(etcd, "a", 64 * kGiB);
  auto plan = planSubmit(etcd.snapshot(), webJob(1, "40G"), 0);
  ASSERT_TRUE(plan.ok());
  addNode(etcd, "a", 16 * kGiB);  // same name, same lease, new capacity
  EXPECT_FALSE(etcd.commit(*plan)) << "the plan used 64G; the node now has 16G";
}

TEST(Planner, ScaleDownFencesOnlyTheNodesItChanges) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  addNode(etcd, "b", 8 * kGiB);
  addNode(etcd, "c", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), webJob(3), 0)));
  auto plan = planScale(etcd.snapshot(), etcd.job("web"), 2);
  ASSERT_TRUE(plan.ok());
  std::size_t usageWrites = 0;
  for (const auto& p : plan->puts) usageWrites += p.key.starts_with(keys::kUsage) ? 1 : 0;
  EXPECT_EQ(usageWrites, 1u);
}

// The agent's cache takes its own commits from plan.usage instead of
// decoding the puts, so the two must say the same.
void expectUsageMatchesPuts(const CommitPlan& plan) {
  std::size_t usagePuts = 0;
  for (const auto& p : plan.puts) {
    const auto node = keys::nameUnder(p.key, keys::kUsage);
    if (node.empty()) continue;
    ++usagePuts;
    auto decoded = decodeUsage(p.value);
    ASSERT_TRUE(decoded) << decoded.error();
    ASSERT_TRUE(plan.usage.contains(std::string(node))) << p.key;
    EXPECT_EQ(plan.usage.at(std::string(node)), *decoded) << p.key;
  }
  EXPECT_EQ(plan.usage.size(), usagePuts);
}

TEST(Planner, EveryUsagePutComesDecodedWithThePlan) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  addNode(etcd, "b", 8 * kGiB);
  auto submitted = planSubmit(etcd.snapshot(), webJob(2), 0);
  ASSERT_TRUE(submitted.ok());
  expectUsageMatchesPuts(*submitted);
  ASSERT_TRUE(etcd.commit(*submitted));
  auto scaled = planScale(etcd.snapshot(), etcd.job("web"), 1);
  ASSERT_TRUE(scaled.ok());
  expectUsageMatchesPuts(*scaled);
  ASSERT_TRUE(etcd.commit(*scaled));
  const CommitPlan stopped = planStop(etcd.snapshot(), etcd.job("web"));
  expectUsageMatchesPuts(stopped);
  EXPECT_EQ(stopped.usage.size(), 1u);
}

TEST(Planner, StoppingTheLastInstanceOfAGoneNodeRemovesItsUsageKey) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), webJob(1), 0)));
  etcd.remove(keys::node("a"));  // the node died
  ASSERT_TRUE(etcd.commit(planStop(etcd.snapshot(), etcd.job("web"))));
  EXPECT_FALSE(etcd.has(keys::usage("a")));
}

TEST(Planner, SubmitNeverPlacesOnNodesThatAreGone) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  etcd.put(keys::usage("dead"), encode(UsageRecord{}));
  auto plan = planSubmit(etcd.snapshot(), webJob(1), 0);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->placed[0].node, "a");
}

TEST(Planner, SubmitChargesTheSharedPoolOnceAndFencesIt) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  addNode(etcd, "b", 8 * kGiB);
  etcd.put(std::string(keys::kSharedPool), encode(SharedPoolRecord{10 * kGiB, 0}));
  auto plan = planSubmit(etcd.snapshot(),
                         job("name: s\nnumInstances: 2\ncontainers:\n  c:\n    image: x\n"
                             "    volumes: [{type: shared, path: /d, space: 4G}]\n"),
                         0);
  ASSERT_TRUE(plan.ok());
  ASSERT_TRUE(etcd.commit(*plan));
  EXPECT_EQ(etcd.snapshot().sharedPool.used, 4 * kGiB);
  auto tooMuch = planSubmit(etcd.snapshot(),
                            job("name: t\ncontainers:\n  c:\n    image: x\n"
                                "    volumes: [{type: shared, path: /d, space: 7G}]\n"),
                            0);
  ASSERT_FALSE(tooMuch.ok());
  EXPECT_EQ(tooMuch.error().type.slug, "insufficient-shared-space");
}

TEST(Planner, ScaleUpAddsNewIdsOnNodesWithoutTheJobFirst) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  addNode(etcd, "b", 8 * kGiB);
  addNode(etcd, "c", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), webJob(1), 0)));
  auto plan = planScale(etcd.snapshot(), etcd.job("web"), 3);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->placed.size(), 2u);
  EXPECT_EQ(plan->placed[0].id, 1u);
  EXPECT_EQ(plan->placed[1].id, 2u);
  ASSERT_TRUE(etcd.commit(*plan));
  const JobEntry stored = etcd.job("web");
  EXPECT_EQ(stored.record.spec.numInstances, 3u);
  EXPECT_EQ(stored.record.version, 2u);
  EXPECT_EQ(stored.record.nodes, (std::vector<std::string>{"a", "b", "c"}));
}

TEST(Planner, ScaleUpThatDoesNotFitChangesNothing) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), webJob(1), 0)));
  auto plan = planScale(etcd.snapshot(), etcd.job("web"), 2);  // host port 80 twice on one node
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().type.slug, "insufficient-ports");
}

TEST(Planner, ScaleDownDropsPendingThenUnhealthyThenFromTheFullestNode) {
  MiniEtcd etcd;
  addNode(etcd, "a", 4 * kGiB);
  addNode(etcd, "b", 16 * kGiB);
  const Job j = job("name: w\nnumInstances: 4\ncontainers:\n  c:\n    image: x\n    memory: 1G\n");
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), j, 0)));
  JobEntry entry = etcd.job("w");
  entry.record.pending = {9};  // as if a re-placement left one waiting

  auto plan = planScale(etcd.snapshot(), entry, 2, {2});
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->removed.size(), 3u);
  EXPECT_EQ(plan->removed[0].id, 9u);
  EXPECT_EQ(plan->removed[0].node, "");
  EXPECT_EQ(plan->removed[1].id, 2u);
  // Node a (4G) holds its instances at a larger share of its memory than b.
  EXPECT_EQ(plan->removed[2].node, "a");
}

TEST(Planner, ScaleToZeroDeletesAssignmentsAndFreesUsage) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  addNode(etcd, "b", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), webJob(2), 0)));
  ASSERT_TRUE(etcd.commit(*planScale(etcd.snapshot(), etcd.job("web"), 0)));
  EXPECT_FALSE(etcd.has(keys::assignment("a", "web")));
  EXPECT_FALSE(etcd.has(keys::assignment("b", "web")));
  EXPECT_EQ(etcd.usage("a"), UsageRecord{});
  EXPECT_EQ(etcd.usage("b"), UsageRecord{});
  EXPECT_TRUE(etcd.job("web").record.nodes.empty());
}

TEST(Planner, StopRemovesTheJobAndGivesEverythingBack) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  addNode(etcd, "b", 8 * kGiB);
  etcd.put(std::string(keys::kSharedPool), encode(SharedPoolRecord{10 * kGiB, 0}));
  const Job j = job("name: s\nnumInstances: 2\ncontainers:\n  c:\n    image: x\n    memory: 1G\n"
                    "    ports: [\"80:80\"]\n    volumes: [{type: shared, path: /d, space: 4G}]\n");
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), j, 0)));
  const CommitPlan stop = planStop(etcd.snapshot(), etcd.job("s"));
  EXPECT_EQ(stop.removed.size(), 2u);
  ASSERT_TRUE(etcd.commit(stop));
  EXPECT_FALSE(etcd.has(keys::job("s")));
  EXPECT_EQ(etcd.usage("a"), UsageRecord{});
  EXPECT_EQ(etcd.usage("b"), UsageRecord{});
  EXPECT_EQ(etcd.snapshot().sharedPool.used, 0u);
  // The whole job fits again.
  EXPECT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), j, 0)));
}

TEST(Planner, StopAfterAConcurrentScaleFailsItsCompare) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  addNode(etcd, "b", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), webJob(1), 0)));
  const JobEntry seen = etcd.job("web");
  const CommitPlan stop = planStop(etcd.snapshot(), seen);
  ASSERT_TRUE(etcd.commit(*planScale(etcd.snapshot(), seen, 2)));
  EXPECT_FALSE(etcd.commit(stop));
}

}  // namespace
}  // namespace ozy

namespace ozy {
namespace {

std::size_t instancesOn(const JobEntry& entry, const std::string& node) {
  for (const auto& [n, a] : entry.assignments) {
    if (n == node) return a.instances.size();
  }
  return 0;
}

TEST(PlannerReplace, MovesAGoneNodesInstancesToLiveNodes) {
  MiniEtcd etcd;
  for (const char* n : {"a", "b", "c"}) addNode(etcd, n, 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(6, "1G"), 0)));
  ASSERT_EQ(instancesOn(etcd.job("web"), "c"), 2u);
  etcd.remove(keys::node("c"));  // its lease expired

  const CommitPlan plan = planReplace(etcd.snapshot(), etcd.job("web"), 128);
  EXPECT_EQ(plan.removed.size(), 2u);
  EXPECT_EQ(plan.placed.size(), 2u);
  ASSERT_TRUE(etcd.commit(plan));
  const JobEntry after = etcd.job("web");
  EXPECT_EQ(after.record.nodes, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(instancesOn(after, "a") + instancesOn(after, "b"), 6u);
  EXPECT_TRUE(after.record.pending.empty());
  EXPECT_FALSE(etcd.has(keys::assignment("c", "web")));
  EXPECT_FALSE(etcd.has(keys::usage("c"))) << "the gone node held nothing else";
  EXPECT_EQ(etcd.usage("a").used.memory + etcd.usage("b").used.memory, 6 * kGiB);
  EXPECT_EQ(after.record.version, 1u) << "neither the spec nor the scale changed";
}

TEST(PlannerReplace, WhatDoesNotFitWaitsPendingUntilRoomAppears) {
  MiniEtcd etcd;
  for (const char* n : {"a", "b", "c"}) addNode(etcd, n, 3 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(6, "1536M"), 0)));
  const JobEntry before = etcd.job("web");
  std::vector<std::uint32_t> onC;
  for (const auto& [n, a] : before.assignments) {
    if (n == "c") onC = a.instances;
  }
  etcd.remove(keys::node("c"));

  ASSERT_TRUE(etcd.commit(planReplace(etcd.snapshot(), etcd.job("web"), 128)));
  EXPECT_EQ(etcd.job("web").record.pending, onC) << "a and b are full";
  EXPECT_FALSE(etcd.has(keys::usage("c")));
  // Still no room: nothing to write.
  EXPECT_TRUE(planReplace(etcd.snapshot(), etcd.job("web"), 128).puts.empty());

  addNode(etcd, "d", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(planReplace(etcd.snapshot(), etcd.job("web"), 128)));
  const JobEntry after = etcd.job("web");
  EXPECT_TRUE(after.record.pending.empty());
  EXPECT_EQ(instancesOn(after, "d"), 2u);
  EXPECT_EQ(etcd.usage("d").used.memory, 3 * kGiB);
}

TEST(PlannerReplace, KeepsWhatAGoneNodeHoldsForOtherJobs) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  addNode(etcd, "c", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(2, "1G"), 0)));
  ASSERT_TRUE(etcd.commit(*planSubmit(
      etcd.snapshot(),
      job("name: db\nnumInstances: 2\ncontainers:\n  app:\n    image: x\n    memory: 2G\n"), 0)));
  etcd.remove(keys::node("c"));
  ASSERT_TRUE(etcd.commit(planReplace(etcd.snapshot(), etcd.job("web"), 128)));
  EXPECT_EQ(etcd.usage("c").used.memory, 2 * kGiB) << "db's instance is still recorded there";
  EXPECT_EQ(etcd.usage("c").instances, 1u);
}

// Nodes a and c with one instance each; c dies; the plan to re-place its one.
CommitPlan replanAfterCDies(MiniEtcd& etcd) {
  addNode(etcd, "a", 8 * kGiB);
  addNode(etcd, "c", 8 * kGiB);
  EXPECT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(2, "1G"), 0)));
  etcd.remove(keys::node("c"));
  return planReplace(etcd.snapshot(), etcd.job("web"), 128);
}

TEST(PlannerReplace, ANodeBackBeforeTheCommitKeepsItsInstances) {
  MiniEtcd etcd;
  const CommitPlan replace = replanAfterCDies(etcd);
  addNode(etcd, "c", 8 * kGiB);  // re-registered; its usage key never changed
  EXPECT_FALSE(etcd.commit(replace));
}

TEST(PlannerReplace, StaysWithinTheTransactionLimitAndFinishesOnLaterRounds) {
  MiniEtcd etcd;
  for (int i = 0; i < 12; ++i) addNode(etcd, fmt::format("n{:02}", i), 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(24, "1G"), 0)));
  for (const char* dead : {"n00", "n01", "n02"}) etcd.remove(keys::node(dead));
  // 14 operations: six nodes a round, each costing two writes and two compares.
  constexpr std::size_t kLimit = 14;
  int rounds = 0;
  for (; rounds < 10; ++rounds) {
    const CommitPlan plan = planReplace(etcd.snapshot(), etcd.job("web"), kLimit);
    if (plan.puts.empty()) break;
    EXPECT_LE(plan.operationCount(), kLimit);
    EXPECT_LE(plan.compares.size(), kLimit);
    ASSERT_TRUE(etcd.commit(plan));
  }
  EXPECT_GT(rounds, 1) << "one round cannot have done it within the limit";
  const JobEntry after = etcd.job("web");
  EXPECT_TRUE(after.record.pending.empty());
  std::size_t total = 0;
  for (const auto& [node, a] : after.assignments) {
    EXPECT_TRUE(node != "n00" && node != "n01" && node != "n02") << node;
    total += a.instances.size();
  }
  EXPECT_EQ(total, 24u);
  for (const char* dead : {"n00", "n01", "n02"}) EXPECT_FALSE(etcd.has(keys::usage(dead))) << dead;
}

TEST(PlannerReplace, DropsAGoneNodeTheRecordNamesWithoutAnAssignment) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(1, "1G"), 0)));
  JobEntry entry = etcd.job("web");
  entry.record.nodes.push_back("ghost");  // named, but no assignment and not live
  const CommitPlan plan = planReplace(etcd.snapshot(), entry, 128);
  ASSERT_FALSE(plan.puts.empty());
  EXPECT_EQ(plan.job.nodes, (std::vector<std::string>{"a"}));
}

TEST(PlannerReplace, NeverPutsTwoInstancesOnOneHostPort) {
  MiniEtcd etcd;
  for (const char* n : {"a", "b", "c"}) addNode(etcd, n, 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), webJob(3), 0)));  // host port 80 each
  etcd.remove(keys::node("c"));
  ASSERT_TRUE(etcd.commit(planReplace(etcd.snapshot(), etcd.job("web"), 128)));
  EXPECT_EQ(etcd.job("web").record.pending.size(), 1u) << "port 80 is taken on a and b";
  for (const char* n : {"a", "b"}) {
    EXPECT_EQ(etcd.usage(n).ports, (std::vector<HostPort>{{80, Protocol::kTcp}})) << n;
  }
  addNode(etcd, "d", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(planReplace(etcd.snapshot(), etcd.job("web"), 128)));
  EXPECT_TRUE(etcd.job("web").record.pending.empty());
  EXPECT_EQ(etcd.usage("d").ports, (std::vector<HostPort>{{80, Protocol::kTcp}}));
}

TEST(PlannerReplace, NothingToMoveWritesNothing) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(2, "1G"), 0)));
  const CommitPlan plan = planReplace(etcd.snapshot(), etcd.job("web"), 128);
  EXPECT_TRUE(plan.puts.empty());
  EXPECT_TRUE(plan.deletes.empty());
}

TEST(PlannerReplace, LosesToAConcurrentChangeOfTheJob) {
  MiniEtcd etcd;
  const CommitPlan replace = replanAfterCDies(etcd);
  ASSERT_TRUE(etcd.commit(*planScale(etcd.snapshot(), etcd.job("web"), 3)));
  EXPECT_FALSE(etcd.commit(replace));
}

}  // namespace
}  // namespace ozy

namespace ozy {
namespace {

// `ozy node drain` and `undrain`, as the API writes them.
void drain(MiniEtcd& etcd, const std::string& node) {
  etcd.put(keys::drain(node), encode(DrainRecord{1000, "a"}));
}
void undrain(MiniEtcd& etcd, const std::string& node) { etcd.remove(keys::drain(node)); }

std::vector<std::uint32_t> idsOn(const JobEntry& entry, const std::string& node) {
  for (const auto& [n, a] : entry.assignments) {
    if (n == node) return a.instances;
  }
  return {};
}

TEST(PlannerDrain, NothingNewLandsOnADrainedNode) {
  // "tight" is the best fit and holds no instance of the job: without the
  // drain it would be chosen first every time.
  struct Case {
    const char* what;
    std::function<std::vector<InstancePlacement>(MiniEtcd&)> place;
  };
  const Case cases[] = {
      {"submit",
       [](MiniEtcd& etcd) { return planSubmit(etcd.snapshot(), plainJob(4, "1G"), 0)->placed; }},
      {"scale up",
       [](MiniEtcd& etcd) {
         EXPECT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(1, "1G"), 0)));
         return planScale(etcd.snapshot(), etcd.job("web"), 4)->placed;
       }},
      {"re-placement of a gone node's instances",
       [](MiniEtcd& etcd) {
         addNode(etcd, "c", 8 * kGiB);
         EXPECT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(6, "1G"), 0)));
         etcd.remove(keys::node("c"));
         return planReplace(etcd.snapshot(), etcd.job("web"), 128).placed;
       }},
      {"pending instances",
       [](MiniEtcd& etcd) {
         EXPECT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(2, "1G"), 0)));
         JobEntry entry = etcd.job("web");
         entry.record.pending = {2, 3};
         return planReplace(etcd.snapshot(), entry, 128).placed;
       }},
  };
  for (const Case& c : cases) {
    MiniEtcd etcd;
    addNode(etcd, "a", 8 * kGiB);
    addNode(etcd, "b", 8 * kGiB);
    addNode(etcd, "tight", 2 * kGiB);
    drain(etcd, "tight");
    const auto placed = c.place(etcd);
    EXPECT_FALSE(placed.empty()) << c.what;
    for (const auto& p : placed) EXPECT_NE(p.node, "tight") << c.what << ": instance " << p.id;
  }
}

TEST(PlannerDrain, AJobThatNoLongerFitsBecauseOfADrainGetsTheUsualProblem) {
  MiniEtcd etcd;
  addNode(etcd, "a", 4 * kGiB);
  addNode(etcd, "b", 4 * kGiB);
  drain(etcd, "b");
  auto plan = planSubmit(etcd.snapshot(), plainJob(3, "2G"), 0);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.error().type.slug, "insufficient-memory");
  EXPECT_EQ(plan.error().detail, "Job requires 6G of memory but only 4G can be allocated (b is drained).");
}

TEST(PlannerDrain, AfterAnUndrainTheNodeTakesInstancesAgain) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  addNode(etcd, "tight", 2 * kGiB);
  drain(etcd, "tight");
  undrain(etcd, "tight");
  auto plan = planSubmit(etcd.snapshot(), plainJob(1, "1G"), 0);
  ASSERT_TRUE(plan.ok());
  EXPECT_EQ(plan->placed[0].node, "tight");
}

TEST(PlannerDrain, ADrainedNodesInstancesMoveInOneTxnKeepingTheirIds) {
  MiniEtcd etcd;
  for (const char* n : {"a", "b", "c"}) addNode(etcd, n, 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(6, "1G"), 0)));
  const std::vector<std::uint32_t> onC = idsOn(etcd.job("web"), "c");
  ASSERT_EQ(onC.size(), 2u);
  drain(etcd, "c");

  const ClusterSnapshot seen = etcd.snapshot();
  const CommitPlan plan = planReplace(seen, etcd.job("web"), 128);
  std::vector<std::uint32_t> placedIds;
  for (const auto& p : plan.placed) {
    EXPECT_NE(p.node, "c");
    placedIds.push_back(p.id);
  }
  EXPECT_EQ(placedIds, onC) << "the instances keep their ids";
  // Leaving c and arriving elsewhere is one commit, fenced on c still being
  // drained and still the same registration.
  EXPECT_THAT(plan.deletes, ::testing::Contains(keys::assignment("c", "web")));
  const NodeEntry* c = seen.find("c");
  EXPECT_TRUE(hasCompare(plan, keys::drain("c"), KeyCompare::Target::kModRevision, c->drainModRevision));
  EXPECT_TRUE(hasCompare(plan, keys::node("c"), KeyCompare::Target::kModRevision, c->modRevision));
  ASSERT_TRUE(etcd.commit(plan));

  const JobEntry after = etcd.job("web");
  EXPECT_EQ(after.record.nodes, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(instancesOn(after, "a") + instancesOn(after, "b"), 6u);
  EXPECT_TRUE(after.record.pending.empty());
  EXPECT_EQ(after.record.version, 1u);
  EXPECT_EQ(etcd.usage("c"), UsageRecord{}) << "c is live: its usage stays, empty";
  EXPECT_TRUE(etcd.has(keys::usage("c")));
  EXPECT_EQ(etcd.usage("a").used.memory + etcd.usage("b").used.memory, 6 * kGiB);
  EXPECT_TRUE(planReplace(etcd.snapshot(), etcd.job("web"), 128).puts.empty()) << "nothing left";
}

TEST(PlannerDrain, WhatCannotMoveKeepsRunningOnTheDrainedNodeNotPending) {
  MiniEtcd etcd;
  for (const char* n : {"a", "b", "c"}) addNode(etcd, n, 3 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(6, "1536M"), 0)));
  const std::vector<std::uint32_t> onC = idsOn(etcd.job("web"), "c");
  drain(etcd, "c");
  // a and b are full: nothing to write, c keeps both.
  EXPECT_TRUE(planReplace(etcd.snapshot(), etcd.job("web"), 128).puts.empty());

  addNode(etcd, "d", 2 * kGiB);  // room for one
  ASSERT_TRUE(etcd.commit(planReplace(etcd.snapshot(), etcd.job("web"), 128)));
  JobEntry after = etcd.job("web");
  EXPECT_TRUE(after.record.pending.empty()) << "the one left still runs on c";
  EXPECT_EQ(idsOn(after, "d"), std::vector<std::uint32_t>{onC[0]});
  EXPECT_EQ(idsOn(after, "c"), std::vector<std::uint32_t>{onC[1]});
  EXPECT_EQ(etcd.usage("c").instances, 1u);
  EXPECT_EQ(etcd.usage("c").used.memory, 1536 * kMiB);

  addNode(etcd, "e", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(planReplace(etcd.snapshot(), etcd.job("web"), 128)));
  after = etcd.job("web");
  EXPECT_TRUE(idsOn(after, "c").empty());
  EXPECT_EQ(idsOn(after, "e"), std::vector<std::uint32_t>{onC[1]});
  EXPECT_EQ(etcd.usage("c").instances, 0u);
}

TEST(PlannerDrain, InstancesThatRunNowhereGetTheRoomBeforeThoseOfADrainedNode) {
  MiniEtcd etcd;
  for (const char* n : {"a", "b", "c"}) addNode(etcd, n, 3 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(6, "1536M"), 0)));
  const JobEntry before = etcd.job("web");
  drain(etcd, "b");
  etcd.remove(keys::node("c"));
  addNode(etcd, "d", 3 * kGiB);  // room for two: c's, not b's

  ASSERT_TRUE(etcd.commit(planReplace(etcd.snapshot(), etcd.job("web"), 128)));
  const JobEntry after = etcd.job("web");
  EXPECT_EQ(idsOn(after, "d"), idsOn(before, "c"));
  EXPECT_EQ(idsOn(after, "b"), idsOn(before, "b"));
  EXPECT_TRUE(after.record.pending.empty());
}

TEST(PlannerDrain, MovesWithinTheTransactionLimitAndFinishesOnLaterRounds) {
  MiniEtcd etcd;
  for (int i = 0; i < 12; ++i) addNode(etcd, fmt::format("n{:02}", i), 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(24, "1G"), 0)));
  const std::vector<std::string> drained = {"n00", "n01", "n02"};
  for (const auto& n : drained) drain(etcd, n);
  constexpr std::size_t kLimit = 14;
  int rounds = 0;
  for (; rounds < 10; ++rounds) {
    const CommitPlan plan = planReplace(etcd.snapshot(), etcd.job("web"), kLimit);
    if (plan.puts.empty()) break;
    EXPECT_LE(plan.operationCount(), kLimit);
    EXPECT_LE(plan.compares.size(), kLimit);
    ASSERT_TRUE(etcd.commit(plan));
    EXPECT_TRUE(etcd.job("web").record.pending.empty()) << "round " << rounds;
  }
  EXPECT_GT(rounds, 1) << "one round cannot have done it within the limit";
  std::size_t total = 0;
  for (const auto& [node, a] : etcd.job("web").assignments) {
    EXPECT_TRUE(std::find(drained.begin(), drained.end(), node) == drained.end()) << node;
    total += a.instances.size();
  }
  EXPECT_EQ(total, 24u);
  for (const auto& n : drained) EXPECT_EQ(etcd.usage(n).instances, 0u) << n;
}

TEST(PlannerDrain, ACommitFailsWhenTheDrainedNodeChangedMeanwhile) {
  struct Case {
    const char* what;
    std::function<void(MiniEtcd&)> meanwhile;
  };
  const Case cases[] = {
      {"undrained", [](MiniEtcd& etcd) { undrain(etcd, "c"); }},
      {"undrained and drained again",
       [](MiniEtcd& etcd) {
         undrain(etcd, "c");
         drain(etcd, "c");
       }},
      {"registered afresh", [](MiniEtcd& etcd) { addNode(etcd, "c", 8 * kGiB); }},
      {"gone", [](MiniEtcd& etcd) { etcd.remove(keys::node("c")); }},
  };
  for (const Case& c : cases) {
    MiniEtcd etcd;
    addNode(etcd, "a", 8 * kGiB);
    addNode(etcd, "c", 8 * kGiB);
    ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(2, "1G"), 0)));
    drain(etcd, "c");
    const CommitPlan plan = planReplace(etcd.snapshot(), etcd.job("web"), 128);
    ASSERT_FALSE(plan.puts.empty()) << c.what;
    c.meanwhile(etcd);
    EXPECT_FALSE(etcd.commit(plan)) << c.what;
  }
}

TEST(PlannerDrain, AnUndrainedNodeKeepsItsInstances) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  addNode(etcd, "c", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(2, "1G"), 0)));
  drain(etcd, "c");
  undrain(etcd, "c");
  EXPECT_TRUE(planReplace(etcd.snapshot(), etcd.job("web"), 128).puts.empty())
      << "no rebalancing back, and nothing moves off a node that is not drained";
}

TEST(PlannerDrain, ADrainedNodeThatIsGoneIsVacatedAsGone) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  addNode(etcd, "c", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(2, "1G"), 0)));
  drain(etcd, "c");
  etcd.remove(keys::node("c"));
  const CommitPlan plan = planReplace(etcd.snapshot(), etcd.job("web"), 128);
  EXPECT_TRUE(hasCompare(plan, keys::node("c"), KeyCompare::Target::kVersion, 0));
  ASSERT_TRUE(etcd.commit(plan));
  EXPECT_EQ(instancesOn(etcd.job("web"), "a"), 2u);
  EXPECT_FALSE(etcd.has(keys::usage("c")));
  EXPECT_TRUE(etcd.has(keys::drain("c"))) << "the drain outlives the node";
}

TEST(PlannerDrain, ScaleDownTakesFromADrainedNodeFirst) {
  MiniEtcd etcd;
  addNode(etcd, "a", 4 * kGiB);
  addNode(etcd, "b", 64 * kGiB);  // the emptiest by share
  addNode(etcd, "c", 4 * kGiB);
  ASSERT_TRUE(etcd.commit(*planSubmit(etcd.snapshot(), plainJob(3, "1G"), 0)));
  drain(etcd, "b");
  auto plan = planScale(etcd.snapshot(), etcd.job("web"), 2);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->removed.size(), 1u);
  EXPECT_EQ(plan->removed[0].node, "b");
}

// ---- ingress claims ---------------------------------------------------------

Job shopJob(const std::string& name, const std::string& ingress) {
  return job("name: " + name + "\ncontainers:\n  app:\n    image: x\n    memory: 64M\n"
             "    ingress: " + ingress + "\n");
}

// A submission as the control plane makes it: plan, read the claims, claim.
Result<CommitPlan, Problem> submitWithClaims(const MiniEtcd& etcd, const Job& spec,
                                             std::string_view domain = "ozy.local") {
  auto plan = planSubmit(etcd.snapshot(), spec, 0);
  if (!plan) return plan;
  const IngressClaims claims = ingressClaimsOf(spec, domain);
  return withClaims(std::move(plan).value(), claims, etcd.claims(claims));
}

TEST(IngressClaims, AreTheJobsHostsWithItsDefaultHostResolvedAndItsTcpPorts) {
  const Job spec = job(
      "name: shop\ncontainers:\n"
      "  web: {image: x, ingress: {hosts: [www.example.com, shop.ozy.local], default_host: true, "
      "port: 80}}\n"
      "  api: {image: x, ingress: {hosts: [api.example.com], tcp: 9000, port: 81}}\n"
      "  db: {image: x, ingress: {tcp: 5432, port: 5432}}\n"
      "  side: {image: x}\n");
  const IngressClaims claims = ingressClaimsOf(spec, "ozy.local");
  // Sorted, and the default host named explicitly too is one claim.
  EXPECT_EQ(claims.hosts,
            (std::vector<std::string>{"api.example.com", "shop.ozy.local", "www.example.com"}));
  EXPECT_EQ(claims.tcp, (std::vector<std::uint16_t>{5432, 9000}));
  EXPECT_EQ(claimKeys(claims),
            (std::vector<std::string>{"/ozy/ingress/hosts/api.example.com",
                                      "/ozy/ingress/hosts/shop.ozy.local",
                                      "/ozy/ingress/hosts/www.example.com", "/ozy/ingress/tcp/5432",
                                      "/ozy/ingress/tcp/9000"}));
  // Without a cluster domain there is no default host to claim.
  EXPECT_EQ(ingressClaimsOf(shopJob("shop", "{port: 80}"), "").hosts, std::vector<std::string>{});
  EXPECT_EQ(ingressClaimsOf(shopJob("shop", "{port: 80}"), "c.example").hosts,
            std::vector<std::string>{"shop.c.example"});
  EXPECT_TRUE(ingressClaimsOf(job("name: x\ncontainers: {a: {image: x}}\n"), "ozy.local").empty());
}

TEST(IngressClaims, ASubmissionTakesItsClaimsInItsCommitAndRecordsThem) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  auto plan = submitWithClaims(etcd, shopJob("shop", "{hosts: [shop.example.com], tcp: 2222, "
                                                     "default_host: true, port: 80}"));
  ASSERT_TRUE(plan.ok()) << plan.error().detail;
  ASSERT_TRUE(etcd.commit(*plan));
  EXPECT_EQ(etcd.value("/ozy/ingress/hosts/shop.example.com"), "shop");
  EXPECT_EQ(etcd.value("/ozy/ingress/hosts/shop.ozy.local"), "shop");
  EXPECT_EQ(etcd.value("/ozy/ingress/tcp/2222"), "shop");
  EXPECT_EQ(etcd.job("shop").record.ingress,
            (IngressClaims{{"shop.example.com", "shop.ozy.local"}, {2222}}));
  // Scaling keeps the record's claims.
  auto scaled = planScale(etcd.snapshot(), etcd.job("shop"), 2);
  ASSERT_TRUE(scaled.ok());
  ASSERT_TRUE(etcd.commit(*scaled));
  EXPECT_EQ(etcd.job("shop").record.ingress.hosts.size(), 2u);
}

TEST(IngressClaims, OfTwoJobsClaimingOneHostFromTheSameStateOnlyOneCommits) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  auto first = submitWithClaims(etcd, shopJob("shop", "{hosts: [shop.example.com], port: 80}"));
  auto second = submitWithClaims(etcd, shopJob("rival", "{hosts: [Shop.Example.com], port: 80}"));
  ASSERT_TRUE(first.ok() && second.ok());
  ASSERT_TRUE(etcd.commit(*first));
  EXPECT_FALSE(etcd.commit(*second)) << "its compare of the claim's absence fails";
  // Re-planned on what etcd now holds, it is refused, naming host and holder.
  auto again = submitWithClaims(etcd, shopJob("rival", "{hosts: [shop.example.com], port: 80}"));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().type.slug, problems::kIngressHostTaken.slug);
  EXPECT_EQ(again.error().type.status, 409);
  EXPECT_THAT(again.error().detail, HasSubstr("shop.example.com is already served by job \"shop\""));
  EXPECT_EQ(again.error().extensions["host"], "shop.example.com");
  EXPECT_EQ(again.error().extensions["heldBy"], "shop");
  EXPECT_EQ(again.error().extensions["job"], "rival");
  EXPECT_FALSE(etcd.has(keys::job("rival")));
  EXPECT_EQ(etcd.value("/ozy/ingress/hosts/shop.example.com"), "shop");
}

TEST(IngressClaims, NameEveryTakenHostAndTheDefaultHostAsSuch) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*submitWithClaims(
      etcd, shopJob("squatter", "{hosts: [a.example.com, b.example.com, shop.ozy.local], port: 1}"))));
  auto refused = submitWithClaims(
      etcd, shopJob("shop", "{hosts: [a.example.com, b.example.com, c.example.com], "
                            "default_host: true, port: 80}"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().extensions["taken"].size(), 3u);
  EXPECT_THAT(refused.error().detail, HasSubstr("and 2 more hosts are taken"));
  auto defaultOnly = submitWithClaims(etcd, shopJob("shop", "{port: 80}"));
  ASSERT_FALSE(defaultOnly.ok());
  EXPECT_THAT(defaultOnly.error().detail,
              HasSubstr("Host shop.ozy.local, the default host of job \"shop\", is already "
                        "served by job \"squatter\""));
}

TEST(IngressClaims, ATakenTcpPortIsRefusedAsSuch) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*submitWithClaims(etcd, shopJob("pg", "{tcp: 5432, port: 5432}"))));
  auto refused = submitWithClaims(etcd, shopJob("other", "{tcp: 5432, port: 15432}"));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().type.slug, problems::kIngressPortTaken.slug);
  EXPECT_THAT(refused.error().detail,
              HasSubstr("Ingress TCP port 5432 is already served by job \"pg\""));
  EXPECT_EQ(refused.error().extensions["port"], 5432);
  // Another port is free.
  EXPECT_TRUE(submitWithClaims(etcd, shopJob("other", "{tcp: 5433, port: 5432}")).ok());
}

TEST(IngressClaims, AClaimAlreadyHoldingTheJobsNameIsKeptUnderACompare) {
  // Left by a job of the same name whose key was deleted by hand.
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  etcd.put("/ozy/ingress/hosts/shop.example.com", "shop");
  auto plan = submitWithClaims(etcd, shopJob("shop", "{hosts: [shop.example.com], port: 80}"));
  ASSERT_TRUE(plan.ok()) << plan.error().detail;
  for (const auto& put : plan->puts) EXPECT_NE(put.key, "/ozy/ingress/hosts/shop.example.com");
  const auto compare = std::find_if(plan->compares.begin(), plan->compares.end(), [](const auto& c) {
    return c.key == "/ozy/ingress/hosts/shop.example.com";
  });
  ASSERT_NE(compare, plan->compares.end());
  EXPECT_EQ(compare->target, KeyCompare::Target::kModRevision);
  EXPECT_TRUE(etcd.commit(*plan));
}

TEST(IngressClaims, StoppingGivesBackTheJobsClaimsAndNothingElse) {
  MiniEtcd etcd;
  addNode(etcd, "a", 8 * kGiB);
  ASSERT_TRUE(etcd.commit(*submitWithClaims(
      etcd, shopJob("shop", "{hosts: [shop.example.com], tcp: 2222, port: 80}"))));
  const JobEntry entry = etcd.job("shop");
  // By hand, someone gave the port to another job meanwhile.
  etcd.put("/ozy/ingress/tcp/2222", "other");
  CommitPlan stop = planStop(etcd.snapshot(), entry);
  releaseClaims(stop, "shop", etcd.claims(entry.record.ingress));
  ASSERT_TRUE(etcd.commit(stop));
  EXPECT_FALSE(etcd.has("/ozy/ingress/hosts/shop.example.com"));
  EXPECT_EQ(etcd.value("/ozy/ingress/tcp/2222"), "other");
  // The host is free for another job now.
  EXPECT_TRUE(etcd.commit(
      *submitWithClaims(etcd, shopJob("next", "{hosts: [shop.example.com], port: 80}"))));
}

}  // namespace
}  // namespace ozy
