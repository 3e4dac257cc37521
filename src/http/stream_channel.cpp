// The producer/session hand-over of a streamed body.
#include "http/stream_channel.h"

#include <utility>

namespace ozy::http {

bool StreamChannel::write(std::string_view chunk) {
  if (chunk.empty()) return open();
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(mutex_);
    if (closed_) return false;
    offered_.emplace(chunk);
    ticket = ++offers_;
  }
  wake_();
  // No timeout of its own: the session bounds each write by the request
  // timeout and closes the channel when it fails, times out or stops.
  std::unique_lock lock(mutex_);
  written_.wait(lock, [&] { return writes_ >= ticket || closed_; });
  return writes_ >= ticket;
}

bool StreamChannel::open() const {
  std::lock_guard lock(mutex_);
  return !closed_;
}

void StreamChannel::finish(bool complete) {
  {
    std::lock_guard lock(mutex_);
    end_ = complete ? End::Complete : End::Aborted;
  }
  wake_();
}

std::optional<std::string> StreamChannel::take() {
  std::lock_guard lock(mutex_);
  if (closed_) return std::nullopt;
  return std::exchange(offered_, std::nullopt);
}

void StreamChannel::markWritten() {
  std::lock_guard lock(mutex_);
  writes_ = offers_;
  written_.notify_all();
}

StreamChannel::End StreamChannel::end() const {
  std::lock_guard lock(mutex_);
  return offered_ ? End::NotYet : end_;
}

void StreamChannel::close() {
  std::lock_guard lock(mutex_);
  closed_ = true;
  offered_.reset();
  written_.notify_all();
}

}  // namespace ozy::http
