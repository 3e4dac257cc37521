// A cluster on test-bed hosts (scripts/testbed.sh, support/testbed.h): a real
// etcd on the bridge, a real agent in each host's network namespace, each
// with its own podman. Tests derive from TestBedCluster and start the
// agents they need; everything is torn down even when a test fails.
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "http/client.h"
#include "node/node_test_support.h"
#include "store/etcd_store.h"
#include "support/agent_process.h"
#include "support/etcd_process.h"
#include "support/temp_dir.h"
#include "support/test_image.h"
#include "support/testbed.h"

namespace ozy::testbed_testing {

using testing_support::AgentProcess;
using testing_support::EtcdProcess;
using testing_support::TempDir;
using testing_support::TestBed;

class TestBedCluster : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the test bed needs root";
    if (!testing_support::testImageOnce().empty()) GTEST_SKIP() << testing_support::testImageOnce();
  }

  void TearDown() override {
    agents_.clear();  // SIGKILL; the test bed's down ends what they left
    if (bed_) {
      auto down = bed_->down();
      EXPECT_TRUE(down) << down.error();
    }
  }

  void up(int hosts) {
    auto bed = TestBed::up(hosts);
    ASSERT_TRUE(bed) << bed.error();
    bed_ = std::move(bed).value();
    testing_support::EtcdProcessOptions options;
    options.alsoListenOn = bed_->bridgeAddress();
    auto etcd = EtcdProcess::start(options);
    ASSERT_TRUE(etcd) << etcd.error();
    etcd_ = std::move(etcd).value();
    EtcdConfig config;
    config.endpoints = {etcd_->endpoint()};
    auto store = EtcdStore::create(config);
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(store).value();
    std::ofstream(dir_.path() + "/token") << "pod-network-test-token\n";
    ::chmod((dir_.path() + "/token").c_str(), 0600);
    for (int i = 1; i <= hosts; ++i) {
      auto copied = bed_->copyImage(testing_support::kTestImage, i);
      ASSERT_TRUE(copied) << copied.error();
    }
  }

  std::string node(int i) const { return fmt::format("h{}", i); }

  testing_support::AgentOptions agentOptions(int i) {
    const std::string address = bed_->host(i).address();
    testing_support::AgentOptions o;
    o.binary = OZY_BINARY;
    o.node = node(i);
    o.etcd = etcd_->endpointAt(bed_->bridgeAddress());
    o.dataDir = dir_.path() + "/" + node(i);
    std::filesystem::create_directories(o.dataDir);
    o.runtime = "podman";
    o.memory = "2G";
    o.leaseTtl = 4;  // a dead host's instances move within seconds
    o.wrapper = bed_->commandIn(i);
    o.extraArgs = {"--address", address, "--listen", address + ":7700", "--insecure-http",
                   "--insecure-etcd", "--pod-network", "auto", "--token-file", dir_.path() + "/token",
                   "--containers-conf", testing_support::projectContainersConf(), "--dns", address + ":53",
                   "--stop-grace", "1", "--resync", "1s", "--replace-interval", "200ms"};
    const auto more = extraAgentArgs(i);
    o.extraArgs.insert(o.extraArgs.end(), more.begin(), more.end());
    return o;
  }

  // GET `path` with Host `host` through host i's ingress on port 80, from
  // this process (the bridge reaches every host).
  Result<http::ClientResponse, std::string> getThroughIngress(int i, const std::string& host,
                                                              const std::string& path = "/cgi-bin/who") {
    http::HttpClientConfig config;
    config.baseUrl = "http://" + bed_->host(i).address() + ":80";
    config.deadline = std::chrono::seconds(5);
    auto client = http::HttpClient::create(config);
    if (!client) return fail(client.error());
    http::ClientRequest request;
    request.path = path;
    request.headers.set("Host", host);
    return client->send(request);
  }

  // Flags a test's agents get besides the common ones.
  virtual std::vector<std::string> extraAgentArgs(int /*host*/) { return {}; }

  // Submits a job file's text through host 1's agent.
  void submit(const std::string& name, const std::string& text) {
    const std::string file = dir_.path() + "/" + name + ".yaml";
    std::ofstream(file) << text;
    AgentProcess& first = *agents_.begin()->second;
    auto submitted = testing_support::runOzy(OZY_BINARY, {"job", "run", file, "--address", first.url()}, first.ozyEnv());
    ASSERT_EQ(submitted.exitCode, 0) << submitted.stdoutText << submitted.stderrText;
  }

  // Starts the agents of `hosts` at once (from this thread: they die with it).
  void startAgents(const std::vector<int>& hosts) {
    std::vector<testing_support::AgentOptions> options;
    for (int i : hosts) options.push_back(agentOptions(i));
    auto started = AgentProcess::startAll(options);
    ASSERT_TRUE(started) << started.error();
    for (std::size_t k = 0; k < hosts.size(); ++k) agents_[hosts[k]] = std::move((*started)[k]);
  }

  std::string describe(const std::string& job) {
    std::string out;
    for (const auto& [id, s] : node_testing::statuses(*store_, job)) {
      out += fmt::format("#{} on {}: {} {} ({})\n", id, s.node, toString(s.state), s.podIp, s.reason);
    }
    for (const auto& [i, agent] : agents_) out += fmt::format("\n{} log:\n{}", node(i), agent->log());
    return out;
  }

  TempDir dir_;
  std::unique_ptr<TestBed> bed_;
  std::unique_ptr<EtcdProcess> etcd_;
  std::unique_ptr<EtcdStore> store_;
  std::map<int, std::unique_ptr<AgentProcess>> agents_;
};

}  // namespace ozy::testbed_testing
