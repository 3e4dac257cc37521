// Rolling deploys on test-bed hosts with real agents, etcd, podman and every
// node's ingress: a new version replaces the old batch by batch with no
// failed request, a version that never gets healthy is reverted by itself,
// and a deployment outlives the agent driving it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/replacer.h"
#include "http/client.h"
#include "scheduler/keys.h"
#include "testbed/request_loop.h"
#include "testbed/testbed_cluster.h"

namespace ozy {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using node_testing::waitFor;
using testbed_testing::RequestLoop;
using testing_support::AgentProcess;

// Answers /cgi-bin/who with its version (the RELEASE variable) and its host
// name. `health` is the health check's port: 80 passes, anything else never.
std::string versionedJob(const std::string& release, int instances, const std::string& update,
                         int healthPort = 80) {
  return fmt::format(R"(name: web
numInstances: {}
update: {}
containers:
  app:
    image: localhost/ozy-test-busybox:2
    pull: never
    memory: 16M
    ports: ["80"]
    environment: {{RELEASE: "{}"}}
    command: ["sh", "-c", "mkdir -p /www/cgi-bin && printf '#!/bin/sh\nprintf \"Content-Type: text/plain\\\\r\\\\n\\\\r\\\\n\"\necho $RELEASE $(cat /etc/hostname)\n' > /www/cgi-bin/who && chmod +x /www/cgi-bin/who && exec httpd -f -p 80 -h /www"]
    healthcheck: {{type: tcp, port: {}, interval: 1s, timeout: 1s}}
    ingress: {{hosts: [web.example], port: 80}}
)",
                     instances, update, release, healthPort);
}

class DeployTest : public testbed_testing::TestBedCluster {
 protected:
  std::vector<std::string> extraAgentArgs(int i) override {
    return {"--ingress", bed_->host(i).address() + ":80", "--ingress-threads", "1",
            "--drain-delay", "1s"};
  }

  Result<http::ClientResponse, std::string> get(int i) { return getThroughIngress(i, "web.example"); }

  // `ozy job run` of a job file's text through host `via`'s agent, as a
  // user would: it follows the deployment until it ends.
  testing_support::CommandResult run(const std::string& text, int via = 1,
                                     std::vector<std::string> flags = {}) {
    const std::string file = dir_.path() + "/web-" + std::to_string(++files_) + ".yaml";
    std::ofstream(file) << text;
    AgentProcess& agent = *agents_.at(via);
    std::vector<std::string> args{"job", "run", file, "--address", agent.url()};
    args.insert(args.end(), flags.begin(), flags.end());
    return testing_support::runOzy(OZY_BINARY, args, agent.ozyEnv());
  }

  testing_support::CommandResult ozy(std::vector<std::string> args, int via = 1) {
    AgentProcess& agent = *agents_.at(via);
    args.push_back("--address");
    args.push_back(agent.url());
    return testing_support::runOzy(OZY_BINARY, args, agent.ozyEnv());
  }

  // The healthy instances' versions, as their nodes report them.
  std::map<std::uint64_t, int> healthyByVersion() {
    std::map<std::uint64_t, int> out;
    for (const auto& [id, s] : node_testing::statuses(*store_, "web")) {
      if (s.state == InstanceState::kHealthy) out[s.version]++;
    }
    return out;
  }

  std::optional<DeploymentRecord> deployment() {
    auto got = store_->get(keys::deployment("web"));
    if (!got || got->kvs.empty()) return std::nullopt;
    auto d = decodeDeployment(got->kvs.front().value);
    return d ? std::optional<DeploymentRecord>(*d) : std::nullopt;
  }

  json history() {
    auto out = ozy({"job", "history", "web", "-o", "json"});
    EXPECT_EQ(out.exitCode, 0) << out.stderrText;
    return json::parse(out.stdoutText, nullptr, false);
  }

  int files_ = 0;
};

