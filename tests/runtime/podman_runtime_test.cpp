// PodmanRuntime against a real podman 4.3 service: pods, containers, ports,
// mounts, memory limits, stop timeouts, exec, listing and errors.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "http/client.h"
#include "podman_fixture.h"
#include "support/registry_process.h"
#include "support/temp_dir.h"

namespace ozy::runtime::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Code = RuntimeError::Code;

// Asserts that a RuntimeResult holds a value, printing the error if not.
#define ASSERT_OK(expr)                                    \
  do {                                                     \
    auto ozyResult_ = (expr);                              \
    ASSERT_TRUE(ozyResult_) << ozyResult_.error().message; \
  } while (false)

PodmanConfig config(std::string socket, std::chrono::milliseconds deadline) {
  PodmanConfig result;
  result.socketPath = std::move(socket);
  result.deadline = deadline;
  return result;
}

// Polls inspectContainer until the container has exited or `limit` passes.
ContainerState waitForExit(ContainerRuntime& runtime, const std::string& id,
                           std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  ContainerState last;
  while (Clock::now() < deadline) {
    auto state = runtime.inspectContainer(id);
    if (state) last = *state;
    if (state && state->status == ContainerStatus::kExited) break;
    std::this_thread::sleep_for(100ms);
  }
  return last;
}

TEST_F(PodmanTest, PingsAndFindsTheTestImage) {
  ASSERT_OK(runtime_->ping());
  auto present = runtime_->imageExists(kTestImage);
  ASSERT_TRUE(present) << present.error().message;
  EXPECT_TRUE(*present);
  auto absent = runtime_->imageExists("localhost/ozy-no-such-image:latest");
  ASSERT_TRUE(absent) << absent.error().message;
  EXPECT_FALSE(*absent);
}

