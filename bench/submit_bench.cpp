// End-to-end submission throughput: jobs POSTed to a real `ozy agent` until
// committed in a real etcd, against the same etcd transactions issued
// directly in the same run (planned the same way, only the Txn timed).
//
//   small jobs   N one-instance jobs, one client, then 4 concurrent clients
//   large job    one 10,000-instance job over 101 nodes (a 203-operation
//                Txn: etcd runs with --max-txn-ops=1000), BIG_RUNS times
//
// Reports instances committed per second and the ratio API / raw (the
// issue's target: at least 0.5). Usage: submit_bench OZY_BINARY [N [BIG_RUNS]]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <thread>

#include <fmt/format.h>

#include "control/control_plane.h"
#include "http/client.h"
#include "scheduler/keys.h"
#include "store/etcd_store.h"
#include "support/agent_process.h"
#include "support/etcd_process.h"
#include "support/temp_dir.h"
#include "job/job_parser.h"

using namespace ozy;
using namespace ozy::testing_support;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kSimulatedNodes = 100;

std::string smallJob(const std::string& name) {
  return "name: " + name + "\ncontainers:\n  app:\n    image: busybox\n    memory: 64M\n";
}

double seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

double sum(const std::vector<double>& xs) { return std::accumulate(xs.begin(), xs.end(), 0.0); }

double median(std::vector<double> xs) {
  std::sort(xs.begin(), xs.end());
  return xs.size() % 2 == 1 ? xs[xs.size() / 2] : (xs[xs.size() / 2 - 1] + xs[xs.size() / 2]) / 2;
}

// The raw path: the planner's Txn for `job`, sent straight to etcd. Only the
// Txn is timed.
Clock::duration snapshotTime{};
int snapshots = 0;

Clock::duration rawSubmit(Store& store, ControlPlane& reader, const Job& job) {
  const auto readStart = Clock::now();
  auto snap = reader.snapshot();
  snapshotTime += Clock::now() - readStart;
  ++snapshots;
  if (!snap) throw std::runtime_error(snap.error().detail);
  auto plan = planSubmit(*snap, job, 0);
  if (!plan) throw std::runtime_error(plan.error().detail);
  Txn txn;
  for (const auto& c : plan->compares) {
    txn.compares.push_back(c.target == KeyCompare::Target::kVersion
                               ? Compare::version(c.key, Compare::kEqual, c.equals)
                           : c.target == KeyCompare::Target::kCreateRevision
                               ? Compare::createRevision(c.key, Compare::kEqual, c.equals)
                               : Compare::modRevision(c.key, Compare::kEqual, c.equals));
  }
  for (const auto& p : plan->puts) txn.success.push_back(TxnOp::put(p.key, p.value));
  const auto start = Clock::now();
  auto result = store.txn(txn);
  const auto took = Clock::now() - start;
  if (!result || !result->succeeded) throw std::runtime_error("raw txn failed");
  return took;
}

int post(const http::HttpClient& client, const std::string& body) {
  auto r = client.send(
      http::ClientRequest{"POST", "/v1/jobs", {{"Content-Type", "application/yaml"}}, body});
  return r ? r->status : -1;
}

