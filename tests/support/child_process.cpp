// Shared helpers of the daemon-running test supports; see child_process.h.
#include "child_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace ozy::testing_support {
namespace {

std::string errnoText(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace

Result<std::vector<int>, std::string> freePorts(int count) {
  std::vector<Fd> sockets(static_cast<std::size_t>(count));
  std::vector<int> ports;
  for (Fd& socket : sockets) {
    socket.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof addr;
    if (socket.fd < 0 || ::bind(socket.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(socket.fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
      return fail(errnoText("cannot reserve a loopback port"));
    }
    ports.push_back(ntohs(addr.sin_port));
  }
  return ports;
}

Result<pid_t, std::string> spawn(const std::vector<std::string>& argv, int logFd) {
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  Fd devNull{::open("/dev/null", O_RDONLY | O_CLOEXEC)};
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return fail(errnoText("fork"));
  if (pid == 0) {
    // Only async-signal-safe calls between fork and exec: the parent may be
    // multi-threaded (gRPC).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(devNull.fd, STDIN_FILENO);
    ::dup2(logFd, STDOUT_FILENO);
    ::dup2(logFd, STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

void terminateChild(pid_t pid, int graceMs) {
  if (pid <= 0) return;
  ::kill(pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(graceMs);
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

CommandOutput runCommand(const std::vector<std::string>& argv, std::chrono::milliseconds timeout) {
  CommandOutput result;
  int ends[2];
  if (::pipe2(ends, O_CLOEXEC) != 0) {
    result.output = errnoText("pipe");
    return result;
  }
  Fd reader{ends[0]};
  auto pid = [&] {
    Fd writer{ends[1]};  // the child's copy is all that stays open
    return spawn(argv, writer.fd);
  }();
  if (!pid) {
    result.output = pid.error();
    return result;
  }
  ::fcntl(reader.fd, F_SETFL, O_NONBLOCK);
  bool closed = false;  // every writer is gone: poll() would return at once
  auto drain = [&] {
    char buffer[4096];
    ssize_t n = 0;
    while ((n = ::read(reader.fd, buffer, sizeof buffer)) > 0) {
      result.output.append(buffer, static_cast<std::size_t>(n));
    }
    if (n == 0) closed = true;
  };
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (::waitpid(*pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(*pid, SIGKILL);
      ::waitpid(*pid, &status, 0);
      drain();
      result.output += "\n(killed after " + std::to_string(timeout.count()) + " ms)";
      return result;
    }
    if (closed) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    pollfd readable{reader.fd, POLLIN, 0};
    ::poll(&readable, 1, 50);
    drain();
  }
  drain();
  if (WIFEXITED(status)) result.exitCode = WEXITSTATUS(status);
  return result;
}

}  // namespace ozy::testing_support
