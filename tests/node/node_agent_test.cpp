// The node agent against the real thing: a private etcd, `ozy agent`
// processes running their own podman service, the busybox test image, and
// DNS answered by the agent and asked with dig. Every test works under its
// own node name, and TearDown removes whatever pods carry it, so a failed
// test leaves nothing running.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "scheduler/keys.h"
#include "scheduler/records.h"
#include "store/etcd_store.h"
#include "node/node_test_support.h"
#include "support/agent_process.h"
#include "support/etcd_process.h"
#include "support/etcd_with_store.h"
#include "support/temp_dir.h"
#include "support/test_image.h"

namespace ozy {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using testing_support::AgentProcess;
using testing_support::EtcdProcess;
using testing_support::TempDir;

using node_testing::podman;
using node_testing::run;
using node_testing::waitFor;

std::int64_t wallMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What etcd hears under a prefix from now on, each with when the test heard
// it (wall clock, as podman's event times).
class EtcdLog {
 public:
  struct Entry {
    WatchEvent event;
    std::int64_t atMs = 0;
  };
  EtcdLog(Store& store, const std::string& prefix) {
    watch_ = store.watch(prefix, 0, [this](std::vector<WatchEvent> events, std::int64_t) {
      std::lock_guard lock(mutex_);
      for (auto& e : events) entries_.push_back({std::move(e), wallMs()});
    }, [](const StoreError&) {});
  }
  ~EtcdLog() { stop(); }
  void stop() {
    if (watch_) watch_->stop();
  }
  // The first event on `key` of this type (and, for puts, with a status
  // in `state`).
  std::optional<Entry> first(const std::string& key, WatchEvent::Type type,
                             std::optional<InstanceState> state = std::nullopt) {
    std::lock_guard lock(mutex_);
    for (const auto& e : entries_) {
      if (e.event.kv.key != key || e.event.type != type) continue;
      if (state) {
        auto status = decodeInstanceStatus(e.event.kv.value);
        if (!status || status->state != *state) continue;
      }
      return e;
    }
    return std::nullopt;
  }
  std::string dump() {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& e : entries_) {
      out += fmt::format("{} {} {} {}\n", e.atMs, e.event.type == WatchEvent::kPut ? "put" : "delete",
                         e.event.kv.key, e.event.kv.value);
    }
    return out;
  }

 private:
  std::mutex mutex_;
  std::vector<Entry> entries_;
  std::unique_ptr<Watch> watch_;
};

int freeUdpPort() {
  // Any port from a wide random range: collisions are retried by the OS
  // refusing the bind, which the agent reports at start.
  std::random_device device;
  return 20000 + static_cast<int>(device() % 20000);
}

class NodeAgentTest : public testing_support::EtcdStoreTest {
 protected:
  static void SetUpTestSuite() { node_testing::testImageError(); }

  void SetUp() override {
    if (!node_testing::testImageError().empty()) GTEST_SKIP() << node_testing::testImageError();
    ASSERT_NO_FATAL_FAILURE(startEtcd());
    std::random_device device;
    node_ = fmt::format("nt{}", device() % 1000000);
    dnsPort_ = freeUdpPort();
    ASSERT_NO_FATAL_FAILURE(startAgent());
  }

  void TearDown() override {
    if (agent_) agent_->kill();
    // Whatever the test did, no pod of this node survives it.
    if (!node_.empty()) {
      for (int attempt = 0; attempt < 5; ++attempt) {
        std::string pods = podman("pod ps -q --filter label=ozy.node=" + node_);
        if (pods.empty()) break;
        std::replace(pods.begin(), pods.end(), '\n', ' ');
        podman("pod rm -f -t 0 " + pods);
      }
    }
  }

  void startAgent() {
    testing_support::AgentOptions o;
    o.binary = OZY_BINARY;
    o.node = node_;
    o.etcd = etcd_->endpoint();
    o.memory = "2G";
    o.disk = "10G";
    o.dataDir = dataDir_.path();
    o.runtime = "podman";
    o.leaseTtl = leaseTtl_;
    o.extraArgs = {"--containers-conf", testing_support::projectContainersConf(),
                   "--shared-dir",      sharedDir_.path(),
                   "--restart-backoff", "1s",
                   "--resync",          "1s",
                   "--stop-grace",      "2",
                   "--dns",             dnsListen_.empty() ? fmt::format("127.0.0.1:{}", dnsPort_) : dnsListen_};
    o.extraArgs.insert(o.extraArgs.end(), moreArgs_.begin(), moreArgs_.end());
    auto agent = AgentProcess::start(o);
    ASSERT_TRUE(agent) << agent.error();
    agent_ = std::move(agent).value();
  }

  testing_support::CommandResult ozy(std::vector<std::string> args) {
    args.insert(args.end(), {"--address", agent_->url()});
    return testing_support::runOzy(OZY_BINARY, args, agent_->ozyEnv());
  }

  void submit(const std::string& name, const std::string& yaml) {
    const std::string file = dataDir_.path() + "/" + name + ".yaml";
    std::ofstream(file) << yaml;
    auto result = ozy({"job", "run", file});
    ASSERT_EQ(result.exitCode, 0) << result.stdoutText << result.stderrText;
  }

  std::map<std::uint32_t, InstanceStatus> statuses(const std::string& job) {
    return node_testing::statuses(*store_, job);
  }
  bool allIn(const std::string& job, std::size_t count, InstanceState state) {
    return node_testing::allIn(*store_, job, count, state);
  }

  std::string describe(const std::string& job) {
    std::string out;
    for (const auto& [id, s] : statuses(job)) {
      out += fmt::format("#{} {} ({}) restarts {}\n", id, toString(s.state), s.reason, s.restarts);
    }
    return out + "\nagent log:\n" + agent_->log();
  }

  std::string dig(const std::string& name, const std::string& type) {
    return run(fmt::format("dig @127.0.0.1 -p {} +short +time=1 +tries=2 {} {}", dnsPort_, name, type));
  }

  // The agent's name for the pod of an instance.
  std::string podName(const std::string& job, std::uint32_t id) const {
    return fmt::format("ozy-{}-{}.{}", job, id, node_);
  }

  std::string podState(const std::string& job, std::uint32_t id) {
    return podman("pod inspect -f '{{.State}}' " + podName(job, id));
  }

  // When the container `web` of the instance's (first) pod died, in ms.
  std::optional<std::int64_t> webDiedMs(const std::string& job, std::uint32_t id) {
    auto at = node_testing::eventTime(podName(job, id) + ".web", "web", "died");
    if (!at) return std::nullopt;
    return *at / 1'000'000;
  }

  void scale(const std::string& job, int count) {
    auto scaled = ozy({"job", "scale", job, std::to_string(count)});
    ASSERT_EQ(scaled.exitCode, 0) << scaled.stdoutText << scaled.stderrText;
  }

