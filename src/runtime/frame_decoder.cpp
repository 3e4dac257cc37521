// FrameDecoder: see frame_decoder.h. Whole frames found within one piece
// go to the sink straight from it; only a frame split across pieces is
// copied, into pending_.
#include "runtime/frame_decoder.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>

namespace ozy::runtime::podman {

bool FrameDecoder::readHeader(std::string_view header, LogStream& stream, std::size_t& length) {
  const auto byte = [&](std::size_t i) { return static_cast<std::uint8_t>(header[i]); };
  if (byte(0) == 1) {
    stream = LogStream::kStdout;
  } else if (byte(0) == 2) {
    stream = LogStream::kStderr;
  } else {
    error_ = fmt::format("a frame of an unknown stream {}", byte(0));
    return false;
  }
  // Raw, unframed output (text) would fail here at once.
  if (byte(1) != 0 || byte(2) != 0 || byte(3) != 0) {
    error_ = "a frame header whose padding is not zero";
    return false;
  }
  length = (std::size_t{byte(4)} << 24) | (std::size_t{byte(5)} << 16) |
           (std::size_t{byte(6)} << 8) | std::size_t{byte(7)};
  if (length > maxPayload_) {
    error_ = fmt::format("a frame of {} bytes, more than the limit of {}", length, maxPayload_);
    return false;
  }
  return true;
}

Result<FrameDecoder::Fed, std::string> FrameDecoder::feed(std::string_view bytes,
                                                          const LogSink& sink) {
  if (!error_.empty()) return fail(error_);
  LogStream stream = LogStream::kStdout;
  std::size_t length = 0;
  const auto deliver = [&](std::string_view payload) {
    return payload.empty() || sink(stream, payload);
  };

  // First complete the frame an earlier piece began.
  if (!pending_.empty()) {
    if (pending_.size() < kHeaderSize) {
      const std::size_t take = std::min(kHeaderSize - pending_.size(), bytes.size());
      pending_.append(bytes.substr(0, take));
      bytes.remove_prefix(take);
      if (pending_.size() < kHeaderSize) return Fed::kWantsMore;
    }
    if (!readHeader(pending_, stream, length)) return fail(error_);
    const std::size_t take = std::min(kHeaderSize + length - pending_.size(), bytes.size());
    pending_.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    if (pending_.size() < kHeaderSize + length) return Fed::kWantsMore;
    const bool more = deliver(std::string_view(pending_).substr(kHeaderSize));
    pending_.clear();
    if (!more) return Fed::kSinkDone;
  }

  // Then the frames that lie wholly within this piece.
  while (bytes.size() >= kHeaderSize) {
    if (!readHeader(bytes, stream, length)) return fail(error_);
    if (bytes.size() < kHeaderSize + length) break;
    const bool more = deliver(bytes.substr(kHeaderSize, length));
    bytes.remove_prefix(kHeaderSize + length);
    if (!more) return Fed::kSinkDone;
  }
  // The start of a frame the next piece continues; its length was checked
  // if its header is whole, so what is kept is bounded.
  pending_.assign(bytes);
  return Fed::kWantsMore;
}

}  // namespace ozy::runtime::podman
