// PodmanService: spawn, wait for /_ping, stop by pid; see podman_service.h.
#include "runtime/podman_service.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <future>
#include <fstream>
#include <sstream>
#include <thread>
#include <variant>

#include "runtime/unix_http.h"

extern char** environ;

namespace ozy::runtime {

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::string errnoText(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

// Everything the child needs is prepared before fork: only async-signal-safe
// calls may run between fork and exec in a multi-threaded parent.
struct ChildPlan {
  std::vector<std::string> argv;
  std::vector<std::string> env;
  std::string workingDir;
  int logFd = -1;
  int nullFd = -1;
};

std::vector<char*> pointers(std::vector<std::string>& strings) {
  std::vector<char*> result;
  for (std::string& s : strings) result.push_back(s.data());
  result.push_back(nullptr);
  return result;
}

Result<pid_t, std::string> spawn(ChildPlan& plan) {
  auto argv = pointers(plan.argv);
  auto env = pointers(plan.env);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return fail(errnoText("fork"));
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(plan.nullFd, STDIN_FILENO);
    ::dup2(plan.logFd, STDOUT_FILENO);
    ::dup2(plan.logFd, STDERR_FILENO);
    // Nothing else of the parent's may leak into the service and on into
    // every conmon it spawns: an inherited listening socket (Asio does not
    // set close-on-exec) would keep the agent's API port taken, and answer
    // nobody, after the agent dies.
    ::close_range(3, ~0U, 0);
    // conmon leaves files in its working directory (an empty "oom" when a
    // container hits its memory limit): keep them beside the socket, not
    // wherever the agent was started.
    if (::chdir(plan.workingDir.c_str()) != 0) ::_exit(127);
    ::execve(argv[0], argv.data(), env.data());
    ::_exit(127);
  }
  return pid;
}

std::vector<std::string> environmentWith(const std::string& containersConf) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (containersConf.empty() || std::strncmp(*entry, "CONTAINERS_CONF=", 16) != 0) {
      env.emplace_back(*entry);
    }
  }
  if (!containersConf.empty()) env.push_back("CONTAINERS_CONF=" + containersConf);
  return env;
}

bool answersPing(const std::string& socket) {
  UnixHttpClient client(UnixHttpConfig{socket, 1s, 4096});
  http::ClientRequest request;
  request.path = "/_ping";
  auto response = client.send(request);
  return response && response->status == 200;
}

}  // namespace

Result<std::unique_ptr<PodmanService>, std::string> PodmanService::start(
    PodmanServiceOptions options) {
  if (options.socketPath.empty()) return fail(std::string("no socket path for podman given"));
  std::unique_ptr<PodmanService> service(new PodmanService(std::move(options)));
  // The first launch happens on the watcher thread too: PR_SET_PDEATHSIG
  // ties the child to the thread that forked it, and that thread lives as
  // long as the supervision.
  std::promise<Result<pid_t, std::string>> first;
  auto launched = first.get_future();
  service->watcher_ = std::thread([raw = service.get(), &first] {
    auto pid = raw->launch();
    const bool up = pid.ok();
    if (up) {
      std::lock_guard lock(raw->mutex_);
      raw->pid_ = *pid;
    }
    first.set_value(std::move(pid));
    if (up) raw->watch();
  });
  auto result = launched.get();
  if (!result) {
    service->watcher_.join();
    return fail(std::move(result).error());
  }
  return service;
}

