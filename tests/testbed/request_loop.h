// A steady loop of requests on a thread of its own, counting what succeeded
// and what failed, for tests that change a job under load.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>

namespace ozy::testbed_testing {

class RequestLoop {
 public:
  explicit RequestLoop(std::function<bool()> request) : request_(std::move(request)) {
    thread_ = std::thread([this] {
      while (!stop_) {
        (request_() ? ok_ : failed_)++;
      }
    });
  }
  ~RequestLoop() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::uint64_t ok() const { return ok_; }
  std::uint64_t failed() const { return failed_; }

 private:
  std::function<bool()> request_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> ok_{0};
  std::atomic<std::uint64_t> failed_{0};
  std::thread thread_;
};

}  // namespace ozy::testbed_testing
