// The control plane against the real thing: a private etcd, real `ozy agent`
// processes, real HTTP. Each test starts what it needs and tears it down,
// failed or not.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "http/client.h"
#include "support/agent_process.h"
#include "scheduler/keys.h"
#include "scheduler/records.h"
#include "store/etcd_store.h"
#include "support/etcd_process.h"
#include "support/etcd_with_store.h"
#include "support/temp_dir.h"

namespace ozy {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using testing_support::AgentOptions;
using testing_support::AgentProcess;
using testing_support::EtcdProcess;
using testing_support::runOzy;
using testing_support::TempDir;

// Every agent of a cluster takes the same token, as in a real one.
constexpr const char* kClusterToken = "cluster-test-token";

class Cluster : public testing_support::EtcdStoreTest {
 protected:

  AgentProcess& startAgent(const std::string& node, const std::string& memory = "4G",
                           int leaseTtl = 10, std::vector<std::string> extra = {}) {
    const std::string dir = tmp_.path() + "/" + node;
    std::filesystem::create_directories(dir);
    const std::string tokenFile = tmp_.path() + "/token";
    if (!std::filesystem::exists(tokenFile)) {
      std::ofstream(tokenFile) << kClusterToken << "\n";
      std::filesystem::permissions(tokenFile, std::filesystem::perms::owner_read |
                                                  std::filesystem::perms::owner_write);
    }
    extra.insert(extra.end(), {"--token-file", tokenFile});
    auto agent = AgentProcess::start(
        AgentOptions{OZY_BINARY, node, etcd_->endpoint(), memory, "100G", dir, leaseTtl, std::move(extra), "none", {}});
    EXPECT_TRUE(agent.ok()) << agent.error();
    if (!agent.ok()) throw std::runtime_error(agent.error());
    agents_.push_back(std::move(agent).value());
    return *agents_.back();
  }

  static http::ClientResponse send(const std::string& url, const std::string& method,
                                   const std::string& path, const std::string& body = "") {
    http::HttpClientConfig config;
    config.baseUrl = url;
    config.bearerToken = kClusterToken;
    config.deadline = std::chrono::seconds(30);
    auto client = http::HttpClient::create(config);
    EXPECT_TRUE(client.ok());
    http::Headers headers;
    if (!body.empty()) headers.add("Content-Type", "application/yaml");
    http::ClientRequest request{method, path, std::move(headers), body};
    auto response = client->send(request);
    EXPECT_TRUE(response.ok()) << (response.ok() ? "" : response.error());
    return response.ok() ? *response : http::ClientResponse{};
  }

  std::vector<std::string> liveNodes(const std::string& url) {
    std::vector<std::string> names;
    const auto r = send(url, "GET", "/v1/nodes");
    for (const auto& n : json::parse(r.body)) names.push_back(n["name"]);
    return names;
  }

