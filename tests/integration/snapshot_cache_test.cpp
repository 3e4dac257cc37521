// The agent's state cache follows etcd through watches, and its own commits
// land in it at once.
#include "control/snapshot_cache.h"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <thread>
#include <utility>

#include "scheduler/keys.h"
#include "store/etcd_store.h"
#include "support/etcd_process.h"
#include "support/etcd_with_store.h"
#include "support/forwarding_store.h"

namespace ozy {
namespace {

using testing_support::EtcdProcess;

class SnapshotCacheTest : public testing_support::EtcdStoreTest {
 protected:

  bool tryPutNode(const std::string& name) {
    return store_->put(keys::node(name), encode(NodeRecord{name, "a", "b", {kGiB, kGiB}, 0, {}})).ok();
  }
  void putNode(const std::string& name) { ASSERT_TRUE(tryPutNode(name)); }

  // Polls until `ready` holds for the cache's view (bounded: watches deliver
  // in milliseconds; after an etcd restart the watch reconnects within its back-off).
  template <typename F>
  bool eventually(SnapshotCache& cache, F ready) {
    for (int i = 0; i < 1000; ++i) {
      if (auto view = cache.current(); view && ready(*view)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

};

TEST_F(SnapshotCacheTest, StartsFromWhatEtcdHoldsAndFollowsItsChanges) {
  putNode("a");
  auto cache = SnapshotCache::start(*store_);
  ASSERT_TRUE(cache.ok());
  auto view = (*cache)->current();
  ASSERT_TRUE(view.has_value());
  ASSERT_EQ(view->nodes.size(), 1u);
  EXPECT_TRUE(view->nodes[0].live);

  putNode("b");
  EXPECT_TRUE(eventually(**cache, [](const ClusterSnapshot& s) { return s.find("b") && s.find("b")->live; }));
  ASSERT_TRUE(store_->put(keys::usage("b"), encode(UsageRecord{{kMiB, 0}, {}, 1})).ok());
  EXPECT_TRUE(eventually(**cache, [](const ClusterSnapshot& s) {
    return s.find("b") && s.find("b")->usage.used.memory == kMiB && s.find("b")->usageModRevision > 0;
  }));
  ASSERT_TRUE(store_->remove(keys::node("a")).ok());
  EXPECT_TRUE(eventually(**cache, [](const ClusterSnapshot& s) { return s.find("a") == nullptr; }));
  (*cache)->stop();
}

TEST_F(SnapshotCacheTest, FollowsDrainsAndKeepsThemForNodesThatLeft) {
  putNode("a");
  ASSERT_TRUE(store_->put(keys::drain("gone"), encode(DrainRecord{1, "a"})).ok());
  auto cache = SnapshotCache::start(*store_);
  ASSERT_TRUE(cache.ok());
  auto view = (*cache)->current();
  ASSERT_TRUE(view && view->find("gone"));
  EXPECT_TRUE(view->find("gone")->drained()) << "read at start, kept though not live";

  ASSERT_TRUE(store_->put(keys::drain("a"), encode(DrainRecord{2, "a"})).ok());
  EXPECT_TRUE(eventually(**cache, [](const ClusterSnapshot& s) { return s.find("a")->drained(); }));
  ASSERT_TRUE(store_->remove(keys::drain("a")).ok());
  EXPECT_TRUE(eventually(**cache, [](const ClusterSnapshot& s) { return !s.find("a")->drained(); }));
  // A drained node that comes back is still drained.
  putNode("gone");
  EXPECT_TRUE(eventually(**cache, [](const ClusterSnapshot& s) {
    return s.find("gone")->live && s.find("gone")->drained();
  }));
  (*cache)->stop();
}

TEST_F(SnapshotCacheTest, TakesItsOwnCommitsAtOnceAndIgnoresOlderNews) {
  putNode("a");
  auto cache = SnapshotCache::start(*store_);
  ASSERT_TRUE(cache.ok());
  CommitPlan plan;
  plan.puts.push_back({keys::usage("a"), encode(UsageRecord{{2 * kGiB, 0}, {}, 2})});
  (*cache)->applyCommit(plan, 1000);
  auto view = (*cache)->current();
  ASSERT_TRUE(view && view->find("a"));
  EXPECT_EQ(view->find("a")->usage.used.memory, 2 * kGiB);
  EXPECT_EQ(view->find("a")->usageModRevision, 1000);
  // A watch event from before that commit changes nothing.
  CommitPlan older;
  older.puts.push_back({keys::usage("a"), encode(UsageRecord{{kGiB, 0}, {}, 1})});
  (*cache)->applyCommit(older, 999);
  EXPECT_EQ((*cache)->current()->find("a")->usage.used.memory, 2 * kGiB);
}

// Runs `hook` once, after the first Txn (the cache's read).
class AfterFirstRead : public testing_support::ForwardingStore {
 public:
  AfterFirstRead(Store& inner, std::function<void()> hook)
      : ForwardingStore(inner), hook_(std::move(hook)) {}
  Result<TxnResult, StoreError> txn(const Txn& txn) override {
    auto result = ForwardingStore::txn(txn);
    if (auto hook = std::exchange(hook_, nullptr)) hook();
    return result;
  }

 private:
  std::function<void()> hook_;
};

TEST_F(SnapshotCacheTest, ReadsEverythingAgainWhenItsWatchesEndOnACompaction) {
  putNode("a");
  // Between the read and the watches: a node joins, and etcd compacts its
  // history away, so the watches end at once and only a re-read finds it.
  AfterFirstRead store(*store_, [this] {
    putNode("b");
    auto last = store_->put("/elsewhere", "x");
    ASSERT_TRUE(last.ok());
    ASSERT_TRUE(store_->compact(*last).ok());
  });
  auto cache = SnapshotCache::start(store);
  ASSERT_TRUE(cache.ok());
  EXPECT_TRUE(eventually(**cache, [](const ClusterSnapshot& s) { return s.find("a") && s.find("b"); }));
  putNode("c");
  EXPECT_TRUE(eventually(**cache, [](const ClusterSnapshot& s) { return s.find("c") != nullptr; }));
}

TEST_F(SnapshotCacheTest, KeepsFollowingAfterEtcdRestarts) {
  putNode("a");
  auto cache = SnapshotCache::start(*store_);
  ASSERT_TRUE(cache.ok());
  etcd_->terminate();
  ASSERT_TRUE(etcd_->restart().ok());
  // The client reconnects on its own back-off: the first puts after the
  // restart may fail (seen on a busy machine), so try until one goes in.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool put = false;
  while (!(put = tryPutNode("after-restart")) && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_TRUE(put);
  EXPECT_TRUE(eventually(**cache, [](const ClusterSnapshot& s) { return s.find("after-restart") != nullptr; }));
}

}  // namespace
}  // namespace ozy
