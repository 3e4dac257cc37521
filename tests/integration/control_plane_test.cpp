// The control plane's commit loop against a real etcd: what happens when a
// commit loses its race. The loss itself is injected (a store decorator
// writes what a competing agent would, just before the commit), because a
// real race cannot be lost on cue.
#include "control/control_plane.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>

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

// Running a job whose name another submission took meanwhile updates that
// job: the newer spec wins, as a new version rolled out by a deployment.
TEST_F(ControlPlaneRetry, LosingToASubmissionOfTheSameNameUpdatesThatJob) {
  racing_->competitors = {[](Store& store) {
    JobRecord other;
    other.spec = jobOf("web", "64M");
    other.version = 1;
    ASSERT_TRUE(store.put(keys::job("web"), encode(other), 0).ok());
  }};
  auto done = control_->submit(jobOf("web", "512M"));
  ASSERT_TRUE(done) << done.error().detail;
  EXPECT_EQ(done->change, JobChange::kDeploying);
  EXPECT_EQ(done->job.specVersion, 2u);
  ASSERT_TRUE(done->deployment);
  EXPECT_EQ(done->deployment->version, 2u);
  EXPECT_EQ(done->deployment->fromVersion, 1u);
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

// ---- ingress claims -----------------------------------------------------

// With no instances a submission touches no node, so nothing but the claims
// can make two of them collide: the tests of races use those.
Job ingressJob(const std::string& name, const std::string& ingress, int instances = 1) {
  auto job = parseJob("name: " + name + "\nnumInstances: " + std::to_string(instances) +
                      "\ncontainers:\n  app:\n    image: busybox\n    memory: 64M\n"
                      "    ingress: " + ingress + "\n");
  EXPECT_TRUE(job) << (job ? "" : job.error().errors.front().toString());
  return job ? *job : Job{};
}

TEST_F(ControlPlaneRetry, LosingToAJobThatClaimsTheHostMeanwhileAnswersIngressHostTaken) {
  // Another agent commits a job holding the host just before our commit.
  ControlPlane other(*store_, ControlPlaneOptions{});
  racing_->competitors = {[&](Store&) {
    ASSERT_TRUE(other.submit(ingressJob("rival", "{hosts: [shop.example.com], port: 80}", 0)));
  }};
  auto done = control_->submit(ingressJob("shop", "{hosts: [shop.example.com], port: 80}", 0));
  ASSERT_FALSE(done);
  EXPECT_EQ(done.error().type.slug, problems::kIngressHostTaken.slug);
  EXPECT_EQ(done.error().extensions["heldBy"], "rival");
  EXPECT_EQ(racing_->commits, 1) << "the claim was read afresh and found taken: no second commit";
  EXPECT_TRUE(store_->get(keys::job("shop"))->kvs.empty());
  EXPECT_EQ(store_->get(keys::ingressHost("shop.example.com"))->kvs.front().value, "rival");
}

class IngressClaimsTest : public testing_support::EtcdStoreTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(EtcdStoreTest::SetUp());
    ASSERT_TRUE(store_->put(keys::node("n1"),
                            encode(NodeRecord{"n1", "10.0.0.1", "http://10.0.0.1:7700",
                                              {64 * kGiB, 10 * kGiB}, 0, {}}))
                    .ok());
    control_ = std::make_unique<ControlPlane>(*store_, options());
  }

  static ControlPlaneOptions options() {
    ControlPlaneOptions o;
    o.domain = "c.example";
    o.sleep = [](std::chrono::milliseconds d) { std::this_thread::sleep_for(d); };
    o.random = [] {
      static std::atomic<std::uint64_t> n{0};
      return n.fetch_add(7919);
    };
    return o;
  }

  // Who holds `key` (a claim), or "" when nobody does.
  std::string holder(const std::string& key) {
    auto got = store_->get(key);
    EXPECT_TRUE(got);
    return got && !got->kvs.empty() ? got->kvs.front().value : "";
  }

  std::unique_ptr<ControlPlane> control_;
};

