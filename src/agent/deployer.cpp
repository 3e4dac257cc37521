#include "agent/deployer.h"

#include <spdlog/spdlog.h>

#include "agent/replacer.h"
#include "scheduler/keys.h"

namespace ozy {

Deployer::Deployer(Store& store, ControlPlane& control, DeployerConfig config)
    : store_(store), control_(control), config_(std::move(config)) {}

Deployer::~Deployer() { stop(); }

void Deployer::took(const std::string& job, std::string_view value) {
  auto record = decodeDeployment(value);
  // A running deployment needs driving; a paused one waits for promote,
  // whose write shows up here as running again.
  const bool running = record && record->state == DeploymentState::kRunning;
  if (running) {
    active_.try_emplace(job, 0);
  } else {
    active_.erase(job);
  }
}

void Deployer::start() {
  PrefixFollowerOptions options;
  options.prefixes = {std::string(keys::kDeployments)};
  options.name = "deployments";
  options.requireFirstRead = false;
  PrefixFollowerCallbacks callbacks;
  callbacks.onSnapshot = [this](std::vector<KeyValue> kvs, std::int64_t) {
    std::lock_guard lock(mutex_);
    active_.clear();
    for (const auto& kv : kvs) took(std::string(keys::nameUnder(kv.key, keys::kDeployments)), kv.value);
    wake_.notify_all();
  };
  callbacks.onEvents = [this](std::vector<WatchEvent> events, std::int64_t) {
    std::lock_guard lock(mutex_);
    for (const auto& e : events) {
      const std::string job(keys::nameUnder(e.kv.key, keys::kDeployments));
      if (e.type == WatchEvent::kDelete) {
        active_.erase(job);
      } else {
        took(job, e.kv.value);
      }
    }
    wake_.notify_all();
  };
  auto follower = PrefixFollower::start(store_, options, callbacks);
  if (follower) follower_ = std::move(follower).value();
  thread_ = std::thread([this] { loop(); });
}

void Deployer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    wake_.notify_all();
  }
  if (follower_) follower_->stop();
  if (thread_.joinable()) thread_.join();
}

void Deployer::loop() {
  std::uint64_t tick = 0;
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    // Sleep one interval, or until the earliest look a step asked for.
    auto wait = config_.interval;
    const std::int64_t now = config_.nowMs();
    for (const auto& [job, at] : active_) {
      if (at > now) wait = std::min(wait, std::chrono::milliseconds(at - now));
    }
    wake_.wait_for(lock, wait);
    if (stopping_) break;
    ++tick;
    if (active_.empty()) continue;
    const auto view = config_.view ? config_.view() : std::nullopt;
    if (!view) continue;
    std::vector<std::string> live;
    for (const auto& n : view->nodes) {
      if (n.live) live.push_back(n.name);
    }
    std::vector<std::string> due;
    for (const auto& [job, lookAt] : active_) {
      const std::size_t rank = rankFor(job, config_.node, live);
      if (rank == 0 ||
          (rank == 1 && tick % static_cast<std::uint64_t>(config_.fallbackEvery) == 0)) {
        due.push_back(job);
      }
    }
    lock.unlock();
    std::map<std::string, std::int64_t> next;
    for (const auto& job : due) {
      try {
        auto step = control_.deployStep(job);
        if (!step) {
          spdlog::warn("deployment of job {}: {}", job, step.error().detail);
          continue;
        }
        next[job] = step->lookAgainAtMs;
      } catch (const std::exception& e) {
        // One job's bad record must not end the agent: logged, and looked
        // at again (and by the next-ranked agent) later.
        spdlog::error("deployment of job {}: {}", job, e.what());
      }
    }
    lock.lock();
    for (const auto& [job, lookAt] : next) {
      if (auto it = active_.find(job); it != active_.end()) it->second = lookAt;
    }
  }
}

}  // namespace ozy
