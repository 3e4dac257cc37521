// What the test helpers that run a daemon (etcd, a registry) share: free
// loopback ports, a child process that dies with the thread that started
// it, a command run to its end, and a file descriptor closed when it goes out
// of scope.
#pragma once

#include <sys/types.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "common/result.h"

namespace ozy::testing_support {

// Closes a file descriptor when it goes out of scope.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// `count` distinct free loopback ports: every socket stays bound until all
// are chosen, so no port is handed out twice.
Result<std::vector<int>, std::string> freePorts(int count);

// Runs `argv` (argv[0] a path) as a child that dies with the calling thread
// (PR_SET_PDEATHSIG), stdin from /dev/null, stdout and stderr to `logFd`.
Result<pid_t, std::string> spawn(const std::vector<std::string>& argv, int logFd);

// SIGTERM, then SIGKILL if `pid` has not exited after `grace`; reaps it.
void terminateChild(pid_t pid, int graceMs = 10000);

// How a command ended and what it printed (stdout and stderr together).
struct CommandOutput {
  int exitCode = -1;  // -1: killed by a signal, or by runCommand at its timeout
  std::string output;
};

// Runs `argv` (argv[0] a path) as spawn() does and waits for it to exit; kills
// it with SIGKILL once `timeout` has passed. Reading ends when the command
// exits, so a daemon it leaves behind holding the output open does not block.
CommandOutput runCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout);

}  // namespace ozy::testing_support
