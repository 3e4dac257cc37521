// The control plane's commit loop against a real etcd: what happens when a
// commit loses its race. The loss itself is injected (a store decorator
// writes what a competing agent would, just before the commit), because a
// real race cannot be lost on cue.
#include "control/control_plane.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "job/job_parser.h"
#include "scheduler/keys.h"
#include "support/etcd_with_store.h"
#include "support/forwarding_store.h"

namespace ozy {
namespace {

using testing_support::EtcdProcess;

// Forwards everything to a real store. Before each of the first commits
// (guarded Txns that write), runs the next of `competitors`.
class RacingStore : public testing_support::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  std::vector<std::function<void(Store&)>> competitors;
  int commits = 0;
  int reads = 0;  // state reads: unguarded Txns
  std::vector<TxnOp> lastFailureBranch;  // of the last commit

  Result<TxnResult, StoreError> txn(const Txn& txn) override {
    if (txn.compares.empty()) {
      ++reads;
    } else if (std::any_of(txn.success.begin(), txn.success.end(), [](const TxnOp& op) {
                 return op.kind != TxnOp::kGet && op.kind != TxnOp::kGetPrefix;
               })) {
      if (commits < static_cast<int>(competitors.size())) competitors[commits](inner_);
      ++commits;
      lastFailureBranch = txn.failure;
    }
    return inner_.txn(txn);
  }
};

class ControlPlaneRetry : public testing_support::EtcdStoreTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(EtcdStoreTest::SetUp());
    racing_ = std::make_unique<RacingStore>(*store_);
    ASSERT_TRUE(store_->put(keys::node("n1"),
                            encode(NodeRecord{"n1", "10.0.0.1", "http://10.0.0.1:7700",
                                              {4 * kGiB, 10 * kGiB}, 0, {}}))
                    .ok());
    ControlPlaneOptions options;
    options.sleep = [this](std::chrono::milliseconds) { ++sleeps_; };
    options.random = [] { return std::uint64_t{0}; };
    control_ = std::make_unique<ControlPlane>(*racing_, options);
  }

  // Another agent placing `memory` worth of instances on n1 meanwhile.
  static std::function<void(Store&)> competitorUsing(Bytes memory) {
    return [memory](Store& store) {
      UsageRecord usage;
      usage.used = {memory, 0};
      usage.instances = 1;
      ASSERT_TRUE(store.put(keys::usage("n1"), encode(usage), 0).ok());
    };
  }

  UsageRecord usageOfN1() {
    auto got = store_->get(keys::usage("n1"));
    EXPECT_TRUE(got && got->kvs.size() == 1);
    if (!got || got->kvs.empty()) return {};
    auto usage = decodeUsage(got->kvs.front().value);
    EXPECT_TRUE(usage) << usage.error();
    return usage ? *usage : UsageRecord{};
  }

  static Job jobOf(const std::string& name, const std::string& memory) {
    auto job = parseJob("name: " + name + "\ncontainers:\n  app:\n    image: busybox\n    memory: " +
                        memory + "\n");
    EXPECT_TRUE(job);
    return *job;
  }

  std::unique_ptr<RacingStore> racing_;
  std::unique_ptr<ControlPlane> control_;
  int sleeps_ = 0;
};

TEST_F(ControlPlaneRetry, ALostCommitReplansOnWhatItsTxnReadBackWithoutWaiting) {
  racing_->competitors = {competitorUsing(1 * kGiB)};
  auto done = control_->submit(jobOf("web", "512M"));
  ASSERT_TRUE(done) << done.error().detail;
  EXPECT_EQ(racing_->commits, 2);
  EXPECT_EQ(racing_->reads, 1) << "the retry must plan from the failed Txn's reads";
  EXPECT_EQ(sleeps_, 0) << "one lost race is no reason to back off";
  // What it read back: the keys its compares guard (job, node, usage) and
  // the node's drain key, not the whole cluster, which etcd would read
  // inside its write path.
  EXPECT_EQ(racing_->lastFailureBranch.size(), 4u);
  for (const auto& op : racing_->lastFailureBranch) EXPECT_EQ(op.kind, TxnOp::kGet) << op.key;
  // The retry saw the competitor's gigabyte: both are counted.
  const UsageRecord usage = usageOfN1();
  EXPECT_EQ(usage.used.memory, 1 * kGiB + 512 * kMiB);
  EXPECT_EQ(usage.instances, 2u);
}

TEST_F(ControlPlaneRetry, TheRetryRefusesWhatNoLongerFitsAfterTheRace) {
  racing_->competitors = {competitorUsing(3 * kGiB + 768 * kMiB)};
  auto done = control_->submit(jobOf("web", "512M"));
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().type.slug, problems::kInsufficientMemory.slug);
  EXPECT_EQ(racing_->commits, 1);
  EXPECT_EQ(usageOfN1().used.memory, 3 * kGiB + 768 * kMiB) << "nothing of ours was written";
}

TEST_F(ControlPlaneRetry, LosingToASubmissionOfTheSameNameAnswersJobExists) {
  racing_->competitors = {[](Store& store) {
    JobRecord other;
    other.spec = jobOf("web", "64M");
    other.version = 1;
    ASSERT_TRUE(store.put(keys::job("web"), encode(other), 0).ok());
  }};
  auto done = control_->submit(jobOf("web", "512M"));
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().type.slug, problems::kJobExists.slug);
  EXPECT_EQ(racing_->commits, 1);
}

