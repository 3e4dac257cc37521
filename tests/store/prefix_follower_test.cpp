// PrefixFollower against a real etcd: the first snapshot, changes as events
// in order, a fresh snapshot after a compaction with nothing lost, recovery
// from an etcd restart, the last state kept while reads fail, and stop().
#include "store/prefix_follower.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "etcd_test_support.h"
#include "support/forwarding_store.h"

namespace ozy {
namespace {

using namespace std::chrono_literals;

// Lets a test act right after a read (write, compact, fail the next reads)
// and counts the reads.
class HookedStore : public testing_support::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  Result<RangeResult, StoreError> getPrefix(const std::string& prefix, bool keysOnly) override {
    if (auto refused = refuse()) return fail(*refused);
    auto read = ForwardingStore::getPrefix(prefix, keysOnly);
    afterRead(read.ok() ? read->revision : 0);
    return read;
  }
  Result<TxnResult, StoreError> txn(const Txn& txn) override {
    if (auto refused = refuse()) return fail(*refused);
    auto read = ForwardingStore::txn(txn);
    afterRead(read.ok() ? read->revision : 0);
    return read;
  }
  // Runs once, after the next successful read, with its revision.
  void onceAfterRead(std::function<void(std::int64_t)> hook) {
    std::lock_guard lock(mutex_);
    hook_ = std::move(hook);
  }
  void failReads(bool fail) {
    std::lock_guard lock(mutex_);
    failing_ = fail;
  }
  int reads() {
    std::lock_guard lock(mutex_);
    return reads_;
  }

 private:
  std::optional<StoreError> refuse() {
    std::lock_guard lock(mutex_);
    ++reads_;
    if (!failing_) return std::nullopt;
    return StoreError{StoreError::kUnavailable, "etcd is away (test)"};
  }
  void afterRead(std::int64_t revision) {
    std::function<void(std::int64_t)> hook;
    {
      std::lock_guard lock(mutex_);
      if (revision == 0 || !hook_) return;
      std::swap(hook, hook_);
    }
    hook(revision);
  }
  std::mutex mutex_;
  std::function<void(std::int64_t)> hook_;
  bool failing_ = false;
  int reads_ = 0;
};

struct Snapshot {
  std::vector<KeyValue> kvs;
  std::int64_t revision = 0;
};

// What a follower delivered, and whether its callbacks ever overlapped or
// ran after stop() returned.
class FollowLog {
 public:
  PrefixFollowerCallbacks callbacks() {
    return {
        .onSnapshot =
            [this](std::vector<KeyValue> kvs, std::int64_t revision) {
              record([&] { snapshots_.push_back({std::move(kvs), revision}); });
            },
        .onEvents =
            [this](std::vector<WatchEvent> events, std::int64_t) {
              record([&] {
                for (auto& event : events) events_.push_back(std::move(event));
              });
            },
        .onWatchEnded = [this](const StoreError&) { record([&] { ++watchEnds_; }); },
    };
  }
  bool waitFor(std::function<bool()> condition, std::chrono::milliseconds timeout = 20s) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, condition);
  }
  // Under the log's lock: for conditions and reads.
  const std::vector<Snapshot>& snapshots() const { return snapshots_; }
  const std::vector<WatchEvent>& events() const { return events_; }
  int watchEnds() const { return watchEnds_; }
  std::mutex& mutex() { return mutex_; }
  void stopped() { stopped_ = true; }
  int misbehaved() const { return lateCalls_ + overlaps_; }

 private:
  void record(const std::function<void()>& change) {
    if (stopped_) ++lateCalls_;
    if (inside_.fetch_add(1) != 0) ++overlaps_;
    std::this_thread::yield();  // widens the window an overlap would need
    {
      std::lock_guard lock(mutex_);
      change();
    }
    inside_.fetch_sub(1);
    changed_.notify_all();
  }
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Snapshot> snapshots_;
  std::vector<WatchEvent> events_;
  int watchEnds_ = 0;
  std::atomic<int> inside_ = 0;
  std::atomic<bool> stopped_ = false;
  std::atomic<int> lateCalls_ = 0;
  std::atomic<int> overlaps_ = 0;
};