  std::string podId(const std::string& job, std::uint32_t id) {
    return podman(fmt::format("pod ps -q --no-trunc --filter label=ozy.node={} --filter label=ozy.job={} "
                              "--filter label=ozy.instance={}",
                              node_, job, id));
  }


  TempDir dataDir_;
  TempDir sharedDir_;
  std::unique_ptr<AgentProcess> agent_;
  std::string node_;
  int dnsPort_ = 0;
  std::string dnsListen_;              // empty: 127.0.0.1:dnsPort_
  int leaseTtl_ = 10;
  std::vector<std::string> moreArgs_;  // for startAgent()
};

constexpr const char* kHttpd = "mkdir -p /www && echo ok > /www/health && exec httpd -f -p 8080 -h /www";
// Likewise, under a shell that exits on SIGTERM (httpd as PID 1 ignores it
// and dies of the SIGKILL after --stop-grace): the container dies when it is
// told to stop.
constexpr const char* kHttpdStoppedByTerm =
    "mkdir -p /www && echo ok > /www/health && httpd -f -p 8080 -h /www & trap 'exit 0' TERM; wait";

// An httpd whose health endpoint is a file the test can take away.
std::string webJob(const std::string& name, int instances, const std::string& restart = "no",
                   const std::string& command = kHttpd) {
  return fmt::format(R"(name: {}
numInstances: {}
containers:
  web:
    image: {}
    restart: {}
    command: ["sh", "-c", "{}"]
    memory: 32M
    ports: ["8080"]
    healthcheck:
      type: http
      port: 8080
      path: /health
      interval: 1s
      timeout: 1s
      unhealthy_threshold: 2
)",
                     name, instances, testing_support::kTestImage, restart, command);
}

TEST_F(NodeAgentTest, TwoContainersStartInDependencyOrderWithSharedAndLocalVolumes) {
  submit("pair", fmt::format(R"(name: pair
numInstances: 2
containers:
  app:
    image: {0}
    depends_on: [db]
    memory: 32M
    command: ["sh", "-c", "hostname > /shared/$(hostname) && touch /scratch/mine && exec sleep 3600"]
    volumes:
      - {{type: shared, path: /shared, space: 10M}}
      - {{type: local, path: /scratch, space: 10M}}
  db:
    image: {0}
    memory: 32M
    command: ["sh", "-c", "sleep 1 && touch /tmp/ready && exec sleep 3600"]
    healthcheck:
      type: exec
      command: ["cat", "/tmp/ready"]
      interval: 1s
      timeout: 1s
)",
                             testing_support::kTestImage));
  ASSERT_TRUE(waitFor([&] { return allIn("pair", 2, InstanceState::kHealthy); }, 60s)) << describe("pair");

  for (std::uint32_t id : {0u, 1u}) {
    const std::string pod = podName("pair", id);
    // app depends on db's health check, which passes a second after db starts.
    const std::string dbStarted = podman("inspect -f '{{.State.StartedAt}}' " + pod + ".db");
    const std::string appStarted = podman("inspect -f '{{.State.StartedAt}}' " + pod + ".app");
    ASSERT_FALSE(dbStarted.empty());
    EXPECT_LT(dbStarted, appStarted) << "db started " << dbStarted << ", app " << appStarted;
    EXPECT_TRUE(std::filesystem::exists(
        fmt::format("{}/volumes/pair/{}/app/1/mine", dataDir_.path(), id)));
    // Both instances wrote into the one shared directory.
    // (Each wrote its host name, "<job>-<id>".)
    EXPECT_TRUE(std::filesystem::exists(fmt::format("{}/pair/app/0/pair-{}", sharedDir_.path(), id)));
  }

  auto scaled = ozy({"job", "scale", "pair", "1"});
  ASSERT_EQ(scaled.exitCode, 0) << scaled.stderrText;
  ASSERT_TRUE(waitFor([&] { return podId("pair", 1).empty() && statuses("pair").size() == 1; }, 30s))
      << describe("pair");
  EXPECT_FALSE(std::filesystem::exists(fmt::format("{}/volumes/pair/1", dataDir_.path())));
  EXPECT_TRUE(std::filesystem::exists(fmt::format("{}/volumes/pair/0", dataDir_.path())));
  EXPECT_FALSE(podId("pair", 0).empty());

  auto stopped = ozy({"job", "stop", "pair"});
  ASSERT_EQ(stopped.exitCode, 0) << stopped.stderrText;
  // The status goes last, once pod and volumes are gone.
  ASSERT_TRUE(waitFor([&] { return statuses("pair").empty(); }, 30s)) << describe("pair");
  EXPECT_TRUE(podId("pair", 0).empty());
  EXPECT_FALSE(std::filesystem::exists(fmt::format("{}/volumes/pair/0", dataDir_.path())));
}

// The finding: with a volume and "cp /bin/busybox /v/x; chmod 4755 /v/x" a
// container running as host root left a root-owned setuid binary on the
// host. Now container root is an unprivileged host uid, owns its volumes,
// and runs without new privileges, with the default capabilities only.
TEST_F(NodeAgentTest, PodsRunConfinedAndLeaveNoRootSetuidFileInTheirVolumes) {
  submit("conf", fmt::format(R"(name: conf
containers:
  app:
    image: {}
    memory: 32M
    command: ["sh", "-c", "cp /bin/busybox /l/x; chmod 4755 /l/x; cp /bin/busybox /s/x; chmod 4755 /s/x; cat /proc/self/uid_map > /s/uid_map; cat /proc/self/status > /s/status; exec sleep 3600"]
    volumes:
      - {{type: local, path: /l, space: 10M}}
      - {{type: shared, path: /s, space: 10M}}
)",
                             testing_support::kTestImage));
  ASSERT_TRUE(waitFor([&] { return allIn("conf", 1, InstanceState::kHealthy); }, 60s)) << describe("conf");
  const std::filesystem::path local = fmt::format("{}/volumes/conf/0/app/0", dataDir_.path());
  const std::filesystem::path shared = fmt::format("{}/conf/app/1", sharedDir_.path());
  ASSERT_TRUE(waitFor([&] { return std::filesystem::exists(shared / "status"); }, 20s))
      << "the container could not write its shared volume\n" << describe("conf");
  for (const auto& file : {local / "x", shared / "x"}) {
    struct stat info {};
    ASSERT_EQ(::stat(file.c_str(), &info), 0) << file << " was not written";
    EXPECT_FALSE(info.st_uid == 0 && (info.st_mode & S_ISUID) != 0)
        << file << " is a root-owned setuid binary";
    EXPECT_EQ(info.st_uid, 2147483647u) << file;
  }
  std::ifstream uidMap(shared / "uid_map");
  std::uint64_t inside = 1, outside = 0, count = 0;
  uidMap >> inside >> outside >> count;
  EXPECT_EQ(inside, 0u);
  EXPECT_EQ(outside, 2147483647u) << "container root is not mapped away from host root";
  EXPECT_EQ(count, 65536u);
  std::ifstream statusFile(shared / "status");
  const std::string status{std::istreambuf_iterator<char>(statusFile), std::istreambuf_iterator<char>()};
  EXPECT_NE(status.find("NoNewPrivs:\t1"), std::string::npos) << status;
  // CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETGID SETUID NET_BIND_SERVICE:
  // bits 0, 1, 3 to 7 and 10.
  EXPECT_NE(status.find("CapEff:\t00000000000004fb"), std::string::npos) << status;
  const std::string container = podName("conf", 0) + ".app";
  EXPECT_EQ(podman("inspect -f '{{.HostConfig.PidsLimit}}' " + container), "1024");
  EXPECT_EQ(podman("exec " + container + " cat /sys/fs/cgroup/pids/pids.max"), "1024");
}

