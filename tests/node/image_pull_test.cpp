// Images from a registry, end to end: a private registry on loopback
// (Debian's docker-registry), the busybox test image pushed to it under
// names no node has, and `ozy agent` with its own podman service pulling
// what its instances need. Every image name carries a random suffix, and
// only those names are removed afterwards: other tests share podman's
// storage.
#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>

#include <fmt/format.h>

#include "common/base64.h"
#include "node/node_test_support.h"
#include "scheduler/keys.h"
#include "scheduler/records.h"
#include "store/etcd_store.h"
#include "support/agent_process.h"
#include "support/child_process.h"
#include "support/etcd_with_store.h"
#include "support/registry_process.h"
#include "support/tcp_proxy.h"
#include "support/temp_dir.h"
#include "support/test_image.h"

namespace ozy {
namespace {

using namespace std::chrono_literals;
using node_testing::podman;
using node_testing::run;
using node_testing::waitFor;
using testing_support::AgentProcess;
using testing_support::RegistryLogin;
using testing_support::RegistryProcess;
using testing_support::TempDir;

class ImagePullTest : public testing_support::EtcdStoreTest {
 protected:
  void SetUp() override {
    if (!testing_support::testImageOnce().empty()) GTEST_SKIP() << testing_support::testImageOnce();
    if (!std::filesystem::exists("/usr/bin/docker-registry")) {
      GTEST_SKIP() << "needs Debian's docker-registry (scripts/setup.sh)";
    }
    ASSERT_NO_FATAL_FAILURE(startEtcd());
    std::random_device device;
    suffix_ = fmt::format("{:06}", device() % 1000000);
    node_ = "ip" + suffix_;
  }

  void TearDown() override {
    if (agent_) agent_->kill();
    for (int attempt = 0; attempt < 5; ++attempt) {
      std::string pods = podman("pod ps -q --filter label=ozy.node=" + node_);
      if (pods.empty()) break;
      std::replace(pods.begin(), pods.end(), '\n', ' ');
      podman("pod rm -f -t 0 " + pods);
    }
    // Only the names this test made (the test image behind most of them is
    // shared: untag, never remove), then the test's own second image.
    for (const auto& name : made_) podman("untag " + name + " " + name);
    for (const auto& id : ownIds_) podman("rmi " + id);
  }

  void startRegistry(std::optional<RegistryLogin> login = std::nullopt) {
    auto registry = RegistryProcess::start({login, "/usr/bin/docker-registry"});
    ASSERT_TRUE(registry) << registry.error();
    registry_ = std::move(registry).value();
    login_ = login;
  }

  void startAgent(std::vector<std::string> more = {}) {
    testing_support::AgentOptions o;
    o.binary = OZY_BINARY;
    o.node = node_;
    o.etcd = etcd_->endpoint();
    o.memory = "2G";
    o.disk = "10G";
    o.dataDir = dataDir_.path();
    o.runtime = "podman";
    o.extraArgs = {"--containers-conf", testing_support::projectContainersConf(),
                   "--restart-backoff", "1s",
                   "--resync", "1s",
                   "--stop-grace", "1",
                   "--insecure-registry", registry_->host()};
    o.extraArgs.insert(o.extraArgs.end(), more.begin(), more.end());
    auto agent = AgentProcess::start(o);
    ASSERT_TRUE(agent) << agent.error();
    agent_ = std::move(agent).value();
  }

  // Pushes `local` to the registry as REPOSITORY:TAG (the repository gets
  // the test's suffix); returns the full reference, and the manifest's
  // digest in `digest` if asked.
  std::string push(const std::string& local, const std::string& repository, const std::string& tag,
                   std::string* digest = nullptr) {
    const std::string target = fmt::format("{}/{}:{}", registry_->host(), repository, tag);
    const std::string digestFile = dataDir_.path() + "/digest";
    const std::string creds = login_ ? fmt::format(" --creds '{}:{}'", login_->user, login_->password) : "";
    const int pushed = std::system(fmt::format("CONTAINERS_CONF='{}' podman push -q --tls-verify=false{} "
                                               "--digestfile '{}' {} {} >/dev/null 2>&1",
                                               testing_support::projectContainersConf(), creds, digestFile, local,
                                               target)
                                       .c_str());
    EXPECT_EQ(pushed, 0) << "podman push " << local << " " << target;
    if (digest) {
      std::ifstream in(digestFile);
      std::getline(in, *digest);
    }
    made_.push_back(target);  // pulls tag it locally
    return target;
  }

