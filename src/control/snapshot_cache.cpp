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
  std::unique_ptr<SnapshotCache> cache(new SnapshotCache(store));
  auto synced = cache->resync();
  if (!synced) return fail(std::move(synced).error());
  cache->maintainer_ = std::thread([raw = cache.get()] { raw->maintain(); });
  return cache;
}

SnapshotCache::~SnapshotCache() { stop(); }

Result<bool, StoreError> SnapshotCache::resync() {
  // Old watches (if any) end first, so none of their events lands on the
  // fresh view.
  nodesWatch_.reset();
  usageWatch_.reset();
  poolWatch_.reset();
  drainWatch_.reset();
  Txn txn;
  txn.success = {TxnOp::getPrefix(std::string(keys::kNodes)),
                 TxnOp::getPrefix(std::string(keys::kUsage)),
                 TxnOp::get(std::string(keys::kSharedPool)),
                 TxnOp::getPrefix(std::string(keys::kDrain))};
  auto read = store_.txn(txn);
  if (!read) return fail(std::move(read).error());
  ClusterSnapshot fresh;
  for (const auto& list : read->gets) {
    for (const auto& kv : list) {
      if (!applyKey(fresh, kv.key, &kv.value, kv.modRevision)) warnUnreadable(kv.key);
    }
  }
  fresh.revision = read->revision;
  prune(fresh);

  // Watch from just after the read: nothing between is missed.
  auto onEvents = [this](std::vector<WatchEvent> events, std::int64_t) { applyEvents(events); };
  auto onError = [this](const StoreError& error) {
    spdlog::warn("state cache: watch ended ({}); re-reading", error.message);
    std::lock_guard lock(mutex_);
    valid_ = false;
    needResync_ = true;
    wake_.notify_all();
  };
  const std::int64_t from = read->revision + 1;
  {
    std::lock_guard lock(mutex_);
    view_ = std::move(fresh);
    valid_ = true;
  }
  nodesWatch_ = store_.watch(std::string(keys::kNodes), from, onEvents, onError);
  usageWatch_ = store_.watch(std::string(keys::kUsage), from, onEvents, onError);
  poolWatch_ = store_.watch(std::string(keys::kSharedPool), from, onEvents, onError);
  drainWatch_ = store_.watch(std::string(keys::kDrain), from, onEvents, onError);
  return true;
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

void SnapshotCache::maintain() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || needResync_; });
    if (stopping_) return;
    needResync_ = false;
    lock.unlock();
    if (auto done = resync(); !done) {
      spdlog::warn("state cache: cannot re-read ({}); planning reads etcd directly until it can",
                   done.error().message);
      std::this_thread::sleep_for(std::chrono::seconds(1));
      lock.lock();
      needResync_ = true;
      continue;
    }
    lock.lock();
  }
}

void SnapshotCache::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
    wake_.notify_all();
  }
  if (maintainer_.joinable()) maintainer_.join();
  nodesWatch_.reset();
  usageWatch_.reset();
  poolWatch_.reset();
  drainWatch_.reset();
}

}  // namespace ozy