TEST_F(NodeAgentTest, ACapabilityTheNodeDoesNotAllowIsRefusedAtSubmissionAndAtTheNode) {
  const std::string yaml = fmt::format(R"(name: netadm
containers:
  app:
    image: {}
    memory: 32M
    command: ["sleep", "3600"]
    cap_add: [NET_ADMIN]
)",
                                       testing_support::kTestImage);
  const std::string file = dataDir_.path() + "/netadm.yaml";
  std::ofstream(file) << yaml;
  // This node's agent does not allow NET_ADMIN: refused up front.
  auto refused = ozy({"job", "run", file});
  EXPECT_NE(refused.exitCode, 0);
  EXPECT_NE((refused.stdoutText + refused.stderrText).find("NET_ADMIN"), std::string::npos)
      << refused.stdoutText << refused.stderrText;
  EXPECT_NE((refused.stdoutText + refused.stderrText).find("Capability not allowed"),
            std::string::npos)
      << refused.stdoutText << refused.stderrText;
  EXPECT_TRUE(statuses("netadm").empty());

  // An agent that allows it takes the job, but has no room for it (and runs
  // nothing): it lands on this node, which refuses to run it.
  TempDir otherData;
  testing_support::AgentOptions o;
  o.binary = OZY_BINARY;
  o.node = node_ + "-lenient";
  o.etcd = etcd_->endpoint();
  o.memory = "16M";
  o.dataDir = otherData.path();
  o.extraArgs = {"--allow-capability", "NET_ADMIN"};
  auto lenient = AgentProcess::start(o);
  ASSERT_TRUE(lenient) << lenient.error();
  auto accepted = testing_support::runOzy(OZY_BINARY, {"job", "run", file, "--address", (*lenient)->url()},
                                         (*lenient)->ozyEnv());
  ASSERT_EQ(accepted.exitCode, 0) << accepted.stdoutText << accepted.stderrText;
  ASSERT_TRUE(waitFor([&] {
    auto s = statuses("netadm");
    return s.contains(0) && s[0].state == InstanceState::kFailed;
  }, 30s)) << describe("netadm");
  const InstanceStatus status = statuses("netadm")[0];
  EXPECT_EQ(status.node, node_);
  EXPECT_NE(status.reason.find("asks for capability NET_ADMIN"), std::string::npos) << status.reason;
  EXPECT_NE(status.reason.find("--allow-capability NET_ADMIN"), std::string::npos) << status.reason;
  EXPECT_TRUE(podId("netadm", 0).empty());
}

TEST_F(NodeAgentTest, APortOnAnotherHostAddressIsRefusedAndTheNodesOwnPortsAreReserved) {
  submit("elsewhere", fmt::format(R"(name: elsewhere
containers:
  app:
    image: {}
    memory: 32M
    command: ["sleep", "3600"]
    ports: ["10.123.45.67:18080:80"]
)",
                                  testing_support::kTestImage));
  ASSERT_TRUE(waitFor([&] {
    auto s = statuses("elsewhere");
    return s.contains(0) && s[0].state == InstanceState::kFailed;
  }, 30s)) << describe("elsewhere");
  const std::string reason = statuses("elsewhere")[0].reason;
  EXPECT_NE(reason.find("on host address 10.123.45.67"), std::string::npos) << reason;
  EXPECT_NE(reason.find("--allow-host-ip 10.123.45.67"), std::string::npos) << reason;
  EXPECT_TRUE(podId("elsewhere", 0).empty());

  // The node's record keeps its API port, etcd's (on loopback here) and its
  // DNS port from placement.
  auto stored = store_->get(keys::node(node_));
  ASSERT_TRUE(stored && stored->kvs.size() == 1);
  auto record = decodeNode(stored->kvs[0].value);
  ASSERT_TRUE(record) << record.error();
  const auto apiPort = static_cast<std::uint16_t>(
      std::stoi(agent_->url().substr(agent_->url().rfind(':') + 1)));
  const auto etcdPort = static_cast<std::uint16_t>(
      std::stoi(etcd_->endpoint().substr(etcd_->endpoint().rfind(':') + 1)));
  const auto has = [&](std::uint16_t port, Protocol protocol) {
    return std::find(record->reservedPorts.begin(), record->reservedPorts.end(),
                     HostPort{port, protocol}) != record->reservedPorts.end();
  };
  EXPECT_TRUE(has(apiPort, Protocol::kTcp)) << stored->kvs[0].value;
  EXPECT_TRUE(has(etcdPort, Protocol::kTcp)) << stored->kvs[0].value;
  EXPECT_TRUE(has(static_cast<std::uint16_t>(dnsPort_), Protocol::kUdp)) << stored->kvs[0].value;
  // So a job publishing the API's port does not fit anywhere.
  const std::string file = dataDir_.path() + "/squat.yaml";
  std::ofstream(file) << fmt::format(
      "name: squat\ncontainers:\n  app:\n    image: {}\n    memory: 32M\n    ports: [\"{}:80\"]\n",
      testing_support::kTestImage, apiPort);
  auto squat = ozy({"job", "run", file});
  EXPECT_NE(squat.exitCode, 0);
  EXPECT_NE((squat.stdoutText + squat.stderrText).find("reserved"), std::string::npos)
      << squat.stdoutText << squat.stderrText;
}

