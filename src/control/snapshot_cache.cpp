#include "control/snapshot_cache.h"

#include <algorithm>

#include <spdlog/spdlog.h>

#include "scheduler/keys.h"
#include "scheduler/snapshot_update.h"

namespace ozy {
namespace {

void warnUnreadable(const std::string& key) {
  spdlog::warn("state cache: {} is unreadable; a node is taken as gone, anything else ignored",
               key);
}

}  // namespace

Result<std::unique_ptr<SnapshotCache>, StoreError> SnapshotCache::start(Store& store) {
  std::unique_ptr<SnapshotCache> cache(new SnapshotCache());
  SnapshotCache* raw = cache.get();
  // One read of all four at one revision, so the view is never half old.
  auto follower = PrefixFollower::start(
      store,
      {.prefixes = {std::string(keys::kNodes), std::string(keys::kUsage),
                    std::string(keys::kSharedPool), std::string(keys::kDrain)},
       .name = "state cache"},
      {.onSnapshot = [raw](std::vector<KeyValue> kvs,
                           std::int64_t revision) { raw->replaceAll(kvs, revision); },
       .onEvents = [raw](std::vector<WatchEvent> events,
                         std::int64_t) { raw->applyEvents(events); },
       // Until the re-read, plans read etcd directly.
       .onWatchEnded =
           [raw](const StoreError&) {
             std::lock_guard lock(raw->mutex_);
             raw->valid_ = false;
           }});
  if (!follower) return fail(std::move(follower).error());
  cache->follower_ = std::move(follower).value();
  return cache;
}

SnapshotCache::~SnapshotCache() { stop(); }

void SnapshotCache::replaceAll(const std::vector<KeyValue>& kvs, std::int64_t revision) {
  ClusterSnapshot fresh;
  for (const auto& kv : kvs) {
    if (!applyKey(fresh, kv.key, &kv.value, kv.modRevision)) warnUnreadable(kv.key);
  }
  fresh.revision = revision;
  prune(fresh);
  std::lock_guard lock(mutex_);
  view_ = std::move(fresh);
  valid_ = true;
}

void SnapshotCache::applyEvents(const std::vector<WatchEvent>& events) {
  std::lock_guard lock(mutex_);
  for (const auto& ev : events) {
    if (!applyKey(view_, ev.kv.key, ev.type == WatchEvent::kPut ? &ev.kv.value : nullptr,
                  ev.kv.modRevision)) {
      warnUnreadable(ev.kv.key);
    }
  }
  prune(view_);
}

void SnapshotCache::applyCommit(const CommitPlan& plan, std::int64_t revision) {
  std::lock_guard lock(mutex_);
  for (const auto& put : plan.puts) {
    // Plans never write node keys; usage, pool and drain keys take the
    // commit's revision. Usage comes decoded with the plan.
    const auto node = keys::nameUnder(put.key, keys::kUsage);
    const auto decoded = node.empty() ? plan.usage.end() : plan.usage.find(std::string(node));
    if (decoded != plan.usage.end()) {
      applyUsage(view_, node, &decoded->second, revision);
    } else {
      applyKey(view_, put.key, &put.value, revision);
    }
  }
  view_.revision = std::max(view_.revision, revision);
  for (const auto& key : plan.deletes) applyKey(view_, key, nullptr, revision);
  prune(view_);
}

std::optional<ClusterSnapshot> SnapshotCache::current() const {
  std::lock_guard lock(mutex_);
  if (!valid_) return std::nullopt;
  return view_;
}

void SnapshotCache::stop() {
  if (follower_) follower_->stop();
}

}  // namespace ozy
