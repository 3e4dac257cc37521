// Jobs' event logs against a real etcd: two writers (two nodes) read back
// in time order, count and age retention, a stopped job, the queue's bound
// while etcd is away, stop()'s flush and its deadline; the reader's pages,
// its wait for new events, and a follower that survives compactions
// without repeating an event.
#include "events/event_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "events/event_reader.h"
#include "scheduler/keys.h"
#include "store/etcd_store.h"
#include "support/etcd_with_store.h"
#include "support/forwarding_store.h"

namespace ozy {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::int64_t wallNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The time tests give their events, so that the order of their keys is
// known: a little in the past, well within maxAge (older events are not
// written at all).
const std::int64_t kBaseMs = wallNowMs() - 60'000;

Event eventOf(const std::string& job, std::int64_t atMs, const std::string& message,
              EventKind kind = EventKind::kStarted) {
  Event e;
  e.atMs = atMs;
  e.job = job;
  e.instance = 1;
  e.kind = kind;
  e.message = message;
  return e;
}

std::vector<std::string> messagesOf(const std::vector<LoggedEvent>& events) {
  std::vector<std::string> out;
  for (const auto& e : events) out.push_back(e.event.message);
  return out;
}

// Polls `condition` until it holds or `bound` passes.
bool waitUntil(const std::function<bool()>& condition, std::chrono::milliseconds bound) {
  const auto deadline = Clock::now() + bound;
  while (!condition()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

// Retention would otherwise hide what a test looks at; tests lower what
// they exercise.
EventLogOptions optionsFor(const std::string& node) {
  EventLogOptions o;
  o.node = node;
  o.maxPerJob = 1000;
  o.retryBackoff = 20ms;
  o.retryBackoffMax = 200ms;
  o.nowMs = wallNowMs;
  return o;
}

class EventLogTest : public testing_support::EtcdStoreTest {
 protected:
  std::unique_ptr<EventLog> startLog(Store& store, EventLogOptions options) {
    auto log = EventLog::start(store, std::move(options));
    EXPECT_TRUE(log.ok()) << (log.ok() ? "" : log.error());
    return log.ok() ? std::move(log).value() : nullptr;
  }
  // Events are written only for jobs that exist; the value is not read.
  void createJob(const std::string& name) { ASSERT_TRUE(store_->put(keys::job(name), "{}").ok()); }
  // A client that gives up quickly, for tests where etcd goes away.
  std::unique_ptr<EtcdStore> impatientStore() {
    EtcdConfig config;
    config.endpoints = {etcd_->endpoint()};
    config.timeout = 300ms;
    auto store = EtcdStore::create(config);
    EXPECT_TRUE(store.ok());
    return store.ok() ? std::move(store).value() : nullptr;
  }
  std::vector<LoggedEvent> all(const std::string& job) {
    EventQuery everything;
    everything.limit = 0;
    auto page = readEvents(*store_, job, everything);
    EXPECT_TRUE(page.ok()) << (page.ok() ? "" : page.error().message);
    if (!page.ok()) return {};
    EXPECT_EQ(page->skipped, 0u);
    return page->events;
  }
  std::size_t keysUnder(const std::string& prefix) {
    auto read = store_->getPrefix(prefix, /*keysOnly=*/true);
    EXPECT_TRUE(read.ok());
    return read.ok() ? read->kvs.size() : 0;
  }
  // Puts a well-formed event directly, as a writer would.
  std::string putEvent(const std::string& job, std::int64_t atMs, const std::string& message,
                       std::uint64_t serial) {
    const std::string key = keys::event(job, atMs, "node-x", serial);
    EXPECT_TRUE(store_->put(key, encode(eventOf(job, atMs, message))).ok());
    return key;
  }
};

TEST_F(EventLogTest, StartRefusesOptionsItCannotKeepAndSaysWhichAll) {
  EventLogOptions o = optionsFor("not a host");
  o.maxPerJob = 0;
  o.maxAge = 1s;
  o.batchSize = 200;
  auto log = EventLog::start(*store_, o);
  ASSERT_FALSE(log.ok());
  EXPECT_THAT(log.error(), ::testing::HasSubstr("node \"not a host\""));
  EXPECT_THAT(log.error(), ::testing::HasSubstr("maxPerJob"));
  EXPECT_THAT(log.error(), ::testing::HasSubstr("maxAge"));
  EXPECT_THAT(log.error(), ::testing::HasSubstr("batchSize"));
}

TEST_F(EventLogTest, TwoWritersEventsReadBackInTimeOrderEachUnderALease) {
  createJob("web");
  auto a = startLog(*store_, optionsFor("node-a"));
  auto b = startLog(*store_, optionsFor("node-b"));
  ASSERT_TRUE(a && b);
  // Interleaved in time, recorded newest first, four in each millisecond:
  // two from each node.
  for (int i = 19; i >= 0; --i) {
    const std::int64_t at = kBaseMs + (i / 4) * 10;
    (i % 2 == 0 ? a : b)->record(eventOf("web", at, "e" + std::to_string(i)));
  }
  ASSERT_TRUE(a->flush(10s) && b->flush(10s));

  const auto events = all("web");
  ASSERT_EQ(events.size(), 20u);
  for (std::size_t i = 1; i < events.size(); ++i) {
    EXPECT_LE(events[i - 1].event.atMs, events[i].event.atMs) << events[i].key;
    EXPECT_LT(events[i - 1].key, events[i].key);
  }
  std::map<std::string, int> byWriter;
  for (const auto& e : events) {
    auto key = keys::parseEvent(e.key);
    ASSERT_TRUE(key);
    ++byWriter[std::string(key->node)];
    EXPECT_EQ(e.event.node, key->node) << "an event without a node is the writer's";
    EXPECT_GT(e.revision, 0);
  }
  EXPECT_EQ(byWriter, (std::map<std::string, int>{{"node-a", 10}, {"node-b", 10}}));
  auto raw = store_->getPrefix(keys::eventsOf("web"));
  ASSERT_TRUE(raw.ok());
  for (const auto& kv : raw->kvs) EXPECT_NE(kv.lease, 0) << kv.key;
  EXPECT_EQ(a->stats().written, 10u);
  EXPECT_EQ(b->stats().written, 10u);
}

TEST_F(EventLogTest, CountRetentionKeepsTheNewestMaxPerJobPlusTheDocumentedSlack) {
  createJob("web");
  createJob("other");
  EventLogOptions o = optionsFor("node-a");
  o.maxPerJob = 10;
  o.pruneEvery = 5;
  auto a = startLog(*store_, o);
  o.node = "node-b";
  auto b = startLog(*store_, o);
  ASSERT_TRUE(a && b);
  a->record(eventOf("other", kBaseMs, "kept"));
  // One node, then the other, in small batches: every prune sees keys in
  // time order, so what is kept is the newest.
  int n = 0;
  for (EventLog* log : {a.get(), b.get()}) {
    for (int i = 0; i < 30; ++i, ++n) {
      log->record(eventOf("web", kBaseMs + n, "e" + std::to_string(n)));
      if (n % 3 == 2) {
        ASSERT_TRUE(log->flush(10s));
      }
    }
    ASSERT_TRUE(log->flush(10s));
  }
  // Bound: maxPerJob, plus what each writer wrote since its last prune.
  const std::size_t slack = 2 * (o.pruneEvery - 1);
  auto events = all("web");
  EXPECT_GE(events.size(), o.maxPerJob);
  EXPECT_LE(events.size(), o.maxPerJob + slack);
  std::vector<std::string> newest;
  for (int i = n - static_cast<int>(events.size()); i < n; ++i)
    newest.push_back("e" + std::to_string(i));
  EXPECT_EQ(messagesOf(events), newest);
  EXPECT_EQ(messagesOf(all("other")), (std::vector<std::string>{"kept"}));
  EXPECT_GT(a->stats().pruned, 0u);
  EXPECT_GT(b->stats().pruned, 0u);

  // Both at once, from two threads: the bound holds all the same.
  std::thread second([&] {
    for (int i = 0; i < 40; ++i) b->record(eventOf("web", kBaseMs + 1000 + i, "b"));
  });
  for (int i = 0; i < 40; ++i) a->record(eventOf("web", kBaseMs + 1000 + i, "a"));
  second.join();
  ASSERT_TRUE(a->flush(10s) && b->flush(10s));
  const std::size_t after = keysUnder(keys::eventsOf("web"));
  EXPECT_GE(after, o.maxPerJob);
  EXPECT_LE(after, o.maxPerJob + slack);
}

TEST_F(EventLogTest, EtcdDeletesEventsAfterMaxAgeBucketByBucketOnceTheWriterIsGone) {
  createJob("web");
  EventLogOptions o = optionsFor("node-a");
  o.maxAge = 3s;  // buckets of 1 s, leases of 4 s
  auto log = startLog(*store_, o);
  ASSERT_TRUE(log);
  // Write until two buckets' leases hold events.
  const auto firstWrite = Clock::now();
  std::set<std::int64_t> leases;
  int n = 0;
  ASSERT_TRUE(waitUntil(
      [&] {
        log->record(eventOf("web", 0, "e" + std::to_string(n++)));
        EXPECT_TRUE(log->flush(5s));
        auto read = store_->getPrefix(keys::eventsOf("web"));
        for (const auto& kv : read.ok() ? read->kvs : std::vector<KeyValue>{}) {
          leases.insert(kv.lease);
        }
        return leases.size() >= 2;
      },
      5s));
  EXPECT_FALSE(leases.contains(0));
  const std::string newest = all("web").back().key;
  // A writer that stops leaves nothing behind for good.
  log->stop();

  // The first bucket goes first, no sooner than maxAge after its write,
  // and the newest event outlives it.
  ASSERT_TRUE(waitUntil([&] { return all("web").size() < static_cast<std::size_t>(n); }, 15s));
  EXPECT_GE(Clock::now() - firstWrite, o.maxAge);
  auto still = store_->get(newest);
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->kvs.size(), 1u) << "the later bucket went with the first";
  // Everything is gone within maxAge and two buckets of the last write
  // (plus etcd's half-second expiry checks).
  ASSERT_TRUE(waitUntil([&] { return keysUnder(keys::eventsOf("web")) == 0; }, 10s));
}

TEST_F(EventLogTest, StopWritesWhatIsQueued) {
  createJob("web");
  auto log = startLog(*store_, optionsFor("node-a"));
  ASSERT_TRUE(log);
  for (int i = 0; i < 150; ++i) log->record(eventOf("web", kBaseMs + i, "e" + std::to_string(i)));
  log->stop();
  const auto stats = log->stats();
  EXPECT_EQ(stats.written, 150u);
  EXPECT_EQ(stats.unwritten, 0u);
  EXPECT_EQ(all("web").size(), 150u);
  // A stopped log takes nothing more.
  log->record(eventOf("web", kBaseMs, "late"));
  EXPECT_EQ(log->stats().refused, 1u);
  log->stop();  // twice is fine
}

TEST_F(EventLogTest, WhileEtcdIsAwayRecordReturnsAtOnceAndTheQueueDropsItsOldest) {
  createJob("web");
  auto impatient = impatientStore();
  ASSERT_TRUE(impatient);
  EventLogOptions o = optionsFor("node-a");
  o.queueLimit = 10;
  o.batchSize = 4;
  auto log = startLog(*impatient, o);
  ASSERT_TRUE(log);
  etcd_->terminate();

  const auto before = Clock::now();
  for (int i = 0; i < 30; ++i) log->record(eventOf("web", 0, "e" + std::to_string(i)));
  EXPECT_LT(Clock::now() - before, 200ms) << "record() waited for etcd";
  ASSERT_TRUE(waitUntil([&] { return log->stats().failedWrites >= 2; }, 10s));
  auto stats = log->stats();
  EXPECT_EQ(stats.recorded, 30u);
  // The queue holds 10, the batch being retried up to 4 more.
  EXPECT_GE(stats.dropped, 30u - o.queueLimit - o.batchSize);
  EXPECT_LE(stats.dropped, 30u - o.queueLimit);
  EXPECT_EQ(stats.written, 0u);

  auto restarted = etcd_->restart();
  ASSERT_TRUE(restarted.ok()) << restarted.error();
  ASSERT_TRUE(log->flush(30s));
  stats = log->stats();
  EXPECT_EQ(stats.written + stats.dropped, 30u);
  const auto events = all("web");
  ASSERT_EQ(events.size(), stats.written);
  // What survived: the batch the writer held (the oldest it had taken)
  // and the newest ten.
  std::vector<std::string> newest;
  for (int i = 20; i < 30; ++i) newest.push_back("e" + std::to_string(i));
  const auto messages = messagesOf(events);
  EXPECT_EQ(std::vector<std::string>(messages.end() - 10, messages.end()), newest);
}

TEST_F(EventLogTest, StopGivesUpAtItsDeadlineWhenEtcdIsAway) {
  createJob("web");
  auto impatient = impatientStore();
  ASSERT_TRUE(impatient);
  EventLogOptions o = optionsFor("node-a");
  o.stopDeadline = 500ms;
  auto log = startLog(*impatient, o);
  ASSERT_TRUE(log);
  etcd_->terminate();
  for (int i = 0; i < 5; ++i) log->record(eventOf("web", 0, "e" + std::to_string(i)));
  const auto before = Clock::now();
  log->stop();
  // The deadline, plus one store call under way (300 ms), plus slack.
  EXPECT_LT(Clock::now() - before, 2s);
  const auto stats = log->stats();
  EXPECT_EQ(stats.unwritten, 5u);
  EXPECT_EQ(stats.written, 0u);
}

TEST_F(EventLogTest, EventsOfAJobThatIsGoneAreNotWritten) {
  createJob("web");
  auto log = startLog(*store_, optionsFor("node-a"));
  ASSERT_TRUE(log);
  // "gone" never existed; "stopped" is stopped (its key and its log
  // deleted, as stopping a job does) while a writer still has events of it.
  createJob("stopped");
  log->record(eventOf("stopped", kBaseMs, "before"));
  ASSERT_TRUE(log->flush(10s));
  ASSERT_TRUE(store_->remove(keys::job("stopped")).ok());
  ASSERT_TRUE(store_->removePrefix(keys::eventsOf("stopped")).ok());
  log->record(eventOf("web", kBaseMs, "w1"));
  log->record(eventOf("gone", kBaseMs, "g"));
  log->record(eventOf("stopped", kBaseMs + 1, "after"));
  log->record(eventOf("web", kBaseMs + 1, "w2"));
  ASSERT_TRUE(log->flush(10s));
  EXPECT_EQ(messagesOf(all("web")), (std::vector<std::string>{"w1", "w2"}));
  EXPECT_EQ(keysUnder(keys::eventsOf("gone")), 0u);
  EXPECT_EQ(keysUnder(keys::eventsOf("stopped")), 0u);
  const auto stats = log->stats();
  EXPECT_EQ(stats.orphaned, 2u);
  EXPECT_EQ(stats.written, 3u);
}

TEST_F(EventLogTest, EventsTooOldOrWithoutAJobNameAreNotWritten) {
  createJob("web");
  EventLogOptions o = optionsFor("node-a");
  o.maxAge = 60s;
  auto log = startLog(*store_, o);
  ASSERT_TRUE(log);
  log->record(eventOf("web", wallNowMs() - 61'000, "stale"));
  log->record(eventOf("../nodes", kBaseMs, "no job"));
  Event badNode = eventOf("web", 0, "bad node");
  badNode.node = "a/b";
  log->record(badNode);
  log->record(eventOf("web", 0, "fresh"));
  ASSERT_TRUE(log->flush(10s));
  EXPECT_EQ(messagesOf(all("web")), (std::vector<std::string>{"fresh"}));
  const auto stats = log->stats();
  EXPECT_EQ(stats.expired, 1u);
  EXPECT_EQ(stats.refused, 2u);
  EXPECT_EQ(stats.written, 1u);
  EXPECT_EQ(keysUnder(std::string(keys::kEvents)), 1u);
}

TEST_F(EventLogTest, ReadsTheNewestInTimeOrderAndSkipsWhatItCannotRead) {
  // Written late but earlier in time: it sorts by its time.
  putEvent("web", kBaseMs + 3, "third", 1);
  putEvent("web", kBaseMs + 1, "first", 2);
  putEvent("web", kBaseMs + 2, "second", 3);
  putEvent("web", kBaseMs + 4, "fourth", 4);
  ASSERT_TRUE(
      store_->put(keys::eventsOf("web") + "not-an-event-key", encode(eventOf("web", 1, "x"))).ok());
  ASSERT_TRUE(store_->put(keys::event("web", kBaseMs, "node-x", 9), "{broken").ok());
  ASSERT_TRUE(store_
                  ->put(keys::event("web", kBaseMs, "node-x", 10),
                        encode(eventOf("other", kBaseMs, "names another job")))
                  .ok());
  putEvent("web2", kBaseMs, "another job's", 5);

  EventQuery newestTwo;
  newestTwo.limit = 2;
  auto page = readEvents(*store_, "web", newestTwo);
  ASSERT_TRUE(page.ok()) << page.error().message;
  EXPECT_EQ(messagesOf(page->events), (std::vector<std::string>{"third", "fourth"}));
  EXPECT_TRUE(page->more);
  EXPECT_EQ(page->skipped, 3u);
  EXPECT_GT(page->revision, 0);

  EventQuery everything;
  everything.limit = 0;
  page = readEvents(*store_, "web", everything);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(messagesOf(page->events),
            (std::vector<std::string>{"first", "second", "third", "fourth"}));
  EXPECT_FALSE(page->more);
}

TEST_F(EventLogTest, PagesAfterARevisionInTheOrderEtcdTookThemWholeTxnsAtATime) {
  auto start = store_->put("/elsewhere", "x");
  ASSERT_TRUE(start.ok());
  // Three Txns, as writers' batches: 3 events, then 2, then 1. The second
  // holds an event earlier in time than the first's.
  auto txnOf = [&](std::vector<std::pair<std::int64_t, std::string>> events) {
    Txn txn;
    std::uint64_t serial = 0;
    for (auto& [at, message] : events) {
      txn.success.push_back(TxnOp::put(keys::event("web", at, "node-x", serial++),
                                       encode(eventOf("web", at, message))));
    }
    auto done = store_->txn(txn);
    EXPECT_TRUE(done.ok() && done->succeeded);
    return done.ok() ? done->revision : 0;
  };
  const auto first = txnOf({{kBaseMs + 10, "a1"}, {kBaseMs + 11, "a2"}, {kBaseMs + 12, "a3"}});
  txnOf({{kBaseMs + 5, "b1-late"}, {kBaseMs + 20, "b2"}});
  txnOf({{kBaseMs + 30, "c1"}});

  EventQuery query;
  query.afterRevision = *start;
  query.limit = 4;  // the second Txn would straddle it
  auto page = readEvents(*store_, "web", query);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(messagesOf(page->events), (std::vector<std::string>{"a1", "a2", "a3"}));
  EXPECT_TRUE(page->more);
  EXPECT_EQ(page->revision, first);

  query.afterRevision = page->revision;
  page = readEvents(*store_, "web", query);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(messagesOf(page->events), (std::vector<std::string>{"b1-late", "b2", "c1"}));
  EXPECT_FALSE(page->more);

  // Nothing after the last page; a first Txn larger than the limit comes whole.
  query.afterRevision = page->revision;
  page = readEvents(*store_, "web", query);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->events.empty());
  query.afterRevision = *start;
  query.limit = 2;
  page = readEvents(*store_, "web", query);
  ASSERT_TRUE(page.ok());
  EXPECT_EQ(messagesOf(page->events), (std::vector<std::string>{"a1", "a2", "a3"}));
  EXPECT_TRUE(page->more);
}

TEST_F(EventLogTest, WaitForEventsWakesOnANewEventButNotOnADeletion) {
  const std::string old = putEvent("web", kBaseMs, "old", 1);
  auto page = readEvents(*store_, "web");
  ASSERT_TRUE(page.ok());
  ASSERT_TRUE(store_->remove(old).ok());
  putEvent("web2", kBaseMs, "another job's", 2);
  EXPECT_FALSE(waitForEvents(*store_, "web", page->revision, 300ms));

  std::thread writer([&] {
    std::this_thread::sleep_for(100ms);
    putEvent("web", kBaseMs + 1, "new", 3);
  });
  const auto before = Clock::now();
  EXPECT_TRUE(waitForEvents(*store_, "web", page->revision, 20s));
  EXPECT_LT(Clock::now() - before, 10s);
  writer.join();

  // A revision etcd no longer has: answer at once, let the caller read.
  auto latest = store_->put("/elsewhere", "x");
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(store_->compact(*latest).ok());
  EXPECT_TRUE(waitForEvents(*store_, "web", page->revision, 20s));
}

// Acts right after the next prefix read, and ends every watch running as
// etcd does when a watch resumes past a compaction.
class DisturbedStore : public testing_support::ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  Result<RangeResult, StoreError> getPrefix(const std::string& prefix, bool keysOnly) override {
    auto read = ForwardingStore::getPrefix(prefix, keysOnly);
    std::function<void()> hook;
    {
      std::lock_guard lock(mutex_);
      std::swap(hook, afterRead_);
    }
    if (read.ok() && hook) hook();
    return read;
  }
  void onceAfterRead(std::function<void()> hook) {
    std::lock_guard lock(mutex_);
    afterRead_ = std::move(hook);
  }

  std::unique_ptr<Watch> watch(const std::string& prefix, int64_t startRevision,
                               WatchEventsFn onEvents, WatchErrorFn onError) override {
    auto endable = std::make_shared<Endable>();
    endable->onError = onError;
    endable->inner = inner_.watch(prefix, startRevision, std::move(onEvents),
                                  [endable](const StoreError& e) { endable->end(e); });
    std::lock_guard lock(mutex_);
    std::erase_if(watches_, [](const std::weak_ptr<Endable>& w) { return w.expired(); });
    watches_.push_back(endable);
    return std::make_unique<Handle>(endable);
  }
  void endWatches() {
    std::vector<std::shared_ptr<Endable>> live;
    {
      std::lock_guard lock(mutex_);
      for (auto& w : watches_) {
        if (auto s = w.lock()) live.push_back(s);
      }
    }
    for (auto& w : live) {
      w->end(StoreError{StoreError::kCompacted, "compacted (test)"});
    }
  }

 private:
  struct Endable {
    std::mutex mutex;
    bool ended = false;
    WatchErrorFn onError;
    std::unique_ptr<Watch> inner;
    // At most once, and never after stop().
    void end(const StoreError& error) {
      std::lock_guard lock(mutex);
      if (ended) return;
      ended = true;
      onError(error);
    }
    void stop() {
      std::unique_ptr<Watch> watch;
      {
        std::lock_guard lock(mutex);
        ended = true;
        std::swap(watch, inner);
      }
      // Also breaks the cycle through the inner watch's callback.
      if (watch) watch->stop();
    }
  };
  struct Handle : Watch {
    explicit Handle(std::shared_ptr<Endable> e) : endable(std::move(e)) {}
    ~Handle() override { stop(); }
    void stop() override { endable->stop(); }
    std::shared_ptr<Endable> endable;
  };
  std::mutex mutex_;
  std::function<void()> afterRead_;
  std::vector<std::weak_ptr<Endable>> watches_;
};

// What a follower delivered.
class Delivered {
 public:
  EventFollower::EventsFn callback() {
    return [this](std::vector<LoggedEvent> events) {
      std::lock_guard lock(mutex_);
      for (auto& e : events) events_.push_back(std::move(e));
      changed_.notify_all();
    };
  }
  bool waitForCount(std::size_t count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 20s, [&] { return events_.size() >= count; });
  }
  std::vector<std::string> messages() {
    std::lock_guard lock(mutex_);
    return messagesOf(events_);
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<LoggedEvent> events_;
};

TEST_F(EventLogTest, FollowerDeliversEachNewEventOnceAcrossCompactions) {
  createJob("web");
  putEvent("web", kBaseMs, "before", 1);
  auto page = readEvents(*store_, "web");
  ASSERT_TRUE(page.ok());
  DisturbedStore disturbed(*store_);
  // Between the follower's first read and its watch: an event, and a
  // compaction past it, so the watch ends at once and the follower reads
  // again.
  disturbed.onceAfterRead([&] {
    putEvent("web", kBaseMs + 1, "in the gap", 2);
    auto latest = store_->put("/elsewhere", "x");
    ASSERT_TRUE(latest.ok());
    ASSERT_TRUE(store_->compact(*latest).ok());
  });
  Delivered delivered;
  auto follower = EventFollower::start(disturbed, "web", page->revision, delivered.callback());
  ASSERT_TRUE(follower.ok()) << follower.error().message;
  ASSERT_TRUE(delivered.waitForCount(1));

  auto log = startLog(*store_, optionsFor("node-a"));
  ASSERT_TRUE(log);
  log->record(eventOf("web", 0, "new"));
  ASSERT_TRUE(delivered.waitForCount(2));

  // The watch that delivered "new" ends after a compaction: the follower
  // reads everything again and repeats none of it.
  auto latest = store_->put("/elsewhere", "y");
  ASSERT_TRUE(latest.ok());
  ASSERT_TRUE(store_->compact(*latest).ok());
  disturbed.endWatches();
  log->record(eventOf("web", 0, "after"));
  ASSERT_TRUE(delivered.waitForCount(3));
  // A deletion and an unreadable record deliver nothing.
  ASSERT_TRUE(store_->removePrefix(keys::event("web", kBaseMs, "node-x", 1)).ok());
  ASSERT_TRUE(store_->put(keys::event("web", kBaseMs + 2, "node-x", 7), "[]").ok());
  log->record(eventOf("web", 0, "last"));
  ASSERT_TRUE(delivered.waitForCount(4));
  (*follower)->stop();
  EXPECT_EQ(delivered.messages(), (std::vector<std::string>{"in the gap", "new", "after", "last"}));
  EXPECT_EQ((*follower)->skipped(), 1u);
}

}  // namespace
}  // namespace ozy