TEST_F(IngressClaimsTest, OfConcurrentSubmissionsClaimingOneHostExactlyOneSucceeds) {
  // Each through its own control plane, as through the APIs of as many agents.
  constexpr int kJobs = 6;
  std::vector<std::unique_ptr<ControlPlane>> planes;
  for (int i = 0; i < kJobs; ++i) planes.push_back(std::make_unique<ControlPlane>(*store_, options()));
  std::vector<std::optional<Problem>> outcomes(kJobs);
  std::atomic<int> ready{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kJobs; ++i) {
    threads.emplace_back([&, i] {
      const Job job =
          ingressJob("shop-" + std::to_string(i), "{hosts: [shop.example.com], port: 80}", 0);
      ++ready;
      while (ready.load() < kJobs) std::this_thread::yield();
      auto done = planes[i]->submit(job);
      if (!done) outcomes[i] = done.error();
    });
  }
  for (auto& t : threads) t.join();
  int succeeded = 0;
  std::string winner;
  for (int i = 0; i < kJobs; ++i) {
    if (!outcomes[i]) {
      ++succeeded;
      winner = "shop-" + std::to_string(i);
      continue;
    }
    EXPECT_EQ(outcomes[i]->type.slug, problems::kIngressHostTaken.slug) << outcomes[i]->detail;
  }
  ASSERT_EQ(succeeded, 1);
  EXPECT_EQ(holder(keys::ingressHost("shop.example.com")), winner);
  auto jobs = store_->getPrefix(std::string(keys::kJobs));
  ASSERT_TRUE(jobs);
  ASSERT_EQ(jobs->kvs.size(), 1u) << "the losers wrote nothing";
  EXPECT_EQ(jobs->kvs.front().key, keys::job(winner));
  for (const auto& o : outcomes) {
    if (o) {
      EXPECT_EQ(o->extensions["heldBy"], winner);
    }
  }
}