std::vector<std::string> keysOf(const std::vector<KeyValue>& kvs) {
  std::vector<std::string> keys;
  for (const auto& kv : kvs) keys.push_back(kv.key + "=" + kv.value);
  return keys;
}

class PrefixFollowerTest : public EtcdTest {
 protected:
  std::unique_ptr<PrefixFollower> follow(Store& store, FollowLog& log,
                                         std::vector<std::string> prefixes = {"/f/"},
                                         bool requireFirstRead = true) {
    auto follower = PrefixFollower::start(store,
                                          {.prefixes = std::move(prefixes),
                                           .name = "test follower",
                                           .retryBackoff = 10ms,
                                           .retryBackoffMax = 100ms,
                                           .requireFirstRead = requireFirstRead},
                                          log.callbacks());
    EXPECT_TRUE(isOk(follower));
    return follower.ok() ? std::move(follower).value() : nullptr;
  }
  // Between the first read and its watch: a write the watch would have
  // delivered (/f/b), and a compaction that takes it from etcd's history, so
  // the watch ends at once. The compaction is at a later write: etcd keeps
  // the revision compacted at itself.
  void writeAndCompactAfterTheFirstRead(HookedStore& hooked, bool thenFailReads = false) {
    hooked.onceAfterRead([this, &hooked, thenFailReads](std::int64_t) {
      ASSERT_TRUE(isOk(store_->put("/f/b", "2")));
      auto written = store_->put("/elsewhere", "x");
      ASSERT_TRUE(isOk(written));
      ASSERT_TRUE(isOk(store_->compact(*written)));
      if (thenFailReads) hooked.failReads(true);
    });
  }
  // Right after a restart the client may not have reconnected yet.
  Result<int64_t, StoreError> putOnceReachable(const std::string& key, const std::string& value) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    for (;;) {
      auto written = store_->put(key, value);
      if (written.ok() || std::chrono::steady_clock::now() > deadline) return written;
      std::this_thread::sleep_for(50ms);
    }
  }
};

TEST_F(PrefixFollowerTest, DeliversTheFirstSnapshotThenChangesAsEventsInOrder) {
  ASSERT_TRUE(isOk(store_->put("/f/a", "1")));
  auto before = store_->put("/f/b", "2");
  ASSERT_TRUE(isOk(store_->put("/other", "x")));
  ASSERT_TRUE(isOk(before));
  FollowLog log;
  auto follower = follow(*store_, log);
  ASSERT_TRUE(follower);
  {
    // start() returns with the first snapshot delivered.
    std::lock_guard lock(log.mutex());
    ASSERT_EQ(log.snapshots().size(), 1u);
    EXPECT_EQ(keysOf(log.snapshots()[0].kvs), (std::vector<std::string>{"/f/a=1", "/f/b=2"}));
    EXPECT_GE(log.snapshots()[0].revision, *before);
  }
  auto put = store_->put("/f/c", "3");
  auto removed = store_->remove("/f/a");
  ASSERT_TRUE(isOk(store_->put("/f/c", "4")));
  ASSERT_TRUE(isOk(put) && isOk(removed));
  ASSERT_TRUE(log.waitFor([&] { return log.events().size() >= 3; }));

  std::lock_guard lock(log.mutex());
  ASSERT_EQ(log.events().size(), 3u);
  EXPECT_EQ(log.events()[0].type, WatchEvent::kPut);
  EXPECT_EQ(log.events()[0].kv.modRevision, *put);
  EXPECT_EQ(log.events()[1].type, WatchEvent::kDelete);
  EXPECT_EQ(log.events()[1].kv.key, "/f/a");
  EXPECT_EQ(log.events()[2].kv.value, "4");
  EXPECT_EQ(log.snapshots().size(), 1u);
  EXPECT_EQ(log.misbehaved(), 0);
}

