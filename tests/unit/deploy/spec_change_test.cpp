// What running a job again with a new spec does (nothing, a scale, a new
// version in place, a new version with new pods), and how the change reads
// in `ozy job history`.
#include "deploy/spec_change.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <functional>
#include <string>
#include <vector>

#include "../support/deploy_printers.h"
#include "../support/job_printers.h"

namespace ozy {
namespace {

using ::testing::ElementsAre;

// One container, `app`, with a little of everything, so each change below
// changes one thing.
Job webJob() {
  Container app;
  app.name = "app";
  app.image = "a:1";
  app.memory = 256 * kMiB;
  app.command = {"serve", "--port", "3000"};
  app.environment = {EnvVar{"MODE", "production"}};
  PortMapping port;
  port.hostPort = 0;
  port.containerPort = 3000;
  app.ports = {port};
  HealthCheck check;
  check.port = 3000;
  check.path = "/health";
  app.healthcheck = check;
  Ingress ingress;
  ingress.hosts = {"web.example.com"};
  ingress.defaultHost = false;
  ingress.port = 3000;
  ingress.tcp = 0;
  app.ingress = ingress;
  Job job;
  job.name = "web";
  job.numInstances = 2;
  job.containers = {app};
  return job;
}

Container& app(Job& job) { return job.containers[0]; }

struct Case {
  const char* what;
  std::function<void(Job&)> change;
  SpecChange expected;
};

TEST(SpecChange, ClassifiesWhatANewSpecChanges) {
  const Case cases[] = {
      {"the same spec", [](Job&) {}, SpecChange::kUnchanged},
      {"numInstances", [](Job& j) { j.numInstances = 5; }, SpecChange::kScale},
      {"the update section", [](Job& j) { j.update.maxParallel = 3; }, SpecChange::kScale},
      {"numInstances and the update section",
       [](Job& j) {
         j.numInstances = 1;
         j.update.strategy = UpdateStrategy::kRecreate;
       },
       SpecChange::kScale},
      {"the ingress hosts", [](Job& j) { app(j).ingress->hosts = {"www.example.com"}; },
       SpecChange::kInPlace},
      {"an ingress TCP port", [](Job& j) { app(j).ingress->tcp = 9000; }, SpecChange::kInPlace},
      {"no ingress any more", [](Job& j) { app(j).ingress.reset(); }, SpecChange::kInPlace},
      {"the ingress and numInstances",
       [](Job& j) {
         app(j).ingress->defaultHost = true;
         j.numInstances = 4;
       },
       SpecChange::kInPlace},
      {"the image", [](Job& j) { app(j).image = "a:2"; }, SpecChange::kNewPods},
      {"an environment value", [](Job& j) { app(j).environment[0].value = "debug"; },
       SpecChange::kNewPods},
      {"the memory", [](Job& j) { app(j).memory = 512 * kMiB; }, SpecChange::kNewPods},
      {"the command", [](Job& j) { app(j).command.push_back("--verbose"); }, SpecChange::kNewPods},
      {"the ports", [](Job& j) { app(j).ports[0].hostPort = 8080; }, SpecChange::kNewPods},
      {"the healthcheck", [](Job& j) { app(j).healthcheck->path = "/ready"; },
       SpecChange::kNewPods},
      {"no healthcheck any more", [](Job& j) { app(j).healthcheck.reset(); }, SpecChange::kNewPods},
      {"a volume",
       [](Job& j) {
         Volume v;
         v.type = VolumeType::kLocal;
         v.path = "/data";
         v.space = kGiB;
         app(j).volumes.push_back(v);
       },
       SpecChange::kNewPods},
      {"the restart policy", [](Job& j) { app(j).restart = RestartPolicy::kNo; },
       SpecChange::kNewPods},
      {"a second container",
       [](Job& j) {
         Container side = app(j);
         side.name = "side";
         side.ingress.reset();
         j.containers.push_back(side);
       },
       SpecChange::kNewPods},
      {"the container's name", [](Job& j) { app(j).name = "api"; }, SpecChange::kNewPods},
      {"numInstances and the image",
       [](Job& j) {
         j.numInstances = 3;
         app(j).image = "a:2";
       },
       SpecChange::kNewPods},
      {"the image and the ingress",
       [](Job& j) {
         app(j).image = "a:2";
         app(j).ingress->tcp = 9000;
       },
       SpecChange::kNewPods},
  };
  const Job from = webJob();
  for (const Case& c : cases) {
    Job to = from;
    c.change(to);
    EXPECT_EQ(classifyChange(from, to), c.expected) << c.what;
  }
}

TEST(SpecChange, DescribesEachChangeAsPathOldAndNew) {
  const Job from = webJob();
  Job to = from;
  to.numInstances = 3;
  app(to).image = "a:2";
  app(to).memory = 512 * kMiB;
  EXPECT_THAT(describeChanges(from, to),
              ElementsAre("numInstances: 2 -> 3", R"(containers.app.image: "a:1" -> "a:2")",
                          R"(containers.app.memory: "256M" -> "512M")"));
  EXPECT_TRUE(describeChanges(from, from).empty());
}

// Environment values are often secrets: the history names the variables.
TEST(SpecChange, NamesChangedEnvironmentVariablesWithoutTheirValues) {
  const Job from = webJob();
  Job to = from;
  app(to).environment = {EnvVar{"MODE", "staging"}, EnvVar{"TOKEN", "s3cret"}};
  const auto lines = describeChanges(from, to);
  EXPECT_THAT(lines, ElementsAre("containers.app.environment.MODE: changed",
                                 "containers.app.environment.TOKEN: added"));
  for (const auto& line : lines) EXPECT_EQ(line.find("s3cret"), std::string::npos) << line;
  app(to).environment.clear();
  EXPECT_THAT(describeChanges(from, to), ElementsAre("containers.app.environment.MODE: removed"));
}

// Lines are stored as JSON: a cut never splits a character.
TEST(SpecChange, CutsOnACharacterBoundary) {
  const Job from = webJob();
  Job to = from;
  app(to).image = "a:" + std::string(31, 'x') + "\u00e9\u00e9\u00e9\u00e9";
  const auto lines = describeChanges(from, to);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NO_THROW((void)nlohmann::json(lines[0]).dump());
}

TEST(SpecChange, DescribesWhatAppearsOrGoesAsNone) {
  const Job from = webJob();
  Job to = from;
  app(to).healthcheck.reset();
  app(to).capAdd = {"NET_ADMIN"};
  EXPECT_THAT(describeChanges(from, to),
              ElementsAre(R"(containers.app.healthcheck: {"type":"http","port":3000,"path":"/h...)"
                          " -> (none)",
                          R"(containers.app.cap_add: (none) -> ["NET_ADMIN"])"));
}

TEST(SpecChange, CutsLongValuesToAFewDozenCharacters) {
  const Job from = webJob();
  Job to = from;
  const std::string image = "registry.example.com/team/" + std::string(60, 'x') + ":2";
  app(to).image = image;
  const auto lines = describeChanges(from, to);
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(lines[0], "containers.app.image: \"a:1\" -> \"" + image.substr(0, 36) + "...");
}

TEST(SpecChange, SaysHowManyMoreChangesThereAreBeyondTheLimit) {
  const Job from = webJob();
  Job to = from;
  to.numInstances = 3;
  app(to).image = "a:2";
  app(to).memory = 512 * kMiB;
  app(to).restart = RestartPolicy::kNo;
  app(to).command = {"serve"};
  ASSERT_EQ(describeChanges(from, to).size(), 5u);
  EXPECT_THAT(describeChanges(from, to, 3),
              ElementsAre("numInstances: 2 -> 3", R"(containers.app.image: "a:1" -> "a:2")",
                          "... and 3 more"));
  EXPECT_EQ(describeChanges(from, to, 5).size(), 5u) << "exactly the limit: every line";
  EXPECT_EQ(describeChanges(from, to, 0).size(), 5u) << "0: no limit";
}

}  // namespace
}  // namespace ozy
