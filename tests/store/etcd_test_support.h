// Shared pieces of the etcd client's integration tests: readable assertions
// on Result<_, StoreError>, a fixture that starts a private etcd, and a
// thread-safe log of what a watch delivered.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "store/etcd_store.h"
#include "support/etcd_process.h"

namespace ozy {

inline std::ostream& operator<<(std::ostream& out, const StoreError& error) {
  return out << "StoreError{" << toString(error.code) << ": " << error.message << "}";
}

// ASSERT_TRUE(isOk(result)) prints the error when there is one.
template <typename T>
::testing::AssertionResult isOk(const Result<T, StoreError>& result) {
  if (result.ok()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << result.error();
}

// EXPECT_TRUE(failsWith(result, StoreError::kNotFound)).
template <typename T>
::testing::AssertionResult failsWith(const Result<T, StoreError>& result, StoreError::Code code) {
  if (result.ok()) return ::testing::AssertionFailure() << "succeeded";
  if (result.error().code != code) {
    return ::testing::AssertionFailure()
           << "expected " << toString(code) << ", got " << result.error();
  }
  return ::testing::AssertionSuccess();
}

// Starts its own etcd for each test, with extra flags if a test needs them.
class EtcdTest : public ::testing::Test {
 protected:
  void startEtcd(testing_support::EtcdProcessOptions options = {}) {
    auto started = testing_support::EtcdProcess::start(std::move(options));
    ASSERT_TRUE(started.ok()) << started.error();
    etcd_ = std::move(started).value();
  }
  std::unique_ptr<EtcdStore> connect(EtcdConfig config = {}) {
    if (config.endpoints.empty()) config.endpoints = {etcd_->endpoint()};
    auto store = EtcdStore::create(std::move(config));
    EXPECT_TRUE(isOk(store));
    return store.ok() ? std::move(store).value() : nullptr;
  }
  void SetUp() override {
    startEtcd();
    if (HasFatalFailure()) return;
    store_ = connect();
  }

  std::unique_ptr<testing_support::EtcdProcess> etcd_;
  std::unique_ptr<EtcdStore> store_;
};

// Collects a watch's callbacks; tests wait on it with a bound.
class WatchLog {
 public:
  WatchEventsFn onEvents() {
    return [this](std::vector<WatchEvent> events, int64_t revision) {
      std::lock_guard lock(mutex_);
      for (WatchEvent& event : events) events_.push_back(std::move(event));
      revisions_.push_back(revision);
      changed_.notify_all();
    };
  }
  WatchErrorFn onError() {
    return [this](const StoreError& error) {
      std::lock_guard lock(mutex_);
      errors_.push_back(error);
      changed_.notify_all();
    };
  }
  // True once at least `count` events have arrived.
  bool waitForEvents(std::size_t count,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return events_.size() >= count; });
  }
  std::optional<StoreError> waitForError(
      std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mutex_);
    if (!changed_.wait_for(lock, timeout, [&] { return !errors_.empty(); })) return std::nullopt;
    return errors_.front();
  }
  std::vector<WatchEvent> events() {
    std::lock_guard lock(mutex_);
    return events_;
  }
  std::vector<int64_t> revisions() {
    std::lock_guard lock(mutex_);
    return revisions_;
  }
  std::size_t errorCount() {
    std::lock_guard lock(mutex_);
    return errors_.size();
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<WatchEvent> events_;
  std::vector<int64_t> revisions_;
  std::vector<StoreError> errors_;
};

}  // namespace ozy
