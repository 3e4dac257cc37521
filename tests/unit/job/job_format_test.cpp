// Writing a Job back out: the normalised JSON and YAML that `ozy job validate`
// prints must read back (parseJob) as the very same Job, whatever the job
// holds: every health check type, UDP and IPv6 ports, strings that YAML would
// otherwise read as booleans, numbers or syntax.
#include "job/job_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "../support/job_printers.h"
#include "../support/source_files.h"
#include "job/job_parser.h"

namespace ozy {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using testing_support::readSourceFile;
using namespace std::chrono_literals;

Job exampleJob() {
  auto text = readSourceFile("examples/webapp.yaml");
  EXPECT_TRUE(text.has_value()) << "examples/webapp.yaml is missing";
  auto job = parseJob(text.value_or(""));
  EXPECT_TRUE(job.ok()) << "the example does not parse";
  return job.ok() ? *job : Job{};
}

// A job that uses what the example does not: exec and tcp checks, UDP, IPv4
// and IPv6 host addresses with and without host ports, every restart policy,
// awkward strings, an ingress with every field, an update section, and
// containers out of alphabetical order.
Job unusualJob() {
  Job job;
  job.name = "dns-1";
  job.numInstances = 0;

  Container resolver;
  resolver.name = "resolver";
  resolver.image = "registry.example.com:5000/dns/resolver@sha256:0123abcd";
  resolver.restart = RestartPolicy::kNo;
  resolver.command = {"unbound", "-d", "-c", "/etc/unbound/my conf", "it's", "say \"hi\"", ""};
  resolver.environment = {
      {"YES", "no"},           {"PORT", "80:3000"},    {"EMPTY", ""},
      {"NUM", "1e3"},          {"OCT", "010"},         {"HASH", "# not a comment"},
      {"DASH", "- item"},      {"BRACES", "{x: [y]}"}, {"LINES", "one\ntwo"},
      {"ACCENT", "caf\u00e9"}, {"BACKSLASH", "a\\b"},  {"NULLISH", "~"},
      {"SPACES", "  padded  "}};
  resolver.ports = {PortMapping{"", 53, 53, Protocol::kUdp},
                    PortMapping{"", 53, 53, Protocol::kTcp},
                    PortMapping{"::1", 8053, 8053, Protocol::kTcp},
                    PortMapping{"2001:db8::7", 0, 9053, Protocol::kUdp},
                    PortMapping{"127.0.0.1", 0, 9153, Protocol::kTcp},
                    PortMapping{"", 0, 9253, Protocol::kUdp}};
  resolver.memory = 6 * kMiB + 1;
  resolver.capAdd = {"NET_ADMIN", "NET_RAW"};
  resolver.capDrop = {"ALL"};
  HealthCheck exec;
  exec.type = HealthCheckType::kExec;
  exec.command = {"sh", "-c", "dig @127.0.0.1 example.com | grep -q 'ANSWER: 1'"};
  exec.timeout = 1500ms;
  exec.interval = 90s;
  exec.healthyThreshold = 100;
  exec.unhealthyThreshold = 1;
  resolver.healthcheck = exec;
  resolver.volumes = {{VolumeType::kLocal, "/var/cache/unbound", 1536},
                      {VolumeType::kShared, "/etc/unbound", kTiB}};
  resolver.dependsOn = {"metrics", "auth"};

  Container metrics;
  metrics.name = "metrics";
  metrics.image = "prom/exporter:1";
  metrics.restart = RestartPolicy::kOnFailure;
  metrics.memory = 16 * kTiB;
  HealthCheck tcp;
  tcp.type = HealthCheckType::kTcp;
  tcp.port = 9100;
  tcp.timeout = 1s;
  tcp.interval = 1h;
  metrics.healthcheck = tcp;
  metrics.ports = {PortMapping{"10.0.0.1", 9100, 9100, Protocol::kTcp}};

  Container auth;
  auth.name = "auth";
  auth.image = "auth";
  HealthCheck http;
  http.type = HealthCheckType::kHttp;
  http.port = 8080;
  http.path = "/health?verbose=1&x=%20";
  auth.healthcheck = http;
  auth.memory = kDefaultContainerMemory;
  auth.ingress = Ingress{{"auth.example.com", "xn--caf-dma.example"}, true, 8080, 8443};

  job.containers = {resolver, metrics, auth};
  // Every field away from its default, durations in ms and at the bounds.
  job.update = {7, 0ms, 1500ms, 24h, true, 2, UpdateStrategy::kRolling};
  return job;
}

TEST(JobFormat, TheUnusualJobIsValid) {
  EXPECT_THAT(validateJob(unusualJob()), IsEmpty());
}

TEST(JobFormat, RoundTripsTheExampleThroughJson) {
  const Job job = exampleJob();
  auto again = parseJob(toJson(job).dump());
  ASSERT_TRUE(again.ok()) << toProblem(again.error()).toJson().dump(2);
  EXPECT_EQ(*again, job);
}

TEST(JobFormat, RoundTripsTheExampleThroughYaml) {
  const Job job = exampleJob();
  auto again = parseJob(toYaml(job));
  ASSERT_TRUE(again.ok()) << toProblem(again.error()).toJson().dump(2) << "\n" << toYaml(job);
  EXPECT_EQ(*again, job);
}

TEST(JobFormat, RoundTripsAnUnusualJobThroughJson) {
  const Job job = unusualJob();
  auto again = parseJob(toJson(job).dump(2));
  ASSERT_TRUE(again.ok()) << toProblem(again.error()).toJson().dump(2) << "\n"
                          << toJson(job).dump(2);
  EXPECT_EQ(*again, job);
}

TEST(JobFormat, RoundTripsAnUnusualJobThroughYaml) {
  const Job job = unusualJob();
  auto again = parseJob(toYaml(job));
  ASSERT_TRUE(again.ok()) << toProblem(again.error()).toJson().dump(2) << "\n" << toYaml(job);
  EXPECT_EQ(*again, job);
}

TEST(JobFormat, WritesPortsInTheJobFilesOwnSyntax) {
  const struct {
    PortMapping port;
    std::string_view text;
  } cases[] = {
      {{"", 0, 3000, Protocol::kTcp}, "3000"},
      {{"", 80, 3000, Protocol::kTcp}, "80:3000"},
      {{"", 53, 53, Protocol::kUdp}, "53:53/udp"},
      {{"127.0.0.1", 80, 3000, Protocol::kTcp}, "127.0.0.1:80:3000"},
      {{"127.0.0.1", 0, 3000, Protocol::kTcp}, "127.0.0.1::3000"},
      {{"::1", 80, 3000, Protocol::kTcp}, "[::1]:80:3000"},
      {{"::1", 0, 3000, Protocol::kUdp}, "[::1]::3000/udp"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(toString(c.port), c.text);
    auto again = parsePortMapping(toString(c.port));
    ASSERT_TRUE(again.ok()) << again.error();
    EXPECT_EQ(*again, c.port);
  }
}

TEST(JobFormat, WritesEveryDefaultOfAMinimalJob) {
  auto job = parseJob("name: web\ncontainers: {app: {image: nginx}}\n");
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(toJson(*job).dump(),
            R"({"name":"web","numInstances":1,"containers":{"app":{"image":"nginx","pull":"always",)"
            R"("restart":"always","environment":[],"ports":[],"depends_on":[],"memory":"256M",)"
            R"("volumes":[]}}})");
}

TEST(JobFormat, WritesSizesAndDurationsInTheirShortestForm) {
  const std::string yaml = toYaml(exampleJob());
  EXPECT_THAT(yaml, HasSubstr("memory: \"2G\""));
  EXPECT_THAT(yaml, HasSubstr("memory: \"4G\""));
  EXPECT_THAT(yaml, HasSubstr("space: \"100M\""));
  EXPECT_THAT(yaml, HasSubstr("timeout: \"30s\""));
  EXPECT_THAT(yaml, HasSubstr("interval: \"1m\""));
  EXPECT_THAT(yaml, HasSubstr("- \"80:3000\""));
}

TEST(JobFormat, QuotesStringsSoYamlKeepsTheirMeaning) {
  Job job = exampleJob();
  job.containers[0].restart = RestartPolicy::kNo;
  const std::string yaml = toYaml(job);
  EXPECT_THAT(yaml, HasSubstr("restart: \"no\""));
  EXPECT_THAT(yaml, Not(HasSubstr("restart: no")));
}

TEST(JobFormat, WritesOnlyTheHealthCheckFieldsOfItsType) {
  const auto json = toJson(unusualJob());
  const auto& exec = json["containers"]["resolver"]["healthcheck"];
  EXPECT_EQ(exec["type"], "exec");
  EXPECT_FALSE(exec.contains("port"));
  EXPECT_FALSE(exec.contains("path"));
  EXPECT_EQ(exec["timeout"], "1s500ms");
  EXPECT_EQ(exec["interval"], "1m30s");
  const auto& tcp = json["containers"]["metrics"]["healthcheck"];
  EXPECT_EQ(tcp["port"], 9100);
  EXPECT_FALSE(tcp.contains("path"));
  EXPECT_FALSE(tcp.contains("command"));
  const auto& http = json["containers"]["auth"]["healthcheck"];
  EXPECT_EQ(http["path"], "/health?verbose=1&x=%20");
  EXPECT_FALSE(http.contains("command"));
}

TEST(JobFormat, KeepsContainersInTheirOrder) {
  const auto json = toJson(unusualJob());
  std::vector<std::string> names;
  for (const auto& [name, container] : json["containers"].items()) names.push_back(name);
  EXPECT_THAT(names, ::testing::ElementsAre("resolver", "metrics", "auth"));
}

TEST(JobFormat, WritesTheIngressExplicitly) {
  const auto json = toJson(exampleJob());
  EXPECT_EQ(json["containers"]["app"]["ingress"].dump(),
            R"({"hosts":[],"default_host":true,"port":3000})");
  EXPECT_FALSE(json["containers"]["db"].contains("ingress"));
  auto tcp = parseJob(
      "name: pg\ncontainers:\n  db: {image: postgres, ingress: {hosts: [Db.Example.com], tcp: "
      "15432, port: 5432}}\n");
  ASSERT_TRUE(tcp.ok());
  EXPECT_EQ(toJson(*tcp)["containers"]["db"]["ingress"].dump(),
            R"({"hosts":["db.example.com"],"default_host":false,"port":5432,"tcp":15432})");
  EXPECT_THAT(toYaml(*tcp), HasSubstr("ingress:\n      hosts:\n        - \"db.example.com\"\n"
                                      "      default_host: false\n      port: 5432\n"
                                      "      tcp: 15432\n"));
}

TEST(JobFormat, WritesIngressFalseWhereTheDefaultWouldOtherwiseApply) {
  // Opted out in the file: stored as such, or the stored job would read back
  // served as <job>.<domain>.
  auto optedOut = parseJob("name: web\ncontainers:\n  app: {image: a, ports: [\"80:3000\"], "
                           "ingress: false}\n  db: {image: b, ingress: false}\n");
  ASSERT_TRUE(optedOut.ok());
  const auto json = toJson(*optedOut);
  EXPECT_EQ(json["containers"]["app"]["ingress"], false);
  EXPECT_FALSE(json["containers"]["db"].contains("ingress")) << "the default never applies there";
  auto again = parseJob(json.dump());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *optedOut);

  // Built in code without an ingress, the same.
  Job job = exampleJob();
  job.containers[0].ingress.reset();
  EXPECT_EQ(toJson(job)["containers"]["app"]["ingress"], false);
  // Where no default could apply, nothing is written.
  EXPECT_FALSE(toJson(unusualJob())["containers"]["resolver"].contains("ingress"));
  EXPECT_FALSE(toJson(unusualJob())["containers"]["metrics"].contains("ingress"));
}

// Every way a job's containers can meet the ingress rules, built in code,
// reads back equal from both forms: explicit ingresses of every shape, none
// where the default would apply, and none where it would not.
TEST(JobFormat, RoundTripsEveryCombinationOfIngressAndDefault) {
  const std::vector<std::vector<PortMapping>> portChoices = {
      {},
      {PortMapping{"", 80, 3000, Protocol::kTcp}},
      {PortMapping{"", 0, 3000, Protocol::kTcp}, PortMapping{"", 0, 3001, Protocol::kTcp}},
      {PortMapping{"", 53, 53, Protocol::kUdp}},
  };
  std::vector<std::optional<HealthCheck>> checkChoices = {std::nullopt};
  HealthCheck http;
  http.port = 8080;
  checkChoices.push_back(http);
  HealthCheck tcpCheck;
  tcpCheck.type = HealthCheckType::kTcp;
  tcpCheck.port = 3000;
  checkChoices.push_back(tcpCheck);
  const std::vector<std::optional<Ingress>> ingressChoices = {
      std::nullopt,
      Ingress{{}, true, 8080, 0},
      Ingress{{"shop.example.com"}, false, 3000, 0},
      Ingress{{"a.example.com", "b.example.com"}, true, 3000, 0},
      Ingress{{}, false, 5432, 15432},
      Ingress{{}, true, 22, 2222},
  };
  auto container = [&](std::string name, std::size_t choice) {
    Container c;
    c.name = std::move(name);
    c.image = "img:1";
    c.memory = kDefaultContainerMemory;
    c.ports = portChoices[choice % portChoices.size()];
    choice /= portChoices.size();
    c.healthcheck = checkChoices[choice % checkChoices.size()];
    choice /= checkChoices.size();
    c.ingress = ingressChoices[choice % ingressChoices.size()];
    return c;
  };
  const std::size_t perContainer = portChoices.size() * checkChoices.size() * ingressChoices.size();
  int valid = 0;
  int optOuts = 0;
  for (std::size_t a = 0; a < perContainer; ++a) {
    for (std::size_t b = 0; b < perContainer; b += 7) {  // a sample of the second container
      Job job;
      job.name = "combo";
      job.containers = {container("app", a), container("side", b)};
      // The side container's ports must not collide with app's in the pod.
      for (auto& p : job.containers[1].ports) {
        p.containerPort = static_cast<std::uint16_t>(p.containerPort + 1000);
        p.hostPort = 0;
      }
      if (!validateJob(job).empty()) continue;
      ++valid;
      const auto json = toJson(job);
      optOuts += json.dump().find("\"ingress\":false") != std::string::npos ? 1 : 0;
      SCOPED_TRACE(json.dump());
      auto fromJson = parseJob(json.dump());
      ASSERT_TRUE(fromJson.ok()) << toProblem(fromJson.error()).dump(2);
      EXPECT_EQ(*fromJson, job);
      auto fromYaml = parseJob(toYaml(job));
      ASSERT_TRUE(fromYaml.ok()) << toProblem(fromYaml.error()).dump(2);
      EXPECT_EQ(*fromYaml, job);
    }
  }
  EXPECT_GT(valid, 100) << "the combinations should mostly be valid jobs";
  EXPECT_GT(optOuts, 0) << "some combinations need ingress: false";
}

TEST(JobFormat, WritesTheUpdateSectionOnlyWhenItIsNotTheDefault) {
  // Stored jobs without one keep exactly the JSON they had.
  EXPECT_FALSE(toJson(exampleJob()).contains("update"));
  for (std::string_view section :
       {"{}", "{max_parallel: 1, strategy: rolling}",
        "{min_healthy_time: 10, healthy_deadline: 5m, progress_deadline: 600, "
        "auto_revert: false, canary: 0}"}) {
    SCOPED_TRACE(section);
    auto job = parseJob("name: web\nupdate: " + std::string(section) +
                        "\ncontainers: {app: {image: nginx}}\n");
    ASSERT_TRUE(job.ok());
    EXPECT_FALSE(toJson(*job).contains("update"));
    EXPECT_THAT(toYaml(*job), Not(HasSubstr("update")));
  }
}

TEST(JobFormat, WritesANonDefaultUpdateSectionWholeAfterNumInstances) {
  auto job = parseJob("name: web\ncontainers: {app: {image: nginx}}\nupdate: {canary: 1}\n");
  ASSERT_TRUE(job.ok());
  const auto json = toJson(*job);
  std::vector<std::string> keys;
  for (const auto& [key, value] : json.items()) keys.push_back(key);
  EXPECT_THAT(keys, ::testing::ElementsAre("name", "numInstances", "update", "containers"));
  // Every field, defaults included, durations as the health check's are written.
  EXPECT_EQ(json["update"].dump(),
            R"({"max_parallel":1,"min_healthy_time":"10s","healthy_deadline":"5m",)"
            R"("progress_deadline":"10m","auto_revert":false,"canary":1,"strategy":"rolling"})");

  Job recreate = *job;
  recreate.update = {4, 1min + 30s, 2h, 2h, true, 0, UpdateStrategy::kRecreate};
  EXPECT_EQ(toJson(recreate)["update"].dump(),
            R"({"max_parallel":4,"min_healthy_time":"1m30s","healthy_deadline":"2h",)"
            R"("progress_deadline":"2h","auto_revert":true,"canary":0,"strategy":"recreate"})");
  EXPECT_THAT(toYaml(recreate),
              HasSubstr("numInstances: 1\nupdate:\n  max_parallel: 4\n"
                        "  min_healthy_time: \"1m30s\"\n  healthy_deadline: \"2h\"\n"
                        "  progress_deadline: \"2h\"\n  auto_revert: true\n  canary: 0\n"
                        "  strategy: \"recreate\"\ncontainers:\n"));
}

TEST(JobFormat, RoundTripsEveryShapeOfUpdateSection) {
  const UpdatePolicy cases[] = {
      {1, 10s, 5min, 10min, false, 0, UpdateStrategy::kRolling},  // the default
      {2, 10s, 5min, 10min, false, 0, UpdateStrategy::kRolling},
      {1, 0ms, 1ms, 1ms, false, 0, UpdateStrategy::kRolling},
      {1, 10s, 5min, 10min, true, 0, UpdateStrategy::kRolling},
      {1, 10s, 5min, 10min, false, 0, UpdateStrategy::kRecreate},
      {3, 2500ms, 61s, 1h + 1ms, true, 5, UpdateStrategy::kRolling},
      {100000, 24h - 1ms, 24h, 24h, true, 100000, UpdateStrategy::kRolling},
      {100000, 24h - 1ms, 24h, 24h, true, 0, UpdateStrategy::kRecreate},
  };
  for (const auto& update : cases) {
    Job job = exampleJob();
    job.update = update;
    const auto json = toJson(job);
    SCOPED_TRACE(json.dump());
    auto fromJson = parseJob(json.dump());
    ASSERT_TRUE(fromJson.ok()) << toProblem(fromJson.error()).dump(2);
    EXPECT_EQ(fromJson->update, update);
    EXPECT_EQ(*fromJson, job);
    auto fromYaml = parseJob(toYaml(job));
    ASSERT_TRUE(fromYaml.ok()) << toProblem(fromYaml.error()).dump(2);
    EXPECT_EQ(*fromYaml, job);
  }
}

TEST(JsonToYaml, WritesEmptyCollectionsInFlowStyle) {
  EXPECT_EQ(jsonToYaml(nlohmann::ordered_json::object()), "{}\n");
  EXPECT_EQ(jsonToYaml(nlohmann::ordered_json::array()), "[]\n");
  EXPECT_EQ(jsonToYaml(nlohmann::ordered_json{{"b", 1}, {"a", nullptr}}), "b: 1\na: ~\n");
}

}  // namespace
}  // namespace ozy