void report(const char* what, double instances, double apiSeconds, double rawSeconds) {
  const double api = instances / apiSeconds;
  const double raw = instances / rawSeconds;
  std::printf("%-40s %12.0f %14.0f %8.2f\n", what, api, raw, api / raw);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: submit_bench OZY_BINARY [SMALL_JOBS [BIG_RUNS]]\n");
    return 2;
  }
  const std::string binary = argv[1];
  const int smallJobs = argc > 2 ? std::atoi(argv[2]) : 400;
  const int bigRuns = argc > 3 ? std::atoi(argv[3]) : 20;
  if (smallJobs < 1 || bigRuns < 1) {
    std::fprintf(stderr, "SMALL_JOBS and BIG_RUNS must be positive\n");
    return 2;
  }

  TempDir tmp;
  EtcdProcessOptions etcdOptions;
  etcdOptions.extraArgs = {"--max-txn-ops=1000", "--max-request-bytes=10485760"};
  auto etcd = EtcdProcess::start(etcdOptions);
  if (!etcd) {
    std::fprintf(stderr, "%s\n", etcd.error().c_str());
    return 1;
  }
  EtcdConfig config;
  config.endpoints = {(*etcd)->endpoint()};
  config.timeout = std::chrono::seconds(30);
  auto store = EtcdStore::create(config);
  if (!store) return 1;
  ControlPlane reader(**store, ControlPlaneOptions{});

  // 100 simulated nodes registered directly (under one long lease), plus the
  // real agent's own node.
  auto lease = (*store)->grantLease(600);
  for (int i = 0; i < kSimulatedNodes; ++i) {
    const std::string name = fmt::format("sim-{:03}", i);
    (void)(*store)->put(keys::node(name),
                        encode(NodeRecord{name, "127.0.0.1", "http://127.0.0.1:1", {kTiB, kTiB}, 0, {}}),
                        lease->id);
  }
  std::filesystem::create_directories(tmp.path() + "/agent");
  AgentOptions agentOptions;
  agentOptions.binary = binary;
  agentOptions.node = "agent-node";
  agentOptions.etcd = (*etcd)->endpoint();
  agentOptions.memory = "1T";
  agentOptions.disk = "1T";
  agentOptions.dataDir = tmp.path() + "/agent";
  agentOptions.extraArgs = {"--max-txn-ops", "1000", "--shared-space", "1T"};
  auto agent = AgentProcess::start(agentOptions);
  if (!agent) {
    std::fprintf(stderr, "%s\n", agent.error().c_str());
    return 1;
  }
  http::HttpClientConfig clientConfig;
  clientConfig.baseUrl = (*agent)->url();
  clientConfig.bearerToken = (*agent)->token();
  clientConfig.deadline = std::chrono::seconds(60);
  auto client = http::HttpClient::create(clientConfig);

  std::printf("%-40s %12s %14s %8s\n", "workload", "api inst/s", "raw etcd inst/s", "ratio");

  // 1. Small jobs, one client.
  Clock::duration raw{};
  for (int i = 0; i < smallJobs; ++i) {
    raw += rawSubmit(**store, reader, *parseJob(smallJob(fmt::format("raw-{}", i))));
  }
  auto start = Clock::now();
  for (int i = 0; i < smallJobs; ++i) {
    if (post(*client, smallJob(fmt::format("api-{}", i))) != 201) {
      std::fprintf(stderr, "submission %d failed\n", i);
      return 1;
    }
  }
  const double apiSmall = seconds(Clock::now() - start);
  std::printf("(snapshot read: %.3f ms on average; raw txn: %.3f ms)\n",
              seconds(snapshotTime) * 1000 / snapshots, seconds(raw) * 1000 / smallJobs);
  report(fmt::format("{} one-instance jobs, 1 client", smallJobs).c_str(), smallJobs, apiSmall,
         seconds(raw));

  // 2. Small jobs, 4 concurrent clients (they contend for the same nodes).
  std::atomic<int> failed{0};
  start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < smallJobs; i += 4) {
        if (post(*client, smallJob(fmt::format("par-{}", i))) != 201) ++failed;
      }
    });
  }
  for (auto& th : threads) th.join();
  const double apiParallel = seconds(Clock::now() - start);
  report(fmt::format("{} one-instance jobs, 4 clients", smallJobs).c_str(),
         smallJobs - failed.load(), apiParallel, seconds(raw) * smallJobs / (smallJobs - failed.load()));
  if (failed > 0) std::printf("  (%d of the concurrent submissions failed: contention)\n", failed.load());

  // 3. A 10,000-instance job over 101 nodes, BIG_RUNS times each way (one
  // submission is too short to time alone). The first API submission after
  // the raw ones plans from a cache that may not have seen the last raw
  // commit yet, loses its Txn and re-plans: it is counted like the others.
  auto bigJob = [](const std::string& name) {
    return "name: " + name + "\nnumInstances: 10000\ncontainers:\n  app:\n    image: busybox\n"
           "    memory: 64M\n";
  };
  std::vector<double> rawTimes;
  std::vector<double> apiTimes;
  for (int r = 0; r < bigRuns; ++r) {
    rawTimes.push_back(
        seconds(rawSubmit(**store, reader, *parseJob(bigJob(fmt::format("raw-big-{}", r))))));
  }
  for (int r = 0; r < bigRuns; ++r) {
    start = Clock::now();
    const int status = post(*client, bigJob(fmt::format("big-{}", r)));
    apiTimes.push_back(seconds(Clock::now() - start));
    if (status != 201) {
      std::fprintf(stderr, "the 10,000-instance job failed with HTTP %d\n", status);
      return 1;
    }
  }
  report(fmt::format("10,000-instance job over 101 nodes, x{}", bigRuns).c_str(),
         10000.0 * bigRuns, sum(apiTimes), sum(rawTimes));
  std::printf("  (per submission: api median %.1f ms, first %.1f ms; raw txn median %.1f ms)\n",
              median(apiTimes) * 1000, apiTimes.front() * 1000, median(rawTimes) * 1000);
  return 0;
}
