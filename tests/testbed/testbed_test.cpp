// The test bed (scripts/testbed.sh, support/testbed.h) with real parts: hosts
// are separate network namespaces that reach each other and the root
// namespace, each with its own podman, and `down` leaves nothing behind, even
// after an `up` that failed or was killed half-way.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "support/child_process.h"
#include "support/temp_dir.h"
#include "support/test_image.h"
#include "support/testbed.h"

namespace ozy::testing_support {
namespace {

using namespace std::chrono_literals;

constexpr int kHttpPort = 8000;  // free in every host: each has its own netns

bool waitFor(const std::function<bool()>& ready, std::chrono::milliseconds timeout = 30s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return ready();
}

bool accepts(const std::string& address, int port) {
  Fd socket{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, address.c_str(), &addr.sin_addr);
  return socket.fd >= 0 && ::connect(socket.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

std::string randomToken() {
  std::random_device device;
  std::uniform_int_distribution<unsigned> digit(0, 35);
  std::string token;
  for (int i = 0; i < 8; ++i) token.push_back("0123456789abcdefghijklmnopqrstuvwxyz"[digit(device)]);
  return token;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The command's output in the root namespace (podman with the project's
// configuration, ip, ...).
CommandOutput runHere(std::vector<std::string> argv) {
  argv.insert(argv.begin(), {"/usr/bin/env", "CONTAINERS_CONF=" + projectContainersConf()});
  return runCommand(argv, TestBed::kCommandTimeout);
}

// A process alive (not gone, not a zombie): /proc/PID/stat's state field.
bool alive(pid_t pid) {
  const std::string stat = readFile("/proc/" + std::to_string(pid) + "/stat");
  const auto paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] != 'Z';
}

// A process of the test (a child, so it can be reaped) running inside a
// host, stopped when the test ends.
class ProcessInHost {
 public:
  ProcessInHost(const TestBed& bed, int host, const std::vector<std::string>& argv,
                const std::string& log) {
    std::vector<std::string> command = bed.commandIn(host);
    command.insert(command.end(), argv.begin(), argv.end());
    Fd logFd{::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600)};
    auto spawned = spawn(command, logFd.fd);
    if (spawned) pid_ = *spawned;
  }
  ~ProcessInHost() { terminateChild(pid_, 2000); }
  ProcessInHost(const ProcessInHost&) = delete;
  ProcessInHost& operator=(const ProcessInHost&) = delete;
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
};

// An HTTP server in a host, on its address, serving one file `marker`.
class HttpServerInHost {
 public:
  HttpServerInHost(const TestBed& bed, int host, const std::string& body)
      : address_(bed.host(host).address()) {
    std::ofstream(dir_.path() + "/marker") << body;
    server_ = std::make_unique<ProcessInHost>(
        bed, host,
        std::vector<std::string>{"/usr/bin/python3", "-m", "http.server", std::to_string(kHttpPort),
                                 "--bind", address_, "--directory", dir_.path()},
        dir_.path() + "/server.log");
  }
  // Whether it accepts connections yet, seen from the root namespace.
  bool ready() const { return accepts(address_, kHttpPort); }
  std::string url() const { return "http://" + address_ + ":" + std::to_string(kHttpPort) + "/marker"; }
  std::string log() const { return readFile(dir_.path() + "/server.log"); }

 private:
  TempDir dir_;
  std::string address_;
  std::unique_ptr<ProcessInHost> server_;
};

// An HTTP server of the test itself in the root namespace, on the bridge's
// address and a port the kernel picks, answering `body` to any request.
class HttpServerAtBridge {
 public:
  HttpServerAtBridge(const std::string& address, std::string body) : body_(std::move(body)) {
    listener_.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    ::inet_pton(AF_INET, address.c_str(), &addr.sin_addr);
    socklen_t length = sizeof addr;
    if (::bind(listener_.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_.fd, 16) != 0 ||
        ::getsockname(listener_.fd, reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
      return;
    }
    url_ = "http://" + address + ":" + std::to_string(ntohs(addr.sin_port)) + "/";
    thread_ = std::thread([this] { serve(); });
  }
  ~HttpServerAtBridge() {
    stopping_ = true;
    ::shutdown(listener_.fd, SHUT_RDWR);  // wakes accept()
    if (thread_.joinable()) thread_.join();
  }
  // Empty if the server could not listen.
  const std::string& url() const { return url_; }

 private:
  void serve() {
    while (!stopping_) {
      Fd client{::accept4(listener_.fd, nullptr, nullptr, SOCK_CLOEXEC)};
      if (client.fd < 0) continue;
      char request[4096];
      if (::recv(client.fd, request, sizeof request, 0) <= 0) continue;
      const std::string response = "HTTP/1.0 200 OK\r\nContent-Length: " +
                                   std::to_string(body_.size()) + "\r\n\r\n" + body_;
      (void)!::send(client.fd, response.data(), response.size(), MSG_NOSIGNAL);
    }
  }

  std::string body_;
  Fd listener_;
  std::string url_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

CommandOutput curlIn(const TestBed& bed, int host, const std::string& url) {
  return bed.run(host, {"curl", "-sS", "--max-time", "10", url});
}

// What of the test bed named `bridge` (e.g. "ozytb7") with state dir `state`
// is still on the machine, each as a line; empty if nothing. It lists the
// network namespaces, links and mounts as `ip` and /proc/mounts show them.
std::string leftovers(const std::string& bridge, const std::string& state) {
  std::string found;
  const std::regex netns("^" + bridge + "-h[0-9]+\\b.*");
  std::istringstream namespaces(runHere({"/usr/sbin/ip", "netns", "list"}).output);
  for (std::string line; std::getline(namespaces, line);) {
    if (std::regex_match(line, netns)) found += "netns " + line + "\n";
  }
  // `ip -o link`: "938: ozytb7h1@if2: <...", "937: ozytb7: <...".
  const std::regex link("^[0-9]+: (" + bridge + "|" + bridge + "[hp][0-9]+)[@:].*");
  std::istringstream links(runHere({"/usr/sbin/ip", "-o", "link", "show"}).output);
  for (std::string line; std::getline(links, line);) {
    if (std::regex_match(line, link)) found += "link " + line.substr(0, 40) + "\n";
  }
  std::istringstream mounts(readFile("/proc/mounts"));
  for (std::string line; std::getline(mounts, line);) {
    if (line.find(state) != std::string::npos) found += "mount " + line + "\n";
  }
  if (std::filesystem::exists(state)) found += "state dir " + state + "\n";
  return found;
}

std::string bridgeOf(const TestBed& bed) {
  std::smatch match;
  const std::string env = readFile(bed.stateDir() + "/testbed.env");
  return std::regex_search(env, match, std::regex("bridge=(ozytb[0-9]+)")) ? match[1].str() : "";
}

// Runs the script's `up` by itself, with `OZY_TESTBED_FAIL_AT` set.
CommandOutput upFailingAt(const std::string& state, const std::string& failAt) {
  return runCommand({"/usr/bin/env", "OZY_TESTBED_FAIL_AT=" + failAt, TestBed::script(), "up", "3",
                     "--state", state},
                    TestBed::kCommandTimeout);
}

CommandOutput downScript(const std::string& state) {
  return runCommand({TestBed::script(), "down", "--state", state}, TestBed::kCommandTimeout);
}

// Runs the script's `down` when the test ends, however it ends: the tests
// that run `up` by themselves have no TestBed to do it.
struct DownAtEnd {
  std::string state;
  ~DownAtEnd() { (void)downScript(state); }
};

class TestBedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "the test bed needs root (network and mount namespaces)";
  }

  std::unique_ptr<TestBed> upOrFail(int hosts) {
    auto bed = TestBed::up(hosts);
    if (!bed) {
      ADD_FAILURE() << bed.error();
      return nullptr;
    }
    return std::move(bed).value();
  }

  // The test image in the root namespace's podman, then copied into `host`.
  ::testing::AssertionResult testImageIn(const TestBed& bed, int host) {
    const std::string why = ensureTestImage(work_.path(), projectContainersConf());
    if (!why.empty()) return ::testing::AssertionFailure() << why;
    auto copied = bed.copyImage(kTestImage, host);
    if (!copied) return ::testing::AssertionFailure() << copied.error();
    return ::testing::AssertionSuccess();
  }

  TempDir work_;
};

TEST_F(TestBedTest, HostsReachEachOtherAndTheBridgeOverTcp) {
  auto bed = upOrFail(2);
  ASSERT_TRUE(bed);
  EXPECT_NE(bed->host(1).address(), bed->host(2).address());
  HttpServerInHost one(*bed, 1, "this is host 1");
  HttpServerInHost two(*bed, 2, "this is host 2");
  HttpServerAtBridge root(bed->bridgeAddress(), "this is the root namespace");
  ASSERT_FALSE(root.url().empty()) << "cannot listen on " << bed->bridgeAddress();
  ASSERT_TRUE(waitFor([&] { return one.ready() && two.ready(); })) << one.log() << two.log();

  const CommandOutput oneToTwo = curlIn(*bed, 1, two.url());
  EXPECT_EQ(oneToTwo.exitCode, 0) << oneToTwo.output;
  EXPECT_EQ(oneToTwo.output, "this is host 2");
  const CommandOutput twoToOne = curlIn(*bed, 2, one.url());
  EXPECT_EQ(twoToOne.exitCode, 0) << twoToOne.output;
  EXPECT_EQ(twoToOne.output, "this is host 1");
  for (int host : {1, 2}) {
    const CommandOutput toBridge = curlIn(*bed, host, root.url());
    EXPECT_EQ(toBridge.exitCode, 0) << "host " << host << ": " << toBridge.output;
    EXPECT_EQ(toBridge.output, "this is the root namespace") << "host " << host;
    // Hosts will route pod subnets.
    EXPECT_EQ(bed->run(host, {"cat", "/proc/sys/net/ipv4/ip_forward"}).output, "1\n");
  }
  // The server in host 1 saw host 2's own address, not a translated one.
  EXPECT_NE(one.log().find(bed->host(2).address() + " - -"), std::string::npos) << one.log();
}

TEST_F(TestBedTest, EachHostHasItsOwnPodmanStorage) {
  auto bed = upOrFail(2);
  ASSERT_TRUE(bed);
  ASSERT_TRUE(testImageIn(*bed, 1));
  EXPECT_EQ(bed->run(1, {"podman", "image", "exists", kTestImage}).exitCode, 0);
  EXPECT_EQ(bed->run(2, {"podman", "image", "exists", kTestImage}).exitCode, 1)
      << "host 2 sees the image loaded into host 1";

  // A name only host 1's storage has: the root namespace has the test image.
  const std::string onlyInOne = "localhost/ozy-testbed-probe:" + randomToken();
  const CommandOutput tagged = bed->run(1, {"podman", "tag", kTestImage, onlyInOne});
  ASSERT_EQ(tagged.exitCode, 0) << tagged.output;
  EXPECT_EQ(bed->run(1, {"podman", "image", "exists", onlyInOne}).exitCode, 0);
  EXPECT_EQ(bed->run(2, {"podman", "image", "exists", onlyInOne}).exitCode, 1);
  EXPECT_EQ(runHere({"/usr/bin/podman", "image", "exists", onlyInOne}).exitCode, 1)
      << "the root namespace's podman sees an image of host 1";
}

TEST_F(TestBedTest, APodInAHostReachesTheOtherHost) {
  auto bed = upOrFail(2);
  ASSERT_TRUE(bed);
  ASSERT_TRUE(testImageIn(*bed, 1));
  HttpServerInHost two(*bed, 2, "host 2 answers the pod");
  ASSERT_TRUE(waitFor([&] { return two.ready(); })) << two.log();

  const std::string pod = "ozy-testbed-" + randomToken();
  const CommandOutput created = bed->run(1, {"podman", "pod", "create", "--name", pod});
  ASSERT_EQ(created.exitCode, 0) << created.output;
  const CommandOutput fetched = bed->run(
      1, {"podman", "run", "--rm", "--pod", pod, kTestImage, "wget", "-q", "-O", "-", two.url()});
  EXPECT_EQ(fetched.exitCode, 0) << fetched.output;
  EXPECT_EQ(fetched.output, "host 2 answers the pod");

  // The pod is host 1's alone.
  EXPECT_EQ(bed->run(1, {"podman", "pod", "exists", pod}).exitCode, 0);
  EXPECT_EQ(bed->run(2, {"podman", "pod", "exists", pod}).exitCode, 1);
  EXPECT_EQ(runHere({"/usr/bin/podman", "pod", "exists", pod}).exitCode, 1);
}

TEST_F(TestBedTest, DownLeavesNothingBehind) {
  auto bed = upOrFail(2);
  ASSERT_TRUE(bed);
  const std::string bridge = bridgeOf(*bed);
  ASSERT_FALSE(bridge.empty()) << readFile(bed->stateDir() + "/testbed.env");
  ASSERT_TRUE(testImageIn(*bed, 1));

  // What a test or the demo leaves running: a pod whose container ignores
  // SIGTERM, a child of the test, a daemon that has left its parent.
  const std::string pod = "ozy-testbed-" + randomToken();
  ASSERT_EQ(bed->run(1, {"podman", "pod", "create", "--name", pod}).exitCode, 0);
  const CommandOutput started =
      bed->run(1, {"podman", "run", "-d", "--pod", pod, "--name", pod + "-sleeper", kTestImage,
                   "sleep", "1000"});
  ASSERT_EQ(started.exitCode, 0) << started.output;
  const CommandOutput pids = bed->run(
      1, {"podman", "inspect", "--format", "{{.State.Pid}} {{.State.ConmonPid}}", pod + "-sleeper"});
  pid_t container = 0;
  pid_t conmon = 0;
  ASSERT_TRUE(std::istringstream(pids.output) >> container >> conmon) << pids.output;
  ProcessInHost child(*bed, 2, {"sleep", "1000"}, work_.path() + "/child.log");
  const CommandOutput daemon = bed->run(2, {"sh", "-c", "sleep 1000 >/dev/null 2>&1 & echo $!"});
  const pid_t orphan = std::atoi(daemon.output.c_str());
  ASSERT_GT(orphan, 0) << daemon.output;
  ASSERT_TRUE(alive(container) && alive(conmon) && alive(child.pid()) && alive(orphan));
  ASSERT_FALSE(leftovers(bridge, bed->stateDir()).empty()) << "the check sees nothing even while up";

  auto removed = bed->down();
  ASSERT_TRUE(removed) << removed.error();
  EXPECT_EQ(leftovers(bridge, bed->stateDir()), "");
  EXPECT_FALSE(alive(container)) << "the container's process";
  EXPECT_FALSE(alive(conmon)) << "the container's conmon";
  EXPECT_FALSE(alive(orphan)) << "a daemon started in host 2";
  int status = 0;
  EXPECT_EQ(::waitpid(child.pid(), &status, WNOHANG), child.pid()) << "a child of the test in host 2";
  const CommandOutput again = downScript(bed->stateDir());
  EXPECT_EQ(again.exitCode, 0) << "a second down: " << again.output;
}

TEST_F(TestBedTest, AFailedUpRemovesWhatItMade) {
  TempDir state;
  DownAtEnd guard{state.path()};
  const CommandOutput made = upFailingAt(state.path(), "2");
  EXPECT_NE(made.exitCode, 0);
  std::smatch match;
  ASSERT_TRUE(std::regex_search(made.output, match, std::regex("making host 2 of (ozytb[0-9]+)")))
      << made.output;
  EXPECT_NE(made.output.find("removing what it made"), std::string::npos) << made.output;
  EXPECT_EQ(leftovers(match[1].str(), state.path()), "") << made.output;
}

TEST_F(TestBedTest, DownRemovesWhatAKilledUpMade) {
  TempDir state;
  DownAtEnd guard{state.path()};
  const CommandOutput made = upFailingAt(state.path(), "2:kill");
  EXPECT_EQ(made.exitCode, -1) << "up should have died by SIGKILL: " << made.output;
  const std::string record = readFile(state.path() + "/made");
  std::smatch match;
  ASSERT_TRUE(std::regex_search(record, match, std::regex("link (ozytb[0-9]+)\n"))) << record;
  const std::string bridge = match[1].str();
  ASSERT_NE(leftovers(bridge, state.path()), "");

  for (int round = 1; round <= 2; ++round) {
    const CommandOutput removed = downScript(state.path());
    EXPECT_EQ(removed.exitCode, 0) << "round " << round << ": " << removed.output;
  }
  EXPECT_EQ(leftovers(bridge, state.path()), "") << record;
}

TEST_F(TestBedTest, TestBedsUpAtOnceTakeDifferentNetworksAndStayApart) {
  Result<std::unique_ptr<TestBed>, std::string> first = fail(std::string("not made"));
  Result<std::unique_ptr<TestBed>, std::string> second = fail(std::string("not made"));
  std::thread other([&] { second = TestBed::up(1); });
  first = TestBed::up(1);
  other.join();
  ASSERT_TRUE(first) << first.error();
  ASSERT_TRUE(second) << second.error();
  const TestBed& a = **first;
  const TestBed& b = **second;
  EXPECT_NE(a.bridgeAddress(), b.bridgeAddress());
  EXPECT_NE(bridgeOf(a), bridgeOf(b));

  HttpServerInHost inB(b, 1, "bed b");
  ASSERT_TRUE(waitFor([&] { return inB.ready(); })) << inB.log();
  EXPECT_EQ(curlIn(b, 1, inB.url()).output, "bed b");
  const CommandOutput across = curlIn(a, 1, inB.url());
  EXPECT_NE(across.exitCode, 0) << "a host of one test bed reaches another's: " << across.output;
}

TEST_F(TestBedTest, UpExplainsWhatItCannotDo) {
  auto bed = TestBed::up(0);
  ASSERT_FALSE(bed);
  EXPECT_NE(bed.error().find("up wants a number of hosts"), std::string::npos) << bed.error();
}

}  // namespace
}  // namespace ozy::testing_support