TEST_F(DeployTest, ARollingDeployUnderLoadLosesNoRequestAndKeepsEnoughInstancesHealthy) {
  ASSERT_NO_FATAL_FAILURE(up(3));
  ASSERT_NO_FATAL_FAILURE(startAgents({1, 2, 3}));
  const std::string update = "{max_parallel: 2, min_healthy_time: 2s, healthy_deadline: 60s}";
  auto first = run(versionedJob("v1", 4, update));
  ASSERT_EQ(first.exitCode, 0) << first.stdoutText << first.stderrText;
  ASSERT_TRUE(waitFor([&] { return node_testing::allIn(*store_, "web", 4, InstanceState::kHealthy); }, 90s))
      << describe("web");
  // The first version's deployment only watches it become healthy.
  ASSERT_TRUE(waitFor([&] {
    auto d = deployment();
    return d && d->state == DeploymentState::kSucceeded;
  }, 30s)) << describe("web");
  ASSERT_TRUE(waitFor([&] {
    auto r = get(2);
    return r && r->status == 200 && r->body.starts_with("v1 ");
  }, 10s));

  std::mutex mutex;
  std::vector<std::string> failures;
  RequestLoop loop([&] {
    auto r = get(2);
    if (r && r->status == 200) return true;
    std::lock_guard lock(mutex);
    failures.push_back(r ? fmt::format("{} {}", r->status, r->body) : r.error());
    return false;
  });
  // Healthy instances, sampled every 100 ms through the rollout.
  std::atomic<bool> sampling{true};
  std::atomic<int> fewestHealthy{1000};
  std::thread sampler([&] {
    while (sampling) {
      int healthy = 0;
      for (const auto& [version, n] : healthyByVersion()) healthy += n;
      if (healthy < fewestHealthy) fewestHealthy = healthy;
      std::this_thread::sleep_for(100ms);
    }
  });
  ASSERT_TRUE(waitFor([&] { return loop.ok() > 20; }, 10s));

  const auto started = std::chrono::steady_clock::now();
  auto second = run(versionedJob("v2", 4, update));
  const auto took = std::chrono::steady_clock::now() - started;
  sampling = false;
  sampler.join();
  EXPECT_EQ(second.exitCode, 0) << second.stdoutText << second.stderrText << describe("web");
  EXPECT_THAT(second.stdoutText, ::testing::HasSubstr("succeeded"));
  RecordProperty("rollout_ms",
                 static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()));

  // Every instance answers with the new version now.
  ASSERT_TRUE(waitFor([&] { return healthyByVersion() == std::map<std::uint64_t, int>{{2, 4}}; }, 30s))
      << describe("web");
  ASSERT_TRUE(waitFor([&] { return node_testing::statuses(*store_, "web").size() == 4; }, 30s))
      << describe("web");
  std::set<std::string> answered;
  for (int k = 0; k < 16; ++k) {
    auto r = get(3);
    ASSERT_TRUE(r && r->status == 200) << (r ? r->body : r.error());
    EXPECT_TRUE(r->body.starts_with("v2 ")) << r->body;
    answered.insert(r->body);
  }
  EXPECT_EQ(answered.size(), 4u);
  loop.stop();
  RecordProperty("requests", static_cast<int>(loop.ok()));
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(loop.failed(), 0u) << (failures.empty() ? "" : failures.front()) << describe("web");
  }
  EXPECT_GE(fewestHealthy.load(), 2) << "numInstances - max_parallel";

  const json versions = history();
  ASSERT_EQ(versions.size(), 2u) << versions.dump();
  EXPECT_EQ(versions[0].value("outcome", ""), "succeeded");
  EXPECT_EQ(versions[1].value("outcome", ""), "succeeded");
  EXPECT_THAT(versions[1].value("changes", json::array()).dump(), ::testing::HasSubstr("RELEASE"));

  // The same file again: nothing happens.
  auto again = run(versionedJob("v2", 4, update));
  EXPECT_EQ(again.exitCode, 0) << again.stderrText;
  EXPECT_THAT(again.stdoutText, ::testing::HasSubstr("unchanged"));
  EXPECT_EQ(history().size(), 2u);
}

