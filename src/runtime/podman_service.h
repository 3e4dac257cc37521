// PodmanService: a private `podman system service` process on a UNIX socket.
//
// The agent starts one when it is not given a socket; the tests start one per
// fixture. The service runs with --time=0 (it never exits by itself), with
// CONTAINERS_CONF pointing at the given containers.conf, and is stopped by
// its pid (SIGTERM, then SIGKILL) when stop() is called or the object dies.
// Containers it started keep running: conmon supervises them, not the
// service. The child also dies with the thread that started it
// (PR_SET_PDEATHSIG), so a crash leaves no stray service behind.
#pragma once

#include <sys/types.h>

#include <chrono>
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
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }

  // SIGTERM, then SIGKILL after `grace`; reaps the process and removes the
  // socket file. Safe to call twice.
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

 private:
  explicit PodmanService(PodmanServiceOptions options) : options_(std::move(options)) {}
  Result<std::monostate, std::string> launch();
  std::string logTail() const;

  PodmanServiceOptions options_;
  pid_t pid_ = -1;
};

}  // namespace ozy::runtime