Result<pid_t, std::string> PodmanService::launch() {
  // A socket file left by an earlier run would make the bind fail.
  ::unlink(options_.socketPath.c_str());
  ChildPlan plan;
  plan.argv.push_back(options_.binary);
  plan.argv.insert(plan.argv.end(), options_.extraArgs.begin(), options_.extraArgs.end());
  for (const char* arg : {"system", "service", "--time=0"}) plan.argv.emplace_back(arg);
  plan.argv.push_back("unix://" + options_.socketPath);
  plan.workingDir = std::filesystem::path(options_.socketPath).parent_path().string();
  if (plan.workingDir.empty()) plan.workingDir = ".";
  plan.env = environmentWith(options_.containersConf);
  const std::string log = options_.logPath.empty() ? "/dev/null" : options_.logPath;
  plan.logFd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  plan.nullFd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  auto pid =
      (plan.logFd < 0 || plan.nullFd < 0) ? fail(errnoText("cannot open " + log)) : spawn(plan);
  if (plan.logFd >= 0) ::close(plan.logFd);
  if (plan.nullFd >= 0) ::close(plan.nullFd);
  if (!pid) return fail(std::move(pid).error());

  const auto deadline = Clock::now() + options_.startTimeout;
  while (Clock::now() < deadline) {
    if (answersPing(options_.socketPath)) return *pid;
    int status = 0;
    if (::waitpid(*pid, &status, WNOHANG) == *pid) {
      return fail("podman system service exited before it answered on " + options_.socketPath +
                  logTail());
    }
    std::this_thread::sleep_for(50ms);
  }
  const std::string tail = logTail();
  ::kill(*pid, SIGKILL);
  ::waitpid(*pid, nullptr, 0);
  return fail("podman system service did not answer on " + options_.socketPath + " within " +
              std::to_string(options_.startTimeout.count()) + "ms" + tail);
}

void PodmanService::watch() {
  constexpr auto kFirstDelay = 1s;
  constexpr auto kMaxDelay = 30s;
  auto delay = std::chrono::milliseconds(kFirstDelay);
  for (;;) {
    pid_t pid = -1;
    {
      std::lock_guard lock(mutex_);
      pid = pid_;
    }
    int status = 0;
    // The only waiter for this child: stop() signals it and waits for this.
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    {
      std::lock_guard lock(mutex_);
      pid_ = -1;
      changed_.notify_all();
      if (stopping_) return;
    }
    if (options_.onDown) options_.onDown();
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        if (changed_.wait_for(lock, delay, [this] { return stopping_; })) return;
      }
      delay = std::min<std::chrono::milliseconds>(delay * 2, kMaxDelay);
      auto again = launch();
      if (!again) continue;  // tried again after a longer pause
      {
        std::lock_guard lock(mutex_);
        if (stopping_) {
          ::kill(*again, SIGKILL);
          ::waitpid(*again, nullptr, 0);
          return;
        }
        pid_ = *again;
        ++restarts_;
      }
      if (options_.onUp) options_.onUp();
      delay = kFirstDelay;
      break;
    }
  }
}

pid_t PodmanService::pid() const {
  std::lock_guard lock(mutex_);
  return pid_;
}

std::uint32_t PodmanService::restarts() const {
  std::lock_guard lock(mutex_);
  return restarts_;
}

PodmanService::~PodmanService() {
  stop();
}

void PodmanService::stop(std::chrono::milliseconds grace) {
  {
    std::unique_lock lock(mutex_);
    if (stopping_ && !watcher_.joinable()) return;
    stopping_ = true;
    changed_.notify_all();
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      if (!changed_.wait_for(lock, grace, [this] { return pid_ <= 0; })) {
        ::kill(pid_, SIGKILL);
      }
    }
  }
  if (watcher_.joinable()) watcher_.join();
  ::unlink(options_.socketPath.c_str());
}

// ": ...last lines of the log" for error messages, or nothing.
std::string PodmanService::logTail() const {
  if (options_.logPath.empty()) return {};
  std::ifstream in(options_.logPath);
  std::stringstream text;
  text << in.rdbuf();
  std::string all = text.str();
  if (all.empty()) return {};
  constexpr std::size_t kMax = 2000;
  if (all.size() > kMax) all = "..." + all.substr(all.size() - kMax);
  return "; its log ends with:\n" + all;
}

}  // namespace ozy::runtime