  TempDir tmp_;
  std::vector<std::unique_ptr<AgentProcess>> agents_;
};

std::string jobFile(const std::string& name, int instances, const std::string& memory,
                    bool hostPort) {
  std::string text = "name: " + name + "\nnumInstances: " + std::to_string(instances) +
                     "\ncontainers:\n  app:\n    image: busybox\n    memory: " + memory + "\n";
  if (hostPort) text += "    ports: [\"8080:80\"]\n";
  return text;
}

TEST_F(Cluster, ConcurrentSubmissionsThroughThreeAgentsNeverOvercommitANode) {
  const std::vector<std::string> urls = {startAgent("node-1").url(), startAgent("node-2").url(),
                                         startAgent("node-3").url()};

  // 50 jobs asking for about 100G on a 12G cluster; every fifth publishes
  // host port 8080, which three nodes can give at most three instances of.
  constexpr int kJobs = 50;
  std::vector<http::ClientResponse> responses(kJobs);
  std::vector<std::thread> threads;
  std::atomic<int> ready{0};
  for (int i = 0; i < kJobs; ++i) {
    threads.emplace_back([&, i] {
      ++ready;
      while (ready.load() < kJobs) std::this_thread::yield();
      responses[i] = send(urls[i % 3], "POST", "/v1/jobs",
                          jobFile("job-" + std::to_string(i), 1 + i % 3, "1G", i % 5 == 0));
    });
  }
  for (auto& t : threads) t.join();

  std::set<std::string> accepted;
  for (int i = 0; i < kJobs; ++i) {
    const auto& r = responses[i];
    const json body = json::parse(r.body, nullptr, false);
    if (r.status == 201) {
      accepted.insert("job-" + std::to_string(i));
    } else {
      EXPECT_EQ(r.status, 422) << r.body;
      EXPECT_THAT(body.value("type", ""), HasSubstr("#insufficient-")) << r.body;
      EXPECT_EQ(body.value("job", ""), "job-" + std::to_string(i));
    }
  }
  EXPECT_GE(accepted.size(), 3u);
  EXPECT_LT(accepted.size(), static_cast<std::size_t>(kJobs));

  // Now from etcd directly: the jobs stored are exactly the accepted ones,
  // and no node holds more than its capacity or a host port twice.
  auto jobs = store_->getPrefix(std::string(keys::kJobs));
  ASSERT_TRUE(jobs.ok());
  std::set<std::string> stored;
  std::map<std::string, std::uint32_t> wanted;
  for (const auto& kv : jobs->kvs) {
    auto record = decodeJob(kv.value);
    ASSERT_TRUE(record.ok()) << record.error();
    stored.insert(record->spec.name);
    wanted[record->spec.name] = record->spec.numInstances;
  }
  EXPECT_EQ(stored, accepted);

  auto nodes = store_->getPrefix(std::string(keys::kNodes));
  ASSERT_TRUE(nodes.ok());
  std::map<std::string, Resources> capacity;
  for (const auto& kv : nodes->kvs) {
    auto n = decodeNode(kv.value);
    ASSERT_TRUE(n.ok());
    capacity[n->name] = n->capacity;
  }
  ASSERT_EQ(capacity.size(), 3u);
  auto assignments = store_->getPrefix(std::string(keys::kAssignments));
  ASSERT_TRUE(assignments.ok());
  std::map<std::string, Resources> used;
  std::map<std::string, std::multiset<HostPort>> ports;
  std::map<std::string, std::uint32_t> placed;
  for (const auto& kv : assignments->kvs) {
    auto groups = decodeAssignments(kv.value);
    ASSERT_TRUE(groups.ok());
    const std::string rest(keys::nameUnder(kv.key, keys::kAssignments));
    const std::string node = rest.substr(0, rest.find('/'));
    for (const Assignment& group : *groups) {
      const Assignment* a = &group;
      const auto n = static_cast<Bytes>(a->instances.size());
      used[node].memory += a->perInstance.memory * n;
      used[node].disk += a->perInstance.disk * n;
      for (const auto& p : a->hostPorts) {
        for (Bytes i = 0; i < n; ++i) ports[node].insert(p);
      }
      placed[a->job] += static_cast<std::uint32_t>(n);
    }
  }
  for (const auto& [node, u] : used) {
    ASSERT_TRUE(capacity.contains(node)) << node;
    EXPECT_LE(u.memory, capacity[node].memory) << node;
    EXPECT_LE(u.disk, capacity[node].disk) << node;
    for (const auto& p : ports[node]) EXPECT_EQ(ports[node].count(p), 1u) << node << " " << toString(p);
    // The usage fence key agrees with the assignments it sums.
    auto usage = store_->get(keys::usage(node));
    ASSERT_TRUE(usage.ok() && !usage->kvs.empty());
    EXPECT_EQ(decodeUsage(usage->kvs[0].value)->used, u) << node;
  }
  EXPECT_EQ(placed, wanted) << "every accepted job has all its instances placed";
}

TEST_F(Cluster, AKilledAgentLeavesTheNodeListWithinItsLeaseTtl) {
  AgentProcess& survivor = startAgent("survivor");
  AgentProcess& victim = startAgent("victim", "4G", 3);
  ASSERT_THAT(liveNodes(survivor.url()), ::testing::UnorderedElementsAre("survivor", "victim"));

  const auto killedAt = std::chrono::steady_clock::now();
  victim.kill();
  std::chrono::milliseconds gone{-1};
  while (std::chrono::steady_clock::now() - killedAt < std::chrono::seconds(15)) {
    const auto names = liveNodes(survivor.url());
    if (std::find(names.begin(), names.end(), "victim") == names.end()) {
      gone = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killedAt);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  ASSERT_GE(gone.count(), 0) << "the killed node never left the list";
  // The lease may have been renewed just before the kill: TTL, plus etcd's
  // expiry check (every 500 ms) and one poll.
  EXPECT_LE(gone.count(), 3000 + 1000) << "left after " << gone.count() << " ms";
  RecordProperty("node_gone_after_ms", static_cast<int>(gone.count()));
}

TEST_F(Cluster, AStoppedAgentIsNotANodeLeavingAndItsSuccessorResumesTheLease) {
  AgentProcess& survivor = startAgent("survivor");
  AgentProcess& restarted = startAgent("restarted");
  auto node = store_->get(keys::node("restarted"));
  ASSERT_TRUE(node.ok() && !node->kvs.empty());
  const std::int64_t lease = node->kvs[0].lease;

  EXPECT_EQ(restarted.terminate(), 0);
  EXPECT_THAT(liveNodes(survivor.url()), ::testing::UnorderedElementsAre("survivor", "restarted"))
      << "SIGTERM must not revoke the lease";
  startAgent("restarted");

  auto again = store_->get(keys::node("restarted"));
  ASSERT_TRUE(again.ok() && !again->kvs.empty());
  EXPECT_EQ(again->kvs[0].lease, lease) << "the next agent resumes the same lease";
}

TEST_F(Cluster, SubmitStatusScaleStopThroughTheApi) {
  AgentProcess& a = startAgent("node-1", "8G");
  startAgent("node-2", "8G");
  auto created = send(a.url(), "POST", "/v1/jobs", jobFile("web", 2, "1G", true));
  ASSERT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(created.headers.get("Location").value_or(""), "/v1/jobs/web");

  // The same file again changes nothing.
  auto same = send(a.url(), "POST", "/v1/jobs", jobFile("web", 2, "1G", true));
  ASSERT_EQ(same.status, 200) << same.body;
  EXPECT_EQ(json::parse(same.body).value("change", ""), "unchanged");
  EXPECT_EQ(json::parse(same.body).value("version", 0), 1);

  auto status = json::parse(send(a.url(), "GET", "/v1/jobs/web").body);
  ASSERT_EQ(status["instances"].size(), 2u);
  EXPECT_NE(status["instances"][0]["node"], status["instances"][1]["node"]);

  auto tooMany = send(a.url(), "POST", "/v1/jobs/web/scale", R"({"numInstances": 3})");
  EXPECT_EQ(tooMany.status, 422) << "host port 8080 is free on two nodes only";
  EXPECT_THAT(json::parse(tooMany.body).value("type", ""), HasSubstr("#insufficient-ports"));

  auto down = send(a.url(), "POST", "/v1/jobs/web/scale", R"({"numInstances": 1})");
  ASSERT_EQ(down.status, 200) << down.body;
  EXPECT_EQ(json::parse(down.body)["removedInstances"].size(), 1u);

  auto stopped = send(a.url(), "DELETE", "/v1/jobs/web");
  EXPECT_EQ(stopped.status, 200);
  EXPECT_EQ(send(a.url(), "GET", "/v1/jobs/web").status, 404);
  auto usage = store_->getPrefix(std::string(keys::kUsage));
  ASSERT_TRUE(usage.ok());
  for (const auto& kv : usage->kvs) EXPECT_EQ(*decodeUsage(kv.value), UsageRecord{}) << kv.key;
}

TEST_F(Cluster, StatusShowsNodesJobsHealthyOfWantedAndDeploymentsUnderWay) {
  AgentProcess& a = startAgent("node-1", "8G");
  startAgent("node-2", "8G");
  ASSERT_EQ(send(a.url(), "POST", "/v1/jobs", jobFile("web", 2, "1G", false)).status, 201);
  ASSERT_EQ(send(a.url(), "POST", "/v1/jobs", jobFile("db", 1, "2G", false)).status, 201);
  // Nothing runs on these nodes (--runtime none): the reports are written by hand.
  const auto web = json::parse(send(a.url(), "GET", "/v1/jobs/web").body);
  for (const auto& i : web["instances"]) {
    InstanceStatus report;
    report.node = i["node"].get<std::string>();
    report.state = i["id"] == 0 ? InstanceState::kHealthy : InstanceState::kUnhealthy;
    ASSERT_TRUE(store_->put(keys::status("web", i["id"].get<std::uint32_t>()), encode(report)).ok());
  }

  const auto overview = json::parse(send(a.url(), "GET", "/v1/status").body);
  EXPECT_EQ(overview["nodes"].size(), 2u);
  ASSERT_EQ(overview["jobs"].size(), 2u);
  EXPECT_EQ(overview["jobs"][1]["name"], "web");
  EXPECT_EQ(overview["jobs"][1]["instancesByState"], json::parse(R"({"healthy": 1, "unhealthy": 1})"));
  // A new job's first version is watched by a deployment until it is healthy.
  EXPECT_EQ(overview["jobs"][1]["deployment"]["state"], "running");

  const auto shown = runOzy(OZY_BINARY, {"status", "--address", a.url()}, a.ozyEnv());
  ASSERT_EQ(shown.exitCode, 0) << shown.stderrText;
  EXPECT_THAT(shown.stdoutText, HasSubstr("2 nodes (2 ready), 2 jobs"));
  EXPECT_THAT(shown.stdoutText, HasSubstr("node-2"));
  EXPECT_THAT(shown.stdoutText, ::testing::ContainsRegex("web +1 +1/2 +0 +1 unhealthy +version 1 running"));
  EXPECT_THAT(shown.stdoutText, ::testing::ContainsRegex("db +1 +0/1"));
  // The placements are the newest events.
  EXPECT_THAT(shown.stdoutText, HasSubstr("recent events"));
  EXPECT_THAT(shown.stdoutText, ::testing::ContainsRegex("web +#1 +placed"));
}

TEST_F(Cluster, AnswersAProblemNotAHangWhenEtcdIsDown) {
  AgentProcess& a = startAgent("node-1");
  etcd_->terminate();
  const auto started = std::chrono::steady_clock::now();
  auto r = send(a.url(), "GET", "/v1/nodes");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers.get("Content-Type").value_or(""), "application/problem+json");
  EXPECT_THAT(json::parse(r.body).value("type", ""), HasSubstr("#store-unavailable"));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

}  // namespace
}  // namespace ozy