TEST_F(PodmanTest, ServesHttpOnAPublishedPortFromABindMount) {
  const testing_support::TempDir dir;  // removed even when an assertion fails
  ASSERT_FALSE(dir.path().empty());
  const std::filesystem::path www = std::filesystem::path(dir.path()) / "www";
  std::filesystem::create_directories(www);
  std::ofstream(www / "index.html") << "hello from ozy\n";
  const int port = freeLoopbackPort();

  PodSpec pod = podSpec("web");
  pod.ports = {{"127.0.0.1", static_cast<std::uint16_t>(port), 8080, "tcp"}};
  pod.hostname = "web";
  auto podId = runtime_->createPod(pod);
  ASSERT_TRUE(podId) << podId.error().message;
  ContainerSpec web = containerSpec("web", *podId, {"httpd", "-f", "-p", "8080", "-h", "/www"});
  web.mounts = {{www.string(), "/www", /*readOnly=*/true}};
  web.env = {{"GREETING", "hello"}};
  web.memoryLimit = 64 << 20;
  auto containerId = runtime_->createContainer(web);
  ASSERT_TRUE(containerId) << containerId.error().message;
  ASSERT_OK(runtime_->startPod(*podId));

  http::HttpClientConfig clientConfig;
  clientConfig.baseUrl = "http://127.0.0.1:" + std::to_string(port);
  auto client = http::HttpClient::create(clientConfig);
  ASSERT_TRUE(client) << client.error();
  std::string body;
  for (auto deadline = Clock::now() + 10s; Clock::now() < deadline && body.empty();) {
    auto response = client->send({"GET", "/index.html", {}, {}});
    if (response && response->status == 200)
      body = response->body;
    else
      std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(body, "hello from ozy\n");
}

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// The finding this guards against: a container that runs as the host's root
// leaves a root-owned setuid binary in its volume for the host to find.
TEST_F(PodmanTest, AContainerInAUserNamespaceLeavesNoRootSetuidFileOnTheHost) {
  constexpr IdMap kIds{2147483647, 65536};
  const testing_support::TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::filesystem::path volume = std::filesystem::path(dir.path()) / "v";
  std::filesystem::create_directories(volume);
  // What the agent does for a volume: hand it to the containers' root.
  ASSERT_EQ(::chown(volume.c_str(), kIds.hostId, kIds.hostId), 0);

  PodSpec pod = podSpec("userns");
  pod.idMap = kIds;
  auto podId = runtime_->createPod(pod);
  ASSERT_TRUE(podId) << podId.error().message;
  ContainerSpec attack = containerSpec(
      "attack", *podId,
      {"sh", "-c",
       "cp /bin/busybox /v/x && chmod 4755 /v/x && cat /proc/self/uid_map > /v/uid_map && "
       "cat /proc/self/status > /v/status && cat /sys/fs/cgroup/pids/pids.max > /v/pids"});
  attack.mounts = {{volume.string(), "/v", /*readOnly=*/false}};
  attack.noNewPrivileges = true;
  attack.capabilities = std::vector<std::string>{"CHOWN", "KILL"};
  attack.pidsLimit = 64;
  attack.logMaxSize = 1 << 20;
  auto id = runtime_->createContainer(attack);
  ASSERT_TRUE(id) << id.error().message;
  ASSERT_OK(runtime_->startPod(*podId));
  const ContainerState state = waitForExit(*runtime_, *id, 20s);
  ASSERT_EQ(state.status, ContainerStatus::kExited);
  ASSERT_EQ(state.exitCode, 0) << "the volume is not writable from the container";

  struct stat info {};
  ASSERT_EQ(::stat((volume / "x").c_str(), &info), 0) << "the container wrote no /v/x";
  EXPECT_NE(info.st_uid, 0u) << "the container's root is the host's root";
  EXPECT_EQ(info.st_uid, kIds.hostId);
  EXPECT_FALSE(info.st_uid == 0 && (info.st_mode & S_ISUID) != 0)
      << "a root-owned setuid binary was left on the host";
  // Container uid 0 is host uid 2147483647, not 0 (the identity map reads
  // "0 0 4294967295").
  std::istringstream uidMap(readFile(volume / "uid_map"));
  std::uint64_t inside = 1, outside = 0, count = 0;
  uidMap >> inside >> outside >> count;
  EXPECT_EQ(inside, 0u);
  EXPECT_EQ(outside, kIds.hostId);
  EXPECT_EQ(count, kIds.size);
  const std::string status = readFile(volume / "status");
  EXPECT_NE(status.find("NoNewPrivs:\t1"), std::string::npos) << status;
  // CHOWN is bit 0, KILL bit 5: nothing else.
  EXPECT_NE(status.find("CapEff:\t0000000000000021"), std::string::npos) << status;
  EXPECT_NE(status.find("CapBnd:\t0000000000000021"), std::string::npos) << status;
  EXPECT_EQ(readFile(volume / "pids"), "64\n");
}

TEST_F(PodmanTest, KillsAContainerThatExceedsItsMemoryLimit) {
  auto podId = runtime_->createPod(podSpec("hungry"));
  ASSERT_TRUE(podId) << podId.error().message;
  // A shell variable of 64 MB lives in the shell's own heap, which the
  // memory cgroup counts (a tmpfs file would not be charged reliably).
  ContainerSpec hungry = containerSpec(
      "hungry", *podId, {"sh", "-c", "x=$(head -c 64000000 /dev/zero | tr '\\0' a); sleep 1"});
  hungry.memoryLimit = 16 << 20;
  auto id = runtime_->createContainer(hungry);
  ASSERT_TRUE(id) << id.error().message;
  ASSERT_OK(runtime_->startContainer(*id));

  const ContainerState state = waitForExit(*runtime_, *id, 20s);
  EXPECT_EQ(state.status, ContainerStatus::kExited);
  // podman 4.3 with runc on cgroup v1 reports exit 137 (SIGKILL) but not
  // always the OOMKilled flag.
  EXPECT_TRUE(state.oomKilled || state.exitCode == 137) << "exit code " << state.exitCode;
  EXPECT_FALSE(state.finishedAt.empty());
}

TEST_F(PodmanTest, ListsOnlyPodsWithTheLabelAndTheirContainers) {
  PodSpec mine = podSpec("listed");
  mine.labels["ozy-role"] = "listed";
  auto listed = runtime_->createPod(mine);
  ASSERT_TRUE(listed) << listed.error().message;
  auto other = runtime_->createPod(podSpec("other"));
  ASSERT_TRUE(other) << other.error().message;
  auto container = runtime_->createContainer(containerSpec("sleeper", *listed, {"sleep", "60"}));
  ASSERT_TRUE(container) << container.error().message;

  auto pods = runtime_->listPods({{"ozy-test", token_}, {"ozy-role", "listed"}});
  ASSERT_TRUE(pods) << pods.error().message;
  ASSERT_EQ(pods->size(), 1u);
  const PodSummary& pod = pods->front();
  EXPECT_EQ(pod.id, *listed);
  EXPECT_EQ(pod.name, mine.name);
  EXPECT_EQ(pod.labels.at("ozy-role"), "listed");
  ASSERT_EQ(pod.containers.size(), 1u) << "the infra container must not be listed";
  EXPECT_EQ(pod.containers[0].id, *container);
  EXPECT_EQ(pod.containers[0].name, uniqueName("sleeper"));
  EXPECT_EQ(pod.containers[0].state, ContainerStatus::kCreated);

  auto both = runtime_->listPods({{"ozy-test", token_}});
  ASSERT_TRUE(both) << both.error().message;
  EXPECT_EQ(both->size(), 2u);
}

TEST_F(PodmanTest, StopHonoursAShortTimeoutWhenPid1IgnoresSigterm) {
  auto podId = runtime_->createPod(podSpec("stubborn"));
  ASSERT_TRUE(podId) << podId.error().message;
  // As PID 1, sleep has no SIGTERM handler, so the kernel ignores the signal.
  auto id = runtime_->createContainer(containerSpec("stubborn", *podId, {"sleep", "600"}));
  ASSERT_TRUE(id) << id.error().message;
  ASSERT_OK(runtime_->startContainer(*id));

  const auto before = Clock::now();
  ASSERT_OK(runtime_->stopContainer(*id, 1s));
  const auto took = Clock::now() - before;
  EXPECT_LT(took, 5s) << "stop took "
                      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                      << "ms";
  auto state = runtime_->inspectContainer(*id);
  ASSERT_TRUE(state) << state.error().message;
  EXPECT_EQ(state->status, ContainerStatus::kExited);
  EXPECT_EQ(state->exitCode, 137);
}

TEST_F(PodmanTest, StopsAndRestartsAPod) {
  auto podId = runtime_->createPod(podSpec("cycle"));
  ASSERT_TRUE(podId) << podId.error().message;
  auto id = runtime_->createContainer(containerSpec("cycle", *podId, {"sleep", "600"}));
  ASSERT_TRUE(id) << id.error().message;
  ASSERT_OK(runtime_->startPod(*podId));
  const auto before = Clock::now();
  ASSERT_OK(runtime_->stopPod(*podId, 1s));
  EXPECT_LT(Clock::now() - before, 5s);
  auto stopped = runtime_->inspectContainer(*id);
  ASSERT_TRUE(stopped) << stopped.error().message;
  EXPECT_EQ(stopped->status, ContainerStatus::kExited);
  ASSERT_OK(runtime_->startPod(*podId));
  auto running = runtime_->inspectContainer(*id);
  ASSERT_TRUE(running) << running.error().message;
  EXPECT_EQ(running->status, ContainerStatus::kRunning);
  EXPECT_FALSE(running->startedAt.empty());
}

TEST_F(PodmanTest, ExecReturnsTheCommandsExitCode) {
  auto podId = runtime_->createPod(podSpec("exec"));
  ASSERT_TRUE(podId) << podId.error().message;
  auto id = runtime_->createContainer(containerSpec("exec", *podId, {"sleep", "600"}));
  ASSERT_TRUE(id) << id.error().message;
  ASSERT_OK(runtime_->startContainer(*id));

  const std::vector<std::pair<std::vector<std::string>, int>> cases = {
      {{"true"}, 0}, {{"false"}, 1}, {{"sh", "-c", "echo out; echo err >&2; exit 3"}, 3}};
  for (const auto& [command, expected] : cases) {
    auto ran = runtime_->exec(*id, command, 5s);
    ASSERT_TRUE(ran) << command[0] << ": " << ran.error().message;
    EXPECT_EQ(ran->exitCode, expected) << command[0];
  }
}

TEST_F(PodmanTest, ExecThatOutrunsItsTimeoutIsATimeout) {
  auto podId = runtime_->createPod(podSpec("slow"));
  ASSERT_TRUE(podId) << podId.error().message;
  auto id = runtime_->createContainer(containerSpec("slow", *podId, {"sleep", "600"}));
  ASSERT_TRUE(id) << id.error().message;
  ASSERT_OK(runtime_->startContainer(*id));

  const auto before = Clock::now();
  auto code = runtime_->exec(*id, {"sleep", "5"}, 500ms);
  ASSERT_FALSE(code);
  EXPECT_EQ(code.error().code, Code::kTimeout) << code.error().message;
  EXPECT_LT(Clock::now() - before, 3s);
}

TEST_F(PodmanTest, RemovesAPodWithItsContainers) {
  auto podId = runtime_->createPod(podSpec("doomed"));
  ASSERT_TRUE(podId) << podId.error().message;
  auto id = runtime_->createContainer(containerSpec("doomed", *podId, {"sleep", "600"}));
  ASSERT_TRUE(id) << id.error().message;
  ASSERT_OK(runtime_->startPod(*podId));

  auto refused = runtime_->removePod(*podId, /*force=*/false);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Code::kConflict) << refused.error().message;
  ASSERT_OK(runtime_->removePod(*podId, /*force=*/true));
  auto pods = runtime_->listPods({{"ozy-test", token_}});
  ASSERT_TRUE(pods) << pods.error().message;
  EXPECT_TRUE(pods->empty());
  auto gone = runtime_->inspectContainer(*id);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Code::kNotFound);
}

