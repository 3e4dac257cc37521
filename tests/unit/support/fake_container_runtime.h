// FakeContainerRuntime: a ContainerRuntime with no engine behind it, for the
// agent's rules as unit tests. Images are a set; pulls are counted and can
// be held at a gate until the test lets them finish. A container's exec
// answer and its log are scripted (addLog, endLog, setExecResult); a
// container never scripted is not found. Everything else answers
// "invalid": a test that needs more teaches the fake more.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "runtime/runtime.h"

namespace ozy::testing_support {

class FakeContainerRuntime final : public runtime::ContainerRuntime {
 public:
  using Code = runtime::RuntimeError::Code;
  template <typename T>
  using R = runtime::RuntimeResult<T>;

  // Pulls wait until released (hold(false)), or until stopped.
  void hold(bool held) {
    std::lock_guard lock(mutex_);
    held_ = held;
    changed_.notify_all();
  }
  // A pull of `reference` fails with `error` instead of bringing the image.
  void failPull(const std::string& reference, runtime::RuntimeError error) {
    std::lock_guard lock(mutex_);
    failures_[reference] = std::move(error);
  }
  void addImage(const std::string& reference) {
    std::lock_guard lock(mutex_);
    images_.insert(reference);
  }
  int pulls(const std::string& reference) {
    std::lock_guard lock(mutex_);
    return pulls_[reference];
  }
  int maxRunning() {
    std::lock_guard lock(mutex_);
    return maxRunning_;
  }
  int running() {
    std::lock_guard lock(mutex_);
    return running_;
  }
  std::vector<runtime::RegistryAuth> authsSeen() {
    std::lock_guard lock(mutex_);
    return auths_;
  }
  std::vector<std::string> removedImages() {
    std::lock_guard lock(mutex_);
    return removedImages_;
  }
  std::vector<bool> tlsVerifySeen() {
    std::lock_guard lock(mutex_);
    return tlsVerify_;
  }

  // Appends a piece to the container's log (a following read gets it).
  void addLog(const std::string& container, runtime::LogStream stream, std::string text) {
    std::lock_guard lock(mutex_);
    logs_[container].chunks.emplace_back(stream, std::move(text));
    changed_.notify_all();
  }
  // The container has stopped: a following read ends after its last piece.
  void endLog(const std::string& container) {
    std::lock_guard lock(mutex_);
    logs_[container].ended = true;
    changed_.notify_all();
  }
  // What exec() in `container` answers from now on, whatever the command.
  void setExecResult(const std::string& container, R<runtime::ExecResult> result) {
    std::lock_guard lock(mutex_);
    execResults_.insert_or_assign(container, std::move(result));
  }
  // The commands exec() was asked to run, in order, with their container.
  std::vector<std::pair<std::string, std::vector<std::string>>> execsSeen() {
    std::lock_guard lock(mutex_);
    return execs_;
  }

  R<runtime::Done> ping() override { return runtime::Done{}; }
  R<bool> imageExists(const std::string& image) override {
    std::lock_guard lock(mutex_);
    return images_.contains(image);
  }
  R<runtime::Done> removeImage(const std::string& reference) override {
    std::lock_guard lock(mutex_);
    if (images_.erase(reference) == 0)
      return fail(runtime::RuntimeError{Code::kNotFound, "no such image"});
    removedImages_.push_back(reference);
    return runtime::Done{};
  }
  R<std::string> pullImage(const std::string& reference,
                           const std::optional<runtime::RegistryAuth>& auth, bool tlsVerify,
                           std::stop_token stop) override {
    // Before the lock: with a stop already asked for, it runs right here.
    std::stop_callback wake(stop, [this] {
      std::lock_guard inner(mutex_);
      changed_.notify_all();
    });
    std::unique_lock lock(mutex_);
    ++pulls_[reference];
    if (auth) auths_.push_back(*auth);
    tlsVerify_.push_back(tlsVerify);
    ++running_;
    maxRunning_ = std::max(maxRunning_, running_);
    changed_.wait(lock, [&] { return !held_ || stop.stop_requested(); });
    --running_;
    if (stop.stop_requested()) return fail(runtime::RuntimeError{Code::kUnavailable, "abandoned"});
    if (auto f = failures_.find(reference); f != failures_.end()) return fail(f->second);
    images_.insert(reference);
    return "id-of-" + reference;
  }

