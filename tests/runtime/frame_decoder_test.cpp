// FrameDecoder: podman's multiplexed stdout/stderr frames, fed as a socket
// would give them (in pieces split anywhere), and the malformed streams it
// refuses.
#include "runtime/frame_decoder.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace ozy::runtime {
// For readable failures (gtest finds it by argument-dependent lookup).
inline void PrintTo(LogStream stream, std::ostream* out) {
  *out << toString(stream);
}
}  // namespace ozy::runtime

namespace ozy::runtime::podman {
namespace {

using Chunks = std::vector<std::pair<LogStream, std::string>>;

// One frame as podman writes it: stream byte, three zero bytes, big-endian length.
std::string frame(int stream, std::string_view payload) {
  const auto length = static_cast<std::uint32_t>(payload.size());
  std::string bytes = {static_cast<char>(stream),
                       0,
                       0,
                       0,
                       static_cast<char>(length >> 24),
                       static_cast<char>((length >> 16) & 0xff),
                       static_cast<char>((length >> 8) & 0xff),
                       static_cast<char>(length & 0xff)};
  return bytes + std::string(payload);
}

struct Collector {
  Chunks chunks;
  LogSink sink() {
    return [this](LogStream stream, std::string_view text) {
      chunks.emplace_back(stream, std::string(text));
      return true;
    };
  }
};

// Feeds `stream` in pieces of `step` bytes; fails the test on an error.
Chunks decodeInSteps(const std::string& stream, std::size_t step) {
  FrameDecoder decoder;
  Collector collector;
  for (std::size_t at = 0; at < stream.size(); at += step) {
    auto fed = decoder.feed(std::string_view(stream).substr(at, step), collector.sink());
    EXPECT_TRUE(fed) << fed.error();
  }
  EXPECT_TRUE(decoder.atBoundary());
  return collector.chunks;
}

TEST(FrameDecoder, TellsStdoutFromStderr) {
  const std::string stream = frame(1, "out\n") + frame(2, "err\n") + frame(1, "more\n");
  EXPECT_EQ(decodeInSteps(stream, stream.size()), (Chunks{{LogStream::kStdout, "out\n"},
                                                          {LogStream::kStderr, "err\n"},
                                                          {LogStream::kStdout, "more\n"}}));
}

TEST(FrameDecoder, JoinsFramesSplitAcrossPiecesAtAnyByte) {
  const std::string stream = frame(1, "first line\n") + frame(2, "x") + frame(1, "third\n");
  const Chunks expected = {{LogStream::kStdout, "first line\n"},
                           {LogStream::kStderr, "x"},
                           {LogStream::kStdout, "third\n"}};
  for (std::size_t step = 1; step <= stream.size(); ++step) {
    EXPECT_EQ(decodeInSteps(stream, step), expected) << "pieces of " << step << " bytes";
  }
}

TEST(FrameDecoder, SkipsAFrameWithAnEmptyPayload) {
  const std::string stream = frame(1, "a") + frame(2, "") + frame(1, "b");
  for (std::size_t step : {std::size_t{1}, std::size_t{3}, stream.size()}) {
    EXPECT_EQ(decodeInSteps(stream, step),
              (Chunks{{LogStream::kStdout, "a"}, {LogStream::kStdout, "b"}}));
  }
}

TEST(FrameDecoder, RefusesAFrameLongerThanTheLimitFromItsHeaderAlone) {
  FrameDecoder decoder(/*maxPayload=*/16);
  Collector collector;
  ASSERT_TRUE(decoder.feed(frame(1, std::string(16, 'x')), collector.sink()));
  // Only the header of the oversized frame: it is refused before its payload comes.
  auto fed = decoder.feed(frame(1, std::string(17, 'y')).substr(0, 8), collector.sink());
  ASSERT_FALSE(fed);
  EXPECT_NE(fed.error().find("17 bytes"), std::string::npos) << fed.error();
  EXPECT_EQ(collector.chunks.size(), 1u);
  // The stream is broken: later pieces fail alike.
  EXPECT_FALSE(decoder.feed(frame(1, "z"), collector.sink()));
  EXPECT_FALSE(decoder.atBoundary());
}

TEST(FrameDecoder, RefusesTheDefaultLimitPlusOne) {
  FrameDecoder decoder;
  Collector collector;
  const std::string header =
      frame(2, std::string(FrameDecoder::kDefaultMaxPayload + 1, 'x')).substr(0, 8);
  EXPECT_FALSE(decoder.feed(header, collector.sink()));
}

TEST(FrameDecoder, RefusesAnUnknownStreamAndUnframedText) {
  Collector collector;
  FrameDecoder stdinFrame;
  auto fed = stdinFrame.feed(frame(0, "in"), collector.sink());
  ASSERT_FALSE(fed);
  EXPECT_NE(fed.error().find("unknown stream 0"), std::string::npos) << fed.error();
  // What a raw (unframed) stream would look like.
  FrameDecoder raw;
  EXPECT_FALSE(raw.feed("\x01hello world\n", collector.sink()));
  EXPECT_TRUE(collector.chunks.empty());
}

TEST(FrameDecoder, StopsWhenTheSinkHasEnough) {
  FrameDecoder decoder;
  int calls = 0;
  auto fed = decoder.feed(frame(1, "a") + frame(1, "b") + frame(1, "c"),
                          [&](LogStream, std::string_view) { return ++calls < 2; });
  ASSERT_TRUE(fed) << fed.error();
  EXPECT_EQ(*fed, FrameDecoder::Fed::kSinkDone);
  EXPECT_EQ(calls, 2);
}

TEST(FrameDecoder, KnowsAStreamCutShortInsideAFrame) {
  FrameDecoder decoder;
  Collector collector;
  const std::string whole = frame(1, "complete\n");
  ASSERT_TRUE(decoder.feed(whole.substr(0, 5), collector.sink()));
  EXPECT_FALSE(decoder.atBoundary());  // inside the header
  ASSERT_TRUE(decoder.feed(whole.substr(5, 6), collector.sink()));
  EXPECT_FALSE(decoder.atBoundary());  // inside the payload
  ASSERT_TRUE(decoder.feed(whole.substr(11), collector.sink()));
  EXPECT_TRUE(decoder.atBoundary());
  EXPECT_EQ(collector.chunks, (Chunks{{LogStream::kStdout, "complete\n"}}));
}

}  // namespace
}  // namespace ozy::runtime::podman