TEST_F(PodmanTest, RemovesAContainer) {
  auto podId = runtime_->createPod(podSpec("single"));
  ASSERT_TRUE(podId) << podId.error().message;
  auto id = runtime_->createContainer(containerSpec("single", *podId, {"sleep", "600"}));
  ASSERT_TRUE(id) << id.error().message;
  ASSERT_OK(runtime_->startContainer(*id));
  ASSERT_OK(runtime_->removeContainer(*id, /*force=*/true));
  auto gone = runtime_->inspectContainer(*id);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, Code::kNotFound);
}

TEST_F(PodmanTest, ReportsUnknownObjectsAsNotFound) {
  const std::string nope = uniqueName("no-such");
  for (auto result :
       {runtime_->startPod(nope), runtime_->stopPod(nope, 1s), runtime_->removePod(nope, true),
        runtime_->startContainer(nope), runtime_->removeContainer(nope, true)}) {
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code, Code::kNotFound) << result.error().message;
    EXPECT_NE(result.error().message.find(nope), std::string::npos) << result.error().message;
  }
  auto inPod = runtime_->createContainer(containerSpec("orphan", nope, {"true"}));
  ASSERT_FALSE(inPod);
  EXPECT_EQ(inPod.error().code, Code::kNotFound) << inPod.error().message;
  ContainerSpec noImage = containerSpec("no-image", "", {"true"});
  noImage.image = "localhost/ozy-no-such-image:latest";
  auto missingImage = runtime_->createContainer(noImage);
  ASSERT_FALSE(missingImage);
  EXPECT_EQ(missingImage.error().code, Code::kNotFound) << missingImage.error().message;
}