  R<std::string> createPod(const runtime::PodSpec&) override { return no<std::string>(); }
  R<runtime::Done> startPod(const std::string&) override { return no<runtime::Done>(); }
  R<runtime::Done> stopPod(const std::string&, std::chrono::seconds) override {
    return no<runtime::Done>();
  }
  R<runtime::Done> removePod(const std::string&, bool) override { return no<runtime::Done>(); }
  R<std::vector<runtime::PodSummary>> listPods(const runtime::Labels&) override {
    return std::vector<runtime::PodSummary>{};
  }
  R<runtime::PodNetwork> inspectPodNetwork(const std::string&) override {
    return no<runtime::PodNetwork>();
  }
  R<std::string> createContainer(const runtime::ContainerSpec&) override {
    return no<std::string>();
  }
  R<runtime::Done> startContainer(const std::string&) override { return no<runtime::Done>(); }
  R<runtime::Done> stopContainer(const std::string&, std::chrono::seconds) override {
    return no<runtime::Done>();
  }
  R<runtime::Done> removeContainer(const std::string&, bool) override {
    return no<runtime::Done>();
  }
  R<runtime::ContainerState> inspectContainer(const std::string&) override {
    return no<runtime::ContainerState>();
  }
  R<runtime::ExecResult> exec(const std::string& container, const std::vector<std::string>& command,
                              std::chrono::milliseconds) override {
    std::lock_guard lock(mutex_);
    execs_.emplace_back(container, command);
    if (auto found = execResults_.find(container); found != execResults_.end())
      return found->second;
    return missing<runtime::ExecResult>(container);
  }
  // Pieces stand for lines (tailLines counts pieces); since and timestamps
  // are not modelled.
  R<runtime::Done> containerLogs(const std::string& container, const runtime::LogOptions& options,
                                 const runtime::LogSink& onChunk, std::stop_token stop) override {
    std::stop_callback wake(stop, [this] {
      std::lock_guard inner(mutex_);
      changed_.notify_all();
    });
    std::unique_lock lock(mutex_);
    if (!logs_.contains(container)) return missing<runtime::Done>(container);
    const auto& chunks = logs_[container].chunks;
    std::size_t next = 0;
    if (options.tailLines) {
      next = chunks.size() -
             std::min(chunks.size(),
                      static_cast<std::size_t>(std::max<std::int64_t>(0, *options.tailLines)));
    }
    while (!stop.stop_requested()) {
      for (; next < chunks.size(); ++next) {
        // The sink runs unlocked, as a real read's would: it may script more.
        const auto [stream, text] = chunks[next];
        lock.unlock();
        const bool more = onChunk(stream, text);
        lock.lock();
        if (!more) return runtime::Done{};
      }
      if (!options.follow || logs_[container].ended) break;
      changed_.wait(lock, [&] {
        return stop.stop_requested() || next < chunks.size() || logs_[container].ended;
      });
    }
    return runtime::Done{};
  }

 private:
  template <typename T>
  static R<T> no() {
    return fail(runtime::RuntimeError{Code::kInvalid, "the fake runtime does not do that"});
  }
  template <typename T>
  static R<T> missing(const std::string& container) {
    return fail(
        runtime::RuntimeError{Code::kNotFound, "the fake runtime has no container " + container});
  }

  struct Log {
    std::vector<std::pair<runtime::LogStream, std::string>> chunks;
    bool ended = false;
  };

  std::mutex mutex_;
  std::condition_variable changed_;
  bool held_ = false;
  std::set<std::string> images_;
  std::map<std::string, runtime::RuntimeError> failures_;
  std::map<std::string, int> pulls_;
  std::vector<std::string> removedImages_;
  std::vector<runtime::RegistryAuth> auths_;
  std::vector<bool> tlsVerify_;
  std::map<std::string, Log> logs_;
  std::map<std::string, R<runtime::ExecResult>> execResults_;
  std::vector<std::pair<std::string, std::vector<std::string>>> execs_;
  int running_ = 0;
  int maxRunning_ = 0;
};

}  // namespace ozy::testing_support
