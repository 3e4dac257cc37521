// EtcdWatch: one etcd watch on a key prefix, run on its own thread.
//
// The thread keeps a Watch stream open, hands events to the caller, and after
// a lost connection opens a new stream (on the next endpoint, after a growing
// pause) that starts right after the last revision delivered. It ends on
// stop() or on an error no retry can fix, such as compacted history.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "store/store.h"

namespace ozy {

class EtcdChannels;

class EtcdWatch final : public Watch {
 public:
  static std::unique_ptr<EtcdWatch> start(std::shared_ptr<EtcdChannels> channels,
                                          std::string prefix, int64_t startRevision,
                                          WatchEventsFn onEvents, WatchErrorFn onError);
  ~EtcdWatch() override;
  void stop() override;

  struct State;  // shared by the handle and the thread (etcd_watch.cpp)

 private:
  explicit EtcdWatch(std::shared_ptr<State> state);

  std::shared_ptr<State> state_;
  std::mutex joinMutex_;  // for stop() from two threads at once; never taken by the watch thread
  std::thread thread_;
};

}  // namespace ozy
