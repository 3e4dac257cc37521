// RegistryProcess: configure, start, probe and stop a private registry; see
// registry_process.h.
#include "registry_process.h"

#include <fcntl.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "child_process.h"

namespace ozy::testing_support {
namespace {

using namespace std::chrono_literals;

Result<std::string, std::string> makeWorkDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/ozy-registry-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) return fail("mkdtemp " + pattern + " failed");
  return pattern;
}

// The quoted single-quoted shell word for `text`.
std::string shellQuote(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

}  // namespace

Result<std::unique_ptr<RegistryProcess>, std::string> RegistryProcess::start(RegistryProcessOptions options) {
  std::string lastError;
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto ports = freePorts(1);
    if (!ports) return fail(std::move(ports).error());
    auto dir = makeWorkDir();
    if (!dir) return fail(std::move(dir).error());
    std::unique_ptr<RegistryProcess> registry(new RegistryProcess(options, *dir, (*ports)[0]));
    auto started = registry->launch();
    if (started) return registry;
    lastError = std::move(started).error();
    if (lastError.find("address already in use") == std::string::npos) break;
  }
  return fail(lastError);
}

RegistryProcess::RegistryProcess(RegistryProcessOptions options, std::string workDir, int port)
    : options_(std::move(options)), workDir_(std::move(workDir)), port_(port) {}

RegistryProcess::~RegistryProcess() {
  terminateChild(pid_);
  std::error_code ignored;
  if (!workDir_.empty()) std::filesystem::remove_all(workDir_, ignored);
}

std::string RegistryProcess::host() const { return fmt::format("127.0.0.1:{}", port_); }

Result<std::monostate, std::string> RegistryProcess::launch() {
  std::string config = fmt::format(
      "version: 0.1\n"
      "log:\n  level: info\n"
      "storage:\n  filesystem:\n    rootdirectory: {}/storage\n  delete:\n    enabled: true\n"
      "http:\n  addr: {}\n",
      workDir_, host());
  if (options_.login) {
    const std::string htpasswd = workDir_ + "/htpasswd";
    const std::string command =
        fmt::format("htpasswd -Bbc {} {} {} >/dev/null 2>&1", shellQuote(htpasswd),
                    shellQuote(options_.login->user), shellQuote(options_.login->password));
    if (std::system(command.c_str()) != 0) {
      return fail(std::string("htpasswd failed (Debian's apache2-utils; scripts/setup.sh installs it)"));
    }
    config += fmt::format("auth:\n  htpasswd:\n    realm: ozy-test\n    path: {}\n", htpasswd);
  }
  const std::string configPath = workDir_ + "/config.yml";
  std::ofstream(configPath) << config;
  const std::string logPath = workDir_ + "/registry.log";
  Fd log{::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)};
  if (log.fd < 0) return fail("cannot create " + logPath);
  auto pid = spawn({options_.binary, "serve", configPath}, log.fd);
  if (!pid) return fail(std::move(pid).error());
  pid_ = *pid;
  // Up once GET /v2/ answers at all (401 behind a login).
  const std::string probe = fmt::format("curl -s -o /dev/null -w '%{{http_code}}' --max-time 1 http://{}/v2/", host());
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return fail("the registry exited during start-up; its log ends:\n" + logTail());
    }
    FILE* pipe = ::popen(probe.c_str(), "r");
    char code[8] = {};
    if (pipe != nullptr) {
      (void)std::fread(code, 1, sizeof code - 1, pipe);
      ::pclose(pipe);
    }
    if (std::string(code) == "200" || std::string(code) == "401") return std::monostate{};
    std::this_thread::sleep_for(50ms);
  }
  terminateChild(pid_);
  pid_ = -1;
  return fail("the registry did not answer within 20 s; its log ends:\n" + logTail());
}

int RegistryProcess::manifestGets(const std::string& repository, const std::string& reference) const {
  std::ifstream in(workDir_ + "/registry.log");
  const std::string wanted = fmt::format("\"GET /v2/{}/manifests/{} HTTP/1.1\" 200", repository, reference);
  int count = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.find(wanted) != std::string::npos) ++count;
  }
  return count;
}

std::string RegistryProcess::logTail(std::size_t maxBytes) const {
  std::ifstream in(workDir_ + "/registry.log", std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  const std::string all = text.str();
  return all.size() <= maxBytes ? all : all.substr(all.size() - maxBytes);
}

}  // namespace ozy::testing_support
