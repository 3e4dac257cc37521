// PodmanService: a private `podman system service` process on a UNIX socket.
//
// The agent starts one when it is not given a socket; the tests start one per
// fixture. The service runs with --time=0 (it never exits by itself), with
// CONTAINERS_CONF pointing at the given containers.conf, and is stopped by
// its pid (SIGTERM, then SIGKILL) when stop() is called or the object dies.
// Containers it started keep running: conmon supervises them, not the
// service. The child also dies with the thread that started it
// (PR_SET_PDEATHSIG), so a crash leaves no stray service behind.
//
// It is supervised: a watcher thread reaps the service and, should it die,
// starts it again after a back-off (1 s doubling to 30 s), telling
// `onDown` and `onUp` so the agent can report its instances meanwhile.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace ozy::runtime {

struct PodmanServiceOptions {
  std::string socketPath;      // the socket to create; its directory must exist and
                               // is the working directory of the service and conmon
  std::string containersConf;  // CONTAINERS_CONF for the service; empty: inherit
  std::string logPath;         // the service's stdout and stderr; empty: /dev/null
  std::string binary = "/usr/bin/podman";
  std::vector<std::string> extraArgs;  // before "system", e.g. {"--log-level=debug"}
  std::chrono::milliseconds startTimeout{std::chrono::seconds(20)};
  // Called from the watcher thread when the service died, and when a
  // restarted one answers again. May be empty.
  std::function<void()> onDown;
  std::function<void()> onUp;
};

class PodmanService {
 public:
  // Starts the service and waits until GET /_ping answers on the socket; the
  // error says why not and quotes the end of the log.
  static Result<std::unique_ptr<PodmanService>, std::string> start(PodmanServiceOptions options);
  ~PodmanService();
  PodmanService(const PodmanService&) = delete;
  PodmanService& operator=(const PodmanService&) = delete;

  const std::string& socketPath() const { return options_.socketPath; }
  pid_t pid() const;
  bool running() const { return pid() > 0; }
  std::uint32_t restarts() const;

  // Ends the supervision; SIGTERM, then SIGKILL after `grace`; reaps the
  // process and removes the socket file. Safe to call twice.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  explicit PodmanService(PodmanServiceOptions options) : options_(std::move(options)) {}
  // Spawns the service and waits for it to answer; the caller holds no lock.
  Result<pid_t, std::string> launch();
  void watch();
  std::string logTail() const;

  PodmanServiceOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  pid_t pid_ = -1;  // the live service; -1 while down
  bool stopping_ = false;
  std::uint32_t restarts_ = 0;
  std::thread watcher_;
};

}  // namespace ozy::runtime