namespace ozy {
namespace {

class Replacement : public Cluster {
 protected:
  // Short lease and quick looks, so a death is noticed and acted on in seconds.
  AgentProcess& startNode(const std::string& node, const std::string& memory) {
    return startAgent(node, memory, 2,
                      {"--replace-interval", "200ms", "--pending-interval", "500ms"});
  }

  // Instance id -> node ("" while pending), as the API shows it.
  std::map<int, std::string> placement(const std::string& url) {
    const auto r = send(url, "GET", "/v1/jobs/web");
    std::map<int, std::string> out;
    if (r.status != 200) return out;
    const json body = json::parse(r.body);
    for (const auto& i : body["instances"]) {
      out[i["id"].get<int>()] = i["node"].is_null() ? "" : i["node"].get<std::string>();
    }
    return out;
  }

  static std::size_t countOn(const std::map<int, std::string>& placed, const std::string& node) {
    return static_cast<std::size_t>(
        std::count_if(placed.begin(), placed.end(), [&](const auto& p) { return p.second == node; }));
  }

  template <typename F>
  static bool within(std::chrono::seconds limit, F done) {
    const auto until = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < until) {
      if (done()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return done();
  }
};

TEST_F(Replacement, ADeadNodesInstancesMoveToTheSurvivors) {
  const std::string url = startNode("node-a", "4G").url();
  AgentProcess& b = startNode("node-b", "4G");
  AgentProcess& c = startNode("node-c", "4G");
  ASSERT_EQ(send(url, "POST", "/v1/jobs", jobFile("web", 6, "1G", false)).status, 201);
  // Spread over all three, or (if node-a's cache had not seen node-c yet)
  // three each on a and b: either way the victim holds some.
  const bool onC = countOn(placement(url), "node-c") > 0;
  const std::string victim = onC ? "node-c" : "node-b";
  const std::string other = onC ? "node-b" : "node-c";
  ASSERT_GT(countOn(placement(url), victim), 0u);

  (onC ? c : b).kill();
  ASSERT_TRUE(within(std::chrono::seconds(20), [&] {
    const auto placed = placement(url);
    return placed.size() == 6 && countOn(placed, "node-a") + countOn(placed, other) == 6;
  })) << send(url, "GET", "/v1/jobs/web").body;
  // What the victim held is given back; nothing is counted twice.
  auto gone = store_->get(keys::usage(victim));
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->kvs.empty());
  Bytes used = 0;
  for (const std::string& n : {std::string("node-a"), other}) {
    auto u = store_->get(keys::usage(n));
    ASSERT_TRUE(u && u->kvs.size() == 1) << n;
    used += decodeUsage(u->kvs[0].value)->used.memory;
  }
  EXPECT_EQ(used, 6 * kGiB);
  const auto record = decodeJob(store_->get(keys::job("web"))->kvs.at(0).value);
  ASSERT_TRUE(record);
  EXPECT_THAT(record->nodes, ::testing::UnorderedElementsAre("node-a", other));
}

TEST_F(Replacement, WhatDoesNotFitWaitsPendingUntilANodeJoins) {
  const std::string url = startNode("node-a", "3G").url();
  startNode("node-b", "3G");
  AgentProcess& c = startNode("node-c", "3G");
  // Six of 1.5G need all three nodes: a cache that has not seen node-c yet
  // finds no room and the agent plans again from etcd.
  ASSERT_EQ(send(url, "POST", "/v1/jobs", jobFile("web", 6, "1536M", false)).status, 201);

  c.kill();
  ASSERT_TRUE(within(std::chrono::seconds(20), [&] { return countOn(placement(url), "") == 2; }))
      << send(url, "GET", "/v1/jobs/web").body;
  const auto status = json::parse(send(url, "GET", "/v1/jobs/web").body);
  EXPECT_EQ(status["pending"], 2);
  auto usageC = store_->get(keys::usage("node-c"));
  ASSERT_TRUE(usageC);
  EXPECT_TRUE(usageC->kvs.empty());

  startNode("node-d", "4G");
  ASSERT_TRUE(within(std::chrono::seconds(20), [&] { return countOn(placement(url), "node-d") == 2; }))
      << send(url, "GET", "/v1/jobs/web").body;
  EXPECT_EQ(countOn(placement(url), ""), 0u);
}

TEST_F(Replacement, ADrainedNodesInstancesMoveAndItTakesNothingNewUntilUndrained) {
  AgentProcess& a = startNode("node-a", "4G");
  AgentProcess& b = startNode("node-b", "4G");
  AgentProcess& c = startNode("node-c", "4G");
  const std::string url = a.url();
  ASSERT_TRUE(within(std::chrono::seconds(10), [&] { return liveNodes(url).size() == 3; }));
  ASSERT_EQ(send(url, "POST", "/v1/jobs", jobFile("web", 6, "1G", false)).status, 201);
  // Spread over all three, or (if node-a's cache had not seen node-c yet)
  // three each on a and b: either way the node drained holds some.
  const auto before = placement(url);
  const std::string victim = countOn(before, "node-c") > 0 ? "node-c" : "node-b";
  ASSERT_GT(countOn(before, victim), 0u);
  const std::set<std::string> others = victim == "node-c"
                                           ? std::set<std::string>{"node-a", "node-b"}
                                           : std::set<std::string>{"node-a", "node-c"};

  // Through the CLI, with the token from the environment, via another node's API.
  const std::string via = victim == "node-c" ? b.url() : c.url();
  const auto drained = runOzy(OZY_BINARY, {"node", "drain", victim, "--address", via}, a.ozyEnv());
  ASSERT_EQ(drained.exitCode, 0) << drained.stderrText;
  EXPECT_THAT(drained.stdoutText, HasSubstr("node " + victim + ": drain"));

  auto usageOf = [&](const std::string& node) {
    auto got = store_->get(keys::usage(node));
    if (!got || got->kvs.empty()) return UsageRecord{};
    auto usage = decodeUsage(got->kvs[0].value);
    return usage ? *usage : UsageRecord{};
  };
  ASSERT_TRUE(within(std::chrono::seconds(20), [&] {
    const auto placed = placement(url);
    std::size_t onOthers = 0;
    for (const auto& n : others) onOthers += countOn(placed, n);
    return usageOf(victim).instances == 0 && placed.size() == 6 && onOthers == 6;
  })) << send(url, "GET", "/v1/jobs/web").body;
  // Same ids, none pending, nothing counted twice.
  const auto after = placement(url);
  for (const auto& [id, node] : before) EXPECT_TRUE(after.contains(id)) << id;
  EXPECT_EQ(countOn(after, ""), 0u);
  EXPECT_EQ(usageOf(victim), UsageRecord{});
  Bytes used = 0;
  for (const auto& n : others) used += usageOf(n).used.memory;
  EXPECT_EQ(used, 6 * kGiB);

  const auto list = runOzy(OZY_BINARY, {"node", "list", "-o", "json", "--address", url}, a.ozyEnv());
  ASSERT_EQ(list.exitCode, 0) << list.stderrText;
  std::map<std::string, std::string> states;
  for (const auto& n : json::parse(list.stdoutText)) states[n["name"]] = n["state"];
  EXPECT_EQ(states, (std::map<std::string, std::string>{
                        {victim, "drained"}, {*others.begin(), "ready"}, {*others.rbegin(), "ready"}}));

  // A new job avoids the drained node; one that needs it gets the usual
  // problem, naming the drain.
  auto small = send(url, "POST", "/v1/jobs", jobFile("small", 3, "256M", false));
  ASSERT_EQ(small.status, 201) << small.body;
  EXPECT_THAT(json::parse(small.body)["nodes"], ::testing::Not(::testing::Contains(victim)));
  auto ports = send(url, "POST", "/v1/jobs", jobFile("ports", 3, "256M", true));
  EXPECT_EQ(ports.status, 422) << ports.body;
  EXPECT_THAT(json::parse(ports.body).value("type", ""), HasSubstr("#insufficient-ports"));
  EXPECT_THAT(json::parse(ports.body).value("detail", ""), HasSubstr(victim + " is drained"));

  const auto undrained = runOzy(OZY_BINARY, {"node", "undrain", victim, "--address", url}, a.ozyEnv());
  ASSERT_EQ(undrained.exitCode, 0) << undrained.stderrText;
  EXPECT_THAT(undrained.stdoutText, HasSubstr("node " + victim + ": ready"));
  ports = send(url, "POST", "/v1/jobs", jobFile("ports", 3, "256M", true));
  ASSERT_EQ(ports.status, 201) << ports.body;
  EXPECT_THAT(json::parse(ports.body)["nodes"], ::testing::Contains(victim));
  EXPECT_EQ(countOn(placement(url), victim), 0u) << "undraining moves nothing back";

  const auto unknown = runOzy(OZY_BINARY, {"node", "drain", "node-z", "--address", url}, a.ozyEnv());
  EXPECT_EQ(unknown.exitCode, 4) << unknown.stderrText;
  EXPECT_THAT(unknown.stderrText, HasSubstr("node-not-found"));
  const auto badName = send(url, "POST", "/v1/nodes/Not_A_Host/drain");
  EXPECT_EQ(badName.status, 400);
  EXPECT_THAT(json::parse(badName.body).value("type", ""), HasSubstr("#invalid-node-name"));
  EXPECT_EQ(send(url, "GET", "/v1/nodes/" + victim + "/drain").status, 405);
}

}  // namespace
}  // namespace ozy