TEST_F(PrefixFollowerTest, ReadsSeveralPrefixesAtOneRevisionAndFollowsEach) {
  ASSERT_TRUE(isOk(store_->put("/p/1", "a")));
  ASSERT_TRUE(isOk(store_->put("/q/1", "b")));
  ASSERT_TRUE(isOk(store_->put("/r/1", "not followed")));
  FollowLog log;
  auto follower = follow(*store_, log, {"/q/", "/p/"});
  ASSERT_TRUE(follower);
  {
    std::lock_guard lock(log.mutex());
    ASSERT_EQ(log.snapshots().size(), 1u);
    // In the order the prefixes were given.
    EXPECT_EQ(keysOf(log.snapshots()[0].kvs), (std::vector<std::string>{"/q/1=b", "/p/1=a"}));
  }
  ASSERT_TRUE(isOk(store_->put("/p/2", "c")));
  ASSERT_TRUE(isOk(store_->put("/r/2", "not followed")));
  ASSERT_TRUE(isOk(store_->put("/q/2", "d")));
  ASSERT_TRUE(log.waitFor([&] { return log.events().size() >= 2; }));
  std::lock_guard lock(log.mutex());
  std::vector<std::string> seen;
  for (const auto& event : log.events()) seen.push_back(event.kv.key);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, (std::vector<std::string>{"/p/2", "/q/2"}));
  EXPECT_EQ(log.misbehaved(), 0);
}

TEST_F(PrefixFollowerTest, ReadsAgainAfterACompactionPastItsRevisionAndLosesNothing) {
  ASSERT_TRUE(isOk(store_->put("/f/a", "1")));
  HookedStore hooked(*store_);
  writeAndCompactAfterTheFirstRead(hooked);
  FollowLog log;
  auto follower = follow(hooked, log);
  ASSERT_TRUE(follower);

  ASSERT_TRUE(log.waitFor([&] { return log.snapshots().size() >= 2; }));
  {
    std::lock_guard lock(log.mutex());
    EXPECT_EQ(log.watchEnds(), 1);
    EXPECT_EQ(keysOf(log.snapshots()[1].kvs), (std::vector<std::string>{"/f/a=1", "/f/b=2"}));
  }
  // And it follows on from the fresh read.
  ASSERT_TRUE(isOk(store_->put("/f/c", "3")));
  ASSERT_TRUE(log.waitFor([&] { return !log.events().empty(); }));
  std::lock_guard lock(log.mutex());
  EXPECT_EQ(log.events().back().kv.key, "/f/c");
  EXPECT_EQ(log.snapshots().size(), 2u);
  EXPECT_EQ(log.misbehaved(), 0);
}