// The rule that spares a proxy its 502s: an instance that goes is first
// withdrawn (DNS record gone, status `stopping`), keeps its pod running for
// the drain delay, and only then is stopped; its status goes last.
TEST_F(NodeAgentTest, AScaledDownInstanceIsWithdrawnAndItsPodStopsOnlyAfterTheDrainDelay) {
  agent_->kill();
  moreArgs_ = {"--drain-delay", "2500ms"};  // time enough for the checks below, on a busy host
  ASSERT_NO_FATAL_FAILURE(startAgent());
  submit("drain", webJob("drain", 2, "no", kHttpdStoppedByTerm));
  ASSERT_TRUE(waitFor([&] { return allIn("drain", 2, InstanceState::kHealthy); }, 60s)) << describe("drain");
  const std::string dnsKey = "/skydns/local/ozy/drain/1";
  ASSERT_TRUE(waitFor([&] { return !store_->get(dnsKey)->kvs.empty(); }, 10s));
  const std::string ip = statuses("drain")[1].podIp;
  EtcdLog log(*store_, "/");

  ASSERT_NO_FATAL_FAILURE(scale("drain", 1));
  ASSERT_TRUE(waitFor([&] {
    auto s = statuses("drain");
    return s.contains(1) && s[1].state == InstanceState::kStopping;
  }, 10s)) << describe("drain");
  // Withdrawn, and still serving what was sent to it.
  const InstanceStatus stopping = statuses("drain")[1];
  EXPECT_TRUE(store_->get(dnsKey)->kvs.empty()) << "a stopping instance keeps its DNS record";
  EXPECT_EQ(podState("drain", 1), "Running");
  EXPECT_EQ(run(fmt::format("curl -s --max-time 2 http://{}:8080/health", ip)), "ok");
  EXPECT_NE(stopping.reason.find("drain delay"), std::string::npos) << stopping.reason;
  EXPECT_EQ(stopping.podIp, ip);
  EXPECT_EQ(statuses("drain")[0].state, InstanceState::kHealthy);

  // Then the pod goes, and its status after it.
  ASSERT_TRUE(waitFor([&] { return podId("drain", 1).empty(); }, 20s)) << describe("drain");
  ASSERT_TRUE(waitFor([&] { return statuses("drain").size() == 1; }, 10s)) << describe("drain");
  ASSERT_TRUE(waitFor([&] { return webDiedMs("drain", 1).has_value(); }, 10s));
  log.stop();
  const std::int64_t diedMs = *webDiedMs("drain", 1);
  const auto dnsGone = log.first(dnsKey, WatchEvent::kDelete);
  const auto saidStopping = log.first(keys::status("drain", 1), WatchEvent::kPut, InstanceState::kStopping);
  const auto statusGone = log.first(keys::status("drain", 1), WatchEvent::kDelete);
  ASSERT_TRUE(dnsGone && saidStopping && statusGone) << log.dump();
  EXPECT_LE(dnsGone->atMs, diedMs) << log.dump();
  EXPECT_LE(saidStopping->atMs, diedMs) << log.dump();
  EXPECT_GE(statusGone->atMs, diedMs) << log.dump();
  // From the withdrawal (the agent's own clock) to the container's death:
  // the delay, less podman's rounding.
  EXPECT_GE(diedMs - stopping.sinceMs, 2400) << log.dump();
  EXPECT_LT(diedMs - stopping.sinceMs, 10'000) << log.dump();
  RecordProperty("withdrawn_to_died_ms", static_cast<int>(diedMs - stopping.sinceMs));
  RecordProperty("died_to_status_deleted_ms", static_cast<int>(statusGone->atMs - diedMs));
  EXPECT_FALSE(podId("drain", 0).empty());
}

TEST_F(NodeAgentTest, WithNoDrainDelayAScaledDownPodStopsAtOnce) {
  agent_->kill();
  moreArgs_ = {"--drain-delay", "0"};
  ASSERT_NO_FATAL_FAILURE(startAgent());
  submit("nodelay", webJob("nodelay", 2, "no", kHttpdStoppedByTerm));
  ASSERT_TRUE(waitFor([&] { return allIn("nodelay", 2, InstanceState::kHealthy); }, 60s))
      << describe("nodelay");
  const std::string dnsKey = "/skydns/local/ozy/nodelay/1";
  ASSERT_TRUE(waitFor([&] { return !store_->get(dnsKey)->kvs.empty(); }, 10s));
  EtcdLog log(*store_, "/");

  ASSERT_NO_FATAL_FAILURE(scale("nodelay", 1));
  ASSERT_TRUE(waitFor([&] { return podId("nodelay", 1).empty() && statuses("nodelay").size() == 1; }, 20s))
      << describe("nodelay");
  ASSERT_TRUE(waitFor([&] { return webDiedMs("nodelay", 1).has_value(); }, 10s));
  log.stop();
  EXPECT_FALSE(log.first(keys::status("nodelay", 1), WatchEvent::kPut, InstanceState::kStopping))
      << log.dump();
  const auto dnsGone = log.first(dnsKey, WatchEvent::kDelete);
  ASSERT_TRUE(dnsGone) << log.dump();
  const std::int64_t diedMs = *webDiedMs("nodelay", 1);
  EXPECT_LT(diedMs - dnsGone->atMs, 1000) << log.dump();
  RecordProperty("dns_deleted_to_died_ms", static_cast<int>(diedMs - dnsGone->atMs));
  EXPECT_EQ(agent_->log().find("withdrawn from DNS"), std::string::npos) << agent_->log();
}

TEST_F(NodeAgentTest, AnInstanceWantedAgainDuringItsDrainDelayKeepsItsPodAndServesAgain) {
  agent_->kill();
  moreArgs_ = {"--drain-delay", "60s"};
  ASSERT_NO_FATAL_FAILURE(startAgent());
  submit("back", webJob("back", 2));
  ASSERT_TRUE(waitFor([&] { return allIn("back", 2, InstanceState::kHealthy); }, 60s)) << describe("back");
  const std::string pod = podId("back", 1);
  const std::string dnsKey = "/skydns/local/ozy/back/1";

  ASSERT_NO_FATAL_FAILURE(scale("back", 1));
  ASSERT_TRUE(waitFor([&] {
    auto s = statuses("back");
    return s.contains(1) && s[1].state == InstanceState::kStopping;
  }, 10s)) << describe("back");
  ASSERT_TRUE(waitFor([&] { return store_->get(dnsKey)->kvs.empty(); }, 10s));

  ASSERT_NO_FATAL_FAILURE(scale("back", 2));
  ASSERT_TRUE(waitFor([&] { return allIn("back", 2, InstanceState::kHealthy); }, 20s)) << describe("back");
  EXPECT_EQ(podId("back", 1), pod) << "the pod in its drain delay was not taken back";
  EXPECT_TRUE(waitFor([&] { return !store_->get(dnsKey)->kvs.empty(); }, 10s));
  EXPECT_EQ(podState("back", 1), "Running");
}

// A new spec of the job: the old pod is withdrawn and drained before the
// pod of the new spec (same name) takes its place.
TEST_F(NodeAgentTest, APodReplacedByANewSpecIsWithdrawnBeforeItStops) {
  agent_->kill();
  moreArgs_ = {"--drain-delay", "3s"};
  ASSERT_NO_FATAL_FAILURE(startAgent());
  submit("deploy", webJob("deploy", 1, "no", kHttpdStoppedByTerm));
  ASSERT_TRUE(waitFor([&] { return allIn("deploy", 1, InstanceState::kHealthy); }, 60s)) << describe("deploy");
  const std::string oldPod = podId("deploy", 0);
  const std::string dnsKey = "/skydns/local/ozy/deploy/0";
  ASSERT_TRUE(waitFor([&] { return !store_->get(dnsKey)->kvs.empty(); }, 10s));

  // As a deploy writes it: the spec, and the node's assignment under the
  // new version.
  auto read = store_->get(keys::job("deploy"));
  ASSERT_TRUE(read && read->kvs.size() == 1);
  auto record = decodeJob(read->kvs.front().value);
  ASSERT_TRUE(record) << record.error();
  record->spec.containers.front().environment.push_back({"RELEASE", "2"});
  record->version += 1;
  // A version with no record of its own: the node takes the job record's
  // spec for it (as for jobs stored before versions).
  record->specVersion += 1;
  ASSERT_TRUE(store_->put(keys::job("deploy"), encode(*record)));
  auto assigned = store_->get(keys::assignment(node_, "deploy"));
  ASSERT_TRUE(assigned && assigned->kvs.size() == 1);
  auto assignment = decodeAssignments(assigned->kvs.front().value);
  ASSERT_TRUE(assignment) << assignment.error();
  assignment->front().version = record->specVersion;
  ASSERT_TRUE(store_->put(keys::assignment(node_, "deploy"), encode(*assignment)));

  ASSERT_TRUE(waitFor([&] {
    auto s = statuses("deploy");
    return s.contains(0) && s[0].state == InstanceState::kStopping;
  }, 10s)) << describe("deploy");
  const InstanceStatus stopping = statuses("deploy")[0];
  EXPECT_TRUE(store_->get(dnsKey)->kvs.empty());
  EXPECT_EQ(podId("deploy", 0), oldPod);
  EXPECT_EQ(podState("deploy", 0), "Running");
  EXPECT_NE(stopping.reason.find("replaced by the job's new spec"), std::string::npos) << stopping.reason;
  auto shown = ozy({"job", "status", "deploy"});
  EXPECT_NE(shown.stdoutText.find("stopping"), std::string::npos) << shown.stdoutText;

  ASSERT_TRUE(waitFor([&] {
    const std::string now = podId("deploy", 0);
    return !now.empty() && now != oldPod && allIn("deploy", 1, InstanceState::kHealthy);
  }, 60s)) << describe("deploy");
  EXPECT_EQ(podman("exec " + podName("deploy", 0) + ".web sh -c 'echo $RELEASE'"), "2");
  ASSERT_TRUE(waitFor([&] { return webDiedMs("deploy", 0).has_value(); }, 10s));
  const std::int64_t diedMs = *webDiedMs("deploy", 0);
  EXPECT_GE(diedMs - stopping.sinceMs, 2900);
  RecordProperty("withdrawn_to_died_ms", static_cast<int>(diedMs - stopping.sinceMs));
  EXPECT_TRUE(waitFor([&] { return !store_->get(dnsKey)->kvs.empty(); }, 10s));
}

TEST_F(NodeAgentTest, MemoryLimitKillsAndTheContainerIsRestarted) {
  submit("hungry", fmt::format(R"(name: hungry
containers:
  eat:
    image: {}
    restart: always
    memory: 16M
    command: ["sh", "-c", "sleep 1; x=$(head -c 64000000 /dev/zero | tr '\\0' a); sleep 3600"]
)",
                               testing_support::kTestImage));
  ASSERT_TRUE(waitFor([&] {
    auto s = statuses("hungry");
    return s.contains(0) && s[0].restarts >= 1;
  }, 60s)) << describe("hungry");
  // The limit is podman's, hard: memory and swap together.
  EXPECT_EQ(podman("inspect -f '{{.HostConfig.Memory}}' " + podName("hungry", 0) + ".eat"), std::to_string(16 << 20));
  auto status = ozy({"job", "status", "hungry", "--output", "json"});
  ASSERT_EQ(status.exitCode, 0) << status.stderrText;
  const json body = json::parse(status.stdoutText);
  EXPECT_GE(body["instances"][0]["restarts"].get<int>(), 1) << status.stdoutText;

  // The metrics count the same restarts, every one of them an OOM kill, in
  // a format promtool accepts. The container goes on being killed, so the
  // two are read until they agree.
  const std::string curl = fmt::format("curl -sf -H 'Authorization: Bearer {}' {}/metrics", agent_->token(), agent_->url());
  auto sample = [](const std::string& text, const std::string& series) -> std::optional<double> {
    const auto at = text.find("\n" + series + " ");
    if (at == std::string::npos) return std::nullopt;
    return std::stod(text.substr(at + series.size() + 2));
  };
  std::string metrics;
  std::uint32_t restarts = 0;
  ASSERT_TRUE(waitFor([&] {
    metrics = run(curl);
    restarts = statuses("hungry")[0].restarts;
    return sample(metrics, R"(ozy_container_restarts_total{container="eat",job_name="hungry"})") == restarts;
  }, 30s)) << "status says " << restarts << " restarts; /metrics:\n" << metrics;
  EXPECT_EQ(sample(metrics, R"(ozy_container_oom_kills_total{container="eat",job_name="hungry"})"), restarts) << metrics;
  EXPECT_GE(sample(metrics, R"(ozy_node_capacity_bytes{resource="memory"})").value_or(0), 2.0 * (1 << 30)) << metrics;
  // The lease is renewed every third of its TTL.
  EXPECT_TRUE(waitFor([&] {
    return sample(run(curl), R"(ozy_lease_renewals_total{result="renewed"})").value_or(0) >= 1;
  }, 15s)) << run(curl);
  TempDir dir;
  const std::string file = dir.path() + "/metrics.txt";
  {
    std::ofstream out(file);
    out << metrics << '\n';  // run() took the last newline off
  }
  EXPECT_EQ(run("promtool check metrics < " + file + " 2>&1; echo rc=$?"), "rc=0");
  // Without the token, nothing.
  EXPECT_EQ(run(fmt::format("curl -s -o /dev/null -w '%{{http_code}}' {}/metrics", agent_->url())), "401");

  // The job's events tell the story: placed, started, then killed for its
  // memory and restarted, with SIGKILL's exit code.
  testing_support::CommandResult events;
  ASSERT_TRUE(waitFor([&] {
    events = ozy({"job", "events", "hungry"});
    return events.stdoutText.find("oom-killed") != std::string::npos;
  }, 15s)) << events.stdoutText << events.stderrText;
  EXPECT_NE(events.stdoutText.find("placed"), std::string::npos) << events.stdoutText;
  EXPECT_NE(events.stdoutText.find("started"), std::string::npos) << events.stdoutText;
  EXPECT_NE(events.stdoutText.find("exit 137"), std::string::npos) << events.stdoutText;
  EXPECT_LT(events.stdoutText.find("placed"), events.stdoutText.find("oom-killed")) << events.stdoutText;
  auto asJson = ozy({"job", "events", "hungry", "-o", "json"});
  ASSERT_EQ(asJson.exitCode, 0) << asJson.stderrText;
  const json page = json::parse(asJson.stdoutText);
  ASSERT_TRUE(page["events"].is_array());
  EXPECT_GT(page["index"].get<std::int64_t>(), 0);
}

