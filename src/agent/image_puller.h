// ImagePuller: pulls the images this node's instances need, on a few threads
// of its own, so that the supervisor's passes (which publish statuses and
// run restarts) never wait on a registry.
//
// One pull per image at a time, however many instances wait for it, and at
// most `parallel` pulls at once. The supervisor asks `want()` on each pass
// and gets "pulling", "done" or "failed"; a pull that ends wakes it through
// `onDone`. What a pull came to is kept, so every instance that asked for
// the image before it began (or, for `if-not-present`, before it ended) is
// answered by that one pull: ten instances created together cause one pull,
// and an `always` pull is never older than the pod it is for.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "runtime/runtime.h"

namespace ozy {

struct PullRequest {
  std::string reference;
  std::optional<runtime::RegistryAuth> auth;
  bool tlsVerify = true;
};

struct PullOutcome {
  enum class Phase { kPulling, kDone, kFailed };
  Phase phase = Phase::kPulling;
  std::string error;  // kFailed: why, in podman's words and ours
  bool operator==(const PullOutcome&) const = default;
};

struct ImagePullerConfig {
  std::size_t parallel = 3;       // pulls at once
  std::size_t maxWaiting = 256;   // images queued behind them; more are refused (and retried)
  std::function<void()> onDone;   // a pull ended
  std::function<std::int64_t()> steadyMs;
};

class ImagePuller {
 public:
  ImagePuller(runtime::ContainerRuntime& runtime, ImagePullerConfig config);
  ~ImagePuller();
  ImagePuller(const ImagePuller&) = delete;
  ImagePuller& operator=(const ImagePuller&) = delete;

  // Abandons the pulls under way (the runtime stops waiting on them), drops
  // the queue and joins the threads.
  void stop();

  // What became of a pull of `request.reference` for someone who asked at
  // `askedAtMs` (on steadyMs's clock). A pull that ended counts if it began
  // at or after askedAtMs, or, unless `fresh`, ended at or after it (so an
  // `if-not-present` instance takes the image a running pull brings, and an
  // `always` one waits for a pull that began after it asked). Otherwise a
  // pull is queued, or, while one of the image runs, one more is queued to
  // follow it.
  PullOutcome want(const PullRequest& request, std::int64_t askedAtMs, bool fresh);

  // Forgets what became of the pulls of images not in `references`.
  void retain(const std::set<std::string>& references);

 private:
  struct Entry {
    PullRequest request;  // the latest asked for: credentials may have changed
    bool queued = false;
    bool running = false;
    bool again = false;  // a fresh pull is wanted once the running one ends
    std::int64_t startedMs = 0;
    std::optional<PullOutcome> last;
    std::int64_t lastStartedMs = 0;
    std::int64_t lastEndedMs = 0;
  };

  void work(std::stop_token stop);
  bool enqueue(const std::string& reference, Entry& entry);

  runtime::ContainerRuntime& runtime_;
  ImagePullerConfig config_;
  std::stop_source stopSource_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::map<std::string, Entry> entries_;  // by reference
  std::deque<std::string> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace ozy
