// The agent's API security and the CLI against a live cluster: bearer
// tokens, refusing to listen openly without one, TLS with certificates the
// test makes, and the exit codes scripts rely on.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include <fmt/format.h>

#include "support/agent_process.h"
#include "support/child_process.h"
#include "support/etcd_process.h"
#include "support/temp_dir.h"
#include "support/test_certs.h"

namespace ozy {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using testing_support::AgentOptions;
using testing_support::AgentProcess;
using testing_support::EtcdProcess;
using testing_support::runOzy;
using testing_support::TempDir;

class LiveAgent : public ::testing::Test {
 protected:
  void SetUp() override {
    auto etcd = EtcdProcess::start();
    ASSERT_TRUE(etcd.ok()) << etcd.error();
    etcd_ = std::move(etcd).value();
  }

  std::unique_ptr<AgentProcess> start(const std::string& node, std::vector<std::string> extra) {
    const std::string dir = tmp_.path() + "/" + node;
    std::filesystem::create_directories(dir);
    auto agent = AgentProcess::start(
        AgentOptions{OZY_BINARY, node, etcd_->endpoint(), "8G", "100G", dir, 10, std::move(extra), "none", {}});
    EXPECT_TRUE(agent.ok()) << (agent.ok() ? "" : agent.error());
    return agent.ok() ? std::move(agent).value() : nullptr;
  }

