// HealthMonitor: runs the health checks of a node's running containers, each
// on its own schedule, and keeps their verdicts (reconcile/health.h).
//
// The supervisor tells it which checks should run (setTargets, level-
// triggered like everything else on the node) and reads verdicts back; a
// verdict that changes wakes the supervisor through `onChange`, whose next
// pass withdraws the DNS record of an instance that turned unhealthy before
// it does anything else.
//
// Each check has a thread: checks wait on the network or on exec, and one
// slow check must not delay another. A starting container is probed at once
// and every 25 ms for a second, then at pauses doubling to a second (or its
// interval, if shorter) until its first success; then at its interval. Failures before
// the first success count only after unhealthy_threshold intervals.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "job/job.h"
#include "reconcile/health.h"

namespace ozy {

struct CheckTarget {
  // Identifies one run of one container: a restarted container gets a new
  // key, and with it a fresh verdict.
  std::string key;
  std::string container;  // the engine's container name, for exec checks
  std::string podIp;      // for http and tcp checks
  HealthCheck check;
  // Begin healthy instead of starting: for a container adopted after an agent
  // restart that etcd last saw healthy, so its DNS record stays. Later
  // probes decide as usual.
  bool startHealthy = false;
  std::string job;  // whose container it is, for the metrics
};

struct ProbeResult {
  bool ok = false;
  std::string detail;  // on failure: what went wrong, e.g. "HTTP 503"
};

using Probe = std::function<ProbeResult(const CheckTarget&)>;

struct HealthView {
  HealthVerdict verdict = HealthVerdict::kStarting;
  std::string lastFailure;
};

class HealthMonitor {
 public:
  HealthMonitor(Probe probe, std::function<void()> onChange);
  ~HealthMonitor();
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  // Runs exactly these checks: new keys start, missing keys stop.
  void setTargets(const std::vector<CheckTarget>& targets);
  // The verdict for a key, or nothing if it is not monitored.
  std::optional<HealthView> view(const std::string& key) const;
  // Stops every check and waits for their threads.
  void stop();

 private:
  struct Worker;
  void run(const std::shared_ptr<Worker>& worker);
  // Joins retired checks that have ended; with `all`, every one.
  void reap(bool all);

  Probe probe_;
  std::function<void()> onChange_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Worker>> workers_;
  std::vector<std::shared_ptr<Worker>> retired_;
  bool stopped_ = false;
};

}  // namespace ozy