TEST_F(NodeAgentTest, LogsAndExecThroughThisNodeAndThroughAnother) {
  submit("talk", fmt::format(R"(name: talk
containers:
  say:
    image: {}
    memory: 32M
    command: ["sh", "-c", "echo out-1; echo err-1 >&2; echo out-2; i=0; while true; do i=$((i+1)); echo tick-$i; sleep 1; done"]
)",
                             testing_support::kTestImage));
  ASSERT_TRUE(waitFor([&] { return allIn("talk", 1, InstanceState::kHealthy); }, 60s)) << describe("talk");
  ASSERT_TRUE(waitFor([&] { return ozy({"job", "logs", "talk", "0"}).stdoutText.find("out-2") != std::string::npos; }, 10s));
  auto all = ozy({"job", "logs", "talk", "0"});
  ASSERT_EQ(all.exitCode, 0) << all.stderrText;
  EXPECT_NE(all.stdoutText.find("out-1\n"), std::string::npos) << all.stdoutText;
  EXPECT_NE(all.stdoutText.find("err-1\n"), std::string::npos) << all.stdoutText;
  auto errOnly = ozy({"job", "logs", "talk", "0", "--stderr"});
  EXPECT_EQ(errOnly.stdoutText.find("out-1"), std::string::npos) << errOnly.stdoutText;
  EXPECT_NE(errOnly.stdoutText.find("err-1"), std::string::npos) << errOnly.stdoutText;
  auto marked = ozy({"job", "logs", "talk", "--mark", "--tail", "50"});
  EXPECT_NE(marked.stdoutText.find("stdout: out-1\n"), std::string::npos) << marked.stdoutText;
  EXPECT_NE(marked.stdoutText.find("stderr: err-1\n"), std::string::npos) << marked.stdoutText;

  // Exec: the command's output, and its exit code as ozy's. (The options
  // go before the command: what follows -- is the command's.)
  auto exec = [&](const std::string& url, std::vector<std::string> command) {
    std::vector<std::string> args{"job", "exec", "--address", url, "talk"};
    args.insert(args.end(), command.begin(), command.end());
    return testing_support::runOzy(OZY_BINARY, args, agent_->ozyEnv());
  };
  auto ran = exec(agent_->url(), {"0", "--", "sh", "-c", "echo hi; echo oops >&2; exit 3"});
  EXPECT_EQ(ran.exitCode, 3) << ran.stderrText;
  EXPECT_EQ(ran.stdoutText, "hi\n");
  EXPECT_NE(ran.stderrText.find("oops"), std::string::npos) << ran.stderrText;
  EXPECT_NE(agent_->log().find("exec in talk instance 0 container say"), std::string::npos) << agent_->log();
  auto missing = exec(agent_->url(), {"7", "--", "true"});
  EXPECT_EQ(missing.exitCode, 4) << missing.stderrText;
  EXPECT_NE(missing.stderrText.find("instance-not-found"), std::string::npos) << missing.stderrText;

  // A second node with no room for the job (and nothing to run it with)
  // answers the same, relaying to this one; a line printed after -f began
  // comes through.
  TempDir otherDir;
  testing_support::AgentOptions o;
  o.binary = OZY_BINARY;
  o.node = node_ + "-b";
  o.etcd = etcd_->endpoint();
  o.memory = "16M";
  o.dataDir = otherDir.path();
  o.extraArgs = {"--token-file", dataDir_.path() + "/token"};
  auto other = AgentProcess::start(o);
  ASSERT_TRUE(other) << other.error();
  auto viaOther = [&](std::vector<std::string> args) {
    args.insert(args.end(), {"--address", (*other)->url()});
    return testing_support::runOzy(OZY_BINARY, args, agent_->ozyEnv());
  };
  auto relayed = viaOther({"job", "logs", "talk", "0"});
  ASSERT_EQ(relayed.exitCode, 0) << relayed.stderrText << (*other)->log();
  EXPECT_NE(relayed.stdoutText.find("out-1\n"), std::string::npos) << relayed.stdoutText;
  EXPECT_NE(relayed.stdoutText.find("err-1\n"), std::string::npos) << relayed.stdoutText;
  auto relayedExec = exec((*other)->url(), {"0", "--", "sh", "-c", "exit 5"});
  EXPECT_EQ(relayedExec.exitCode, 5) << relayedExec.stderrText;
  EXPECT_NE(agent_->log().find("relayed by " + node_ + "-b"), std::string::npos) << agent_->log();

  // -f through the other node: a line the container prints after the
  // follow began arrives.
  const std::string followed = run(fmt::format("OZY_TOKEN={} timeout 3 {} job logs talk 0 -f --tail 0 --address {}",
                                                agent_->token(), OZY_BINARY, (*other)->url()));
  EXPECT_NE(followed.find("tick-"), std::string::npos) << followed;
  EXPECT_EQ(followed.find("out-1"), std::string::npos) << followed;
}

