#include "agent/health_monitor.h"

#include <algorithm>
#include <set>

namespace ozy {

struct HealthMonitor::Worker {
  Worker(CheckTarget t)
      : target(std::move(t)), tracker(target.check.healthyThreshold, target.check.unhealthyThreshold) {
    if (!target.startHealthy) return;
    for (int i = 0; i < target.check.healthyThreshold; ++i) tracker.record(true);
  }
  CheckTarget target;
  HealthTracker tracker;  // guarded by the monitor's mutex
  bool stop = false;      // likewise
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
      worker->thread = std::thread([this, worker] { run(worker); });
      workers_.emplace(t.key, std::move(worker));
    }
    for (auto it = workers_.begin(); it != workers_.end();) {
      if (wanted.contains(it->first)) {
        ++it;
        continue;
      }
      it->second->stop = true;
      it->second->wake.notify_all();
      retired_.push_back(std::move(it->second->thread));
      it = workers_.erase(it);
    }
  }
  reapRetired();
}

void HealthMonitor::reapRetired() {
  // A retiring thread in the middle of a probe finishes it first: the wait is
  // bounded by the check's timeout.
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    threads.swap(retired_);
  }
  for (auto& t : threads) t.join();
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
      retired_.push_back(std::move(worker->thread));
    }
    workers_.clear();
  }
  reapRetired();
}

void HealthMonitor::run(const std::shared_ptr<Worker>& worker) {
  const HealthCheck& check = worker->target.check;
  const auto interval = std::chrono::milliseconds(std::max<std::int64_t>(check.interval.count(), 1));
  // Until the first verdict, probe soon and then less often (100 ms doubling
  // to a second, or to the interval if shorter): a container is usually
  // ready within moments of starting, and its dependents and DNS record wait.
  const auto startingMax = std::min(interval, std::chrono::milliseconds(1000));
  auto startingInterval = std::min(startingMax, std::chrono::milliseconds(100));
  for (;;) {
    ProbeResult result = probe_(worker->target);
    bool changed = false;
    std::chrono::milliseconds pause{};
    {
      std::unique_lock lock(mutex_);
      if (worker->stop) return;
      changed = worker->tracker.record(result.ok, std::move(result.detail));
      if (worker->tracker.verdict() == HealthVerdict::kStarting) {
        pause = startingInterval;
        startingInterval = std::min(startingMax, startingInterval * 2);
      } else {
        pause = interval;
      }
    }
    if (changed) onChange_();
    std::unique_lock lock(mutex_);
    worker->wake.wait_for(lock, pause, [&] { return worker->stop; });
    if (worker->stop) return;
  }
}

}  // namespace ozy
