// Deployments through the control plane against a real etcd, with the
// nodes' reports written by the test: two agents stepping one deployment
// at once never take a step twice, a second update supersedes a running
// one, and the history keeps what it must.
#include "control/control_plane.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "job/job_parser.h"
#include "scheduler/keys.h"
#include "support/etcd_with_store.h"

namespace ozy {
namespace {

constexpr std::int64_t kStartMs = 1'000'000;

class DeployControl : public testing_support::EtcdStoreTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(EtcdStoreTest::SetUp());
    for (const char* node : {"n1", "n2"}) {
      ASSERT_TRUE(store_->put(keys::node(node),
                              encode(NodeRecord{node, "10.0.0.1", "http://10.0.0.1:7700",
                                                {8 * kGiB, 10 * kGiB}, 0, {}}))
                      .ok());
    }
    // Two agents' control planes on one store and one clock.
    for (int i = 0; i < 2; ++i) {
      ControlPlaneOptions options;
      options.nowMs = [this] { return now_.load(); };
      options.sleep = [](std::chrono::milliseconds) {};
      options.random = [] { return std::uint64_t{0}; };
      options.versionsKept = 3;
      agents_.push_back(std::make_unique<ControlPlane>(*store_, options));
    }
  }

  static Job web(const std::string& release, int instances, const std::string& update) {
    auto job = parseJob(fmt::format(
        "name: web\nnumInstances: {}\nupdate: {}\ncontainers:\n  app:\n    image: busybox\n"
        "    memory: 64M\n    environment: {{RELEASE: \"{}\"}}\n",
        instances, update, release));
    EXPECT_TRUE(job) << (job ? "" : job.error().errors.front().toString());
    return *job;
  }

  // What every node would report: each assigned instance healthy on its
  // version since `sinceMs`.
  void reportAllHealthy(std::int64_t sinceMs) {
    auto info = agents_[0]->job("web");
    ASSERT_TRUE(info) << info.error().detail;
    for (const auto& i : info->instances) {
      if (i.node.empty()) continue;
      InstanceStatus s;
      s.node = i.node;
      s.state = InstanceState::kHealthy;
      s.podIp = "10.244.0.1";
      s.sinceMs = sinceMs;
      s.version = i.version;
      // Keep a report that already says so: its sinceMs is the truth.
      if (i.status && i.status->state == InstanceState::kHealthy && i.status->version == i.version) {
        continue;
      }
      ASSERT_TRUE(store_->put(keys::status("web", i.id), encode(s)).ok());
    }
    // Reports of instances no longer assigned go, as their nodes would delete them.
    std::set<std::uint32_t> assigned;
    for (const auto& i : info->instances) assigned.insert(i.id);
    auto all = store_->getPrefix(keys::statusOf("web"));
    ASSERT_TRUE(all);
    for (const auto& kv : all->kvs) {
      const auto id = static_cast<std::uint32_t>(std::stoul(std::string(keys::nameUnder(kv.key, keys::statusOf("web")))));
      if (!assigned.contains(id)) {
        ASSERT_TRUE(store_->remove(kv.key).ok());
      }
    }
  }

  DeploymentRecord deployment() {
    auto info = agents_[0]->job("web");
    EXPECT_TRUE(info && info->deployment);
    return info && info->deployment ? *info->deployment : DeploymentRecord{};
  }

  std::atomic<std::int64_t> now_{kStartMs};
  std::vector<std::unique_ptr<ControlPlane>> agents_;
};

TEST_F(DeployControl, TwoAgentsSteppingAtOnceNeverTakeAStepTwice) {
  const std::string update = "{max_parallel: 2, min_healthy_time: 1s}";
  ASSERT_TRUE(agents_[0]->submit(web("v1", 4, update)));
  reportAllHealthy(kStartMs);
  now_ += 2000;
  ASSERT_TRUE(agents_[0]->deployStep("web"));
  ASSERT_EQ(deployment().state, DeploymentState::kSucceeded);

  auto updated = agents_[1]->submit(web("v2", 4, update));
  ASSERT_TRUE(updated) << updated.error().detail;
  ASSERT_EQ(updated->change, JobChange::kDeploying);
  // Both agents look, side by side, many times at every stage.
  int rounds = 0;
  std::size_t mostInstances = 0;
  while (deployment().state == DeploymentState::kRunning && rounds++ < 20) {
    std::thread other([&] {
      for (int k = 0; k < 5; ++k) ASSERT_TRUE(agents_[1]->deployStep("web"));
    });
    for (int k = 0; k < 5; ++k) ASSERT_TRUE(agents_[0]->deployStep("web"));
    other.join();
    auto info = agents_[0]->job("web");
    ASSERT_TRUE(info);
    mostInstances = std::max(mostInstances, info->instances.size());
    // A batch is placed once: never more than numInstances + max_parallel.
    ASSERT_LE(info->instances.size(), 6u);
    reportAllHealthy(now_);
    now_ += 1500;
  }
  EXPECT_EQ(deployment().state, DeploymentState::kSucceeded) << deployment().message;
  EXPECT_EQ(deployment().batchesDone, 2u);
  EXPECT_EQ(mostInstances, 6u);
  auto info = agents_[0]->job("web");
  ASSERT_TRUE(info);
  ASSERT_EQ(info->instances.size(), 4u);
  for (const auto& i : info->instances) EXPECT_EQ(i.version, 2u) << "instance " << i.id;
}