  std::string writeFile(const std::string& name, const std::string& text) {
    const std::string path = tmp_.path() + "/" + name;
    std::ofstream(path) << text;
    std::filesystem::permissions(path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    return path;
  }

  TempDir tmp_;
  std::unique_ptr<EtcdProcess> etcd_;
};

TEST_F(LiveAgent, RequiresTheBearerTokenWhenGivenATokenFile) {
  const std::string secret = "s3cr3t-token-for-the-test";
  auto agent = start("node-1", {"--token-file", writeFile("token", secret + "\n")});
  ASSERT_TRUE(agent);
  const auto without = runOzy(OZY_BINARY, {"node", "list", "--address", agent->url()});
  EXPECT_EQ(without.exitCode, 6) << without.stderrText;
  EXPECT_THAT(without.stderrText, HasSubstr("Unauthorized"));
  EXPECT_THAT(without.stderrText, Not(HasSubstr(secret)));
  const auto wrong = runOzy(OZY_BINARY, {"node", "list", "--address", agent->url()}, {"OZY_TOKEN=nope"});
  EXPECT_EQ(wrong.exitCode, 6);
  const auto right = runOzy(OZY_BINARY, {"node", "list", "--address", agent->url()}, {"OZY_TOKEN=" + secret});
  EXPECT_EQ(right.exitCode, 0) << right.stderrText;
  EXPECT_THAT(right.stdoutText, HasSubstr("node-1"));
}

// The command's stdout.
std::string output(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  ::pclose(pipe);
  return out;
}

TEST_F(LiveAgent, ServesMetricsWithTheTokenAndOnItsOwnListenerWithout) {
  auto ports = testing_support::freePorts(1);
  ASSERT_TRUE(ports.ok()) << ports.error();
  const std::string listener = fmt::format("127.0.0.1:{}", ports->front());
  auto agent = start("node-1", {"--metrics", listener});
  ASSERT_TRUE(agent);
  // A submission, so the control plane's figures have samples.
  const std::string job = writeFile("web.yaml", "name: web\ncontainers:\n  app:\n    image: localhost/x\n    memory: 64M\n");
  ASSERT_EQ(runOzy(OZY_BINARY, {"job", "run", "--detach", job, "--address", agent->url()}, agent->ozyEnv()).exitCode, 0);

  EXPECT_EQ(output(fmt::format("curl -s -o /dev/null -w '%{{http_code}}' {}/metrics", agent->url())), "401");
  const std::string api =
      output(fmt::format("curl -sf -H 'Authorization: Bearer {}' {}/metrics", agent->token(), agent->url()));
  EXPECT_THAT(api, HasSubstr("ozy_submit_duration_seconds_count{result=\"created\"} 1"));
  EXPECT_THAT(api, HasSubstr("ozy_commits_total{operation=\"submit\",result=\"committed\"} 1"));
  EXPECT_THAT(api, HasSubstr("process_resident_memory_bytes "));

  // The listener answers GET /metrics alone, without a token.
  const std::string own = output(fmt::format("curl -sf http://{}/metrics", listener));
  EXPECT_THAT(own, HasSubstr("ozy_submit_duration_seconds_count{result=\"created\"} 1"));
  EXPECT_EQ(output(fmt::format("curl -s -o /dev/null -w '%{{http_code}}' http://{}/v1/jobs", listener)), "404");
  EXPECT_EQ(output(fmt::format("curl -s -o /dev/null -w '%{{http_code}}' -X POST http://{}/metrics", listener)),
            "405");
  const std::string file = writeFile("metrics.txt", own);
  EXPECT_EQ(output("promtool check metrics < " + file + " 2>&1; echo rc=$?"), "rc=0\n");
}

TEST_F(LiveAgent, RefusesPlainHttpBeyondLoopbackUnlessTheOperatorSaysInsecureHttp) {
  const std::string dir = tmp_.path() + "/open";
  const auto r = runOzy(OZY_BINARY, {"agent", "--node", "open", "--etcd", etcd_->endpoint(),
                                     "--listen", "0.0.0.0:0", "--data-dir", dir});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.stderrText, HasSubstr("--tls-cert"));
  EXPECT_THAT(r.stderrText, HasSubstr("--insecure-http"));
  auto insecure = start("open", {"--listen", "0.0.0.0:0", "--insecure-http"});
  ASSERT_TRUE(insecure);
  EXPECT_EQ(runOzy(OZY_BINARY, {"node", "list", "--address", insecure->url()}, insecure->ozyEnv()).exitCode, 0);
}

TEST_F(LiveAgent, MakesItsOwnPrivateTokenWhenGivenNoneAndTheCliFindsIt) {
  auto agent = start("node-1", {});
  ASSERT_TRUE(agent);
  const std::string tokenFile = tmp_.path() + "/node-1/token";
  struct stat info {};
  ASSERT_EQ(::stat(tokenFile.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
  EXPECT_GE(agent->token().size(), 64u) << "256 random bits, in hex";

  const auto without = runOzy(OZY_BINARY, {"node", "list", "--address", agent->url()},
                              {"OZY_TOKEN_FILE=" + tmp_.path() + "/absent"});
  EXPECT_EQ(without.exitCode, 2) << "a named token file that is missing is the user's mistake";
  const auto anonymous = runOzy(OZY_BINARY, {"node", "list", "--address", agent->url()}, {"OZY_TOKEN=wrong"});
  EXPECT_EQ(anonymous.exitCode, 6) << anonymous.stderrText;
  const auto viaFile = runOzy(OZY_BINARY, {"node", "list", "--address", agent->url()},
                              {"OZY_TOKEN_FILE=" + tokenFile});
  EXPECT_EQ(viaFile.exitCode, 0) << viaFile.stderrText;

  // A restart keeps the token: scripts and other users' token files stay valid.
  const std::string before = agent->token();
  agent.reset();
  auto again = start("node-1", {});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->token(), before);
}

TEST_F(LiveAgent, RefusesADataDirThatOtherUsersMayEnter) {
  const std::string dir = tmp_.path() + "/open-dir";
  std::filesystem::create_directories(dir);
  std::filesystem::permissions(dir, std::filesystem::perms(0755), std::filesystem::perm_options::replace);
  const auto r = runOzy(OZY_BINARY, {"agent", "--node", "n", "--etcd", etcd_->endpoint(),
                                     "--listen", "127.0.0.1:0", "--data-dir", dir, "--runtime", "none"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.stderrText, HasSubstr("chmod 700 " + dir));
}

// The HTTP status curl gets for a POST of `file` with these extra headers.
int curlPost(const std::string& url, const std::string& file, const std::vector<std::string>& headers) {
  std::string command = "curl -s -o /dev/null -w '%{http_code}' --max-time 10";
  for (const auto& header : headers) command += " -H '" + header + "'";
  command += " --data-binary @'" + file + "' '" + url + "/v1/jobs'";
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return -1;
  char out[16] = {};
  const std::size_t n = std::fread(out, 1, sizeof out - 1, pipe);
  ::pclose(pipe);
  return std::atoi(std::string(out, n).c_str());
}

TEST_F(LiveAgent, RefusesPlainHttpToAnEtcdBeyondLoopback) {
  // Refused before any connection is tried: no packet leaves for that address.
  const std::string dir = tmp_.path() + "/far";
  const auto r = runOzy(OZY_BINARY, {"agent", "--node", "far", "--etcd", "http://etcd.example:2379",
                                     "--data-dir", dir, "--runtime", "none"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.stderrText, HasSubstr("--insecure-etcd"));
  EXPECT_THAT(r.stderrText, HasSubstr("--etcd-cert"));
}

TEST_F(LiveAgent, RefusesToRunAnotherNodeOnANodesDataDir) {
  auto first = start("node-1", {});
  ASSERT_TRUE(first);
  first.reset();  // killed: its pods, lease and volumes would still be there
  const auto r = runOzy(OZY_BINARY, {"agent", "--node", "node-2", "--etcd", etcd_->endpoint(),
                                     "--listen", "127.0.0.1:0", "--data-dir", tmp_.path() + "/node-1",
                                     "--runtime", "none"});
  EXPECT_EQ(r.exitCode, 1);
  EXPECT_THAT(r.stderrText, HasSubstr("belongs to node node-1"));
  EXPECT_TRUE(start("node-1", {})) << "its own node starts on it again";
}

TEST_F(LiveAgent, RefusesWhatAWebPageCanSendEvenWithTheToken) {
  auto agent = start("node-1", {});
  ASSERT_TRUE(agent);
  const std::string job = writeFile(
      "job.yaml", "name: web\nnumInstances: 1\ncontainers:\n  app:\n    image: x\n    memory: 1G\n");
  const std::string auth = "Authorization: Bearer " + agent->token();
  // The report's attack: a cross-origin "simple" request a page may send without a preflight.
  EXPECT_EQ(curlPost(agent->url(), job, {auth, "Origin: http://evil.example", "Content-Type: text/plain"}), 403);
  EXPECT_EQ(curlPost(agent->url(), job, {auth, "Content-Type: text/plain"}), 415);
  EXPECT_EQ(curlPost(agent->url(), job, {auth}), 415) << "curl's default is a form encoding";
  // DNS rebinding: the page's own name, now resolving to 127.0.0.1.
  EXPECT_EQ(curlPost(agent->url(), job, {auth, "Host: rebound.evil.example:7700", "Content-Type: application/yaml"}), 421);
  EXPECT_EQ(curlPost(agent->url(), job, {"Content-Type: application/yaml"}), 401);
  const auto jobs = runOzy(OZY_BINARY, {"job", "status", "-o", "json", "--address", agent->url()}, agent->ozyEnv());
  ASSERT_EQ(jobs.exitCode, 0) << jobs.stderrText;
  EXPECT_EQ(json::parse(jobs.stdoutText).size(), 0u) << "nothing refused was submitted";
  EXPECT_EQ(curlPost(agent->url(), job, {auth, "Content-Type: application/yaml"}), 201);
}

TEST_F(LiveAgent, ServesTheApiOverTlsToAClientThatTrustsItsCa) {
  const std::string certDir = tmp_.path() + "/certs";
  std::filesystem::create_directories(certDir);
  auto certs = testing_support::makeTestCerts(certDir);
  ASSERT_TRUE(certs.ok()) << certs.error();
  auto agent = start("node-1", {"--tls-cert", certs->serverCert, "--tls-key", certs->serverKey});
  ASSERT_TRUE(agent);
  ASSERT_THAT(agent->url(), ::testing::StartsWith("https://"));
  const auto trusted = runOzy(OZY_BINARY, {"node", "list", "--address", agent->url()},
                              {"OZY_CACERT=" + certs->caCert, "OZY_TOKEN=" + agent->token()});
  EXPECT_EQ(trusted.exitCode, 0) << trusted.stderrText;
  const auto untrusted = runOzy(OZY_BINARY, {"node", "list", "--address", agent->url()});
  EXPECT_EQ(untrusted.exitCode, 5) << "the system store does not know the test CA";
}

TEST_F(LiveAgent, CliExitCodesTellScriptsWhatHappened) {
  auto agent = start("node-1", {});
  ASSERT_TRUE(agent);
  const std::vector<std::string> env = {"OZY_ADDR=" + agent->url(), "OZY_TOKEN=" + agent->token()};
  const std::string job = writeFile(
      "job.yaml", "name: web\nnumInstances: 1\ncontainers:\n  app:\n    image: x\n    memory: 1G\n");
  const std::string huge = writeFile(
      "huge.yaml", "name: huge\nnumInstances: 1\ncontainers:\n  app:\n    image: x\n    memory: 64G\n");
  const std::string bad = writeFile("bad.yaml", "name: Bad\ncontainers: {}\n");

  EXPECT_EQ(runOzy(OZY_BINARY, {"job", "plan", job}, env).exitCode, 0);
  const auto run = runOzy(OZY_BINARY, {"job", "run", job}, env);
  EXPECT_EQ(run.exitCode, 0) << run.stderrText;
  EXPECT_THAT(run.stdoutText, HasSubstr("node-1"));
  const auto again = runOzy(OZY_BINARY, {"job", "run", job}, env);
  EXPECT_EQ(again.exitCode, 0) << again.stderrText;
  EXPECT_THAT(again.stdoutText, HasSubstr("unchanged"));
  const auto noRoom = runOzy(OZY_BINARY, {"job", "run", huge}, env);
  EXPECT_EQ(noRoom.exitCode, 3);
  EXPECT_THAT(noRoom.stderrText, HasSubstr("Insufficient memory for job"));
  EXPECT_EQ(runOzy(OZY_BINARY, {"job", "run", bad}, env).exitCode, 1);
  EXPECT_EQ(runOzy(OZY_BINARY, {"job", "status", "nope"}, env).exitCode, 4);
  EXPECT_EQ(runOzy(OZY_BINARY, {"job", "scale", "web", "0"}, env).exitCode, 0);
  const auto status = runOzy(OZY_BINARY, {"job", "status", "-o", "json"}, env);
  ASSERT_EQ(status.exitCode, 0);
  EXPECT_EQ(json::parse(status.stdoutText)[0]["numInstances"], 0);
  EXPECT_EQ(runOzy(OZY_BINARY, {"job", "stop", "web"}, env).exitCode, 0);
  EXPECT_EQ(runOzy(OZY_BINARY, {"job", "stop", "web"}, env).exitCode, 4);
  EXPECT_EQ(runOzy(OZY_BINARY, {"node", "list", "--address", "http://127.0.0.1:1"}).exitCode, 5);
}

}  // namespace
}  // namespace ozy