TEST_F(IngressClaimsTest, OfConcurrentSubmissionsClaimingOneTcpPortExactlyOneSucceeds) {
  constexpr int kJobs = 4;
  std::vector<std::unique_ptr<ControlPlane>> planes;
  for (int i = 0; i < kJobs; ++i) planes.push_back(std::make_unique<ControlPlane>(*store_, options()));
  std::atomic<int> ready{0};
  std::atomic<int> succeeded{0};
  std::atomic<int> taken{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kJobs; ++i) {
    threads.emplace_back([&, i] {
      const Job job = ingressJob("pg-" + std::to_string(i), "{tcp: 15432, port: 5432}", 0);
      ++ready;
      while (ready.load() < kJobs) std::this_thread::yield();
      auto done = planes[i]->submit(job);
      if (done) {
        ++succeeded;
      } else if (done.error().type.slug == problems::kIngressPortTaken.slug) {
        ++taken;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(succeeded.load(), 1);
  EXPECT_EQ(taken.load(), kJobs - 1);
}

TEST_F(IngressClaimsTest, TheDefaultHostIsTheJobUnderTheControlPlanesDomain) {
  ASSERT_TRUE(control_->submit(ingressJob("web", "{port: 80}")));
  EXPECT_EQ(holder("/ozy/ingress/hosts/web.c.example"), "web");
  // Another job naming it explicitly is refused.
  auto refused = control_->submit(ingressJob("other", "{hosts: [web.c.example], port: 80}"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().type.slug, problems::kIngressHostTaken.slug);
}

TEST_F(IngressClaimsTest, ResubmittingAJobKeepsItsClaims) {
  ASSERT_TRUE(control_->submit(ingressJob("shop", "{hosts: [shop.example.com], tcp: 2222, port: 80}")));
  const auto before = store_->get(keys::ingressHost("shop.example.com"))->kvs.front().modRevision;
  auto again = control_->submit(ingressJob("shop", "{hosts: [shop.example.com], tcp: 2222, port: 80}"));
  ASSERT_TRUE(again) << again.error().detail;
  EXPECT_EQ(again->change, JobChange::kUnchanged);
  EXPECT_EQ(again->revision, 0) << "nothing was written";
  EXPECT_EQ(store_->get(keys::ingressHost("shop.example.com"))->kvs.front().modRevision, before);
  EXPECT_EQ(holder(keys::ingressTcp(2222)), "shop");
  // Scaling keeps them too.
  ASSERT_TRUE(control_->scale("shop", 3));
  EXPECT_EQ(holder(keys::ingressHost("shop.example.com")), "shop");
  auto info = control_->job("shop");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->record.ingress, (IngressClaims{{"shop.example.com"}, {2222}}));
}

TEST_F(IngressClaimsTest, StoppingAJobFreesItsHostAndPortForAnother) {
  ASSERT_TRUE(control_->submit(ingressJob("shop", "{hosts: [shop.example.com], tcp: 2222, port: 80}")));
  auto refused = control_->submit(ingressJob("rival", "{hosts: [shop.example.com], port: 80}"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().type.slug, problems::kIngressHostTaken.slug);
  auto refusedPort = control_->submit(ingressJob("rival", "{tcp: 2222, port: 80}"));
  ASSERT_FALSE(refusedPort);
  EXPECT_EQ(refusedPort.error().type.slug, problems::kIngressPortTaken.slug);
  EXPECT_EQ(holder(keys::ingressHost("shop.example.com")), "shop") << "the earlier job keeps it";

  ASSERT_TRUE(control_->stop("shop"));
  EXPECT_EQ(holder(keys::ingressHost("shop.example.com")), "");
  EXPECT_EQ(holder(keys::ingressTcp(2222)), "");
  ASSERT_TRUE(control_->submit(ingressJob("rival", "{hosts: [shop.example.com], tcp: 2222, port: 80}")));
  EXPECT_EQ(holder(keys::ingressHost("shop.example.com")), "rival");
}

TEST_F(IngressClaimsTest, AJobChangingItsHostsFreesTheOldOnes) {
  // A spec changes by stop and submit: the new spec holds only its own hosts.
  ASSERT_TRUE(control_->submit(ingressJob("shop", "{hosts: [old.example.com], port: 80}")));
  ASSERT_TRUE(control_->stop("shop"));
  ASSERT_TRUE(control_->submit(ingressJob("shop", "{hosts: [new.example.com], port: 80}")));
  EXPECT_EQ(holder(keys::ingressHost("old.example.com")), "");
  EXPECT_EQ(holder(keys::ingressHost("new.example.com")), "shop");
  EXPECT_TRUE(control_->submit(ingressJob("other", "{hosts: [old.example.com], port: 80}")));
}

TEST_F(IngressClaimsTest, StoppingGivesBackWhatWasClaimedEvenAfterTheDomainChanged) {
  ASSERT_TRUE(control_->submit(ingressJob("web", "{port: 80}")));
  ControlPlaneOptions renamed = options();
  renamed.domain = "d.example";
  ControlPlane after(*store_, renamed);
  ASSERT_TRUE(after.stop("web"));
  EXPECT_EQ(holder("/ozy/ingress/hosts/web.c.example"), "");
}

TEST_F(IngressClaimsTest, ADryRunReportsATakenHostAndClaimsNothing) {
  ASSERT_TRUE(control_->submit(ingressJob("shop", "{hosts: [shop.example.com], port: 80}")));
  auto planned = control_->planOnly(ingressJob("rival", "{hosts: [shop.example.com], port: 80}"));
  ASSERT_FALSE(planned);
  EXPECT_EQ(planned.error().type.slug, problems::kIngressHostTaken.slug);
  auto available = control_->planOnly(ingressJob("rival", "{hosts: [free.example.com], port: 80}"));
  ASSERT_TRUE(available) << available.error().detail;
  EXPECT_EQ(available->revision, 0);
  EXPECT_EQ(holder(keys::ingressHost("free.example.com")), "");
}

}  // namespace
}  // namespace ozy
