// AgentProcess: a real `ozy agent` for integration tests, on a free port,
// killed by pid (and told to die with the test thread) whatever happens.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "common/result.h"

namespace ozy::testing_support {

struct AgentOptions {
  std::string binary;  // the `ozy` executable
  std::string node;
  std::string etcd;  // endpoint URL
  std::string memory = "8G";
  std::string disk = "100G";
  std::string dataDir;  // required: a test-owned directory
  int leaseTtl = 10;
  std::vector<std::string> extraArgs;  // e.g. {"--token-file", path}
  // "none" for scheduling tests (nothing runs); "podman" runs the instances.
  std::string runtime = "none";
  // Runs the agent through this command, e.g. TestBed::commandIn(i) to start
  // it inside a test-bed host; the command must exec the agent (keep its pid).
  std::vector<std::string> wrapper{};
};

class AgentProcess {
 public:
  // Starts the agent and waits (bounded) for it to report its API URL.
  static Result<std::unique_ptr<AgentProcess>, std::string> start(AgentOptions options);
  // Starts them all at once, then waits for each: agents racing each other
  // at start (from this thread, which they must not outlive: PDEATHSIG).
  static Result<std::vector<std::unique_ptr<AgentProcess>>, std::string> startAll(
      std::vector<AgentOptions> options);
  ~AgentProcess();  // kill()

  const std::string& url() const { return url_; }
  // The API token: the --token-file's among the extra arguments, else the
  // one the agent made in its data dir.
  const std::string& token() const { return token_; }
  // "OZY_TOKEN=<token>", for runOzy's environment.
  std::vector<std::string> ozyEnv() const { return {"OZY_TOKEN=" + token_}; }
  pid_t pid() const { return pid_; }
  // SIGKILL: a crash, leaving its lease to expire.
  void kill();
  // SIGTERM and wait: a clean leave. Returns the exit status.
  int terminate();
  std::string log() const;

 private:
  AgentProcess() = default;
  static Result<std::unique_ptr<AgentProcess>, std::string> launch(const AgentOptions& o);
  Result<std::monostate, std::string> waitUntilListening();
  pid_t pid_ = -1;
  std::string node_;
  std::string outPath_;
  std::string tokenPath_;
  std::string url_;
  std::string token_;
  std::string logPath_;
};

// Runs `ozy` with arguments and environment additions; returns exit code and
// combined output. Bounded by a timeout.
struct CommandResult {
  int exitCode = -1;
  std::string stdoutText;
  std::string stderrText;
};
CommandResult runOzy(const std::string& binary, const std::vector<std::string>& args,
                     const std::vector<std::string>& env = {});

}  // namespace ozy::testing_support