TEST_F(DeployControl, ASecondUpdateSupersedesTheRunningOneAndStartsFromTheMix) {
  const std::string update = "{max_parallel: 1, min_healthy_time: 1s}";
  ASSERT_TRUE(agents_[0]->submit(web("v1", 2, update)));
  reportAllHealthy(kStartMs);
  now_ += 2000;
  ASSERT_TRUE(agents_[0]->deployStep("web"));
  ASSERT_TRUE(agents_[0]->submit(web("v2", 2, update)));
  ASSERT_TRUE(agents_[0]->deployStep("web"));  // places v2's first batch
  ASSERT_EQ(deployment().batch.size(), 1u);

  auto third = agents_[1]->submit(web("v3", 2, update));
  ASSERT_TRUE(third) << third.error().detail;
  EXPECT_EQ(third->change, JobChange::kDeploying);
  EXPECT_EQ(deployment().version, 3u);
  EXPECT_EQ(deployment().fromVersion, 2u);
  auto versions = agents_[0]->versions("web");
  ASSERT_TRUE(versions);
  ASSERT_EQ(versions->size(), 3u);
  EXPECT_EQ((*versions)[1].outcome, DeploymentOutcome::kSuperseded);
  EXPECT_EQ((*versions)[2].outcome, DeploymentOutcome::kRunning);
  // v1's two and v2's one are all old to it: it replaces them all.
  for (int round = 0; round < 12 && deployment().state == DeploymentState::kRunning; ++round) {
    ASSERT_TRUE(agents_[round % 2]->deployStep("web"));
    reportAllHealthy(now_);
    now_ += 1500;
  }
  EXPECT_EQ(deployment().state, DeploymentState::kSucceeded) << deployment().message;
  auto info = agents_[0]->job("web");
  ASSERT_TRUE(info);
  ASSERT_EQ(info->instances.size(), 2u);
  for (const auto& i : info->instances) EXPECT_EQ(i.version, 3u);
}

TEST_F(DeployControl, UnchangedAndScaledRunsMakeNoNewVersion) {
  const std::string update = "{min_healthy_time: 1s}";
  ASSERT_TRUE(agents_[0]->submit(web("v1", 2, update)));
  auto same = agents_[0]->submit(web("v1", 2, update));
  ASSERT_TRUE(same);
  EXPECT_EQ(same->change, JobChange::kUnchanged);
  EXPECT_EQ(same->revision, 0);
  auto scaled = agents_[0]->submit(web("v1", 3, "{min_healthy_time: 2s}"));
  ASSERT_TRUE(scaled) << scaled.error().detail;
  EXPECT_EQ(scaled->change, JobChange::kScaled);
  EXPECT_EQ(scaled->job.specVersion, 1u);
  EXPECT_EQ(scaled->job.spec.update.minHealthyTime, std::chrono::seconds(2));
  EXPECT_EQ(scaled->placed.size(), 1u);
  auto versions = agents_[0]->versions("web");
  ASSERT_TRUE(versions);
  EXPECT_EQ(versions->size(), 1u);
}

TEST_F(DeployControl, StoppingAJobDeletesItsVersionsAndDeployment) {
  ASSERT_TRUE(agents_[0]->submit(web("v1", 1, "{}")));
  ASSERT_TRUE(agents_[0]->submit(web("v2", 1, "{}")));
  ASSERT_TRUE(agents_[0]->stop("web"));
  EXPECT_TRUE(store_->getPrefix(keys::versionsOf("web"))->kvs.empty());
  EXPECT_TRUE(store_->get(keys::deployment("web"))->kvs.empty());
  // Submitted again, it starts at version 1.
  auto again = agents_[0]->submit(web("v3", 1, "{}"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->change, JobChange::kCreated);
  EXPECT_EQ(again->job.specVersion, 1u);
}

}  // namespace
}  // namespace ozy
