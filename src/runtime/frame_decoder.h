// FrameDecoder: podman's multiplexed output stream, the body of a container's
// logs and of an attached exec, back into pieces of stdout and stderr.
//
// Each frame is an 8-byte header (the stream: 1 stdout, 2 stderr; three zero
// bytes; the payload's length, 4 bytes big-endian) and then the payload.
// podman 4.3.1 frames a log line or a part of one (conmon splits lines at
// 8 KiB) and an exec's reads (at most 8 KiB), over the libpod API even for a
// container with a terminal. The bytes arrive as the socket gives them, so a
// frame may be split anywhere across pieces; the decoder keeps what it has of
// an incomplete one. Pure: no I/O, tested in tests/runtime/frame_decoder_test.cpp.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "common/result.h"
#include "runtime/runtime.h"

namespace ozy::runtime::podman {

class FrameDecoder {
 public:
  // Far above the 8 KiB podman writes, and what one incomplete frame may
  // hold in memory: a longer one means the stream is not what it seems.
  static constexpr std::size_t kDefaultMaxPayload = std::size_t{1} << 20;

  enum class Fed {
    kWantsMore,  // every frame so far went to the sink, which wants more
    kSinkDone,   // the sink returned false: the rest is dropped, the decoder spent
  };

  explicit FrameDecoder(std::size_t maxPayload = kDefaultMaxPayload) : maxPayload_(maxPayload) {}

  // Decodes the next piece of the stream, calling `sink` for every frame it
  // completes (frames with an empty payload carry nothing and are skipped).
  // An error says why the stream is malformed (an unknown stream, non-zero
  // padding, a frame longer than the limit); every later feed fails alike.
  Result<Fed, std::string> feed(std::string_view bytes, const LogSink& sink);

  // Whether the stream so far ends between frames: one that ends anywhere
  // else was cut short.
  bool atBoundary() const { return pending_.empty() && error_.empty(); }

 private:
  static constexpr std::size_t kHeaderSize = 8;

  // Checks the header at the start of `header` (kHeaderSize bytes); sets
  // error_ if it is malformed.
  bool readHeader(std::string_view header, LogStream& stream, std::size_t& length);

  std::size_t maxPayload_;
  // The incomplete frame's bytes so far, header first.
  std::string pending_;
  std::string error_;
};

}  // namespace ozy::runtime::podman
