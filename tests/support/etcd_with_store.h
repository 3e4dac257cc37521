// A private etcd and an EtcdStore connected to it: the set-up of every test
// that reads or writes etcd directly. Header-only, so test support does not
// link the etcd client for tests that do not need it.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "common/result.h"
#include "store/etcd_store.h"
#include "support/etcd_process.h"

namespace ozy::testing_support {

struct EtcdWithStore {
  std::unique_ptr<EtcdProcess> etcd;
  std::unique_ptr<EtcdStore> store;
};

inline Result<EtcdWithStore, std::string> startEtcdWithStore(EtcdProcessOptions options = {}) {
  auto etcd = EtcdProcess::start(std::move(options));
  if (!etcd) return fail(std::move(etcd).error());
  EtcdConfig config;
  config.endpoints = {(*etcd)->endpoint()};
  auto store = EtcdStore::create(config);
  if (!store) return fail("cannot connect to the test etcd: " + store.error().message);
  return EtcdWithStore{std::move(etcd).value(), std::move(store).value()};
}

// Polls until `key` is gone, for at most `bound`: etcd expires leases on its
// own clock (checked every half second), so a test waits on the condition
// instead of sleeping for a TTL.
inline bool waitUntilGone(Store& store, const std::string& key, std::chrono::seconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (std::chrono::steady_clock::now() < deadline) {
    auto got = store.get(key);
    if (got.ok() && got->kvs.empty()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

// The fixture of tests against a private etcd: etcd_ and store_ are ready in
// the test body, and outlive the derived fixture's members (agents, servers).
class EtcdStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { startEtcd(); }

  void startEtcd() {
    auto started = startEtcdWithStore();
    ASSERT_TRUE(started) << started.error();
    etcd_ = std::move(started->etcd);
    store_ = std::move(started->store);
  }

  std::unique_ptr<EtcdProcess> etcd_;
  std::unique_ptr<EtcdStore> store_;
};

}  // namespace ozy::testing_support
