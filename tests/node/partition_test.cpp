// Two nodes with real podman, one of them behind a TCP proxy to etcd that the
// test can blackhole: a real cut between one agent and etcd, as etcd's own
// functional tests make it.
// - longer than the TTL: the cut-off node's container is dead before its
//   replacement starts on the other node (podman's own event times), and
//   after the heal the instance runs once;
// - shorter than the TTL: no container anywhere restarts;
// and a drain: the instance is healthy on the other node before it stops.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "scheduler/keys.h"
#include "scheduler/records.h"
#include "node/node_test_support.h"
#include "support/agent_process.h"
#include "support/etcd_with_store.h"
#include "support/tcp_proxy.h"
#include "support/temp_dir.h"
#include "support/test_image.h"

namespace ozy {
namespace {

using namespace std::chrono_literals;
using testing_support::AgentProcess;
using testing_support::TempDir;

// Cut off after 4.5 s without a renewal; renewals every 2 s.
constexpr int kLeaseTtl = 6;

using node_testing::podman;
using node_testing::run;
using node_testing::waitFor;

// The time of the first event of this kind for this container (of the
// job's container "sleep"), if any.
std::optional<std::int64_t> eventTime(const std::string& container, const std::string& event) {
  return node_testing::eventTime(container, "sleep", event);
}

class TwoNodes : public testing_support::EtcdStoreTest {
 protected:
  static void SetUpTestSuite() { node_testing::testImageError(); }

  void SetUp() override {
    if (!node_testing::testImageError().empty()) GTEST_SKIP() << node_testing::testImageError();
    ASSERT_NO_FATAL_FAILURE(startEtcd());
    const std::string endpoint = etcd_->endpoint();
    auto proxy = testing_support::TcpProxy::start(
        "127.0.0.1", static_cast<std::uint16_t>(std::stoi(endpoint.substr(endpoint.rfind(':') + 1))));
    ASSERT_TRUE(proxy) << proxy.error();
    proxy_ = std::move(proxy).value();
    std::random_device device;
    const auto tag = device() % 1000000;
    cutNode_ = fmt::format("pa{}", tag);
    otherNode_ = fmt::format("pb{}", tag);
  }

  void TearDown() override {
    if (proxy_) proxy_->heal();
    for (auto* agent : {&cut_, &other_}) {
      if (*agent) (*agent)->kill();
    }
    for (const auto& node : {cutNode_, otherNode_}) {
      if (node.empty()) continue;
      for (int attempt = 0; attempt < 5; ++attempt) {
        std::string pods = podman("pod ps -q --filter label=ozy.node=" + node);
        if (pods.empty()) break;
        std::replace(pods.begin(), pods.end(), '\n', ' ');
        podman("pod rm -f -t 0 " + pods);
      }
    }
  }

  std::unique_ptr<AgentProcess> startAgent(const std::string& node, const std::string& etcd) {
    const std::string dir = tmp_.path() + "/" + node;
    std::filesystem::create_directories(dir);
    testing_support::AgentOptions o;
    o.binary = OZY_BINARY;
    o.node = node;
    o.etcd = etcd;
    o.memory = "1G";
    o.disk = "10G";
    o.dataDir = dir;
    o.runtime = "podman";
    o.leaseTtl = kLeaseTtl;
    o.extraArgs = {"--containers-conf", testing_support::projectContainersConf(),
                   "--shared-dir",      tmp_.path() + "/shared",
                   "--resync",          "1s",
                   "--stop-grace",      "2",
                   "--replace-interval", "500ms"};
    auto agent = AgentProcess::start(o);
    EXPECT_TRUE(agent) << (agent ? "" : agent.error());
    return agent ? std::move(agent).value() : nullptr;
  }

  // The instance's status as etcd has it.
  std::optional<InstanceStatus> status() {
    auto got = store_->get(keys::status("guarded", 0));
    if (!got || got->kvs.empty()) return std::nullopt;
    auto decoded = decodeInstanceStatus(got->kvs[0].value);
    return decoded ? std::optional<InstanceStatus>(*decoded) : std::nullopt;
  }

  bool healthyOn(const std::string& node) {
    auto s = status();
    return s && s->node == node && s->state == InstanceState::kHealthy;
  }

  std::string container(const std::string& node) const {
    return fmt::format("ozy-guarded-0.{}.sleep", node);
  }

  std::string runningContainers() {
    return podman("ps -q --filter label=ozy.container=sleep --filter status=running "
                  "--filter name=ozy-guarded-0.");
  }

  // One instance, placed on the node that is cut: the only node up when it
  // is submitted. PID 1 `sleep` ignores SIGTERM: only SIGKILL ends it.
  void submitOnCutNode() {
    cut_ = startAgent(cutNode_, proxy_->endpoint());
    ASSERT_TRUE(cut_);
    const std::string file = tmp_.path() + "/guarded.yaml";
    std::ofstream(file) << fmt::format(R"(name: guarded
numInstances: 1
containers:
  sleep:
    image: {}
    memory: 16M
    command: ["sleep", "3600"]
)",
                                       testing_support::kTestImage);
    const auto submitted = testing_support::runOzy(OZY_BINARY, {"job", "run", file, "--address", cut_->url()},
                                                   cut_->ozyEnv());
    ASSERT_EQ(submitted.exitCode, 0) << submitted.stderrText;
    ASSERT_TRUE(waitFor([&] { return healthyOn(cutNode_); }, 60s)) << cut_->log();
    other_ = startAgent(otherNode_, etcd_->endpoint());
    ASSERT_TRUE(other_);
  }


