// EtcdStore's watches against a real etcd: order of events, replay from a
// past revision, resuming across an etcd restart, compaction, and stopping.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "etcd_test_support.h"

namespace ozy {
namespace {

using namespace std::chrono_literals;

class EtcdWatchTest : public EtcdTest {
 protected:
  // Right after a restart the client may not have reconnected yet, and calls
  // fail fast with kUnavailable until it has.
  Result<int64_t, StoreError> putOnceReachable(const std::string& key, const std::string& value) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    for (;;) {
      auto written = store_->put(key, value);
      if (written.ok() || written.error().code != StoreError::kUnavailable ||
          std::chrono::steady_clock::now() > deadline) {
        return written;
      }
      std::this_thread::sleep_for(50ms);
    }
  }
  // When a watch from "now" is established is not observable, so this writes
  // to `key` until the watch has seen one event.
  void writeUntilSeen(WatchLog& log, const std::string& key) {
    for (int i = 0; i < 100 && !log.waitForEvents(1, 100ms); ++i) {
      ASSERT_TRUE(isOk(store_->put(key, std::to_string(i))));
    }
    ASSERT_TRUE(log.waitForEvents(1, 0ms));
  }
};

TEST_F(EtcdWatchTest, SeesPutsAndDeletesUnderThePrefixInOrder) {
  // The usual pattern: read, then watch from the revision after the read.
  auto read = store_->getPrefix("/w/");
  ASSERT_TRUE(isOk(read));
  WatchLog log;
  auto watch = store_->watch("/w/", read->revision + 1, log.onEvents(), log.onError());
  auto put1 = store_->put("/w/a", "1");
  ASSERT_TRUE(isOk(store_->put("/elsewhere", "x")));
  auto put2 = store_->put("/w/a", "2");
  auto removed = store_->remove("/w/a");
  ASSERT_TRUE(isOk(put1) && isOk(put2) && isOk(removed));

  ASSERT_TRUE(log.waitForEvents(3));
  const auto events = log.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].type, WatchEvent::kPut);
  EXPECT_EQ(events[0].kv.value, "1");
  EXPECT_EQ(events[0].kv.modRevision, *put1);
  EXPECT_EQ(events[1].type, WatchEvent::kPut);
  EXPECT_EQ(events[1].kv.value, "2");
  EXPECT_EQ(events[2].type, WatchEvent::kDelete);
  EXPECT_EQ(events[2].kv.key, "/w/a");
  EXPECT_EQ(events[2].kv.modRevision, removed->revision);
  EXPECT_EQ(log.revisions().back(), removed->revision);
  EXPECT_EQ(log.errorCount(), 0u);
}

TEST_F(EtcdWatchTest, WatchFromNowSkipsEarlierWrites) {
  ASSERT_TRUE(isOk(store_->put("/now/old", "before")));
  WatchLog log;
  auto watch = store_->watch("/now/", 0, log.onEvents(), log.onError());
  writeUntilSeen(log, "/now/new");
  // The write from before the watch must never show up.
  for (const WatchEvent& event : log.events()) EXPECT_EQ(event.kv.key, "/now/new");
}

TEST_F(EtcdWatchTest, StartingAtAPastRevisionReplaysHistory) {
  auto first = store_->put("/h/a", "1");
  ASSERT_TRUE(isOk(first));
  ASSERT_TRUE(isOk(store_->put("/h/b", "2")));
  ASSERT_TRUE(isOk(store_->remove("/h/a")));

  WatchLog log;
  auto watch = store_->watch("/h/", *first, log.onEvents(), log.onError());
  ASSERT_TRUE(log.waitForEvents(3));
  const auto events = log.events();
  EXPECT_EQ(events[0].kv.key, "/h/a");
  EXPECT_EQ(events[1].kv.key, "/h/b");
  EXPECT_EQ(events[2].type, WatchEvent::kDelete);
}

