#include "agent/health_monitor.h"

#include <algorithm>
#include <exception>
#include <set>

#include <spdlog/spdlog.h>

namespace ozy {

struct HealthMonitor::Worker {
  explicit Worker(CheckTarget t)
      : target(std::move(t)), tracker(target.check.healthyThreshold, target.check.unhealthyThreshold) {
    if (!target.startHealthy) return;
    for (int i = 0; i < target.check.healthyThreshold; ++i) tracker.record(true);
  }
  CheckTarget target;
  HealthTracker tracker;  // guarded by the monitor's mutex
  bool stop = false;      // likewise
  bool finished = false;  // likewise: run() has returned, join() will not block
  std::condition_variable wake;
  std::thread thread;
};

HealthMonitor::HealthMonitor(Probe probe, std::function<void()> onChange)
    : probe_(std::move(probe)), onChange_(std::move(onChange)) {}

HealthMonitor::~HealthMonitor() { stop(); }

void HealthMonitor::setTargets(const std::vector<CheckTarget>& targets) {
  std::set<std::string> wanted;
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    for (const auto& t : targets) {
      wanted.insert(t.key);
      if (workers_.contains(t.key)) continue;
      auto worker = std::make_shared<Worker>(t);
      try {
        worker->thread = std::thread([this, worker] { run(worker); });
      } catch (const std::exception& e) {
        // Out of threads: the check stays unmonitored (the container
        // starting) and is tried again on the next pass.
        spdlog::error("cannot start the health check of {}: {}", t.container, e.what());
        continue;
      }
      workers_.emplace(t.key, std::move(worker));
    }
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (wanted.contains(it->first)) {
        ++it;
        continue;
      }
      it->second->stop = true;
      it->second->wake.notify_all();
      retired_.push_back(std::move(it->second));
      it = workers_.erase(it);
    }
  }
  reap(false);
}

void HealthMonitor::reap(bool all) {
  // A retired check in the middle of a probe finishes it first (up to the
  // check's timeout). The supervisor's pass must not wait for that: only
  // checks that have ended are joined here, the others on a later call.
  std::vector<std::shared_ptr<Worker>> done;
  {
    std::lock_guard lock(mutex_);
    auto split = std::partition(retired_.begin(), retired_.end(),
                                [&](const auto& w) { return !all && !w->finished; });
    done.assign(std::make_move_iterator(split), std::make_move_iterator(retired_.end()));
    retired_.erase(split, retired_.end());
  }
  for (auto& w : done) {
    if (w->thread.joinable()) w->thread.join();
  }
}

std::optional<HealthView> HealthMonitor::view(const std::string& key) const {
  std::lock_guard lock(mutex_);
  auto it = workers_.find(key);
  if (it == workers_.end()) return std::nullopt;
  return HealthView{it->second->tracker.verdict(), it->second->tracker.lastFailure()};
}

void HealthMonitor::stop() {
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    for (auto& [key, worker] : workers_) {
      worker->stop = true;
      worker->wake.notify_all();
      retired_.push_back(std::move(worker));
    }
    workers_.clear();
  }
  reap(true);
}

void HealthMonitor::run(const std::shared_ptr<Worker>& worker) {
  const HealthCheck& check = worker->target.check;
  const auto interval = std::chrono::milliseconds(std::max<std::int64_t>(check.interval.count(), 1));
  // Until the first success, probe every 25 ms for a second, then at pauses
  // doubling to a second (or to the interval if shorter): a container is
  // usually ready within moments, and its dependents and DNS record wait.
  const auto startingMax = std::min(interval, std::chrono::milliseconds(1000));
  auto startingPause = std::min(startingMax, std::chrono::milliseconds(25));
  const auto eagerUntil = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  // Failures before the first success count only after a start period of
  // unhealthy_threshold intervals, so the quick early probes cannot call a
  // slow starter unhealthy (and have it restarted) before it had a chance.
  const auto started = std::chrono::steady_clock::now();
  const auto startPeriod = interval * std::max(1, check.unhealthyThreshold);
  for (;;) {
    ProbeResult result;
    try {
      result = probe_(worker->target);
    } catch (const std::exception& e) {
      result = {false, std::string("the check itself failed: ") + e.what()};
    }
    bool changed = false;
    std::chrono::milliseconds pause{};
    {
      std::unique_lock lock(mutex_);
      if (worker->stop) break;
      const bool starting = worker->tracker.verdict() == HealthVerdict::kStarting;
      if (result.ok || !starting || std::chrono::steady_clock::now() - started >= startPeriod) {
        changed = worker->tracker.record(result.ok, std::move(result.detail));
      }
      if (worker->tracker.verdict() == HealthVerdict::kStarting) {
        pause = startingPause;
        if (std::chrono::steady_clock::now() >= eagerUntil) {
          startingPause = std::min(startingMax, startingPause * 2);
        }
      } else {
        pause = interval;
      }
    }
    if (changed) onChange_();
    std::unique_lock lock(mutex_);
    worker->wake.wait_for(lock, pause, [&] { return worker->stop; });
    if (worker->stop) break;
  }
  std::lock_guard lock(mutex_);
  worker->finished = true;
}

}  // namespace ozy