  TempDir tmp_;
  std::unique_ptr<testing_support::TcpProxy> proxy_;
  std::string cutNode_;
  std::string otherNode_;
  std::unique_ptr<AgentProcess> cut_;
  std::unique_ptr<AgentProcess> other_;
};

TEST_F(TwoNodes, ACutLongerThanTheTtlKillsTheOldContainerBeforeItsReplacementStarts) {
  ASSERT_NO_FATAL_FAILURE(submitOnCutNode());

  proxy_->cut();
  ASSERT_TRUE(waitFor([&] { return healthyOn(otherNode_); }, 30s))
      << "not re-placed\n" << other_->log();

  const auto died = eventTime(container(cutNode_), "died");
  const auto started = eventTime(container(otherNode_), "start");
  ASSERT_TRUE(died) << "the cut-off node's container never died\n" << cut_->log();
  ASSERT_TRUE(started);
  EXPECT_LT(*died, *started) << "both ran at once for " << (*died - *started) / 1'000'000 << " ms";
  RecordProperty("gap_between_death_and_replacement_ms", static_cast<int>((*started - *died) / 1'000'000));

  // After the heal the cut-off node registers afresh and runs nothing more.
  proxy_->heal();
  ASSERT_TRUE(waitFor([&] {
    auto node = store_->get(keys::node(cutNode_));
    return node && !node->kvs.empty();
  }, 30s)) << cut_->log();
  ASSERT_TRUE(waitFor([&] { return runningContainers().find('\n') == std::string::npos; }, 10s));
  EXPECT_TRUE(healthyOn(otherNode_));
  EXPECT_NE(runningContainers(), "");
  EXPECT_EQ(podman("ps -q --filter name=" + container(cutNode_)), "") << "it runs twice";
}

TEST_F(TwoNodes, ACutShorterThanTheTtlRestartsNothing) {
  ASSERT_NO_FATAL_FAILURE(submitOnCutNode());
  const std::string startedAt = podman("inspect -f '{{.State.StartedAt}}' " + container(cutNode_));
  ASSERT_FALSE(startedAt.empty());

  const auto cutAt = std::chrono::steady_clock::now();
  proxy_->cut();
  std::this_thread::sleep_for(1500ms);  // the cut itself: half of the time to stand-down
  proxy_->heal();

  // Past the moment a cut-off would have begun, and past the TTL: the one
  // container kept running the whole time, and nothing started elsewhere.
  while (std::chrono::steady_clock::now() - cutAt < std::chrono::seconds(kLeaseTtl + 2)) {
    ASSERT_EQ(podman("inspect -f '{{.State.StartedAt}} {{.State.Status}}' " + container(cutNode_)),
              startedAt + " running")
        << cut_->log();
    ASSERT_EQ(podman("ps -aq --filter name=" + container(otherNode_)), "");
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_TRUE(healthyOn(cutNode_));
  EXPECT_EQ(status()->restarts, 0u);
}

TEST_F(TwoNodes, ADrainedNodesInstanceIsHealthyElsewhereBeforeItStopsThere) {
  ASSERT_NO_FATAL_FAILURE(submitOnCutNode());

  const auto drained = testing_support::runOzy(OZY_BINARY, {"node", "drain", cutNode_, "--address", other_->url()},
                                               other_->ozyEnv());
  ASSERT_EQ(drained.exitCode, 0) << drained.stderrText;
  ASSERT_TRUE(waitFor([&] { return healthyOn(otherNode_); }, 30s)) << other_->log() << cut_->log();
  const std::int64_t healthyThereMs = status()->sinceMs;
  ASSERT_TRUE(waitFor([&] { return eventTime(container(cutNode_), "died").has_value(); }, 30s)) << cut_->log();

  const std::int64_t diedHereMs = *eventTime(container(cutNode_), "died") / 1'000'000;
  EXPECT_GE(diedHereMs, healthyThereMs) << "the old instance stopped before the new one was healthy";
  RecordProperty("overlap_ms", static_cast<int>(diedHereMs - healthyThereMs));
  EXPECT_TRUE(waitFor([&] { return podman("pod ps -q --filter label=ozy.node=" + cutNode_).empty(); }, 20s));
  const auto list = testing_support::runOzy(OZY_BINARY, {"node", "list", "-o", "json", "--address", cut_->url()},
                                            cut_->ozyEnv());
  ASSERT_EQ(list.exitCode, 0) << list.stderrText;
  for (const auto& node : nlohmann::json::parse(list.stdoutText)) {
    if (node["name"] == cutNode_) {
      EXPECT_EQ(node["state"], "drained") << node.dump();
    }
  }
}

}  // namespace
}  // namespace ozy