TEST_F(NodeAgentTest, HealthFlipsAndDnsRecordsFollow) {
  submit("web", webJob("web", 1));
  ASSERT_TRUE(waitFor([&] { return allIn("web", 1, InstanceState::kHealthy); }, 60s)) << describe("web");
  const std::string ip = statuses("web")[0].podIp;
  ASSERT_FALSE(ip.empty());
  ASSERT_TRUE(waitFor([&] { return dig("web.ozy.local", "A") == ip; }, 10s)) << dig("web.ozy.local", "A");
  EXPECT_EQ(dig("0.web.ozy.local", "A"), ip);
  EXPECT_EQ(dig("web.ozy.local", "SRV"), "10 10 8080 0.web.ozy.local.");
  auto record = store_->get("/skydns/local/ozy/web/0");
  ASSERT_TRUE(record && record->kvs.size() == 1);
  EXPECT_EQ(json::parse(record->kvs[0].value)["host"], ip);

  // The health endpoint goes away: unhealthy, and the record with it.
  podman("exec " + podName("web", 0) + ".web rm /www/health");
  ASSERT_TRUE(waitFor([&] { return allIn("web", 1, InstanceState::kUnhealthy); }, 20s)) << describe("web");
  EXPECT_NE(statuses("web")[0].reason.find("404"), std::string::npos) << statuses("web")[0].reason;
  ASSERT_TRUE(waitFor([&] { return dig("web.ozy.local", "A").empty(); }, 10s));
  auto gone = store_->get("/skydns/local/ozy/web/0");
  ASSERT_TRUE(gone);
  EXPECT_TRUE(gone->kvs.empty());

  // And back (restart: no, so the same container recovers by itself).
  podman("exec " + podName("web", 0) + ".web sh -c 'echo ok > /www/health'");
  ASSERT_TRUE(waitFor([&] { return allIn("web", 1, InstanceState::kHealthy); }, 20s)) << describe("web");
  ASSERT_TRUE(waitFor([&] { return dig("web.ozy.local", "A") == ip; }, 10s));
  EXPECT_EQ(statuses("web")[0].restarts, 0u);
}

