// The cut-off guard's timer and its kill; see cut_off_guard.h.
#include "agent/cut_off_guard.h"

#include <algorithm>
#include <vector>

#include <spdlog/spdlog.h>

namespace ozy {

CutOffGuard::CutOffGuard(runtime::ContainerRuntime& runtime, CutOffGuardConfig config)
    : runtime_(runtime), config_(std::move(config)) {
  thread_ = std::thread([this] { loop(); });
}

CutOffGuard::~CutOffGuard() { stop(); }

void CutOffGuard::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CutOffGuard::loop() {
  // Cut-off begins at 3/4 of the TTL after the last confirmed renewal; the
  // containers get `grace` to exit, then SIGKILL, all at once. Checking
  // every 100 ms keeps the whole stand-down inside the last quarter.
  constexpr auto kTick = std::chrono::milliseconds(100);
  constexpr std::int64_t kRecheckMs = 500;  // a pass that raced the kill
  std::int64_t lastKillMs = 0;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      if (wake_.wait_for(lock, kTick, [this] { return stopping_; })) return;
    }
    if (!config_.cutOff || !config_.cutOff()) {
      lastKillMs = 0;
      continue;
    }
    if (lastKillMs != 0 && config_.steadyMs() - lastKillMs < kRecheckMs) continue;
    if (lastKillMs == 0) {
      spdlog::warn("node {}: no lease renewal for 3/4 of its TTL; killing every container "
                   "({} s grace) before the lease can expire",
                   config_.node, config_.grace.count());
    }
    killAll();
    lastKillMs = config_.steadyMs();
    if (config_.afterKill) config_.afterKill();
  }
}

void CutOffGuard::killAll() {
  auto pods = runtime_.listPods(config_.managedLabels);
  if (!pods) {
    spdlog::error("cannot list pods to kill them: {}", pods.error().message);
    return;
  }
  std::vector<std::string> running;
  for (const auto& pod : *pods) {
    const bool live = std::any_of(pod.containers.begin(), pod.containers.end(), [](const auto& c) {
      return c.state == runtime::ContainerStatus::kRunning || c.state == runtime::ContainerStatus::kPaused ||
             c.state == runtime::ContainerStatus::kStopping;
    });
    if (live) running.push_back(pod.name);
  }
  // Side by side: one slow pod must not hold the others past the lease.
  std::vector<std::thread> threads;
  for (const auto& name : running) {
    threads.emplace_back([this, name] {
      if (auto stopped = runtime_.stopPod(name, config_.grace); !stopped) {
        spdlog::error("pod {}: cannot kill it: {}", name, stopped.error().message);
      }
    });
  }
  for (auto& thread : threads) thread.join();
}

}  // namespace ozy
