// The libpod JSON field names PodmanRuntime sends and reads, pinned to what
// podman 4.3.1 accepted and reported when probed with curl.
#include "runtime/podman_json.h"

#include <gtest/gtest.h>

#include "common/base64.h"

namespace ozy::runtime::podman {
namespace {

using nlohmann::json;
using Code = RuntimeError::Code;

TEST(PodmanJson, PodCreateBodyUsesSpecGeneratorNames) {
  PodSpec spec{
      "web-1", {{"ozy.job", "web"}}, {{"127.0.0.1", 8080, 80, "tcp"}}, {"10.0.0.53"}, "web", "ozy",
      {}};
  const json body = podCreateBody(spec);
  EXPECT_EQ(body["name"], "web-1");
  EXPECT_EQ(body["labels"]["ozy.job"], "web");
  EXPECT_EQ(body["hostname"], "web");
  EXPECT_EQ(body["dns_server"], json::array({"10.0.0.53"}));
  // The node's pod network: a bridge namespace on that network only.
  EXPECT_EQ(body["netns"], json::parse(R"({"nsmode": "bridge"})"));
  EXPECT_EQ(body["Networks"], json::parse(R"({"ozy": {}})"));
  EXPECT_EQ(body["portmappings"],
            json::parse(R"([{"host_ip":"127.0.0.1","host_port":8080,"container_port":80,
                             "protocol":"tcp"}])"));
}

TEST(PodmanJson, PodCreateBodyLeavesOutWhatIsUnset) {
  const json body = podCreateBody(PodSpec{"p", {}, {{"", 0, 80, "udp"}}, {}, "", "", {}});
  EXPECT_FALSE(body.contains("hostname"));
  EXPECT_FALSE(body.contains("netns"));
  EXPECT_FALSE(body.contains("Networks"));
  EXPECT_FALSE(body.contains("dns_server"));
  EXPECT_FALSE(body["portmappings"][0].contains("host_ip"));
  EXPECT_FALSE(body.contains("userns"));
  EXPECT_FALSE(body.contains("idmappings"));
}

TEST(PodmanJson, PodCreateBodyGivesThePodAFixedUserNamespace) {
  PodSpec spec;
  spec.name = "p";
  spec.idMap = {2147483647, 65536};
  const json body = podCreateBody(spec);
  EXPECT_EQ(body["userns"], json::parse(R"({"nsmode":"private"})"));
  const json map = json::parse(R"([{"container_id":0,"host_id":2147483647,"size":65536}])");
  EXPECT_EQ(body["idmappings"]["UIDMap"], map);
  EXPECT_EQ(body["idmappings"]["GIDMap"], map);
}

TEST(PodmanJson, ContainerCreateBodyHardensTheContainer) {
  ContainerSpec spec;
  spec.name = "c";
  spec.image = "i";
  spec.capabilities = std::vector<std::string>{"CHOWN", "NET_ADMIN"};
  spec.pidsLimit = 512;
  spec.logMaxSize = 10 << 20;
  const json body = containerCreateBody(spec);
  EXPECT_EQ(body["no_new_privileges"], true);
  EXPECT_EQ(body["cap_drop"], json::array({"ALL"}));
  EXPECT_EQ(body["cap_add"], json::array({"CHOWN", "NET_ADMIN"}));
  EXPECT_EQ(body["resource_limits"]["pids"]["limit"], 512);
  EXPECT_FALSE(body["resource_limits"].contains("memory"));
  EXPECT_EQ(body["log_configuration"]["size"], 10 << 20);
}

TEST(PodmanJson, ContainerCreateBodyLeavesEngineDefaultsWhenAskedTo) {
  ContainerSpec spec;
  spec.name = "c";
  spec.image = "i";
  spec.noNewPrivileges = false;
  const json body = containerCreateBody(spec);
  EXPECT_FALSE(body.contains("no_new_privileges"));
  EXPECT_FALSE(body.contains("cap_drop"));
  EXPECT_FALSE(body.contains("cap_add"));
  EXPECT_FALSE(body.contains("resource_limits"));
  EXPECT_FALSE(body.contains("log_configuration"));
}

TEST(PodmanJson, ContainerCreateBodyMakesTheMemoryLimitHard) {
  ContainerSpec spec;
  spec.name = "web-1-app";
  spec.pod = "web-1";
  spec.image = "localhost/app:1";
  spec.command = {"httpd", "-f"};
  spec.env = {{"A", "b"}};
  spec.memoryLimit = 16 << 20;
  spec.restart = RestartPolicy::kOnFailure;
  spec.mounts = {{"/srv/data", "/data", false}};
  spec.stopTimeout = std::chrono::seconds(3);
  const json body = containerCreateBody(spec);
  EXPECT_EQ(body["pod"], "web-1");
  EXPECT_EQ(body["command"], json::array({"httpd", "-f"}));
  EXPECT_EQ(body["env"]["A"], "b");
  EXPECT_EQ(body["resource_limits"]["memory"]["limit"], 16 << 20);
  EXPECT_EQ(body["resource_limits"]["memory"]["swap"], 16 << 20);
  EXPECT_EQ(body["restart_policy"], "on-failure");
  EXPECT_EQ(body["stop_timeout"], 3);
  EXPECT_EQ(body["mounts"], json::parse(R"([{"destination":"/data","source":"/srv/data",
                                              "type":"bind","options":["rbind","nosuid","nodev","rw"]}])"));
}

