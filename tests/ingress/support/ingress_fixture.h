// What every ingress integration test starts from: a route table made by
// hand (as the RouteFollower would build it from etcd), an Ingress on
// 127.0.0.1 port 0 with one worker (so that round robin and passive health,
// which are per worker, are deterministic) and timeouts short enough that a
// broken ingress fails fast, long enough never to fire by accident.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "ingress/ingress.h"
#include "scheduler/ingress_claims.h"
#include "ingress/route_table.h"
#include "scheduler/ingress_claims.h"
#include "support/backends.h"

namespace ozy::ingress {

inline void PrintTo(const RequestCount& count, std::ostream* out) {
  *out << "{\"" << count.job << "\", " << count.status << ", " << count.count << "}";
}

}  // namespace ozy::ingress

namespace ozy::ingress::testing {

// Jobs and their healthy instances, in the order the test names them.
class Routes {
 public:
  static constexpr std::string_view kDomain = "apps.test";

  // A job with one container whose ingress serves `hosts` on `port`
  // (and `tcp`, when not 0).
  Routes& job(const std::string& name, std::vector<std::string> hosts, std::uint16_t port,
              std::uint16_t tcp = 0) {
    RouteJob job;
    job.spec.name = name;
    job.createdAtMs = static_cast<std::int64_t>(jobs_.size());
    Container container;
    container.name = "main";
    container.ingress = ozy::Ingress{std::move(hosts), false, port, tcp};
    job.spec.containers.push_back(std::move(container));
    // As the control plane records them when the job is submitted.
    job.claims = ingressClaimsOf(job.spec, kDomain);
    jobs_[name] = std::move(job);
    return *this;
  }
  // Instance ids count from 1 in the order they are added.
  Routes& instance(const std::string& job, const std::string& address,
                   InstanceState state = InstanceState::kHealthy) {
    std::uint32_t id = 1;
    while (statuses_.contains({job, id})) ++id;
    InstanceStatus status;
    status.node = "node-" + std::to_string(id);
    status.state = state;
    status.podIp = address;
    statuses_[{job, id}] = status;
    return *this;
  }
  std::shared_ptr<const RouteTable> build() const {
    return std::make_shared<const RouteTable>(RouteTable::build(jobs_, statuses_, kDomain));
  }

 private:
  std::map<std::string, RouteJob> jobs_;
  std::map<InstanceKey, InstanceStatus> statuses_;
};

// A timeout a test means to run out: long enough for what the test sends
// before it even on a loaded machine, short enough to wait for.
inline constexpr std::chrono::milliseconds kShortTimeout = 1s;

inline IngressConfig testConfig() {
  IngressConfig config;
  config.address = "127.0.0.1";
  config.port = 0;
  config.threads = 1;
  config.headerTimeout = kWait;
  config.idleTimeout = kWait;
  config.requestTimeout = kWait;
  config.connectTimeout = 2s;
  config.upstreamTimeout = kWait;
  config.stopTimeout = 5s;
  return config;
}

// Null (and a test failure) when the ingress does not start.
inline std::unique_ptr<Ingress> startIngress(IngressConfig config = testConfig()) {
  auto ingress = Ingress::start(std::move(config));
  if (!ingress) {
    ADD_FAILURE() << "ingress did not start: " << ingress.error();
    return nullptr;
  }
  return std::move(ingress).value();
}

// Whether `condition` holds within `timeout`: for what the ingress does after
// the client has its answer (counting, logging, listening on a new port).
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = kWait) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

}  // namespace ozy::ingress::testing