// A version whose health check never passes, with auto_revert: the
// deployment fails at its healthy deadline, the job goes back to the
// version before it (as a new version), and the history says so.
TEST_F(DeployTest, AVersionThatNeverGetsHealthyIsRevertedByItself) {
  ASSERT_NO_FATAL_FAILURE(up(2));
  ASSERT_NO_FATAL_FAILURE(startAgents({1, 2}));
  const std::string update =
      "{max_parallel: 1, min_healthy_time: 1s, healthy_deadline: 6s, progress_deadline: 30s, "
      "auto_revert: true}";
  ASSERT_EQ(run(versionedJob("v1", 2, update)).exitCode, 0);
  ASSERT_TRUE(waitFor([&] {
    auto d = deployment();
    return d && d->state == DeploymentState::kSucceeded;
  }, 90s)) << describe("web");

  const auto started = std::chrono::steady_clock::now();
  auto broken = run(versionedJob("v2", 2, update, 81));
  EXPECT_EQ(broken.exitCode, 7) << broken.stdoutText << broken.stderrText;
  EXPECT_THAT(broken.stdoutText, ::testing::HasSubstr("reverting"));
  const auto failedAfter = std::chrono::steady_clock::now() - started;
  EXPECT_LT(failedAfter, 20s) << "within its healthy deadline and a few looks";

  // Version 3 brings back version 1, and its deployment succeeds.
  ASSERT_TRUE(waitFor([&] {
    auto d = deployment();
    return d && d->version == 3 && d->state == DeploymentState::kSucceeded;
  }, 60s)) << describe("web");
  EXPECT_EQ(deployment()->revertsFailed, 2u);
  ASSERT_TRUE(waitFor([&] { return healthyByVersion() == std::map<std::uint64_t, int>{{3, 2}}; }, 30s))
      << describe("web");
  ASSERT_TRUE(waitFor([&] {
    auto r = get(1);
    return r && r->status == 200 && r->body.starts_with("v1 ");
  }, 10s));
  const json versions = history();
  ASSERT_EQ(versions.size(), 3u) << versions.dump();
  EXPECT_EQ(versions[1].value("outcome", ""), "failed");
  EXPECT_EQ(versions[2].value("revertOf", 0), 1);
  EXPECT_EQ(versions[2].value("outcome", ""), "succeeded");
}

// The agent driving a deployment dies mid-way: another one finishes it.
TEST_F(DeployTest, ADeploymentOutlivesTheAgentDrivingIt) {
  ASSERT_NO_FATAL_FAILURE(up(3));
  ASSERT_NO_FATAL_FAILURE(startAgents({1, 2, 3}));
  const std::string update = "{max_parallel: 1, min_healthy_time: 2s, healthy_deadline: 60s}";
  ASSERT_EQ(run(versionedJob("v1", 3, update)).exitCode, 0);
  ASSERT_TRUE(waitFor([&] {
    auto d = deployment();
    return d && d->state == DeploymentState::kSucceeded;
  }, 90s)) << describe("web");
  // Who drives it: the first of the live nodes for the job.
  const std::vector<std::string> live{node(1), node(2), node(3)};
  int driver = 0;
  for (int i = 1; i <= 3; ++i) {
    if (rankFor("web", node(i), live) == 0) driver = i;
  }
  ASSERT_NE(driver, 0);
  const int via = driver == 1 ? 2 : 1;
  auto started = run(versionedJob("v2", 3, update), via, {"--detach"});
  ASSERT_EQ(started.exitCode, 0) << started.stderrText;
  // Once its first batch is done, the driver is SIGKILLed.
  ASSERT_TRUE(waitFor([&] {
    auto d = deployment();
    return d && d->batchesDone >= 1;
  }, 60s)) << describe("web");
  const auto killedAt = std::chrono::steady_clock::now();
  agents_.at(driver)->kill();
  ASSERT_TRUE(waitFor([&] {
    auto d = deployment();
    return d && d->state == DeploymentState::kSucceeded;
  }, 90s)) << describe("web");
  RecordProperty("finished_after_kill_ms",
                 static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::steady_clock::now() - killedAt)
                                      .count()));
  // Every instance runs version 2, the dead node's re-placed elsewhere.
  ASSERT_TRUE(waitFor([&] { return healthyByVersion() == std::map<std::uint64_t, int>{{2, 3}}; }, 60s))
      << describe("web");
}