  // A second image, unlike the test image: the busybox root with a marker.
  std::string makeOtherImage(const std::string& tag) {
    const std::string name = "localhost/ozy-registry-test-" + suffix_ + ":" + tag;
    const std::string root = dataDir_.path() + "/other-root";
    const std::string script = fmt::format(
        "set -e; r='{}'; mkdir -p \"$r/bin\"; cp /usr/bin/busybox \"$r/bin/busybox\"; "
        "for l in sh sleep cat; do ln -sf busybox \"$r/bin/$l\"; done; echo {}-{} > \"$r/marker\"; "
        "tar -C \"$r\" -c . | CONTAINERS_CONF='{}' podman import - {} >/dev/null",
        root, suffix_, tag, testing_support::projectContainersConf(), name);
    EXPECT_EQ(std::system(script.c_str()), 0);
    made_.push_back(name);
    ownIds_.push_back(imageId(name));
    return name;
  }

  void submit(const std::string& name, const std::string& yaml) {
    const std::string file = dataDir_.path() + "/" + name + ".yaml";
    std::ofstream(file) << yaml;
    auto result = testing_support::runOzy(OZY_BINARY, {"job", "run", file, "--address", agent_->url()},
                                          agent_->ozyEnv());
    ASSERT_EQ(result.exitCode, 0) << result.stdoutText << result.stderrText;
  }

  // A new spec for a running job, written as a deploy writes it: the job
  // record's spec, and the node's assignment under the new version.
  void changeImage(const std::string& job, const std::string& image) {
    auto read = store_->get(keys::job(job));
    ASSERT_TRUE(read && read->kvs.size() == 1);
    auto record = decodeJob(read->kvs.front().value);
    ASSERT_TRUE(record) << record.error();
    record->spec.containers.front().image = image;
    record->version += 1;
    // A version with no record of its own: the node takes the job
    // record's spec for it (as for jobs stored before versions).
    record->specVersion += 1;
    ASSERT_TRUE(store_->put(keys::job(job), encode(*record)));
    auto assigned = store_->get(keys::assignment(node_, job));
    ASSERT_TRUE(assigned && assigned->kvs.size() == 1);
    auto assignment = decodeAssignments(assigned->kvs.front().value);
    ASSERT_TRUE(assignment) << assignment.error();
    assignment->front().version = record->specVersion;
    ASSERT_TRUE(store_->put(keys::assignment(node_, job), encode(*assignment)));
  }

  void stopJob(const std::string& name) {
    auto result =
        testing_support::runOzy(OZY_BINARY, {"job", "stop", name, "--address", agent_->url()}, agent_->ozyEnv());
    ASSERT_EQ(result.exitCode, 0) << result.stderrText;
    ASSERT_TRUE(waitFor([&] { return statuses(name).empty(); }, 30s)) << describe(name);
  }

  static std::string sleeper(const std::string& name, int instances, const std::string& image,
                             const std::string& extra = "") {
    return fmt::format(
        "name: {}\nnumInstances: {}\ncontainers:\n  app:\n    image: {}\n    memory: 16M\n"
        "    command: [\"sleep\", \"3600\"]\n{}",
        name, instances, image, extra);
  }

  std::map<std::uint32_t, InstanceStatus> statuses(const std::string& job) {
    return node_testing::statuses(*store_, job);
  }
  bool allIn(const std::string& job, std::size_t count, InstanceState state) {
    return node_testing::allIn(*store_, job, count, state);
  }

  std::string describe(const std::string& job) {
    std::string out;
    for (const auto& [id, s] : statuses(job)) out += fmt::format("#{} {} ({})\n", id, toString(s.state), s.reason);
    return out + "\nagent log:\n" + (agent_ ? agent_->log() : "") + "\nregistry log:\n" +
           (registry_ ? registry_->logTail() : "");
  }

  std::string podsOf(const std::string& job) {
    return podman(fmt::format("pod ps -q --filter label=ozy.node={} --filter label=ozy.job={}", node_, job));
  }

  // The image id the instance's container runs.
  std::string runningImage(const std::string& job, std::uint32_t id) {
    return podman(fmt::format("inspect -f '{{{{.Image}}}}' ozy-{}-{}.{}.app", job, id, node_));
  }

  static std::string imageId(const std::string& image) {
    return podman("image inspect -f '{{.Id}}' " + image);
  }

