// EtcdStore against a real etcd: reads, paged prefix reads, writes, removals
// and transactions (including etcd's limit on operations per transaction).
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "etcd_test_support.h"

namespace ozy {
namespace {

class EtcdKvTest : public EtcdTest {};

// Tests that start etcd with their own flags.
class EtcdLimitsTest : public EtcdTest {
 protected:
  void SetUp() override {}
};

TEST_F(EtcdKvTest, PutThenGetReturnsTheValueAndItsRevisions) {
  auto first = store_->put("/kv/a", "one");
  ASSERT_TRUE(isOk(first));
  auto second = store_->put("/kv/a", "two");
  ASSERT_TRUE(isOk(second));
  EXPECT_GT(*second, *first);

  auto got = store_->get("/kv/a");
  ASSERT_TRUE(isOk(got));
  ASSERT_EQ(got->kvs.size(), 1u);
  const KeyValue& kv = got->kvs.front();
  EXPECT_EQ(kv.key, "/kv/a");
  EXPECT_EQ(kv.value, "two");
  EXPECT_EQ(kv.createRevision, *first);
  EXPECT_EQ(kv.modRevision, *second);
  EXPECT_EQ(kv.version, 2);
  EXPECT_EQ(kv.lease, 0);
  EXPECT_EQ(got->revision, *second);
}

TEST_F(EtcdKvTest, GetOfAMissingKeyFindsNothingAndGivesTheRevision) {
  auto written = store_->put("/kv/other", "x");
  ASSERT_TRUE(isOk(written));
  auto got = store_->get("/kv/missing");
  ASSERT_TRUE(isOk(got));
  EXPECT_TRUE(got->kvs.empty());
  EXPECT_EQ(got->revision, *written);
}

TEST_F(EtcdKvTest, ValuesAndKeysMayHoldAnyBytes) {
  const std::string key("/kv/\0\xff", 6);
  const std::string value("\0\x01\xfe", 3);
  ASSERT_TRUE(isOk(store_->put(key, value)));
  auto got = store_->get(key);
  ASSERT_TRUE(isOk(got));
  ASSERT_EQ(got->kvs.size(), 1u);
  EXPECT_EQ(got->kvs.front().value, value);
}

TEST_F(EtcdKvTest, GetPrefixPagesThroughManyMoreKeysThanOnePage) {
  EtcdConfig config;
  config.pageSize = 100;
  auto paged = connect(config);
  constexpr int kKeys = 1500;
  // Writes go in transactions of 100 puts to keep the test quick.
  for (int batch = 0; batch < kKeys / 100; ++batch) {
    Txn txn;
    for (int i = batch * 100; i < (batch + 1) * 100; ++i) {
      txn.success.push_back(TxnOp::put(fmt::format("/many/{:05}", i), std::to_string(i)));
    }
    ASSERT_TRUE(isOk(paged->txn(txn)));
  }
  // Neighbours that share the prefix's bytes but not the prefix.
  ASSERT_TRUE(isOk(paged->put("/man", "outside")));
  auto last = paged->put("/many0", "outside");
  ASSERT_TRUE(isOk(last));

  auto all = paged->getPrefix("/many/");
  ASSERT_TRUE(isOk(all));
  ASSERT_EQ(all->kvs.size(), static_cast<std::size_t>(kKeys));
  for (int i = 0; i < kKeys; ++i) {
    ASSERT_EQ(all->kvs[i].key, fmt::format("/many/{:05}", i));
    ASSERT_EQ(all->kvs[i].value, std::to_string(i));
  }
  EXPECT_EQ(all->revision, *last);
}

TEST_F(EtcdKvTest, GetPrefixWithKeysOnlyLeavesValuesOut) {
  ASSERT_TRUE(isOk(store_->put("/keys/a", "big value")));
  ASSERT_TRUE(isOk(store_->put("/keys/b", "another")));
  auto keys = store_->getPrefix("/keys/", /*keysOnly=*/true);
  ASSERT_TRUE(isOk(keys));
  ASSERT_EQ(keys->kvs.size(), 2u);
  EXPECT_EQ(keys->kvs[0].key, "/keys/a");
  EXPECT_EQ(keys->kvs[0].value, "");
  EXPECT_GT(keys->kvs[1].modRevision, 0);
}

TEST_F(EtcdKvTest, GetPrefixOfNothingMatchingIsEmpty) {
  auto none = store_->getPrefix("/nothing/here/");
  ASSERT_TRUE(isOk(none));
  EXPECT_TRUE(none->kvs.empty());
  EXPECT_GT(none->revision, 0);
}

TEST_F(EtcdKvTest, RemoveAndRemovePrefixSayHowManyKeysWent) {
  for (const char* key : {"/rm/a", "/rm/b", "/rm/c", "/rmx"}) {
    ASSERT_TRUE(isOk(store_->put(key, "v")));
  }
  auto one = store_->remove("/rm/a");
  ASSERT_TRUE(isOk(one));
  EXPECT_EQ(one->deleted, 1);
  auto none = store_->remove("/rm/a");
  ASSERT_TRUE(isOk(none));
  EXPECT_EQ(none->deleted, 0);
  auto rest = store_->removePrefix("/rm/");
  ASSERT_TRUE(isOk(rest));
  EXPECT_EQ(rest->deleted, 2);
  auto outside = store_->get("/rmx");
  ASSERT_TRUE(isOk(outside));
  EXPECT_EQ(outside->kvs.size(), 1u);
}

TEST_F(EtcdKvTest, RemovePrefixRefusesTheEmptyPrefix) {
  ASSERT_TRUE(isOk(store_->put("/precious", "v")));
  EXPECT_TRUE(failsWith(store_->removePrefix(""), StoreError::kInvalidArgument));
  Txn txn;
  txn.success.push_back(TxnOp::removePrefix(""));
  EXPECT_TRUE(failsWith(store_->txn(txn), StoreError::kInvalidArgument));
  auto still = store_->get("/precious");
  ASSERT_TRUE(isOk(still));
  EXPECT_EQ(still->kvs.size(), 1u);
}

TEST_F(EtcdKvTest, TxnOnModRevisionSucceedsThenFailsAfterAConcurrentChange) {
  auto written = store_->put("/schedule/node1", "v1");
  ASSERT_TRUE(isOk(written));
  auto read = store_->get("/schedule/node1");
  ASSERT_TRUE(isOk(read));
  const int64_t seen = read->kvs.front().modRevision;

  Txn commit;
  commit.compares.push_back(Compare::modRevision("/schedule/node1", Compare::kEqual, seen));
  commit.success.push_back(TxnOp::put("/schedule/node1", "v2"));
  auto first = store_->txn(commit);
  ASSERT_TRUE(isOk(first));
  EXPECT_TRUE(first->succeeded);
  EXPECT_GT(first->revision, seen);

  // Someone else changes the key; the same commit, based on the old read, must
  // not apply.
  ASSERT_TRUE(isOk(store_->put("/schedule/node1", "theirs")));
  commit.success.back().value = "v3";
  commit.failure.push_back(TxnOp::get("/schedule/node1"));
  auto second = store_->txn(commit);
  ASSERT_TRUE(isOk(second));
  EXPECT_FALSE(second->succeeded);
  ASSERT_EQ(second->gets.size(), 1u);
  ASSERT_EQ(second->gets[0].size(), 1u);
  EXPECT_EQ(second->gets[0][0].value, "theirs");
}

TEST_F(EtcdKvTest, TxnComparesOnCreateRevisionVersionValueAndLease) {
  // createRevision 0: "the key does not exist yet", the usual create guard.
  Txn create;
  create.compares.push_back(Compare::createRevision("/txn/new", Compare::kEqual, 0));
  create.success.push_back(TxnOp::put("/txn/new", "first"));
  auto created = store_->txn(create);
  ASSERT_TRUE(isOk(created));
  EXPECT_TRUE(created->succeeded);
  auto again = store_->txn(create);
  ASSERT_TRUE(isOk(again));
  EXPECT_FALSE(again->succeeded);

  Txn guards;
  guards.compares = {Compare::version("/txn/new", Compare::kEqual, 1),
                     Compare::valueIs("/txn/new", Compare::kEqual, "first"),
                     Compare::lease("/txn/new", Compare::kEqual, 0),
                     Compare::modRevision("/txn/new", Compare::kLess, created->revision + 1),
                     Compare::modRevision("/txn/new", Compare::kGreater, 0),
                     Compare::valueIs("/txn/new", Compare::kNotEqual, "other")};
  guards.success = {TxnOp::get("/txn/new"), TxnOp::getPrefix("/txn/"), TxnOp::remove("/txn/new")};
  auto checked = store_->txn(guards);
  ASSERT_TRUE(isOk(checked));
  EXPECT_TRUE(checked->succeeded);
  ASSERT_EQ(checked->gets.size(), 2u);
  EXPECT_EQ(checked->gets[0].size(), 1u);
  EXPECT_EQ(checked->gets[1].size(), 1u);
  auto gone = store_->get("/txn/new");
  ASSERT_TRUE(isOk(gone));
  EXPECT_TRUE(gone->kvs.empty());
}

// A prefix compare guards a write that is only right while nothing exists
// under a prefix, including keys created after the writer looked.
TEST_F(EtcdKvTest, NoKeyUnderHoldsOnlyWhileThePrefixIsEmpty) {
  Txn guarded;
  guarded.compares.push_back(Compare::noKeyUnder("/fence/items/"));
  guarded.success.push_back(TxnOp::put("/fence/config", "v"));
  auto empty = store_->txn(guarded);
  ASSERT_TRUE(isOk(empty));
  EXPECT_TRUE(empty->succeeded);

  ASSERT_TRUE(isOk(store_->put("/fence/items-not-under", "x")));
  auto besideThePrefix = store_->txn(guarded);
  ASSERT_TRUE(isOk(besideThePrefix));
  EXPECT_TRUE(besideThePrefix->succeeded) << "a key beside the prefix is not under it";

  ASSERT_TRUE(isOk(store_->put("/fence/items/b", "x")));
  auto taken = store_->txn(guarded);
  ASSERT_TRUE(isOk(taken));
  EXPECT_FALSE(taken->succeeded);
}

Txn putsOf(int count) {
  Txn txn;
  for (int i = 0; i < count; ++i) txn.success.push_back(TxnOp::put(fmt::format("/big/{}", i), "v"));
  return txn;
}

TEST_F(EtcdLimitsTest, TxnOverEtcdsOperationLimitIsTxnTooLarge) {
  startEtcd({.extraArgs = {"--max-txn-ops=16"}});
  ASSERT_FALSE(HasFatalFailure());
  store_ = connect();

  EXPECT_TRUE(isOk(store_->txn(putsOf(16))));
  auto tooMany = store_->txn(putsOf(17));
  ASSERT_TRUE(failsWith(tooMany, StoreError::kTxnTooLarge));
  EXPECT_NE(tooMany.error().message.find("max-txn-ops"), std::string::npos)
      << tooMany.error().message;
  auto untouched = store_->get("/big/16");
  ASSERT_TRUE(isOk(untouched));
  EXPECT_TRUE(untouched->kvs.empty());
}

TEST_F(EtcdLimitsTest, RequestOverEtcdsSizeLimitIsTxnTooLarge) {
  startEtcd({.extraArgs = {"--max-request-bytes=4096"}});
  ASSERT_FALSE(HasFatalFailure());
  store_ = connect();
  EXPECT_TRUE(failsWith(store_->put("/huge", std::string(8192, 'x')), StoreError::kTxnTooLarge));
}

TEST_F(EtcdKvTest, CompactedHistoryIsGoneButCurrentValuesStay) {
  ASSERT_TRUE(isOk(store_->put("/c/a", "1")));
  auto last = store_->put("/c/a", "2");
  ASSERT_TRUE(isOk(last));
  ASSERT_TRUE(isOk(store_->compact(*last)));
  EXPECT_TRUE(failsWith(store_->compact(*last - 1), StoreError::kCompacted));
  auto now = store_->get("/c/a");
  ASSERT_TRUE(isOk(now));
  EXPECT_EQ(now->kvs.front().value, "2");
}

}  // namespace
}  // namespace ozy
