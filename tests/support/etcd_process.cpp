// EtcdProcess: start, probe, stop and clean up a private etcd; see
// etcd_process.h.
#include "etcd_process.h"

#include "child_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace ozy::testing_support {
namespace {

using namespace std::chrono_literals;

std::string errnoText(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

Result<std::string, std::string> makeWorkDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/ozy-etcd-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return fail(errnoText("mkdtemp " + pattern));
  return pattern;
}

// One GET /health on etcd's plain-HTTP metrics listener. etcd answers
// {"health":"true",...} once it has a leader and can serve a read.
bool isHealthy(int port) {
  Fd socket{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  if (socket.fd < 0) return false;
  timeval timeout{1, 0};
  ::setsockopt(socket.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  ::setsockopt(socket.fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(socket.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return false;
  const std::string request = "GET /health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(socket.fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return false;
  }
  std::string answer;
  char buffer[4096];
  for (ssize_t n; (n = ::recv(socket.fd, buffer, sizeof buffer, 0)) > 0;) answer.append(buffer, n);
  return answer.find("\"health\":\"true\"") != std::string::npos;
}

std::string describeExit(int status) {
  if (WIFSIGNALED(status)) return "etcd was killed by signal " + std::to_string(WTERMSIG(status));
  const int code = WEXITSTATUS(status);
  return "etcd exited with code " + std::to_string(code) +
         (code == 127 ? " (could it be run at all?)" : "");
}

}  // namespace

Result<std::unique_ptr<EtcdProcess>, std::string> EtcdProcess::start(EtcdProcessOptions options) {
  // Another process may take a port between our choosing it and etcd binding
  // it; a few fresh tries make that harmless.
  std::string lastError;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto ports = freePorts(3);
    if (!ports) return fail(std::move(ports).error());
    auto dir = makeWorkDir();
    if (!dir) return fail(std::move(dir).error());
    std::unique_ptr<EtcdProcess> etcd(
        new EtcdProcess(options, *dir, (*ports)[0], (*ports)[1], (*ports)[2]));
    auto started = etcd->launch();
    if (started) return etcd;
    lastError = std::move(started).error();
    if (lastError.find("address already in use") == std::string::npos) break;
  }
  return fail(lastError);
}

EtcdProcess::EtcdProcess(EtcdProcessOptions options, std::string workDir, int clientPort,
                         int peerPort, int metricsPort)
    : options_(std::move(options)),
      workDir_(std::move(workDir)),
      clientPort_(clientPort),
      peerPort_(peerPort),
      metricsPort_(metricsPort) {}

EtcdProcess::~EtcdProcess() {
  stop();
}

std::string EtcdProcess::endpoint() const {
  return std::string(options_.https ? "https" : "http") +
         "://127.0.0.1:" + std::to_string(clientPort_);
}

std::string EtcdProcess::endpointAt(const std::string& host) const {
  return std::string(options_.https ? "https" : "http") + "://" + host + ":" + std::to_string(clientPort_);
}

std::string EtcdProcess::dataDir() const {
  return workDir_ + "/data";
}

std::string EtcdProcess::clientUrls() const {
  return options_.alsoListenOn.empty() ? endpoint() : endpoint() + "," + endpointAt(options_.alsoListenOn);
}

std::vector<std::string> EtcdProcess::arguments() const {
  const std::string peer = "http://127.0.0.1:" + std::to_string(peerPort_);
  std::vector<std::string> args = {
      options_.binary,
      "--name=ozy-test",
      "--data-dir=" + dataDir(),
      "--listen-client-urls=" + clientUrls(),
      "--advertise-client-urls=" + clientUrls(),
      "--listen-peer-urls=" + peer,
      "--initial-advertise-peer-urls=" + peer,
      "--initial-cluster=ozy-test=" + peer,
      "--listen-metrics-urls=http://127.0.0.1:" + std::to_string(metricsPort_),
      "--logger=zap",
      "--log-outputs=stderr",
      // A lone member still waits one election timeout before it leads;
      // shorter timeouts make tests start (and restart) faster.
      "--heartbeat-interval=50",
      "--election-timeout=500",
  };
  args.insert(args.end(), options_.extraArgs.begin(), options_.extraArgs.end());
  return args;
}

Result<std::monostate, std::string> EtcdProcess::launch() {
  const std::string logPath = workDir_ + "/etcd.log";
  Fd log{::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)};
  if (log.fd < 0) return fail(errnoText("cannot create " + logPath));
  auto pid = spawn(arguments(), log.fd);
  if (!pid) return fail(std::move(pid).error());
  pid_ = *pid;
  auto healthy = waitUntilHealthy();
  if (!healthy) terminate();
  return healthy;
}

Result<std::monostate, std::string> EtcdProcess::waitUntilHealthy() {
  const auto deadline = std::chrono::steady_clock::now() + options_.startTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return fail(describeExit(status) + " during start-up; its log ends:\n" + logTail());
    }
    if (isHealthy(metricsPort_)) return std::monostate{};
    std::this_thread::sleep_for(50ms);
  }
  return fail("etcd did not report itself healthy within " +
              std::to_string(options_.startTimeout.count()) + " ms; its log ends:\n" + logTail());
}

std::string EtcdProcess::logTail(std::size_t maxBytes) const {
  std::ifstream in(workDir_ + "/etcd.log", std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  const std::string all = text.str();
  return all.size() <= maxBytes ? all : all.substr(all.size() - maxBytes);
}

void EtcdProcess::terminate() {
  terminateChild(pid_);
  pid_ = -1;
}

Result<std::monostate, std::string> EtcdProcess::restart() {
  terminate();
  if (workDir_.empty()) return fail(std::string("restart() after stop(): the data dir is gone"));
  return launch();
}

void EtcdProcess::stop() {
  terminate();
  if (workDir_.empty()) return;
  std::error_code ignored;  // best effort: a leftover temp dir must not fail a test
  std::filesystem::remove_all(workDir_, ignored);
  workDir_.clear();
}

}  // namespace ozy::testing_support