TEST_F(ControlPlaneRetry, LosingTwiceBacksOffAndReadsAfresh) {
  racing_->competitors = {competitorUsing(1 * kGiB), competitorUsing(2 * kGiB)};
  auto done = control_->submit(jobOf("web", "512M"));
  ASSERT_TRUE(done) << done.error().detail;
  EXPECT_EQ(racing_->commits, 3);
  EXPECT_EQ(sleeps_, 1);
  EXPECT_EQ(racing_->reads, 2) << "after a wait, what the lost Txn read is stale";
  EXPECT_EQ(usageOfN1().used.memory, 2 * kGiB + 512 * kMiB);
}

TEST_F(ControlPlaneRetry, ScalingAlsoReplansOnWhatTheLostTxnReadBack) {
  ASSERT_TRUE(control_->submit(jobOf("web", "512M")));
  racing_->commits = 0;
  racing_->reads = 0;
  // The competitor keeps our 512M and adds its own gigabyte.
  racing_->competitors = {competitorUsing(1 * kGiB + 512 * kMiB)};
  auto done = control_->scale("web", 2);
  ASSERT_TRUE(done) << done.error().detail;
  EXPECT_EQ(racing_->commits, 2);
  EXPECT_EQ(racing_->reads, 1);
  EXPECT_EQ(sleeps_, 0);
  EXPECT_EQ(usageOfN1().used.memory, 2 * kGiB);
}

TEST_F(ControlPlaneRetry, ASubmissionThatLosesToADrainIsPlannedAgainWithoutTheNode) {
  // Another agent's API drains n1 just before our commit: the drain
  // rewrites n1's usage key, so the commit loses; what it reads back
  // includes the drain, so the re-plan knows n1 takes nothing.
  ControlPlane other(*store_, ControlPlaneOptions{});
  racing_->competitors = {[&](Store&) { ASSERT_TRUE(other.drain("n1", "n2")); }};
  auto done = control_->submit(jobOf("web", "512M"));
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().type.slug, problems::kInsufficientMemory.slug);
  EXPECT_THAT(done.error().detail, ::testing::HasSubstr("(n1 is drained)"));
  EXPECT_EQ(racing_->commits, 1);
  EXPECT_EQ(racing_->reads, 1) << "the re-plan used what the lost Txn read back";
  EXPECT_TRUE(store_->get(keys::job("web"))->kvs.empty());
}

TEST_F(ControlPlaneRetry, AnUndrainJustBeforeAMoveOffTheNodeWins) {
  ASSERT_TRUE(store_->put(keys::node("n2"),
                          encode(NodeRecord{"n2", "10.0.0.2", "http://10.0.0.2:7700",
                                            {8 * kGiB, 10 * kGiB}, 0, {}}))
                  .ok());
  ASSERT_TRUE(control_->submit(jobOf("web", "512M")));  // best fit: n1
  ASSERT_FALSE(store_->get(keys::assignment("n1", "web"))->kvs.empty());
  ASSERT_TRUE(control_->drain("n1", "n1"));
  racing_->commits = 0;
  ControlPlane other(*store_, ControlPlaneOptions{});
  racing_->competitors = {[&](Store&) { ASSERT_TRUE(other.undrain("n1")); }};
  auto done = control_->replace("web");
  ASSERT_TRUE(done) << done.error().detail;
  EXPECT_EQ(racing_->commits, 1);
  EXPECT_EQ(done->revision, 0) << "undrained: nothing to move any more";
  EXPECT_FALSE(store_->get(keys::assignment("n1", "web"))->kvs.empty()) << "it stays where it runs";
  EXPECT_TRUE(store_->get(keys::assignment("n2", "web"))->kvs.empty());
}

TEST_F(ControlPlaneRetry, DrainAndUndrainAreIdempotentForKnownNodesOnly) {
  auto drained = control_->drain("n1", "n7");
  ASSERT_TRUE(drained) << drained.error().detail;
  EXPECT_TRUE(drained->changed);
  EXPECT_TRUE(drained->live);
  ASSERT_TRUE(drained->drain);
  EXPECT_EQ(drained->drain->by, "n7");
  // A live node without usage gets an empty usage key: the fence a plan
  // that chose it before the drain compares.
  EXPECT_EQ(usageOfN1(), UsageRecord{});

  auto again = control_->drain("n1", "n8");
  ASSERT_TRUE(again);
  EXPECT_FALSE(again->changed);
  EXPECT_EQ(again->drain->by, "n7") << "the first drain's record stays";

  EXPECT_EQ(control_->drain("ghost", "n1").error().type.slug, problems::kNodeNotFound.slug);
  EXPECT_EQ(control_->undrain("ghost").error().type.slug, problems::kNodeNotFound.slug);
  EXPECT_EQ(control_->drain("Not_A_Host", "n1").error().type.slug,
            problems::kInvalidNodeName.slug);

  auto undrained = control_->undrain("n1");
  ASSERT_TRUE(undrained);
  EXPECT_TRUE(undrained->changed);
  EXPECT_FALSE(undrained->drain);
  EXPECT_TRUE(store_->get(keys::drain("n1"))->kvs.empty());
  auto undrainedAgain = control_->undrain("n1");
  ASSERT_TRUE(undrainedAgain);
  EXPECT_FALSE(undrainedAgain->changed);

  // A node that has left but whose drain or instances are recorded is known.
  ASSERT_TRUE(control_->drain("n1", "n7"));
  ASSERT_TRUE(store_->remove(keys::node("n1")).ok());
  auto away = control_->undrain("n1");
  ASSERT_TRUE(away) << away.error().detail;
  EXPECT_FALSE(away->live);
  EXPECT_TRUE(away->changed);
}

}  // namespace
}  // namespace ozy