TEST(PodmanJson, PodListDropsInfraContainersAndGroupsByPod) {
  const std::string pods = R"([{"Id":"p1","Name":"web-1","Status":"Running","Labels":{"a":"b"}}])";
  const std::string containers = R"([
    {"Id":"i1","Names":["p1-infra"],"IsInfra":true,"Pod":"p1","State":"running","ExitCode":0},
    {"Id":"c1","Names":["web-1-app"],"IsInfra":false,"Pod":"p1","State":"exited","ExitCode":137},
    {"Id":"c2","Names":["elsewhere"],"IsInfra":false,"Pod":"p2","State":"running","ExitCode":0}])";
  auto list = parsePodList(pods, containers);
  ASSERT_TRUE(list) << list.error();
  ASSERT_EQ(list->size(), 1u);
  const PodSummary& pod = list->front();
  EXPECT_EQ(pod.name, "web-1");
  EXPECT_EQ(pod.status, "Running");
  EXPECT_EQ(pod.labels.at("a"), "b");
  ASSERT_EQ(pod.containers.size(), 1u);
  EXPECT_EQ(pod.containers[0].name, "web-1-app");
  EXPECT_EQ(pod.containers[0].state, ContainerStatus::kExited);
  EXPECT_EQ(pod.containers[0].exitCode, 137);
  EXPECT_FALSE(pod.containers[0].restartCount.has_value());
}

TEST(PodmanJson, ContainerStateTreatsGoZeroTimeAsNever) {
  auto state = parseContainerState(R"({"RestartCount":2,"State":{"Status":"running","ExitCode":0,
      "OOMKilled":false,"StartedAt":"2026-11-26T10:24:57.63Z","FinishedAt":"0001-01-01T00:00:00Z"}})");
  ASSERT_TRUE(state) << state.error();
  EXPECT_EQ(state->status, ContainerStatus::kRunning);
  EXPECT_EQ(state->restartCount, 2);
  EXPECT_EQ(state->startedAt, "2026-11-26T10:24:57.63Z");
  EXPECT_EQ(state->finishedAt, "");
}

TEST(PodmanJson, RejectsAnswersThatAreNotJson) {
  EXPECT_FALSE(parseId("<html>"));
  EXPECT_FALSE(parseId("{}"));
  EXPECT_FALSE(parseContainerState("[]"));
  EXPECT_FALSE(parsePodList("{}", "[]"));
}

TEST(PodmanJson, ExecExitIsUnknownWhileRunning) {
  auto running = parseExecExit(R"({"Running":true,"ExitCode":0})");
  ASSERT_TRUE(running);
  EXPECT_FALSE(running->has_value());
  auto done = parseExecExit(R"({"Running":false,"ExitCode":3})");
  ASSERT_TRUE(done);
  EXPECT_EQ(done->value(), 3);
}

TEST(PodmanJson, ErrorsAreClassifiedByStatusAndCause) {
  struct Case {
    int status;
    const char* body;
    Code code;
  };
  const Case cases[] = {
      {404, R"({"cause":"no such pod","message":"no pod with name or ID x found: no such pod"})",
       Code::kNotFound},
      {500, R"({"cause":"image not known","message":"localhost/nope: image not known"})",
       Code::kNotFound},
      {500, R"({"cause":"no such pod","message":"no pod with name or ID x found"})",
       Code::kNotFound},
      {409, R"({"cause":"pod already exists","message":"name is in use"})", Code::kConflict},
      {500, R"({"cause":"container state improper","message":"cannot remove"})", Code::kConflict},
      {400, R"({"cause":"bad","message":"bad"})", Code::kInvalid},
      {500, "not json", Code::kOther},
  };
  for (const Case& c : cases) {
    const RuntimeError error = errorFromResponse(c.status, c.body, "start pod x");
    EXPECT_EQ(error.code, c.code) << c.body;
    EXPECT_EQ(error.message.rfind("podman could not start pod x: ", 0), 0u) << error.message;
  }
}