TEST_F(PrefixFollowerTest, KeepsTheLastStateWhileReadsFailAndRetriesWithBackoff) {
  ASSERT_TRUE(isOk(store_->put("/f/a", "1")));
  HookedStore hooked(*store_);
  // The reads after the first fail for a while.
  writeAndCompactAfterTheFirstRead(hooked, /*thenFailReads=*/true);
  FollowLog log;
  auto follower = follow(hooked, log);
  ASSERT_TRUE(follower);
  ASSERT_TRUE(log.waitFor([&] { return log.watchEnds() == 1; }));
  // A read that failed, and another after the back-off.
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (hooked.reads() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  ASSERT_GE(hooked.reads(), 3);
  {
    std::lock_guard lock(log.mutex());
    EXPECT_EQ(log.snapshots().size(), 1u) << "no snapshot is delivered for a failed read";
  }
  hooked.failReads(false);
  ASSERT_TRUE(log.waitFor([&] { return log.snapshots().size() == 2; }));
  std::lock_guard lock(log.mutex());
  EXPECT_EQ(keysOf(log.snapshots()[1].kvs), (std::vector<std::string>{"/f/a=1", "/f/b=2"}));
}

TEST_F(PrefixFollowerTest, FollowsOnAfterEtcdRestartsAndDeliversWhatChanged) {
  ASSERT_TRUE(isOk(store_->put("/f/a", "1")));
  FollowLog log;
  auto follower = follow(*store_, log);
  ASSERT_TRUE(follower);
  etcd_->terminate();
  auto restarted = etcd_->restart();
  ASSERT_TRUE(restarted.ok()) << restarted.error();
  ASSERT_TRUE(isOk(putOnceReachable("/f/b", "2")));
  // As an event of the resumed watch, or in a fresh snapshot if it ended.
  ASSERT_TRUE(log.waitFor([&] {
    for (const auto& event : log.events()) {
      if (event.kv.key == "/f/b") return true;
    }
    return log.snapshots().size() > 1 && log.snapshots().back().kvs.size() == 2;
  }));
  EXPECT_EQ(log.misbehaved(), 0);
}

TEST_F(PrefixFollowerTest, WithoutARequiredFirstReadStartsWhileEtcdIsAwayAndCatchesUp) {
  ASSERT_TRUE(isOk(store_->put("/f/a", "1")));
  etcd_->terminate();
  FollowLog log;
  auto follower = follow(*store_, log, {"/f/"}, /*requireFirstRead=*/false);
  ASSERT_TRUE(follower);
  auto restarted = etcd_->restart();
  ASSERT_TRUE(restarted.ok()) << restarted.error();
  ASSERT_TRUE(log.waitFor([&] { return !log.snapshots().empty(); }));
  {
    std::lock_guard lock(log.mutex());
    EXPECT_EQ(keysOf(log.snapshots()[0].kvs), (std::vector<std::string>{"/f/a=1"}));
  }
  ASSERT_TRUE(isOk(putOnceReachable("/f/b", "2")));
  ASSERT_TRUE(log.waitFor([&] { return !log.events().empty(); }));
}

TEST_F(PrefixFollowerTest, StartFailsWhenTheRequiredFirstReadFails) {
  etcd_->terminate();
  FollowLog log;
  auto follower = PrefixFollower::start(*store_, {.prefixes = {"/f/"}, .name = "test follower"},
                                        log.callbacks());
  ASSERT_FALSE(follower.ok());
  EXPECT_TRUE(follower.error().code == StoreError::kUnavailable ||
              follower.error().code == StoreError::kDeadlineExceeded)
      << follower.error();
}

TEST_F(PrefixFollowerTest, StopIsPromptAndNoCallbackRunsAfterIt) {
  FollowLog log;
  auto follower = follow(*store_, log);
  ASSERT_TRUE(follower);
  ASSERT_TRUE(isOk(store_->put("/f/a", "1")));
  ASSERT_TRUE(log.waitFor([&] { return !log.events().empty(); }));

  const auto before = std::chrono::steady_clock::now();
  follower->stop();
  log.stopped();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);

  // A change that a plain watch sees, and the stopped follower must not.
  WatchLog witness;
  auto watch = store_->watch("/f/", 0, witness.onEvents(), witness.onError());
  for (int i = 0; i < 100 && !witness.waitForEvents(1, 100ms); ++i) {
    ASSERT_TRUE(isOk(store_->put("/f/b", std::to_string(i))));
  }
  ASSERT_TRUE(witness.waitForEvents(1, 0ms));
  EXPECT_EQ(log.misbehaved(), 0);
  follower->stop();  // a second stop is harmless
}

TEST_F(PrefixFollowerTest, StopIsPromptWhileReadsKeepFailing) {
  HookedStore hooked(*store_);
  hooked.failReads(true);
  FollowLog log;
  auto follower = follow(hooked, log, {"/f/"}, /*requireFirstRead=*/false);
  ASSERT_TRUE(follower);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (hooked.reads() < 3 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  const auto before = std::chrono::steady_clock::now();
  follower->stop();
  log.stopped();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 2s);
  EXPECT_EQ(log.misbehaved(), 0);
}

}  // namespace
}  // namespace ozy
