#include "agent/image_puller.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace ozy {

ImagePuller::ImagePuller(runtime::ContainerRuntime& runtime, ImagePullerConfig config)
    : runtime_(runtime), config_(std::move(config)) {
  if (config_.parallel == 0) config_.parallel = 1;
  for (std::size_t i = 0; i < config_.parallel; ++i) {
    threads_.emplace_back([this, stop = stopSource_.get_token()] { work(stop); });
  }
}

ImagePuller::~ImagePuller() { stop(); }

void ImagePuller::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    queue_.clear();
  }
  // Ends the pulls under way: a registry may take many minutes, and an
  // agent that stops must not wait for it.
  stopSource_.request_stop();
  wake_.notify_all();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

bool ImagePuller::enqueue(const std::string& reference, Entry& entry) {
  if (queue_.size() >= config_.maxWaiting) return false;
  entry.queued = true;
  queue_.push_back(reference);
  wake_.notify_one();
  return true;
}

PullOutcome ImagePuller::want(const PullRequest& request, std::int64_t askedAtMs, bool fresh) {
  std::lock_guard lock(mutex_);
  if (stopping_) return {};
  Entry& entry = entries_[request.reference];
  entry.request = request;
  if (entry.queued) return {};
  if (entry.running) {
    // A fresh pull must not have begun before the instance asked: the tag
    // may have moved since. One more follows this one, for all who wait.
    if (fresh && entry.startedMs < askedAtMs) entry.again = true;
    return {};
  }
  if (entry.last &&
      (entry.lastStartedMs >= askedAtMs || (!fresh && entry.lastEndedMs >= askedAtMs))) {
    return *entry.last;
  }
  if (!enqueue(request.reference, entry)) {
    return {PullOutcome::Phase::kFailed,
            fmt::format("{} images are waiting to be pulled on this node already; {} waits its turn",
                        queue_.size(), request.reference)};
  }
  return {};
}

void ImagePuller::retain(const std::set<std::string>& references) {
  std::lock_guard lock(mutex_);
  std::erase_if(entries_, [&](const auto& item) {
    const Entry& e = item.second;
    return !e.queued && !e.running && !references.contains(item.first);
  });
}

void ImagePuller::work(std::stop_token stop) {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    const std::string reference = std::move(queue_.front());
    queue_.pop_front();
    auto it = entries_.find(reference);
    if (it == entries_.end()) continue;
    Entry& entry = it->second;  // std::map: stays valid while others come and go
    entry.queued = false;
    entry.running = true;
    entry.startedMs = config_.steadyMs();
    const PullRequest request = entry.request;
    lock.unlock();

    spdlog::info("pulling image {}{}{}", reference, request.auth ? " as " + request.auth->username : "",
                 request.tlsVerify ? "" : " (TLS not verified)");
    auto pulled = runtime_.pullImage(request.reference, request.auth, request.tlsVerify, stop);
    PullOutcome outcome;
    if (pulled) {
      outcome.phase = PullOutcome::Phase::kDone;
      spdlog::info("pulled image {} ({})", reference, pulled->substr(0, 12));
    } else {
      outcome.phase = PullOutcome::Phase::kFailed;
      outcome.error = pulled.error().message;
      spdlog::error("{}", outcome.error);
    }

    lock.lock();
    entry.running = false;
    entry.last = std::move(outcome);
    entry.lastStartedMs = entry.startedMs;
    entry.lastEndedMs = config_.steadyMs();
    if (entry.again && !stopping_) {
      entry.again = false;
      (void)enqueue(reference, entry);  // if refused, the next want() asks again
    }
    if (stopping_) return;
    lock.unlock();
    if (config_.onDone) config_.onDone();
    lock.lock();
  }
}

}  // namespace ozy