TEST_F(EtcdWatchTest, ResumesAfterEtcdRestartsWithoutLosingOrRepeatingEvents) {
  WatchLog log;
  auto before = store_->put("/r/before", "1");
  ASSERT_TRUE(isOk(before));
  auto watch = store_->watch("/r/", *before, log.onEvents(), log.onError());
  ASSERT_TRUE(log.waitForEvents(1));

  etcd_->terminate();
  // Long enough for the watch to notice and fail a few reconnects.
  std::this_thread::sleep_for(1s);
  auto restarted = etcd_->restart();
  ASSERT_TRUE(restarted.ok()) << restarted.error();
  // Written as soon as etcd is back, likely before the watch reconnects: it
  // must resume from its last revision, not from "now".
  auto after1 = putOnceReachable("/r/after", "2");
  ASSERT_TRUE(isOk(after1)) << etcd_->logTail(3000);
  auto after2 = store_->put("/r/after", "3");
  ASSERT_TRUE(isOk(after2));

  ASSERT_TRUE(log.waitForEvents(3, 20s)) << "saw " << log.events().size() << " events";
  std::this_thread::sleep_for(300ms);  // a repeated event would show up here
  const auto events = log.events();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].kv.modRevision, *before);
  EXPECT_EQ(events[1].kv.modRevision, *after1);
  EXPECT_EQ(events[2].kv.modRevision, *after2);
  EXPECT_EQ(log.errorCount(), 0u);
}

TEST_F(EtcdWatchTest, WatchFromNowAlsoResumesAfterARestart) {
  WatchLog log;
  auto watch = store_->watch("/rn/", 0, log.onEvents(), log.onError());
  writeUntilSeen(log, "/rn/early");
  ASSERT_FALSE(HasFatalFailure());
  const std::size_t seen = log.events().size();

  etcd_->terminate();
  auto restarted = etcd_->restart();
  ASSERT_TRUE(restarted.ok()) << restarted.error();
  auto after = putOnceReachable("/rn/late", "x");
  ASSERT_TRUE(isOk(after));

  ASSERT_TRUE(log.waitForEvents(seen + 1, 20s));
  std::this_thread::sleep_for(300ms);  // a repeated event would show up here
  const auto events = log.events();
  ASSERT_EQ(events.size(), seen + 1);
  EXPECT_EQ(events.back().kv.modRevision, *after);
}

TEST_F(EtcdWatchTest, StartRevisionThatWasCompactedIsReportedAsCompacted) {
  auto first = store_->put("/k/a", "1");
  ASSERT_TRUE(isOk(first));
  auto last = store_->put("/k/a", "2");
  ASSERT_TRUE(isOk(last));
  ASSERT_TRUE(isOk(store_->compact(*last)));

  WatchLog log;
  auto watch = store_->watch("/k/", *first, log.onEvents(), log.onError());
  auto error = log.waitForError();
  ASSERT_TRUE(error.has_value());
  EXPECT_EQ(error->code, StoreError::kCompacted) << *error;
  EXPECT_NE(error->message.find("compacted"), std::string::npos) << error->message;
  EXPECT_TRUE(log.events().empty());
  watch->stop();
  EXPECT_EQ(log.errorCount(), 1u);
}

TEST_F(EtcdWatchTest, CallbackMayDestroyItsOwnWatch) {
  WatchLog log;
  std::atomic<int> calls = 0;
  WatchEventsFn record = log.onEvents();
  std::unique_ptr<Watch> watch;
  watch = store_->watch(
      "/self/", 1,
      [&](std::vector<WatchEvent> events, int64_t revision) {
        ++calls;
        watch.reset();  // ends the watch from its own thread
        record(std::move(events), revision);
      },
      log.onError());
  ASSERT_TRUE(isOk(store_->put("/self/a", "1")));
  ASSERT_TRUE(log.waitForEvents(1));
  ASSERT_TRUE(isOk(store_->put("/self/b", "2")));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(calls.load(), 1);
}

TEST_F(EtcdWatchTest, StopReturnsPromptlyWhileEtcdIsUnreachable) {
  WatchLog log;
  auto watch = store_->watch("/s/", 0, log.onEvents(), log.onError());
  etcd_->terminate();
  std::this_thread::sleep_for(500ms);  // the watch is now between reconnects
  const auto begin = std::chrono::steady_clock::now();
  watch->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 2s);
  EXPECT_EQ(log.errorCount(), 0u);
}

}  // namespace
}  // namespace ozy
