// EtcdProcess: a real, private etcd for integration tests.
//
// Each instance runs /usr/bin/etcd on free loopback ports with its own
// temporary data dir, and cleans up after itself (process and files) when it
// is stopped or destroyed, including when a test fails half-way. The child is
// also told to die with the thread that started it (PR_SET_PDEATHSIG), so a
// test binary that crashes does not leave etcd running: start it from a
// thread that outlives it (the test's main thread).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"

namespace ozy::testing_support {

struct EtcdProcessOptions {
  // Passed to etcd after the flags EtcdProcess sets itself, e.g.
  // {"--max-txn-ops=16"} or the TLS flags (--cert-file=..., --key-file=...).
  std::vector<std::string> extraArgs;
  // Serve clients on https:// (the TLS flags then belong in extraArgs).
  bool https = false;
  // How long etcd may take to report itself healthy.
  std::chrono::milliseconds startTimeout{20000};
  std::string binary = "/usr/bin/etcd";
  // Another local address to serve clients on besides 127.0.0.1, e.g. a
  // test bed's bridge (endpointAt() names it).
  std::string alsoListenOn{};
};

class EtcdProcess {
 public:
  // Starts etcd and waits until it answers /health; the error says why not
  // and quotes the end of etcd's log.
  static Result<std::unique_ptr<EtcdProcess>, std::string> start(EtcdProcessOptions options = {});
  ~EtcdProcess();
  EtcdProcess(const EtcdProcess&) = delete;
  EtcdProcess& operator=(const EtcdProcess&) = delete;

  // "http://127.0.0.1:PORT" (or https://), for EtcdConfig::endpoints.
  std::string endpoint() const;
  // The same port on another of its addresses (options.alsoListenOn).
  std::string endpointAt(const std::string& host) const;
  std::string dataDir() const;
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  // The last `maxBytes` of etcd's output, for failure messages.
  std::string logTail(std::size_t maxBytes = 4000) const;

  // Stops etcd (SIGTERM, then SIGKILL after a grace period) but keeps its data
  // dir and ports, so restart() brings the same member back.
  void terminate();
  // Starts etcd again with the same ports, data dir and flags, terminating it
  // first if it runs, and waits until it is healthy.
  Result<std::monostate, std::string> restart();
  // terminate() and remove every file; the destructor does this too.
  void stop();

 private:
  EtcdProcess(EtcdProcessOptions options, std::string workDir, int clientPort, int peerPort,
              int metricsPort);
  Result<std::monostate, std::string> launch();
  Result<std::monostate, std::string> waitUntilHealthy();
  std::vector<std::string> arguments() const;
  std::string clientUrls() const;

  EtcdProcessOptions options_;
  std::string workDir_;  // holds data/ and etcd.log
  int clientPort_;
  int peerPort_;
  int metricsPort_;  // plain-HTTP /health, reachable even when clients need TLS
  pid_t pid_ = -1;
};

}  // namespace ozy::testing_support
