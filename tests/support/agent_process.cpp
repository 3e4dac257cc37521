#include "support/agent_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <sstream>
#include <filesystem>
#include <thread>

#include <fmt/format.h>

extern char** environ;

namespace ozy::testing_support {
namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// fork/exec with the child set to die with this thread, output to files.
pid_t spawn(const std::vector<std::string>& args, const std::vector<std::string>& env,
            const std::string& out, const std::string& err) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> envStrings;
  for (char** e = environ; *e; ++e) envStrings.emplace_back(*e);
  envStrings.insert(envStrings.end(), env.begin(), env.end());
  std::vector<char*> envp;
  for (auto& e : envStrings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int in = open("/dev/null", O_RDONLY);
    dup2(in, 0);
    dup2(o, 1);
    dup2(e, 2);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  return pid;
}

}  // namespace

Result<std::unique_ptr<AgentProcess>, std::string> AgentProcess::launch(const AgentOptions& o) {
  std::unique_ptr<AgentProcess> agent(new AgentProcess());
  agent->logPath_ = o.dataDir + "/agent.log";
  agent->node_ = o.node;
  agent->outPath_ = o.dataDir + "/agent.out";
  std::vector<std::string> args = o.wrapper;
  args.insert(args.end(), {o.binary, "agent", "--node", o.node, "--etcd", o.etcd, "--memory", o.memory,
                           "--disk", o.disk, "--data-dir", o.dataDir, "--lease-ttl",
                           std::to_string(o.leaseTtl), "--etcd-timeout-ms", "2000", "--runtime", o.runtime});
  if (std::find(o.extraArgs.begin(), o.extraArgs.end(), "--listen") == o.extraArgs.end()) {
    args.insert(args.end(), {"--listen", "127.0.0.1:0"});
  }
  // Agents of one network namespace (127.0.0.x) cannot route each other's
  // pod subnets: they keep podman's own bridge unless a test says otherwise.
  if (std::find(o.extraArgs.begin(), o.extraArgs.end(), "--pod-network") == o.extraArgs.end()) {
    args.insert(args.end(), {"--pod-network", "host"});
  }
  args.insert(args.end(), o.extraArgs.begin(), o.extraArgs.end());
  // The agent refuses a data dir that other users may enter.
  std::error_code ignored;
  std::filesystem::permissions(o.dataDir, std::filesystem::perms::owner_all,
                               std::filesystem::perm_options::replace, ignored);
  agent->tokenPath_ = o.dataDir + "/token";
  for (std::size_t i = 0; i + 1 < o.extraArgs.size(); ++i) {
    if (o.extraArgs[i] == "--token-file") agent->tokenPath_ = o.extraArgs[i + 1];
  }
  // Emptied here, not only in the child: an agent restarted on the same data
  // dir must not be taken for up by the last run's "listening on" line.
  std::ofstream(agent->outPath_, std::ios::trunc).flush();
  agent->pid_ = spawn(args, {}, agent->outPath_, agent->logPath_);
  if (agent->pid_ <= 0) return fail(std::string("cannot start ozy agent"));
  return agent;
}

Result<std::monostate, std::string> AgentProcess::waitUntilListening() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string out = readFile(outPath_);
    const std::string marker = "listening on ";
    if (auto at = out.find(marker); at != std::string::npos) {
      auto end = out.find('\n', at);
      if (end != std::string::npos) {
        url_ = out.substr(at + marker.size(), end - at - marker.size());
        token_ = readFile(tokenPath_);
        while (!token_.empty() && std::isspace(static_cast<unsigned char>(token_.back()))) {
          token_.pop_back();
        }
        return std::monostate{};
      }
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return fail(fmt::format("ozy agent {} exited at start: {}", node_, readFile(logPath_)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return fail(fmt::format("ozy agent {} did not start in 20 s: {}", node_, log()));
}

Result<std::unique_ptr<AgentProcess>, std::string> AgentProcess::start(AgentOptions o) {
  auto agent = launch(o);
  if (!agent) return agent;
  if (auto up = (*agent)->waitUntilListening(); !up) return fail(std::move(up).error());
  return agent;
}

Result<std::vector<std::unique_ptr<AgentProcess>>, std::string> AgentProcess::startAll(
    std::vector<AgentOptions> options) {
  std::vector<std::unique_ptr<AgentProcess>> agents;
  for (const auto& o : options) {
    auto agent = launch(o);
    if (!agent) return fail(std::move(agent).error());
    agents.push_back(std::move(agent).value());
  }
  for (auto& agent : agents) {
    if (auto up = agent->waitUntilListening(); !up) return fail(std::move(up).error());
  }
  return agents;
}


AgentProcess::~AgentProcess() { kill(); }

void AgentProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int AgentProcess::terminate() {
  if (pid_ <= 0) return -1;
  ::kill(pid_, SIGTERM);
  int status = 0;
  for (int i = 0; i < 200; ++i) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  kill();
  return -1;
}

std::string AgentProcess::log() const { return readFile(logPath_); }

CommandResult runOzy(const std::string& binary, const std::vector<std::string>& args,
                     const std::vector<std::string>& env) {
  char dir[] = "/tmp/ozy-cmd-XXXXXX";
  if (!mkdtemp(dir)) return {};
  const std::string out = std::string(dir) + "/out";
  const std::string err = std::string(dir) + "/err";
  std::vector<std::string> argv = {binary};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = spawn(argv, env, out, err);
  CommandResult result;
  int status = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (true) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      break;
    }
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      waitpid(pid, nullptr, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  result.stdoutText = readFile(out);
  result.stderrText = readFile(err);
  std::filesystem::remove_all(dir);
  return result;
}

}  // namespace ozy::testing_support