TEST_F(PodmanTest, ReportsADuplicatePodNameAsConflict) {
  ASSERT_OK(runtime_->createPod(podSpec("twin")));
  auto again = runtime_->createPod(podSpec("twin"));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, Code::kConflict) << again.error().message;
}

TEST_F(PodmanTest, IsUnavailableWhenNoServiceListens) {
  PodmanRuntime absent(config(socketPath() + ".absent", 2s));
  const auto before = Clock::now();
  auto pinged = absent.ping();
  ASSERT_FALSE(pinged);
  EXPECT_EQ(pinged.error().code, Code::kUnavailable);
  EXPECT_NE(pinged.error().message.find(".absent"), std::string::npos) << pinged.error().message;
  EXPECT_LT(Clock::now() - before, 2s);
}

TEST_F(PodmanTest, IsUnavailableWithinTheDeadlineWhenTheServiceHangs) {
  // A socket that accepts connections (into its backlog) but never answers.
  const std::string path = socketPath() + ".silent";
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 4), 0);

  PodmanRuntime silent(config(path, 300ms));
  const auto before = Clock::now();
  auto listed = silent.listPods({});
  const auto took = Clock::now() - before;
  ::close(fd);
  ::unlink(path.c_str());
  ASSERT_FALSE(listed);
  EXPECT_EQ(listed.error().code, Code::kUnavailable) << listed.error().message;
  EXPECT_GE(took, 250ms);
  EXPECT_LT(took, 2s);
}

