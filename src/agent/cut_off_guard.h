// CutOffGuard: kills a cut-off node's containers on a timer of its own.
//
// A node that cannot confirm its lease may have lost it without hearing of
// it (DESIGN's failure model): the cluster may already run its instances
// elsewhere. The guard checks every 100 ms, apart from the reconcile passes
// (which a slow pod can hold up), and once `cutOff()` says so kills every
// managed pod at once: SIGTERM, then SIGKILL after `grace`. It kills again
// every 500 ms while the node stays cut off, in case a pass raced it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "runtime/runtime.h"

namespace ozy {

struct CutOffGuardConfig {
  std::string node;               // for the log
  runtime::Labels managedLabels;  // the pods it may kill
  std::chrono::seconds grace{1};  // SIGTERM to SIGKILL
  std::function<bool()> cutOff;
  std::function<void()> afterKill;  // e.g. a reconcile pass, to stand down
  std::function<std::int64_t()> steadyMs;
};

class CutOffGuard {
 public:
  CutOffGuard(runtime::ContainerRuntime& runtime, CutOffGuardConfig config);
  ~CutOffGuard();  // stop()
  CutOffGuard(const CutOffGuard&) = delete;
  CutOffGuard& operator=(const CutOffGuard&) = delete;

  void stop();

 private:
  void loop();
  void killAll();

  runtime::ContainerRuntime& runtime_;
  CutOffGuardConfig config_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ozy