// Canaries wait for promote; recreate stops the old first; a revert by
// hand, a count-only change and an ingress change need no new pods.
TEST_F(DeployTest, CanaryThenPromoteRecreateRevertByHandAndChangesWithoutNewPods) {
  ASSERT_NO_FATAL_FAILURE(up(2));
  ASSERT_NO_FATAL_FAILURE(startAgents({1, 2}));
  const std::string canary = "{canary: 1, max_parallel: 2, min_healthy_time: 1s, healthy_deadline: 60s}";
  ASSERT_EQ(run(versionedJob("v1", 2, canary)).exitCode, 0);
  ASSERT_TRUE(waitFor([&] {
    auto d = deployment();
    return d && d->state == DeploymentState::kSucceeded;
  }, 90s)) << describe("web");

  // The canary: one v2 instance beside the two v1, then a pause.
  auto paused = run(versionedJob("v2", 2, canary));
  ASSERT_EQ(paused.exitCode, 0) << paused.stdoutText << paused.stderrText;
  EXPECT_THAT(paused.stdoutText, ::testing::HasSubstr("ozy job promote web"));
  ASSERT_EQ(deployment()->state, DeploymentState::kPaused);
  EXPECT_EQ(healthyByVersion(), (std::map<std::uint64_t, int>{{1, 2}, {2, 1}}));
  auto promoted = ozy({"job", "promote", "web"});
  ASSERT_EQ(promoted.exitCode, 0) << promoted.stderrText;
  ASSERT_TRUE(waitFor([&] {
    auto d = deployment();
    return d && d->state == DeploymentState::kSucceeded;
  }, 60s)) << describe("web");
  ASSERT_TRUE(waitFor([&] { return healthyByVersion() == std::map<std::uint64_t, int>{{2, 2}}; }, 30s))
      << describe("web");
  auto again = ozy({"job", "promote", "web"});
  EXPECT_EQ(again.exitCode, 4) << "nothing to promote: " << again.stderrText;

  // Recreate: no v2 instance is left when the first v3 one is placed.
  const std::string recreate = "{strategy: recreate, min_healthy_time: 1s, healthy_deadline: 60s}";
  std::atomic<bool> watching{true};
  std::atomic<bool> mixed{false};
  std::thread watcher([&] {
    while (watching) {
      std::set<std::uint64_t> versions;
      for (const auto& [id, s] : node_testing::statuses(*store_, "web")) {
        if (s.state != InstanceState::kStopping) versions.insert(s.version);
      }
      if (versions.contains(2) && versions.contains(3)) mixed = true;
      std::this_thread::sleep_for(50ms);
    }
  });
  auto recreated = run(versionedJob("v3", 2, recreate));
  watching = false;
  watcher.join();
  EXPECT_EQ(recreated.exitCode, 0) << recreated.stdoutText << recreated.stderrText;
  EXPECT_FALSE(mixed) << "recreate ran v2 and v3 side by side";
  ASSERT_TRUE(waitFor([&] { return healthyByVersion() == std::map<std::uint64_t, int>{{3, 2}}; }, 30s))
      << describe("web");

  // A count-only change is a scale: no new version.
  auto scaled = run(versionedJob("v3", 3, recreate));
  ASSERT_EQ(scaled.exitCode, 0) << scaled.stderrText;
  EXPECT_THAT(scaled.stdoutText, ::testing::HasSubstr("scaled"));
  ASSERT_TRUE(waitFor([&] { return healthyByVersion() == std::map<std::uint64_t, int>{{3, 3}}; }, 60s))
      << describe("web");

  // Revert by hand to version 1: a new version 4 running v1's containers
  // and update section (a canary, promoted here), keeping today's count of 3.
  auto reverted = ozy({"job", "revert", "web", "1"});
  ASSERT_EQ(reverted.exitCode, 0) << reverted.stdoutText << reverted.stderrText;
  EXPECT_THAT(reverted.stdoutText, ::testing::HasSubstr("ozy job promote web"));
  ASSERT_EQ(ozy({"job", "promote", "web"}).exitCode, 0);
  ASSERT_TRUE(waitFor([&] { return healthyByVersion() == std::map<std::uint64_t, int>{{4, 3}}; }, 60s))
      << describe("web");
  ASSERT_TRUE(waitFor([&] {
    auto r = get(2);
    return r && r->status == 200 && r->body.starts_with("v1 ");
  }, 10s));
  const json versions = history();
  ASSERT_EQ(versions.size(), 4u) << versions.dump();
  EXPECT_EQ(versions[3].value("revertOf", 0), 1);
  auto missing = ozy({"job", "revert", "web", "99"});
  EXPECT_EQ(missing.exitCode, 4) << missing.stderrText;
  EXPECT_THAT(missing.stderrText, ::testing::HasSubstr("no version 99"));
}

}  // namespace
}  // namespace ozy
