#include "agent/replacer.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "common/fnv.h"
#include "metrics/metrics.h"

namespace ozy {

std::size_t rankFor(std::string_view work, std::string_view node,
                    const std::vector<std::string>& liveNodes) {
  const std::uint64_t seed = fnv1a("/", fnv1a(work));
  auto score = [&](std::string_view n) { return fnv1a(n, seed); };
  if (std::find(liveNodes.begin(), liveNodes.end(), node) == liveNodes.end()) {
    return liveNodes.size();
  }
  const std::uint64_t mine = score(node);
  std::size_t ahead = 0;
  for (const auto& other : liveNodes) {
    const std::uint64_t theirs = score(other);
    // Highest score first; ties (all but impossible) go by name.
    if (theirs > mine || (theirs == mine && other < node)) ++ahead;
  }
  return ahead;
}

namespace {

constexpr std::string_view kPendingWork = "pending instances";

}  // namespace

Replacer::Replacer(ControlPlane& control, ReplacerConfig config)
    : control_(control), config_(std::move(config)) {}

Replacer::~Replacer() { stop(); }

void Replacer::start() {
  thread_ = std::thread([this] { loop(); });
}

void Replacer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Replacer::loop() {
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, config_.interval, [this] { return stopping_; })) {
    lock.unlock();
    if (auto view = config_.view ? config_.view() : std::nullopt) {
      const ReplacementWork work = dueWork(*view, config_, memory_, ReplacementMemory::Clock::now());
      if (work.any()) act(work);
    }
    lock.lock();
  }
}

ReplacementWork dueWork(const ClusterSnapshot& view, const ReplacerConfig& config,
                        ReplacementMemory& memory, ReplacementMemory::Clock::time_point now) {
  std::vector<std::string> live;
  for (const auto& e : view.nodes) {
    if (e.live) live.push_back(e.name);
  }
  ReplacementWork work;
  std::map<std::string, ReplacementMemory::Vacating> stillVacating;
  for (const auto& e : view.nodes) {
    const bool drained = e.live && e.drained();
    if ((e.live && !drained) || e.usage.instances == 0) continue;
    const auto seen = memory.vacating.find(e.name);
    ReplacementMemory::Vacating& v =
        stillVacating
            .emplace(e.name, seen == memory.vacating.end() ? ReplacementMemory::Vacating{now, {}, 0}
                                                           : seen->second)
            .first->second;
    const std::size_t rank = rankFor(e.name, config.node, live);
    if (rank > 2 || now - v.since < static_cast<int>(rank) * config.fallbackDelay) continue;
    if (drained) {
      const bool unchanged = v.lastLook && v.instancesAtLastLook == e.usage.instances;
      if (unchanged && now - *v.lastLook < config.pendingInterval) continue;
      v.lastLook = now;
      v.instancesAtLastLook = e.usage.instances;
    }
    work.nodesToVacate.insert(e.name);
  }
  memory.vacating = std::move(stillVacating);
  const std::size_t rank = rankFor(kPendingWork, config.node, live);
  if (rank <= 2 &&
      now - memory.lastPendingLook >= static_cast<int>(1 + 5 * rank) * config.pendingInterval) {
    memory.lastPendingLook = now;
    work.pending = true;
  }
  return work;
}

void Replacer::act(const ReplacementWork& work) {
  auto jobs = control_.jobsToReplace(work.nodesToVacate, work.pending);
  if (!jobs) {
    spdlog::warn("re-placement: cannot list jobs: {}", jobs.error().detail);
    return;
  }
  for (const auto& name : *jobs) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
    }
    auto done = control_.replace(name);
    if (!done) {
      spdlog::warn("re-placement of job {}: {}", name, done.error().detail);
      continue;
    }
    if (done->revision == 0) continue;  // another agent did it, or nothing fits yet
    if (config_.metrics) config_.metrics->replaced(done->placed.size());
    spdlog::info("re-placed job {}: {} instances moved off gone or drained nodes, {} placed, {} pending",
                 name, done->removed.size(), done->placed.size(), done->job.pending.size());
  }
}

}  // namespace ozy
