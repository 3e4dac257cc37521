// RestartingThread: a background loop that is run again when it fails, so a
// failure costs a moment of service instead of the service. A failure is
// the loop returning an error or throwing; it is logged, and the loop runs
// again after a back-off that doubles up to a maximum, so a failure that
// repeats is retried (and logged) at most once per maximum back-off.
//
// The loop watches its owner's stop flag and returns Done when told to stop;
// stop() interrupts a back-off and waits for the thread to end.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "common/result.h"
#include "store/store.h"  // Done

namespace ozy::dns {

struct RestartBackoff {
  std::chrono::milliseconds initial{100};
  std::chrono::milliseconds max{10000};
};

// The pause before running a loop again that failed after running for `ran`;
// `previous` is the last pause (zero before the first). A loop that ran for
// at least the maximum back-off was healthy, and starts again from the
// initial pause.
std::chrono::milliseconds nextRestartDelay(std::chrono::milliseconds previous,
                                           std::chrono::steady_clock::duration ran,
                                           const RestartBackoff& backoff);

class RestartingThread {
 public:
  using Loop = std::function<Result<Done, std::string>()>;

  // Starts running `loop`; `name` says in log lines what failed.
  RestartingThread(std::string name, RestartBackoff backoff, Loop loop);
  ~RestartingThread();
  RestartingThread(const RestartingThread&) = delete;
  RestartingThread& operator=(const RestartingThread&) = delete;

  // Call after telling the loop to stop: returns once the thread has ended.
  void stop();

 private:
  void run();
  // One run of the loop; the reason it failed, or nullopt when it stopped.
  std::optional<std::string> runOnce();

  const std::string name_;
  const RestartBackoff backoff_;
  const Loop loop_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;  // last: started once the rest is ready
};

}  // namespace ozy::dns