TEST_F(NodeAgentTest, DriftIsRepaired) {
  submit("drift", webJob("drift", 1, "always"));
  ASSERT_TRUE(waitFor([&] { return allIn("drift", 1, InstanceState::kHealthy); }, 60s)) << describe("drift");
  const std::string before = podId("drift", 0);
  podman("pod rm -f -t 0 " + podName("drift", 0));
  ASSERT_TRUE(waitFor([&] {
    const std::string now = podId("drift", 0);
    return !now.empty() && now != before && allIn("drift", 1, InstanceState::kHealthy);
  }, 60s)) << describe("drift");

  // A pod labelled as this node's that etcd does not assign goes away.
  podman(fmt::format("pod create --name ozy-stray-{0} --label ozy.managed-by=ozymandias "
                     "--label ozy.node={0} --label ozy.job=stray --label ozy.instance=0",
                     node_));
  ASSERT_FALSE(podman("pod ps -q --filter name=ozy-stray-" + node_).empty());
  EXPECT_TRUE(waitFor([&] { return podman("pod ps -q --filter name=ozy-stray-" + node_).empty(); }, 20s));
}

TEST_F(NodeAgentTest, AgentKilledAndRestartedAdoptsItsPods) {
  submit("keep", webJob("keep", 2, "always"));
  ASSERT_TRUE(waitFor([&] { return allIn("keep", 2, InstanceState::kHealthy); }, 60s)) << describe("keep");
  const std::string pod0 = podId("keep", 0);
  const std::string started = podman("inspect -f '{{.State.StartedAt}}' " + podName("keep", 0) + ".web");
  ASSERT_FALSE(started.empty());

  ::kill(agent_->pid(), SIGKILL);
  agent_->kill();  // reaps it
  ASSERT_NO_FATAL_FAILURE(startAgent());
  // Back within the lease's TTL: nothing restarted, records kept.
  std::this_thread::sleep_for(3s);
  EXPECT_TRUE(allIn("keep", 2, InstanceState::kHealthy)) << describe("keep");
  EXPECT_EQ(podId("keep", 0), pod0);
  EXPECT_EQ(podman("inspect -f '{{.State.StartedAt}}' " + podName("keep", 0) + ".web"), started);
  EXPECT_NE(agent_->log().find("adopting"), std::string::npos) << agent_->log();
  EXPECT_EQ(statuses("keep")[0].restarts, 0u);
}

TEST_F(NodeAgentTest, ANodeCutOffFromEtcdStopsItsInstancesAndStartsThemWhenBack) {
  agent_->kill();
  leaseTtl_ = 4;  // cut off after 3 s without a renewal
  ASSERT_NO_FATAL_FAILURE(startAgent());
  submit("cut", webJob("cut", 1, "always"));
  ASSERT_TRUE(waitFor([&] { return allIn("cut", 1, InstanceState::kHealthy); }, 60s)) << describe("cut");
  const std::string before = podId("cut", 0);

  etcd_->terminate();
  EXPECT_TRUE(waitFor([&] { return podId("cut", 0).empty(); }, 20s)) << agent_->log();
  EXPECT_NE(agent_->log().find("stopping every instance"), std::string::npos);

  auto back = etcd_->restart();
  ASSERT_TRUE(back) << back.error();
  ASSERT_TRUE(waitFor([&] {
    const std::string now = podId("cut", 0);
    return !now.empty() && now != before && allIn("cut", 1, InstanceState::kHealthy);
  }, 60s)) << describe("cut");
}

// PID 1 `sleep` ignores SIGTERM, so a container only dies of SIGKILL; each
// start appends a line to a file in its local volume.
std::string stubbornJob(const std::string& name, int instances) {
  return fmt::format(R"(name: {}
numInstances: {}
containers:
  sleep:
    image: {}
    memory: 16M
    command: ["sh", "-c", "echo started >> /data/starts && exec sleep 3600"]
    volumes:
      - {{type: local, path: /data, space: 1M}}
)",
                     name, instances, testing_support::kTestImage);
}

TEST_F(NodeAgentTest, SigtermStopsTheAgentOnlyAndTheNextAgentAdoptsEverything) {
  submit("stay", stubbornJob("stay", 3));
  ASSERT_TRUE(waitFor([&] { return allIn("stay", 3, InstanceState::kHealthy); }, 60s)) << describe("stay");
  const std::string pod0 = podId("stay", 0);
  const std::string started = podman("inspect -f '{{.State.StartedAt}}' " + podName("stay", 0) + ".sleep");

  EXPECT_EQ(agent_->terminate(), 0);

  // An upgrade of the agent: nothing it ran notices.
  EXPECT_EQ(podId("stay", 0), pod0);
  EXPECT_EQ(podman("inspect -f '{{.State.Status}}' " + podName("stay", 0) + ".sleep"), "running");
  EXPECT_TRUE(std::filesystem::exists(fmt::format("{}/volumes/stay/0/sleep/0/starts", dataDir_.path())));
  ASSERT_NO_FATAL_FAILURE(startAgent());
  ASSERT_TRUE(waitFor([&] { return agent_->log().find("adopting 3") != std::string::npos; }, 20s))
      << agent_->log();
  ASSERT_TRUE(waitFor([&] { return allIn("stay", 3, InstanceState::kHealthy); }, 30s)) << describe("stay");
  EXPECT_EQ(podId("stay", 0), pod0);
  EXPECT_EQ(podman("inspect -f '{{.State.StartedAt}}' " + podName("stay", 0) + ".sleep"), started);
  EXPECT_EQ(statuses("stay")[0].restarts, 0u);
}

TEST_F(NodeAgentTest, AFrozenEtcdGetsContainersKilledBeforeTheLeaseEndsAndKeepsTheirData) {
  agent_->kill();
  leaseTtl_ = 4;  // cut off 3 s after the last renewal; no room for a grace: SIGKILL at once
  ASSERT_NO_FATAL_FAILURE(startAgent());
  submit("frozen", stubbornJob("frozen", 2));
  ASSERT_TRUE(waitFor([&] { return allIn("frozen", 2, InstanceState::kHealthy); }, 60s)) << describe("frozen");
  const std::string starts = fmt::format("{}/volumes/frozen/0/sleep/0/starts", dataDir_.path());
  ASSERT_TRUE(std::filesystem::exists(starts));
  const std::string before = podId("frozen", 0);

  // Frozen, not gone: the lease can end no earlier than TTL after `frozenAt`
  // (the last renewal came before it), and the containers must be dead first.
  const auto frozenAt = std::chrono::steady_clock::now();
  ASSERT_EQ(::kill(etcd_->pid(), SIGSTOP), 0);
  struct Thaw {
    pid_t pid;
    ~Thaw() { ::kill(pid, SIGCONT); }
  } thaw{etcd_->pid()};
  auto running = [&] {
    return podman("ps -q --filter label=ozy.container=sleep --filter status=running "
                  "--filter pod=" + podName("frozen", 0) + " --filter pod=" + podName("frozen", 1)) != "";
  };
  ASSERT_TRUE(waitFor(running, 1s)) << "the instances run while the lease is surely alive";
  ASSERT_TRUE(waitFor([&] { return !running(); }, 10s)) << agent_->log();
  const auto deadAt = std::chrono::steady_clock::now();
  EXPECT_LT(deadAt - frozenAt, std::chrono::seconds(leaseTtl_))
      << "containers outlived the earliest moment the lease could expire";
  RecordProperty("killed_after_freeze_ms",
                 static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(deadAt - frozenAt).count()));

  // Frozen for 1.5 TTL: the lease is gone on etcd's side when it wakes.
  while (std::chrono::steady_clock::now() - frozenAt < std::chrono::milliseconds(leaseTtl_ * 1500)) {
    EXPECT_FALSE(running()) << "a cut-off node started an instance";
    std::this_thread::sleep_for(200ms);
  }
  ::kill(etcd_->pid(), SIGCONT);
  ASSERT_TRUE(waitFor([&] {
    const std::string now = podId("frozen", 0);
    return !now.empty() && now != before && running() && allIn("frozen", 2, InstanceState::kHealthy);
  }, 60s)) << describe("frozen");
  std::ifstream file(starts);
  std::string line;
  int lines = 0;
  while (std::getline(file, line)) ++lines;
  EXPECT_EQ(lines, 2) << "the volume's data came back with its instance";
}