  TempDir dataDir_;
  std::string suffix_;
  std::string node_;
  std::unique_ptr<RegistryProcess> registry_;
  std::optional<RegistryLogin> login_;
  std::unique_ptr<AgentProcess> agent_;
  std::vector<std::string> made_;
  std::vector<std::string> ownIds_;  // images this test made
};

TEST_F(ImagePullTest, TenInstancesOfAnImageOnlyInTheRegistryRunAfterOnePull) {
  ASSERT_NO_FATAL_FAILURE(startRegistry());
  const std::string repository = "ozy-test-" + suffix_;
  const std::string image = push(testing_support::kTestImage, repository, "v1");
  EXPECT_NE(podman("images -q " + image), imageId(testing_support::kTestImage).substr(0, 12))
      << "the node must not have the image under that name";
  ASSERT_NO_FATAL_FAILURE(startAgent());
  submit("ten", sleeper("ten", 10, image));
  ASSERT_TRUE(waitFor([&] { return allIn("ten", 10, InstanceState::kHealthy); }, 120s)) << describe("ten");
  EXPECT_EQ(registry_->manifestGets(repository, "v1"), 1) << registry_->logTail();
  EXPECT_NE(agent_->log().find("pulling image " + image), std::string::npos);
  EXPECT_EQ(runningImage("ten", 0), imageId(testing_support::kTestImage));
}

TEST_F(ImagePullTest, ANewVersionsImageIsPulledWhileTheOldPodServes) {
  // The registry behind a proxy that the test cuts: the new version's pull
  // hangs until it heals, and the old pod serves all that time.
  ASSERT_NO_FATAL_FAILURE(startRegistry());
  auto proxy = testing_support::TcpProxy::start("127.0.0.1", static_cast<std::uint16_t>(registry_->port()));
  ASSERT_TRUE(proxy) << proxy.error();
  const std::string via = fmt::format("127.0.0.1:{}", (*proxy)->port());
  const std::string repository = "ozy-test-" + suffix_;
  const std::string v1 = push(testing_support::kTestImage, repository, "v1");
  const std::string other = makeOtherImage("v2");
  push(other, repository, "v2");
  const std::string v2 = via + "/" + repository + ":v2";
  made_.push_back(v2);
  ASSERT_NO_FATAL_FAILURE(startAgent({"--insecure-registry", via}));
  submit("pre", sleeper("pre", 1, v1));
  ASSERT_TRUE(waitFor([&] { return allIn("pre", 1, InstanceState::kHealthy); }, 60s)) << describe("pre");
  const std::string oldPod = podsOf("pre");
  ASSERT_FALSE(oldPod.empty());

  (*proxy)->cut();
  changeImage("pre", v2);
  auto servesWith = [&](const std::string& words) {
    auto s = statuses("pre");
    return s.size() == 1 && s.at(0).state == InstanceState::kHealthy &&
           s.at(0).reason.find(words) != std::string::npos;
  };
  ASSERT_TRUE(waitFor([&] { return servesWith("is pulling image " + v2); }, 30s)) << describe("pre");
  EXPECT_EQ(podsOf("pre"), oldPod) << "the old pod must serve until the new image is here";
  EXPECT_EQ(podman(fmt::format("pod inspect -f '{{{{.State}}}}' {}", oldPod)), "Running");
  auto shown = testing_support::runOzy(OZY_BINARY, {"job", "status", "pre", "--address", agent_->url()},
                                       agent_->ozyEnv());
  EXPECT_NE(shown.stdoutText.find("serves meanwhile"), std::string::npos) << shown.stdoutText;

  (*proxy)->heal();
  ASSERT_TRUE(waitFor(
      [&] {
        auto s = statuses("pre");
        return s.size() == 1 && s.at(0).state == InstanceState::kHealthy && s.at(0).reason.empty() &&
               podsOf("pre") != oldPod;
      },
      60s))
      << describe("pre");
  EXPECT_EQ(runningImage("pre", 0), imageId(other));

  // A version whose image cannot come keeps the pod that serves, and says why.
  const std::string newPod = podsOf("pre");
  changeImage("pre", via + "/" + repository + ":missing");
  ASSERT_TRUE(waitFor([&] { return servesWith("cannot start"); }, 30s)) << describe("pre");
  EXPECT_EQ(podsOf("pre"), newPod);
  EXPECT_EQ(runningImage("pre", 0), imageId(other));
}

TEST_F(ImagePullTest, ImagesNoInstanceNeedsGoAfterTheGraceAndNeededOnesStay) {
  ASSERT_NO_FATAL_FAILURE(startRegistry());
  const std::string repository = "ozy-test-" + suffix_;
  const std::string gone = push(testing_support::kTestImage, repository, "gone");
  const std::string other = makeOtherImage("kept");
  const std::string kept = push(other, repository, "kept");
  ASSERT_NO_FATAL_FAILURE(startAgent({"--image-gc-grace", "1s"}));
  submit("gone", sleeper("gone", 1, gone));
  submit("kept", sleeper("kept", 1, kept));
  ASSERT_TRUE(waitFor([&] { return allIn("gone", 1, InstanceState::kHealthy); }, 60s)) << describe("gone");
  ASSERT_TRUE(waitFor([&] { return allIn("kept", 1, InstanceState::kHealthy); }, 60s)) << describe("kept");
  EXPECT_FALSE(podman("images -q " + gone).empty());

  ASSERT_NO_FATAL_FAILURE(stopJob("gone"));
  ASSERT_TRUE(waitFor([&] { return podman("images -q " + gone).empty(); }, 30s)) << agent_->log();
  EXPECT_NE(agent_->log().find("removed image " + gone), std::string::npos);
  // The image of an assigned instance stays, and so does one no instance
  // ever named (the test image, under its own name), whatever their age.
  EXPECT_FALSE(podman("images -q " + kept).empty());
  EXPECT_FALSE(podman(std::string("images -q ") + testing_support::kTestImage).empty());
  EXPECT_EQ(agent_->log().find("removed image " + kept), std::string::npos);

  ASSERT_NO_FATAL_FAILURE(stopJob("kept"));
  ASSERT_TRUE(waitFor([&] { return podman("images -q " + kept).empty(); }, 30s)) << agent_->log();
}

TEST_F(ImagePullTest, AnInstanceWaitingForItsImageSaysPullingAndNamesIt) {
  // A "registry" that takes connections and never answers: the pull hangs,
  // and the instance waits in `pulling` meanwhile.
  ASSERT_NO_FATAL_FAILURE(startRegistry());
  auto silent = testing_support::freePorts(1);
  ASSERT_TRUE(silent);
  testing_support::Fd listener{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<std::uint16_t>((*silent)[0]));
  ASSERT_EQ(::bind(listener.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(listener.fd, 16), 0);
  const std::string host = fmt::format("127.0.0.1:{}", (*silent)[0]);
  ASSERT_NO_FATAL_FAILURE(startAgent({"--insecure-registry", host}));
  const std::string image = host + "/ozy-test-" + suffix_ + ":v1";
  submit("slow", sleeper("slow", 1, image));
  ASSERT_TRUE(waitFor([&] { return allIn("slow", 1, InstanceState::kPulling); }, 30s)) << describe("slow");
  EXPECT_EQ(statuses("slow").at(0).reason, "pulling image " + image);
  EXPECT_TRUE(podsOf("slow").empty());
  // The API and the CLI show it.
  auto status = testing_support::runOzy(OZY_BINARY, {"job", "status", "slow", "--address", agent_->url()},
                                        agent_->ozyEnv());
  EXPECT_NE(status.stdoutText.find("pulling"), std::string::npos) << status.stdoutText;
}

TEST_F(ImagePullTest, AMissingTagAndAWrongPasswordFailWithAReasonAndNoPod) {
  ASSERT_NO_FATAL_FAILURE(startRegistry(RegistryLogin{"alice", "s3cret"}));
  const std::string repository = "ozy-test-" + suffix_;
  const std::string image = push(testing_support::kTestImage, repository, "v1");
  // Two logins: the right one under the repository's key, a wrong one
  // under the registry's.
  const std::string authFile = dataDir_.path() + "/auth.json";
  {
    std::ofstream out(authFile);
    out << fmt::format(R"({{"auths": {{"{0}": {{"auth": "{1}"}}, "{0}/{2}": {{"auth": "{3}"}}}}}})",
                       registry_->host(), base64Encode("alice:wrong"), repository, base64Encode("alice:s3cret"));
  }
  ::chmod(authFile.c_str(), 0600);
  ASSERT_NO_FATAL_FAILURE(startAgent({"--registry-auth", authFile}));
  const std::string right = fmt::format("    registryAuth: {}/{}\n", registry_->host(), repository);
  submit("good", sleeper("good", 1, image, right));
  submit("missing", sleeper("missing", 1, fmt::format("{}/{}:nope", registry_->host(), repository), right));
  // `always`: the image is on the node by now (job good pulled it), and
  // only a pull asks the registry.
  submit("wrongpw",
         sleeper("wrongpw", 1, image, fmt::format("    pull: always\n    registryAuth: {}\n", registry_->host())));
  submit("nologin", sleeper("nologin", 1, image, "    pull: always\n"));

  ASSERT_TRUE(waitFor([&] { return allIn("good", 1, InstanceState::kHealthy); }, 60s)) << describe("good");
  ASSERT_TRUE(waitFor([&] { return allIn("missing", 1, InstanceState::kFailed); }, 60s)) << describe("missing");
  EXPECT_NE(statuses("missing").at(0).reason.find("no such image or tag"), std::string::npos)
      << describe("missing");
  ASSERT_TRUE(waitFor([&] { return allIn("wrongpw", 1, InstanceState::kFailed); }, 60s)) << describe("wrongpw");
  EXPECT_NE(statuses("wrongpw").at(0).reason.find("refused the credentials"), std::string::npos)
      << describe("wrongpw");
  ASSERT_TRUE(waitFor([&] { return allIn("nologin", 1, InstanceState::kFailed); }, 60s)) << describe("nologin");
  EXPECT_TRUE(podsOf("missing").empty());
  EXPECT_TRUE(podsOf("wrongpw").empty());
  EXPECT_TRUE(podsOf("nologin").empty());
  // The secret is nowhere in etcd: the job record holds the name only.
  auto record = store_->get(keys::job("good"));
  ASSERT_TRUE(record && !record->kvs.empty());
  EXPECT_EQ(record->kvs.front().value.find("s3cret"), std::string::npos);
  EXPECT_EQ(record->kvs.front().value.find(base64Encode("alice:s3cret")), std::string::npos);
}

TEST_F(ImagePullTest, AlwaysPullsARePushedTagAndADigestRunsTheExactImage) {
  ASSERT_NO_FATAL_FAILURE(startRegistry());
  const std::string repository = "ozy-test-" + suffix_;
  std::string firstDigest;
  const std::string image = push(testing_support::kTestImage, repository, "v2", &firstDigest);
  ASSERT_FALSE(firstDigest.empty());
  ASSERT_NO_FATAL_FAILURE(startAgent());
  submit("fresh", sleeper("fresh", 1, image, "    pull: always\n"));
  ASSERT_TRUE(waitFor([&] { return allIn("fresh", 1, InstanceState::kHealthy); }, 60s)) << describe("fresh");
  EXPECT_EQ(runningImage("fresh", 0), imageId(testing_support::kTestImage));

  // The tag moves to another image; a new pod of the job takes it.
  const std::string other = makeOtherImage("b");
  push(other, repository, "v2");
  ASSERT_NO_FATAL_FAILURE(stopJob("fresh"));
  submit("fresh", sleeper("fresh", 1, image, "    pull: always\n"));
  ASSERT_TRUE(waitFor([&] { return allIn("fresh", 1, InstanceState::kHealthy); }, 60s)) << describe("fresh");
  EXPECT_EQ(runningImage("fresh", 0), imageId(other));
  EXPECT_EQ(registry_->manifestGets(repository, "v2"), 2) << registry_->logTail();

  // A digest names one image however its tag moves, and is pulled by it:
  // an image pushed, then removed from the node, then its tag moved.
  const std::string pinnedRepository = "ozy-pinned-" + suffix_;
  const std::string third = makeOtherImage("c");
  const std::string thirdId = imageId(third);
  std::string digest;
  push(third, pinnedRepository, "v1", &digest);
  ASSERT_FALSE(digest.empty());
  podman("rmi " + third);
  push(testing_support::kTestImage, pinnedRepository, "v1");
  const std::string pinned = fmt::format("{}/{}@{}", registry_->host(), pinnedRepository, digest);
  submit("pinned", sleeper("pinned", 1, pinned));
  ASSERT_TRUE(waitFor([&] { return allIn("pinned", 1, InstanceState::kHealthy); }, 60s)) << describe("pinned");
  EXPECT_EQ(runningImage("pinned", 0), thirdId);
  EXPECT_EQ(registry_->manifestGets(pinnedRepository, digest), 1) << registry_->logTail();
}

}  // namespace
}  // namespace ozy
