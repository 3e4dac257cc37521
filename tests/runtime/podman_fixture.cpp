// PodmanTest: one private podman service per suite, cleanup by label; see
// podman_fixture.h.
#include "podman_fixture.h"

#include "support/test_image.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <random>

namespace ozy::runtime::testing {

namespace {

std::unique_ptr<PodmanService>& service() {
  static std::unique_ptr<PodmanService> instance;
  return instance;
}

std::string& workDir() {
  static std::string dir;
  return dir;
}

std::string& setupFailure() {
  static std::string why;
  return why;
}

std::string randomToken() {
  std::random_device device;
  std::uniform_int_distribution<unsigned> digit(0, 35);
  std::string token;
  for (int i = 0; i < 8; ++i)
    token.push_back("0123456789abcdefghijklmnopqrstuvwxyz"[digit(device)]);
  return token;
}

}  // namespace

std::string PodmanTest::containersConf() {
  return std::string(OZY_SOURCE_DIR) + "/config/containers.conf";
}

std::string PodmanTest::socketPath() {
  return workDir() + "/podman.sock";
}

void PodmanTest::SetUpTestSuite() {
  if (::geteuid() != 0 || !std::filesystem::exists("/usr/bin/podman")) {
    setupFailure() = "these tests need root and podman (scripts/setup.sh)";
    return;
  }
  std::string pattern = "/tmp/ozy-podman-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    setupFailure() = "cannot make a temporary directory";
    return;
  }
  workDir() = pattern;
  PodmanServiceOptions options;
  options.socketPath = socketPath();
  options.containersConf = containersConf();
  options.logPath = workDir() + "/podman.log";
  auto started = PodmanService::start(options);
  if (!started) {
    setupFailure() = std::move(started).error();
    return;
  }
  service() = std::move(started).value();
  PodmanRuntime runtime({socketPath()});
  auto exists = runtime.imageExists(kTestImage);
  if (!exists) {
    setupFailure() = exists.error().message;
  } else if (!*exists) {
    setupFailure() = ozy::testing_support::ensureTestImage(workDir(), containersConf());
  }
}

void PodmanTest::TearDownTestSuite() {
  service().reset();
  std::error_code ignored;
  if (!workDir().empty()) std::filesystem::remove_all(workDir(), ignored);
  workDir().clear();
}

void PodmanTest::SetUp() {
  if (::geteuid() != 0) GTEST_SKIP() << setupFailure();
  ASSERT_TRUE(setupFailure().empty()) << setupFailure();
  token_ = randomToken();
  runtime_ = std::make_unique<PodmanRuntime>(PodmanConfig{socketPath()});
}

void PodmanTest::TearDown() {
  if (!runtime_) return;
  // Everything this test made carries its label; remove it even when the
  // test failed half-way.
  auto pods = runtime_->listPods({{"ozy-test", token_}});
  ASSERT_TRUE(pods) << pods.error().message;
  for (const PodSummary& pod : *pods) {
    auto removed = runtime_->removePod(pod.id, /*force=*/true);
    EXPECT_TRUE(removed) << removed.error().message;
  }
}

PodSpec PodmanTest::podSpec(const std::string& name) const {
  PodSpec spec;
  // Pods and containers share one name space in podman: a pod named like
  // one of its containers makes the container's creation fail.
  spec.name = uniqueName("pod-" + name);
  spec.labels = {{"ozy-test", token_}};
  return spec;
}

ContainerSpec PodmanTest::containerSpec(const std::string& name, const std::string& pod,
                                        std::vector<std::string> command) const {
  ContainerSpec spec;
  spec.name = uniqueName(name);
  spec.pod = pod;
  spec.image = kTestImage;
  spec.command = std::move(command);
  spec.labels = {{"ozy-test", token_}};
  spec.stopTimeout = std::chrono::seconds(1);
  return spec;
}

int freeLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof addr;
  int port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length) == 0) {
    port = ntohs(addr.sin_port);
  }
  if (fd >= 0) ::close(fd);
  return port;
}

}  // namespace ozy::runtime::testing
