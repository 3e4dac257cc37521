#include "dns/restarting_thread.h"

#include <algorithm>
#include <exception>

#include <spdlog/spdlog.h>

namespace ozy::dns {

std::chrono::milliseconds nextRestartDelay(std::chrono::milliseconds previous,
                                           std::chrono::steady_clock::duration ran,
                                           const RestartBackoff& backoff) {
  if (previous.count() <= 0 || ran >= backoff.max) return backoff.initial;
  return std::min(previous * 2, backoff.max);
}

RestartingThread::RestartingThread(std::string name, RestartBackoff backoff, Loop loop)
    : name_(std::move(name)), backoff_(backoff), loop_(std::move(loop)) {
  thread_ = std::thread([this] { run(); });
}

RestartingThread::~RestartingThread() {
  stop();
}

void RestartingThread::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::optional<std::string> RestartingThread::runOnce() {
  // Nothing may escape a thread (that ends the process): whatever the loop
  // throws is a failure like any other, logged and followed by a restart.
  try {
    auto result = loop_();
    if (result) return std::nullopt;
    return std::move(result).error();
  } catch (const std::exception& e) {
    return std::string(e.what());
  } catch (...) {
    return std::string("an exception that is not a std::exception");
  }
}

void RestartingThread::run() {
  std::chrono::milliseconds delay{0};
  while (true) {
    const auto started = std::chrono::steady_clock::now();
    auto failure = runOnce();
    std::unique_lock lock(mutex_);
    if (!failure || stopping_) return;
    delay = nextRestartDelay(delay, std::chrono::steady_clock::now() - started, backoff_);
    spdlog::error("{} failed: {}; starting it again in {} ms", name_, *failure, delay.count());
    if (wake_.wait_for(lock, delay, [this] { return stopping_; })) return;
  }
}

}  // namespace ozy::dns
