// Every node's ingress, on test-bed hosts with real agents, etcd and podman:
// routing by Host from any node to instances on any node, balancing, no
// failed request while a job scales down under load, and serving on while
// etcd is frozen.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "http/client.h"
#include "testbed/request_loop.h"
#include "testbed/testbed_cluster.h"

namespace ozy {
namespace {

using namespace std::chrono_literals;
using node_testing::waitFor;
using testing_support::AgentProcess;
using testbed_testing::RequestLoop;

// Answers /cgi-bin/who with the job's name and the pod's host name, which
// tells the instances apart. The CGI header ends its lines in CRLF: a bare
// LF is not HTTP/1.1, and the ingress's parser refuses it.
std::string webJob(const std::string& name, int instances, const std::string& ingress) {
  return fmt::format(R"(name: {}
numInstances: {}
containers:
  app:
    image: localhost/ozy-test-busybox:2
    pull: never
    memory: 16M
    ports: ["80"]
    command: ["sh", "-c", "mkdir -p /www/cgi-bin && printf '#!/bin/sh\nprintf \"Content-Type: text/plain\\\\r\\\\n\\\\r\\\\n\"\necho {} $(cat /etc/hostname)\n' > /www/cgi-bin/who && chmod +x /www/cgi-bin/who && exec httpd -f -p 80 -h /www"]
    healthcheck: {{type: tcp, port: 80, interval: 1s, timeout: 1s}}
{})",
                     name, instances, name, ingress);
}

class IngressTest : public testbed_testing::TestBedCluster {
 protected:
  std::vector<std::string> extraAgentArgs(int i) override {
    return {"--ingress", bed_->host(i).address() + ":80", "--ingress-threads", "2"};
  }

  Result<http::ClientResponse, std::string> get(int i, const std::string& host) {
    return getThroughIngress(i, host);
  }
};

TEST_F(IngressTest, EveryNodesIngressRoutesByHostToTheJobAndBalancesOverItsInstances) {
  ASSERT_NO_FATAL_FAILURE(up(3));
  ASSERT_NO_FATAL_FAILURE(startAgents({1, 2, 3}));
  ASSERT_NO_FATAL_FAILURE(submit("web", webJob("web", 3, "    ingress: {hosts: [web.example]}")));
  // No ingress section: the one container publishing a port gets <job>.<domain>.
  ASSERT_NO_FATAL_FAILURE(submit("api", webJob("api", 1, "")));
  ASSERT_TRUE(waitFor([&] { return node_testing::allIn(*store_, "web", 3, InstanceState::kHealthy); }, 90s))
      << describe("web");
  ASSERT_TRUE(waitFor([&] { return node_testing::allIn(*store_, "api", 1, InstanceState::kHealthy); }, 90s))
      << describe("api");

  for (int i = 1; i <= 3; ++i) {
    SCOPED_TRACE(fmt::format("through {}'s ingress", node(i)));
    // The route table reaches every ingress through its watch.
    std::string last;
    ASSERT_TRUE(waitFor([&] {
      auto r = get(i, "web.example");
      last = r ? fmt::format("{} {}", r->status, r->body) : r.error();
      return r && r->status == 200;
    }, 10s)) << last << "\n" << describe("web");
    std::set<std::string> answered;
    for (int k = 0; k < 12; ++k) {
      auto r = get(i, "web.example");
      ASSERT_TRUE(r) << r.error();
      ASSERT_EQ(r->status, 200) << r->body;
      ASSERT_TRUE(r->body.starts_with("web ")) << r->body;
      answered.insert(r->body);
    }
    EXPECT_EQ(answered.size(), 3u) << "round robin reaches every instance, on every host";
    auto api = get(i, "API.ozy.local:80");
    ASSERT_TRUE(api) << api.error();
    EXPECT_EQ(api->status, 200);
    EXPECT_TRUE(api->body.starts_with("api ")) << api->body;
    auto unknown = get(i, "nobody.example");
    ASSERT_TRUE(unknown) << unknown.error();
    EXPECT_EQ(unknown->status, 404);
    EXPECT_EQ(nlohmann::json::parse(unknown->body).value("type", ""), "/docs/errors.md#unknown-host");
  }
}

TEST_F(IngressTest, AScaleDownUnderLoadLosesNoRequestAndAScaleUpGetsTrafficAtOnce) {
  ASSERT_NO_FATAL_FAILURE(up(3));
  ASSERT_NO_FATAL_FAILURE(startAgents({1, 2, 3}));
  ASSERT_NO_FATAL_FAILURE(submit("web", webJob("web", 3, "    ingress: {hosts: [web.example]}")));
  ASSERT_TRUE(waitFor([&] { return node_testing::allIn(*store_, "web", 3, InstanceState::kHealthy); }, 90s))
      << describe("web");
  ASSERT_TRUE(waitFor([&] {
    auto r = get(2, "web.example");
    return r && r->status == 200;
  }, 10s));

  std::mutex mutex;
  std::vector<std::string> failures;
  RequestLoop loop([&] {
    auto r = get(2, "web.example");
    if (r && r->status == 200) return true;
    std::lock_guard lock(mutex);
    failures.push_back(r ? fmt::format("{} {}", r->status, r->body) : r.error());
    return false;
  });
  ASSERT_TRUE(waitFor([&] { return loop.ok() > 20; }, 10s));
  AgentProcess& first = *agents_.at(1);
  auto scaled = testing_support::runOzy(OZY_BINARY, {"job", "scale", "web", "1", "--address", first.url()},
                                        first.ozyEnv());
  ASSERT_EQ(scaled.exitCode, 0) << scaled.stdoutText << scaled.stderrText;
  ASSERT_TRUE(waitFor([&] { return node_testing::statuses(*store_, "web").size() == 1; }, 30s)) << describe("web");
  const std::uint64_t before = loop.ok();
  ASSERT_TRUE(waitFor([&] { return loop.ok() > before + 20; }, 10s));

  // Back to 3: the new instances answer soon after they are healthy.
  scaled = testing_support::runOzy(OZY_BINARY, {"job", "scale", "web", "3", "--address", first.url()},
                                   first.ozyEnv());
  ASSERT_EQ(scaled.exitCode, 0) << scaled.stdoutText << scaled.stderrText;
  ASSERT_TRUE(waitFor([&] { return node_testing::allIn(*store_, "web", 3, InstanceState::kHealthy); }, 60s))
      << describe("web");
  const auto healthyAt = std::chrono::steady_clock::now();
  std::set<std::string> answered;
  ASSERT_TRUE(waitFor([&] {
    auto r = get(3, "web.example");
    if (r && r->status == 200) answered.insert(r->body);
    return answered.size() == 3;
  }, 10s));
  RecordProperty("all_three_answering_after_healthy_ms",
                 static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                      std::chrono::steady_clock::now() - healthyAt)
                                      .count()));
  loop.stop();
  RecordProperty("requests", static_cast<int>(loop.ok()));
  std::lock_guard lock(mutex);
  EXPECT_EQ(loop.failed(), 0u) << (failures.empty() ? "" : failures.front()) << describe("web");
}