TEST_F(PodmanTest, PrivateServiceStopsByPid) {
  const std::string path = socketPath() + ".second";
  PodmanServiceOptions options;
  options.socketPath = path;
  options.containersConf = containersConf();
  auto service = PodmanService::start(options);
  ASSERT_TRUE(service) << service.error();
  const pid_t pid = (*service)->pid();
  PodmanRuntime second(config(path, 2s));
  ASSERT_OK(second.ping());
  (*service)->stop();
  EXPECT_FALSE((*service)->running());
  EXPECT_NE(::kill(pid, 0), 0) << "the service process is still there";
  auto after = second.ping();
  ASSERT_FALSE(after);
  EXPECT_EQ(after.error().code, Code::kUnavailable);
}

// Pulls from a private registry on loopback: the image's id, podman's
// reasons for what fails, and a stop that does not wait for a registry
// that never answers.
TEST_F(PodmanTest, PullsFromARegistryAndSaysWhyNot) {
  if (!std::filesystem::exists("/usr/bin/docker-registry")) GTEST_SKIP() << "needs docker-registry";
  auto registry = ozy::testing_support::RegistryProcess::start();
  ASSERT_TRUE(registry) << registry.error();
  const std::string image = (*registry)->host() + "/" + uniqueName("pull") + ":v1";
  ASSERT_EQ(
      std::system(("CONTAINERS_CONF='" + containersConf() + "' podman push -q --tls-verify=false " +
                   kTestImage + " " + image + " >/dev/null 2>&1")
                      .c_str()),
      0);
  // Verified TLS against a plain-HTTP registry: refused, naming the flag.
  auto strict = runtime_->pullImage(image, std::nullopt, true, {});
  ASSERT_FALSE(strict);
  EXPECT_NE(strict.error().message.find("--insecure-registry"), std::string::npos)
      << strict.error().message;
  auto pulled = runtime_->pullImage(image, std::nullopt, false, {});
  ASSERT_TRUE(pulled) << pulled.error().message;
  EXPECT_FALSE(pulled->empty());
  auto exists = runtime_->imageExists(image);
  EXPECT_TRUE(exists && *exists);
  auto missing = runtime_->pullImage((*registry)->host() + "/" + uniqueName("pull") + ":nope",
                                     std::nullopt, false, {});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, Code::kNotFound) << missing.error().message;
  // Untag only: the image is the shared test image.
  (void)std::system(("CONTAINERS_CONF='" + containersConf() + "' podman untag " + image + " " +
                     image + " >/dev/null 2>&1")
                        .c_str());
}

TEST_F(PodmanTest, APullIsAbandonedWhenItsStopIsAskedFor) {
  // A listener that never answers: the pull would wait for its deadline.
  const int port = freeLoopbackPort();
  const int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener, 4), 0);
  std::stop_source stop;
  std::thread stopper([&] {
    std::this_thread::sleep_for(500ms);
    stop.request_stop();
  });
  const auto began = Clock::now();
  auto pulled = runtime_->pullImage("127.0.0.1:" + std::to_string(port) + "/x:1", std::nullopt,
                                    false, stop.get_token());
  const auto took = Clock::now() - began;
  stopper.join();
  ::close(listener);
  ASSERT_FALSE(pulled);
  EXPECT_EQ(pulled.error().code, Code::kUnavailable);
  EXPECT_NE(pulled.error().message.find("stopping"), std::string::npos) << pulled.error().message;
  EXPECT_LT(took, 5s);
}

}  // namespace
}  // namespace ozy::runtime::testing
