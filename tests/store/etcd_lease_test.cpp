// EtcdStore's leases against a real etcd: grant, keep-alive, expiry,
// revocation, and how a lease that is gone is reported (kNotFound).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "etcd_test_support.h"
#include "support/etcd_with_store.h"

namespace ozy {
namespace {

using namespace std::chrono_literals;

class EtcdLeaseTest : public EtcdTest {};

TEST_F(EtcdLeaseTest, GrantedLeaseIsAttachedToItsKeys) {
  auto lease = store_->grantLease(30);
  ASSERT_TRUE(isOk(lease));
  EXPECT_NE(lease->id, 0);
  EXPECT_EQ(lease->ttlSeconds, 30);
  ASSERT_TRUE(isOk(store_->put("/nodes/n1", "alive", lease->id)));
  auto got = store_->get("/nodes/n1");
  ASSERT_TRUE(isOk(got));
  EXPECT_EQ(got->kvs.front().lease, lease->id);

  auto left = store_->leaseTimeToLive(lease->id);
  ASSERT_TRUE(isOk(left));
  EXPECT_GT(*left, 0);
  EXPECT_LE(*left, 30);
}

TEST_F(EtcdLeaseTest, KeepAliveOnceRestoresTheFullTtl) {
  auto lease = store_->grantLease(10);
  ASSERT_TRUE(isOk(lease));
  auto ttl = store_->keepAliveOnce(lease->id);
  ASSERT_TRUE(isOk(ttl));
  EXPECT_EQ(*ttl, 10);
}

TEST_F(EtcdLeaseTest, KeepAlivesHoldAKeyPastItsTtl) {
  auto lease = store_->grantLease(2);
  ASSERT_TRUE(isOk(lease));
  ASSERT_TRUE(isOk(store_->put("/nodes/kept", "alive", lease->id)));
  const auto until = std::chrono::steady_clock::now() + 4s;
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_TRUE(isOk(store_->keepAliveOnce(lease->id)));
    std::this_thread::sleep_for(500ms);
  }
  auto got = store_->get("/nodes/kept");
  ASSERT_TRUE(isOk(got));
  EXPECT_EQ(got->kvs.size(), 1u);
}

TEST_F(EtcdLeaseTest, KeyVanishesWhenItsLeaseExpiresAndTheLeaseIsThenNotFound) {
  auto lease = store_->grantLease(2);
  ASSERT_TRUE(isOk(lease));
  ASSERT_TRUE(isOk(store_->put("/nodes/n2", "alive", lease->id)));

  EXPECT_TRUE(testing_support::waitUntilGone(*store_, "/nodes/n2", 10s))
      << "the key outlived its lease by over 8 s";
  auto keepAlive = store_->keepAliveOnce(lease->id);
  EXPECT_TRUE(failsWith(keepAlive, StoreError::kNotFound));
  if (!keepAlive.ok()) {
    EXPECT_NE(keepAlive.error().message.find("lease"), std::string::npos);
  }
  EXPECT_TRUE(failsWith(store_->leaseTimeToLive(lease->id), StoreError::kNotFound));
}

TEST_F(EtcdLeaseTest, RevokingALeaseRemovesItsKeysAtOnce) {
  auto lease = store_->grantLease(60);
  ASSERT_TRUE(isOk(lease));
  ASSERT_TRUE(isOk(store_->put("/nodes/n3", "alive", lease->id)));
  ASSERT_TRUE(isOk(store_->revokeLease(lease->id)));
  auto got = store_->get("/nodes/n3");
  ASSERT_TRUE(isOk(got));
  EXPECT_TRUE(got->kvs.empty());
  EXPECT_TRUE(failsWith(store_->revokeLease(lease->id), StoreError::kNotFound));
  EXPECT_TRUE(failsWith(store_->keepAliveOnce(lease->id), StoreError::kNotFound));
}

TEST_F(EtcdLeaseTest, PutUnderAnUnknownLeaseIsNotFound) {
  EXPECT_TRUE(failsWith(store_->put("/nodes/n4", "v", 0x1234), StoreError::kNotFound));
}

}  // namespace
}  // namespace ozy