TEST(PodmanJson, FiltersAreJsonAndEncodeForAQuery) {
  EXPECT_EQ(labelFilter({{"a", "b"}, {"c", "d"}}), R"({"label":["a=b","c=d"]})");
  EXPECT_EQ(podFilter({"p1"}), R"({"pod":["p1"]})");
  EXPECT_EQ(percentEncode(R"({"a":"b c/d"})"), "%7B%22a%22%3A%22b%20c%2Fd%22%7D");
}

// What POST /libpod/images/pull answered podman 4.3.1 (HTTP 200 every time).
TEST(PodmanJson, LogsPathAsksForBothStreamsAndOnlyWhatIsSet) {
  EXPECT_EQ(logsPath("web 1", {}), "/containers/web%201/logs?stdout=true&stderr=true");
  LogOptions options;
  options.follow = true;
  options.tailLines = 0;  // none, as podman reads it; not "all"
  options.sinceUnixSeconds = 1796155497;
  options.timestamps = true;
  EXPECT_EQ(logsPath("web", options),
            "/containers/web/logs?stdout=true&stderr=true&follow=true&timestamps=true&tail=0"
            "&since=1796155497");
}

TEST(PodmanJson, PullStreamGivesTheImageId) {
  const auto id = parsePullStream(
      "{\"stream\":\"Trying to pull 127.0.0.1:5000/t:v1...\\n\"}\n"
      "{\"images\":[\"62b0\"],\"id\":\"62b0\"}\n",
      "127.0.0.1:5000/t:v1");
  ASSERT_TRUE(id.ok()) << id.error().message;
  EXPECT_EQ(*id, "62b0");
}

TEST(PodmanJson, PullStreamErrorsAreClassifiedAndKeepPodmansWords) {
  const struct {
    const char* error;
    Code code;
    const char* hint;
  } cases[] = {
      {"initializing source docker://r/t:nope: reading manifest nope in r/t: manifest unknown: "
       "manifest unknown",
       Code::kNotFound, "no such image or tag"},
      {"initializing source docker://r/t:v1: reading manifest v1 in r/t: unauthorized: "
       "authentication required",
       Code::kOther, "refused the credentials"},
      {"pinging container registry 127.0.0.1:1: Get http://127.0.0.1:1/v2/: dial tcp 127.0.0.1:1: "
       "connect: connection refused",
       Code::kUnavailable, "cannot be reached"},
      {"pinging container registry r: Get https://r/v2/: http: server gave HTTP response to HTTPS "
       "client",
       Code::kUnavailable, "--insecure-registry"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.error);
    const auto pulled = parsePullStream(std::string("{\"error\":\"") + c.error + "\"}\n", "r/t:v1");
    ASSERT_FALSE(pulled.ok());
    EXPECT_EQ(pulled.error().code, c.code);
    EXPECT_NE(pulled.error().message.find(c.hint), std::string::npos) << pulled.error().message;
    EXPECT_NE(pulled.error().message.find("r/t:v1"), std::string::npos) << pulled.error().message;
  }
  EXPECT_FALSE(parsePullStream("", "r/t:v1").ok());
}

TEST(PodmanJson, RegistryAuthHeaderIsBase64UrlOfTheLogin) {
  const std::string header = registryAuthHeader({"alice", "s3cr?t>>", "127.0.0.1:5000"});
  EXPECT_EQ(header.find_first_of("+/"), std::string::npos);
  std::string standard = header;
  for (char& c : standard) c = c == '-' ? '+' : c == '_' ? '/' : c;
  const auto decoded = ozy::base64Decode(standard);
  ASSERT_TRUE(decoded.has_value());
  EXPECT_EQ(json::parse(*decoded),
            json::parse(
                R"({"username":"alice","password":"s3cr?t>>","serveraddress":"127.0.0.1:5000"})"));
}

}  // namespace
}  // namespace ozy::runtime::podman