TEST_F(NodeAgentTest, LocalVolumesOfInstancesNoLongerHereAreSweptAfterTheGrace) {
  agent_->kill();
  moreArgs_ = {"--volume-grace", "2s"};
  const std::string ghost = dataDir_.path() + "/volumes/ghost/7/app/0";
  std::filesystem::create_directories(ghost);  // an instance that moved away while the agent was down
  ASSERT_NO_FATAL_FAILURE(startAgent());
  submit("kept", stubbornJob("kept", 1));
  ASSERT_TRUE(waitFor([&] { return allIn("kept", 1, InstanceState::kHealthy); }, 60s)) << describe("kept");
  EXPECT_TRUE(std::filesystem::exists(ghost)) << "swept before its grace";

  EXPECT_TRUE(waitFor([&] { return !std::filesystem::exists(dataDir_.path() + "/volumes/ghost/7"); }, 20s))
      << agent_->log();
  EXPECT_TRUE(std::filesystem::exists(dataDir_.path() + "/volumes/kept/0/sleep/0/starts"));
}

TEST_F(NodeAgentTest, APodmanServiceThatDiesIsStartedAgainAndMeanwhileNobodyIsSentToItsPods) {
  submit("engine", webJob("engine", 1, "always"));
  ASSERT_TRUE(waitFor([&] { return allIn("engine", 1, InstanceState::kHealthy); }, 60s)) << describe("engine");
  const std::string dnsKey = "/skydns/local/ozy/engine/0";
  // The node writes the record just after the healthy report.
  ASSERT_TRUE(waitFor([&] { return store_->get(dnsKey).ok() && !store_->get(dnsKey)->kvs.empty(); }, 5s));
  const std::string pod = podId("engine", 0);
  // Everything etcd hears while podman is down, however briefly.
  std::mutex mutex;
  bool recordWithdrawn = false;
  bool reportedUnknown = false;
  auto watch = store_->watch("/", 0, [&](std::vector<WatchEvent> events, std::int64_t) {
    std::lock_guard lock(mutex);
    for (const auto& e : events) {
      if (e.kv.key == dnsKey && e.type == WatchEvent::kDelete) recordWithdrawn = true;
      if (e.kv.key == keys::status("engine", 0) && e.type == WatchEvent::kPut) {
        auto status = decodeInstanceStatus(e.kv.value);
        if (status && status->state == InstanceState::kUnknown) reportedUnknown = true;
      }
    }
  }, [](const StoreError&) {});
  const std::string service = run("pgrep -f 'unix://" + dataDir_.path() + "/podman.sock'");
  ASSERT_FALSE(service.empty());

  ASSERT_EQ(::kill(std::stoi(service), SIGKILL), 0);

  ASSERT_TRUE(waitFor([&] {
    const std::string now = run("pgrep -f 'unix://" + dataDir_.path() + "/podman.sock'");
    return !now.empty() && now != service;
  }, 20s)) << agent_->log();
  ASSERT_TRUE(waitFor([&] {
    return allIn("engine", 1, InstanceState::kHealthy) && !store_->get(dnsKey)->kvs.empty();
  }, 30s)) << describe("engine");
  watch->stop();
  std::lock_guard lock(mutex);
  EXPECT_TRUE(recordWithdrawn) << "clients were still sent to a node whose engine was down";
  EXPECT_TRUE(reportedUnknown) << agent_->log();
  EXPECT_EQ(podId("engine", 0), pod) << "the pods outlive their engine's service";
}

TEST_F(NodeAgentTest, AJobWithTheLongestNameRuns) {
  // Its pod's host name would have been 69 characters, past the 63 a label may have.
  const std::string name = "a-job-name-of-sixty-three-characters-which-is-the-longest-legal";
  ASSERT_EQ(name.size(), 63u);
  submit(name, webJob(name, 1));
  ASSERT_TRUE(waitFor([&] { return allIn(name, 1, InstanceState::kHealthy); }, 60s)) << describe(name);
  const std::string hostname = podman("exec " + podName(name, 0) + ".web cat /etc/hostname");
  EXPECT_EQ(hostname.size(), 63u) << hostname;
  EXPECT_TRUE(hostname.ends_with("-0")) << hostname;
}

TEST_F(NodeAgentTest, PodsReachAnotherJobByName) {
  // Pods resolve through the agent: it answers on port 53 of podman's bridge.
  const std::string gateway =
      podman("network inspect podman --format '{{range .Subnets}}{{.Gateway}}{{end}}'");
  if (gateway.empty()) GTEST_SKIP() << "podman's default network has no gateway";
  if (!run("ss -Hlun 'sport = :53'").empty()) GTEST_SKIP() << "port 53 is taken on this host";
  agent_->kill();
  dnsListen_ = "0.0.0.0:53";
  moreArgs_ = {"--pod-dns", gateway};
  ASSERT_NO_FATAL_FAILURE(startAgent());

  submit("server", webJob("server", 1, "always"));
  submit("client", fmt::format(R"(name: client
containers:
  fetch:
    image: {}
    command: ["sh", "-c", "until wget -q -O /tmp/got http://server.ozy.local:8080/health; do sleep 0.3; done; exec sleep 3600"]
    memory: 16M
    healthcheck:
      type: exec
      command: ["cat", "/tmp/got"]
      interval: 1s
      timeout: 1s
)",
                               testing_support::kTestImage));
  EXPECT_TRUE(waitFor([&] { return allIn("client", 1, InstanceState::kHealthy); }, 60s))
      << describe("client") << describe("server");
  EXPECT_EQ(podman("exec " + podName("client", 0) + ".fetch cat /tmp/got"), "ok");
}

}  // namespace
}  // namespace ozy