TEST_F(IngressTest, WithEtcdFrozenTheIngressKeepsServingItsLastRoutes) {
  ASSERT_NO_FATAL_FAILURE(up(2));
  ASSERT_NO_FATAL_FAILURE(startAgents({1, 2}));
  ASSERT_NO_FATAL_FAILURE(submit("web", webJob("web", 2, "    ingress: {hosts: [web.example]}")));
  ASSERT_TRUE(waitFor([&] { return node_testing::allIn(*store_, "web", 2, InstanceState::kHealthy); }, 90s))
      << describe("web");
  ASSERT_TRUE(waitFor([&] {
    auto r = get(1, "web.example");
    return r && r->status == 200;
  }, 10s));
  // Frozen for less than the lease TTL of 4 s, so no node counts as lost.
  ASSERT_EQ(::kill(etcd_->pid(), SIGSTOP), 0);
  const auto until = std::chrono::steady_clock::now() + 3s;
  int served = 0;
  std::string failure;
  while (std::chrono::steady_clock::now() < until) {
    for (int i = 1; i <= 2; ++i) {
      auto r = get(i, "web.example");
      if (r && r->status == 200) {
        ++served;
      } else if (failure.empty()) {
        failure = r ? r->body : r.error();
      }
    }
  }
  ::kill(etcd_->pid(), SIGCONT);
  EXPECT_TRUE(failure.empty()) << failure;
  EXPECT_GT(served, 10);
}

TEST_F(IngressTest, AKilledInstanceCostsClientsNothingAndATcpRouteReachesTheJobFromEveryNode) {
  ASSERT_NO_FATAL_FAILURE(up(3));
  ASSERT_NO_FATAL_FAILURE(startAgents({1, 2, 3}));
  ASSERT_NO_FATAL_FAILURE(
      submit("web", webJob("web", 3, "    ingress: {hosts: [web.example], port: 80, tcp: 9080}")));
  ASSERT_TRUE(waitFor([&] { return node_testing::allIn(*store_, "web", 3, InstanceState::kHealthy); }, 90s))
      << describe("web");
  // The TCP route, byte for byte: an HTTP exchange through port 9080 of
  // every host, from another host.
  for (int i = 1; i <= 3; ++i) {
    const int from = i % 3 + 1;
    std::string out;
    EXPECT_TRUE(waitFor([&] {
      const auto fetched = bed_->run(from, {"curl", "-s", "--max-time", "3",
                                            fmt::format("http://{}:9080/cgi-bin/who", bed_->host(i).address())});
      out = fetched.output;
      return fetched.exitCode == 0 && out.starts_with("web ");
    }, 10s)) << node(i) << ": " << out;
  }

  ASSERT_TRUE(waitFor([&] {
    auto r = get(1, "web.example");
    return r && r->status == 200;
  }, 10s));
  std::mutex mutex;
  std::vector<std::string> failures;
  RequestLoop loop([&] {
    auto r = get(1, "web.example");
    if (r && r->status == 200) return true;
    std::lock_guard lock(mutex);
    failures.push_back(r ? fmt::format("{} {}", r->status, r->body) : r.error());
    return false;
  });
  ASSERT_TRUE(waitFor([&] { return loop.ok() > 20; }, 10s));
  // Host 3's instance dies (its container killed): until its health check
  // says so, the ingress meets refused connections there and goes to the
  // others; then it is out of the table.
  std::uint32_t victim = 0;
  for (const auto& [id, s] : node_testing::statuses(*store_, "web")) {
    if (s.node == node(3)) victim = id;
  }
  const auto killed = bed_->run(3, {"podman", "kill", fmt::format("ozy-web-{}.{}.app", victim, node(3))});
  ASSERT_EQ(killed.exitCode, 0) << killed.output;
  ASSERT_TRUE(waitFor([&] {
    auto s = node_testing::statuses(*store_, "web");
    return s.contains(victim) && s.at(victim).state != InstanceState::kHealthy;
  }, 30s)) << describe("web");
  const std::uint64_t seen = loop.ok();
  ASSERT_TRUE(waitFor([&] { return loop.ok() > seen + 20; }, 10s));
  loop.stop();
  std::lock_guard lock(mutex);
  EXPECT_EQ(loop.failed(), 0u) << (failures.empty() ? "" : failures.front());
  RecordProperty("requests", static_cast<int>(loop.ok()));
}

}  // namespace
}  // namespace ozy
