// RestartingThread: a loop that throws or fails is run again after a
// back-off that doubles to a bound; one that stopped is not; stop() is
// prompt even in the middle of a long back-off.
#include "dns/restarting_thread.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <gtest/gtest.h>

namespace ozy::dns {
namespace {

using namespace std::chrono_literals;
using std::chrono::milliseconds;

TEST(NextRestartDelayTest, DoublesToTheMaximumAndStartsOverAfterAHealthyRun) {
  const RestartBackoff backoff{100ms, 1000ms};
  struct Row {
    milliseconds previous;
    milliseconds ran;
    milliseconds expected;
  };
  const Row rows[] = {
      {0ms, 0ms, 100ms},        // the first failure
      {100ms, 5ms, 200ms},      // failing again at once
      {800ms, 5ms, 1000ms},     // no further than the maximum
      {1000ms, 999ms, 1000ms},  // still failing soon after starting
      {1000ms, 1000ms, 100ms},  // ran as long as the maximum: healthy, starts over
  };
  for (const Row& row : rows) {
    EXPECT_EQ(nextRestartDelay(row.previous, row.ran, backoff), row.expected)
        << "previous " << row.previous.count() << " ms, ran " << row.ran.count() << " ms";
  }
}

// Counts the runs of a loop and lets the test wait for a number of them.
class Runs {
 public:
  int started() {
    std::lock_guard lock(mutex_);
    ++count_;
    changed_.notify_all();
    return count_;
  }
  bool waitFor(int count) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, 10s, [&] { return count_ >= count; });
  }
  int count() {
    std::lock_guard lock(mutex_);
    return count_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  int count_ = 0;
};

TEST(RestartingThreadTest, RunsTheLoopAgainAfterItThrowsOrFails) {
  Runs runs;
  std::atomic<bool> stopping = false;
  RestartingThread thread("the test loop", {1ms, 4ms}, [&]() -> Result<Done, std::string> {
    const int run = runs.started();
    if (run == 1) throw std::runtime_error("injected");
    if (run == 2) return fail(std::string("failed"));
    while (!stopping) std::this_thread::sleep_for(1ms);
    return Done{};
  });
  EXPECT_TRUE(runs.waitFor(3));
  stopping = true;
  thread.stop();
  EXPECT_EQ(runs.count(), 3);
}

TEST(RestartingThreadTest, DoesNotRunALoopAgainThatStopped) {
  Runs runs;
  RestartingThread thread("the test loop", {1ms, 4ms}, [&]() -> Result<Done, std::string> {
    runs.started();
    return Done{};
  });
  ASSERT_TRUE(runs.waitFor(1));
  thread.stop();
  EXPECT_EQ(runs.count(), 1);
}

TEST(RestartingThreadTest, StopIsPromptDuringALongBackoff) {
  Runs runs;
  RestartingThread thread("the test loop", {1h, 1h}, [&]() -> Result<Done, std::string> {
    runs.started();
    return fail(std::string("failed"));
  });
  ASSERT_TRUE(runs.waitFor(1));
  const auto before = std::chrono::steady_clock::now();
  thread.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 1s);
  EXPECT_EQ(runs.count(), 1);
}

}  // namespace
}  // namespace ozy::dns
