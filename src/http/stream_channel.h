// StreamChannel: the hand-over of a streamed response body between its
// producer, on a stream-pool thread, and its session, on the connection's
// strand. Internal to src/http; no Boost types, so the protocol can be read
// (and tested) without the I/O around it.
//
// One chunk is in flight at a time: write() offers a chunk, wakes the
// session and waits until the session has written it or the stream is over.
// That bounds the memory a stream holds to one chunk, and lets a client's
// reading speed pace the producer.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "http/message.h"

namespace ozy::http {

class StreamChannel final : public BodyWriter {
 public:
  // `wake` tells the session that there is something to take: a chunk, or
  // the producer's end. Called from the producer's thread, outside any lock.
  explicit StreamChannel(std::function<void()> wake) : wake_(std::move(wake)) {}

  // The producer's side (BodyWriter).
  bool write(std::string_view chunk) override;
  bool open() const override;
  // The producer returned; `complete` is false when it threw, and the body
  // must be cut short rather than ended. Wakes the session.
  void finish(bool complete);

  // The session's side.
  // The chunk on offer, if any; it is the session's to write.
  std::optional<std::string> take();
  // The chunk taken last has been written: its write() returns true.
  void markWritten();
  enum class End { NotYet, Complete, Aborted };
  // Whether the producer has returned, once every chunk it offered was taken.
  End end() const;
  // The stream is over (the client left, a write failed, the server is
  // stopping): write() returns false from now on, open() too.
  void close();

 private:
  const std::function<void()> wake_;
  mutable std::mutex mutex_;
  std::condition_variable written_;
  std::optional<std::string> offered_;
  std::uint64_t offers_ = 0;  // chunks offered so far
  std::uint64_t writes_ = 0;  // of those, written
  bool closed_ = false;
  End end_ = End::NotYet;
};

}  // namespace ozy::http
