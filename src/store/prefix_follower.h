// PrefixFollower: keeps a caller current with the keys under one or more
// prefixes of a Store, however often the watch on them ends.
//
// The loop it owns: read every prefix at one revision R (onSnapshot), watch
// each from R + 1 (onEvents), and when a watch ends on its own (etcd compacted
// the revision it needed, or another terminal error) read everything again and
// watch anew. A read that fails is retried on the follower's own thread with
// a back-off that doubles up to a bound; meanwhile the caller keeps the last
// state it was given, because the follower never delivers a snapshot it did
// not read. A lost connection does not end a watch (the Store resumes it), so
// an etcd that is only unreachable for a while costs no re-read.
//
// Two kinds of user fit: a table-keeper replaces its table on onSnapshot and
// applies onEvents to it (DNS records, the state cache); a "wake me" user
// ignores the keys and only runs its loop on either callback (the node's
// supervisor, its pod network).
//
// Callbacks never run concurrently with each other, and never after stop()
// has returned. Events of a watch that has ended never follow the snapshot
// that replaced it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "store/store.h"

namespace ozy {

struct PrefixFollowerOptions {
  // Read at one revision (one Txn when there are several) and watched each.
  std::vector<std::string> prefixes;
  // Names what is followed in the log: "DNS: the records", "state cache".
  std::string name;
  // Delay before reading again after a failed read; doubles up to the maximum.
  std::chrono::milliseconds retryBackoff{100};
  std::chrono::milliseconds retryBackoffMax{5000};
  // true: start() reads once on the caller's thread and fails if it cannot.
  // false: start() never fails; the first read is the follower's to retry.
  bool requireFirstRead = true;
};

struct PrefixFollowerCallbacks {
  // Every key under the prefixes as of `revision` (the prefixes in the order
  // given, each in key order), after the first read and after every re-read.
  std::function<void(std::vector<KeyValue> kvs, std::int64_t revision)> onSnapshot;
  // Changes since the last snapshot, in revision order for each prefix, and
  // the revision that prefix's watch has reached.
  std::function<void(std::vector<WatchEvent> events, std::int64_t revision)> onEvents;
  // Optional: a watch ended, so what was delivered is no longer kept current
  // until the next onSnapshot. A read follows at once.
  std::function<void(const StoreError& error)> onWatchEnded;
};

class PrefixFollower {
 public:
  // With requireFirstRead, onSnapshot has run once (on the caller's thread)
  // when this returns, and the read's error is returned if there was one.
  // Callbacks must not throw, nor call stop().
  static Result<std::unique_ptr<PrefixFollower>, StoreError> start(
      Store& store, PrefixFollowerOptions options, PrefixFollowerCallbacks callbacks);
  ~PrefixFollower();
  PrefixFollower(const PrefixFollower&) = delete;
  PrefixFollower& operator=(const PrefixFollower&) = delete;

  // Ends the watches and the re-reading thread; returns once no callback runs
  // and none will. A read under way finishes first (it has the store's
  // deadline). Safe to call twice.
  void stop();

 private:
  PrefixFollower(Store& store, PrefixFollowerOptions options, PrefixFollowerCallbacks callbacks);
  // Drops the watches, reads, delivers the snapshot and watches from just
  // after it. On failure no watch runs, and nothing was delivered.
  Result<std::size_t, StoreError> resync();
  Result<RangeResult, StoreError> readAll();
  void watchEnded(std::uint64_t generation, const StoreError& error);
  void maintain(bool needRead);

  Store& store_;
  const PrefixFollowerOptions options_;
  const PrefixFollowerCallbacks callbacks_;
  const std::string described_;  // the prefixes, for the log

  // Held while a callback runs: they run one at a time, and not once stopping.
  std::mutex deliverMutex_;
  bool silenced_ = false;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool needResync_ = false;
  // Counts resyncs, so that the end of a watch that was already replaced
  // (or of a second watch of the same generation) asks for no further read.
  std::uint64_t generation_ = 0;

  std::mutex stopMutex_;  // held by stop() throughout, so a second caller waits too
  // Touched by start(), then the maintainer thread, then stop() after the join.
  std::vector<std::unique_ptr<Watch>> watches_;
  std::thread maintainer_;
};

}  // namespace ozy
