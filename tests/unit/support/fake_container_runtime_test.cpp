// FakeContainerRuntime's scripted logs, as the agent's tests will lean on
// them: tail, a follow that gets what is added later and ends with the log,
// and a stop that ends a follow.
#include "fake_container_runtime.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace ozy::testing_support {
namespace {

using runtime::LogOptions;
using runtime::LogStream;

TEST(FakeContainerRuntime, LogsGiveWhatWasAddedAndTailTheLastPieces) {
  FakeContainerRuntime fake;
  fake.addLog("web", LogStream::kStdout, "one\n");
  fake.addLog("web", LogStream::kStderr, "two\n");
  fake.addLog("web", LogStream::kStdout, "three\n");
  std::string seen;
  LogOptions lastTwo;
  lastTwo.tailLines = 2;
  auto read = fake.containerLogs("web", lastTwo,
                                 [&](LogStream stream, std::string_view text) {
                                   seen += (stream == LogStream::kStdout ? "out:" : "err:") +
                                           std::string(text);
                                   return true;
                                 },
                                 {});
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(seen, "err:two\nout:three\n");
  auto missing =
      fake.containerLogs("nope", {}, [](LogStream, std::string_view) { return true; }, {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, FakeContainerRuntime::Code::kNotFound);
}

TEST(FakeContainerRuntime, AFollowGetsLaterPiecesAndEndsWithTheLog) {
  FakeContainerRuntime fake;
  fake.addLog("web", LogStream::kStdout, "first\n");
  LogOptions follow;
  follow.follow = true;
  std::string seen;
  // The sink adds the next piece, then ends the log, as a container would
  // while followed.
  auto read = fake.containerLogs("web", follow,
                                 [&](LogStream, std::string_view text) {
                                   seen += text;
                                   if (text == "first\n")
                                     fake.addLog("web", LogStream::kStdout, "second\n");
                                   if (text == "second\n")
                                     std::thread([&] { fake.endLog("web"); }).join();
                                   return true;
                                 },
                                 {});
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(seen, "first\nsecond\n");
}

TEST(FakeContainerRuntime, AStopEndsAFollow) {
  FakeContainerRuntime fake;
  fake.addLog("web", LogStream::kStdout, "only\n");
  std::stop_source stop;
  LogOptions follow;
  follow.follow = true;
  std::thread stopper;
  auto read = fake.containerLogs(
      "web", follow,
      [&](LogStream, std::string_view) {
        stopper = std::thread([&] { stop.request_stop(); });
        return true;
      },
      stop.get_token());
  stopper.join();
  EXPECT_TRUE(read);
}

}  // namespace
}  // namespace ozy::testing_support
