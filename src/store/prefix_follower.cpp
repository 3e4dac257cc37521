#include "store/prefix_follower.h"

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace ozy {

PrefixFollower::PrefixFollower(Store& store, PrefixFollowerOptions options,
                               PrefixFollowerCallbacks callbacks)
    : store_(store),
      options_(std::move(options)),
      callbacks_(std::move(callbacks)),
      described_(fmt::format("{}", fmt::join(options_.prefixes, ", "))) {}

Result<std::unique_ptr<PrefixFollower>, StoreError> PrefixFollower::start(
    Store& store, PrefixFollowerOptions options, PrefixFollowerCallbacks callbacks) {
  if (options.prefixes.empty()) {
    return fail(StoreError{StoreError::kInvalidArgument,
                           fmt::format("{}: no prefix to follow was given", options.name)});
  }
  std::unique_ptr<PrefixFollower> follower(
      new PrefixFollower(store, std::move(options), std::move(callbacks)));
  const bool readNow = follower->options_.requireFirstRead;
  if (readNow) {
    if (auto read = follower->resync(); !read) return fail(std::move(read).error());
  }
  follower->maintainer_ = std::thread([raw = follower.get(), readNow] { raw->maintain(!readNow); });
  return follower;
}

PrefixFollower::~PrefixFollower() {
  stop();
}

void PrefixFollower::stop() {
  std::lock_guard stopLock(stopMutex_);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  {
    // Waits for a callback under way; none runs its body after this.
    std::lock_guard lock(deliverMutex_);
    silenced_ = true;
  }
  if (maintainer_.joinable()) maintainer_.join();
  watches_.clear();
}

Result<RangeResult, StoreError> PrefixFollower::readAll() {
  if (options_.prefixes.size() == 1) return store_.getPrefix(options_.prefixes.front());
  // Several prefixes are read in one Txn, so the snapshot holds them all at
  // one revision (a Txn's gets are not paged: keep such prefixes small).
  Txn txn;
  for (const auto& prefix : options_.prefixes) txn.success.push_back(TxnOp::getPrefix(prefix));
  auto read = store_.txn(txn);
  if (!read) return fail(std::move(read).error());
  RangeResult all{.kvs = {}, .revision = read->revision};
  for (auto& list : read->gets) {
    std::move(list.begin(), list.end(), std::back_inserter(all.kvs));
  }
  return all;
}

Result<std::size_t, StoreError> PrefixFollower::resync() {
  // The old watches go first (each waits for its callback under way), so
  // none of their events lands after the fresh snapshot.
  watches_.clear();
  auto read = readAll();
  if (!read) return fail(std::move(read).error());
  const std::size_t count = read->kvs.size();
  const std::int64_t from = read->revision + 1;
  {
    std::lock_guard lock(deliverMutex_);
    if (silenced_) return count;
    if (callbacks_.onSnapshot) callbacks_.onSnapshot(std::move(read->kvs), read->revision);
  }
  std::uint64_t generation = 0;
  {
    std::lock_guard lock(mutex_);
    generation = generation_;
  }
  for (const auto& prefix : options_.prefixes) {
    auto onEvents = [this](std::vector<WatchEvent> events, std::int64_t revision) {
      std::lock_guard lock(deliverMutex_);
      if (silenced_ || !callbacks_.onEvents) return;
      callbacks_.onEvents(std::move(events), revision);
    };
    auto onError = [this, generation](const StoreError& error) { watchEnded(generation, error); };
    watches_.push_back(store_.watch(prefix, from, std::move(onEvents), std::move(onError)));
  }
  return count;
}

void PrefixFollower::watchEnded(std::uint64_t generation, const StoreError& error) {
  {
    std::lock_guard lock(mutex_);
    // The first watch of a generation to end asks for the read; the others
    // (ending for the same reason) and watches already replaced ask nothing.
    if (stopping_ || generation != generation_) return;
    ++generation_;
  }
  spdlog::warn("{}: the watch on {} ended ({}); reading everything again", options_.name,
               described_, error.message);
  {
    // Before the read is asked for, so the snapshot it brings comes after.
    std::lock_guard lock(deliverMutex_);
    if (!silenced_ && callbacks_.onWatchEnded) callbacks_.onWatchEnded(error);
  }
  {
    std::lock_guard lock(mutex_);
    needResync_ = true;
  }
  wake_.notify_all();
}

void PrefixFollower::maintain(bool needRead) {
  auto backoff = options_.retryBackoff;
  std::unique_lock lock(mutex_);
  needResync_ = needResync_ || needRead;
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || needResync_; });
    if (stopping_) return;
    needResync_ = false;
    lock.unlock();
    auto read = resync();
    lock.lock();
    if (read) {
      spdlog::info("{}: read {} key(s) under {}", options_.name, *read, described_);
      backoff = options_.retryBackoff;
      continue;
    }
    spdlog::warn(
        "{}: cannot read {} from etcd ({}); keeping the last state read, retrying in {} ms",
        options_.name, described_, read.error().message, backoff.count());
    wake_.wait_for(lock, backoff, [this] { return stopping_; });
    backoff = std::min(backoff * 2, options_.retryBackoffMax);
    needResync_ = true;
  }
}

}  // namespace ozy
