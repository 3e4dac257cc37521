// What the test helpers that run a daemon (etcd, a registry) share: free
// loopback ports, a child process that dies with the thread that started
// it, and a file descriptor closed when it goes out of scope.
#pragma once

#include <sys/types.h>
#include <unistd.h>

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

}  // namespace ozy::testing_support
