// The job file, rule by rule: the reference example parses to the Job it
// describes, defaults fill the gaps, and every rule of docs/jobs.md rejects
// what it should with the exact path of the field and a message that says why.
// startOrder() and toProblem() close the file.
#include "job/job_parser.h"
#include "job/capabilities.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "../support/field_errors.h"
#include "../support/job_printers.h"
#include "../support/source_files.h"

namespace ozy {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;
using testing_support::fieldError;
using testing_support::readSourceFile;
using namespace std::chrono_literals;

// ---- helpers --------------------------------------------------------------

// Every problem parseJob() finds in `text`; empty when the job is valid.
std::vector<FieldError> errorsOf(std::string_view text) {
  auto job = parseJob(text);
  if (job.ok()) return {};
  return job.error().errors;
}

// The job `text` describes; fails the test (and returns an empty Job) if the
// parser finds problems.
Job parsed(std::string_view text) {
  auto job = parseJob(text);
  if (!job.ok()) {
    std::string list;
    for (const auto& e : job.error().errors) list += "\n  " + e.toString();
    ADD_FAILURE() << "the job does not parse:" << list << "\nin:\n" << text;
    return Job{};
  }
  return std::move(job).value();
}

// A valid job "web" with one container "app" (image nginx), plus `fields`
// (written from column 0) as further fields of app. They start on line 5.
std::string appWith(std::string_view fields) {
  std::string text = "name: web\ncontainers:\n  app:\n    image: nginx\n";
  std::size_t start = 0;
  if (!fields.empty() && fields.front() == '\n') start = 1;  // allow R"(\n...)"
  while (start < fields.size()) {
    auto end = fields.find('\n', start);
    if (end == std::string_view::npos) end = fields.size();
    text += "    " + std::string(fields.substr(start, end - start)) + "\n";
    start = end + 1;
  }
  return text;
}

// The container "app" of appWith(fields), parsed.
Container app(std::string_view fields) {
  Job job = parsed(appWith(fields));
  if (job.containers.empty()) return Container{};
  return job.containers.front();
}

// The health check of appWith("healthcheck: " + check), parsed.
HealthCheck healthCheck(std::string_view check) {
  const Container c = app("healthcheck: " + std::string(check));
  if (!c.healthcheck) {
    ADD_FAILURE() << "no health check parsed from " << check;
    return HealthCheck{};
  }
  return *c.healthcheck;
}

std::string example() {
  auto text = readSourceFile("examples/webapp.yaml");
  EXPECT_TRUE(text.has_value()) << "examples/webapp.yaml is missing";
  return text.value_or("");
}

// ---- the reference example ------------------------------------------------

Job expectedExample() {
  Container appContainer;
  appContainer.name = "app";
  appContainer.image = "web-app-image";
  appContainer.restart = RestartPolicy::kAlways;
  appContainer.command = {"bin/rails", "s", "--restart"};
  appContainer.environment = {{"DATABASE_URL", "postgresql://webapp:webapp@localhost/webapp"}};
  appContainer.ports = {PortMapping{"", 80, 3000, Protocol::kTcp}};
  appContainer.dependsOn = {"db"};
  appContainer.memory = 2147483648;
  HealthCheck check;
  check.type = HealthCheckType::kHttp;
  check.port = 3000;
  check.path = "/healthcheck";
  check.timeout = 30s;
  check.interval = 60s;
  check.healthyThreshold = 2;
  check.unhealthyThreshold = 2;
  appContainer.healthcheck = check;
  appContainer.volumes = {{VolumeType::kShared, "/data/shared", kGiB},
                          {VolumeType::kLocal, "/data/scratch", 100 * kMiB}};
  // The job's one container publishing TCP ports: served as the default host.
  appContainer.ingress = Ingress{{}, true, 3000, 0};

  Container db;
  db.name = "db";
  db.image = "postgres:13";
  db.restart = RestartPolicy::kAlways;
  db.memory = 4 * kGiB;
  db.environment = {{"POSTGRES_USER", "webapp"}};
  db.volumes = {{VolumeType::kLocal, "/var/lib/postgresql/data", 10 * kGiB}};

  Job job;
  job.name = "simple-webapp";
  job.numInstances = 3;
  job.containers = {appContainer, db};
  return job;
}

TEST(JobParser, ParsesTheReferenceExample) {
  const Job job = parsed(example());
  EXPECT_EQ(job.name, "simple-webapp");
  EXPECT_EQ(job.numInstances, 3u);
  ASSERT_THAT(job.containers, SizeIs(2));

  const Container& a = job.containers[0];
  EXPECT_EQ(a.name, "app");
  EXPECT_EQ(a.image, "web-app-image");
  EXPECT_EQ(a.restart, RestartPolicy::kAlways);
  EXPECT_THAT(a.command, ElementsAre("bin/rails", "s", "--restart"));
  EXPECT_THAT(a.environment,
              ElementsAre(EnvVar{"DATABASE_URL", "postgresql://webapp:webapp@localhost/webapp"}));
  EXPECT_THAT(a.ports, ElementsAre(PortMapping{"", 80, 3000, Protocol::kTcp}));
  EXPECT_THAT(a.dependsOn, ElementsAre("db"));
  EXPECT_EQ(a.memory, 2147483648u);
  ASSERT_TRUE(a.healthcheck.has_value());
  EXPECT_EQ(a.healthcheck->type, HealthCheckType::kHttp);
  EXPECT_EQ(a.healthcheck->port, 3000);
  EXPECT_EQ(a.healthcheck->path, "/healthcheck");
  EXPECT_EQ(a.healthcheck->timeout, 30s);
  EXPECT_EQ(a.healthcheck->interval, 60s);
  EXPECT_EQ(a.healthcheck->healthyThreshold, 2);
  EXPECT_EQ(a.healthcheck->unhealthyThreshold, 2);
  EXPECT_THAT(a.volumes, ElementsAre(Volume{VolumeType::kShared, "/data/shared", kGiB},
                                     Volume{VolumeType::kLocal, "/data/scratch", 100 * kMiB}));

  const Container& db = job.containers[1];
  EXPECT_EQ(db.name, "db");
  EXPECT_EQ(db.image, "postgres:13");
  EXPECT_EQ(db.restart, RestartPolicy::kAlways);
  EXPECT_EQ(db.memory, 4 * kGiB);
  EXPECT_THAT(db.environment, ElementsAre(EnvVar{"POSTGRES_USER", "webapp"}));
  EXPECT_THAT(db.command, IsEmpty());
  EXPECT_THAT(db.ports, IsEmpty());
  EXPECT_THAT(db.dependsOn, IsEmpty());
  EXPECT_FALSE(db.healthcheck.has_value());
  EXPECT_THAT(db.volumes,
              ElementsAre(Volume{VolumeType::kLocal, "/var/lib/postgresql/data", 10 * kGiB}));

  // And nothing else: the whole Job compares equal.
  EXPECT_EQ(job, expectedExample());
}

TEST(JobParser, ValidateJobFindsNothingWrongWithTheExample) {
  EXPECT_THAT(validateJob(expectedExample()), IsEmpty());
}

// ---- defaults -------------------------------------------------------------

TEST(JobParser, AppliesDefaultsWhereTheFileIsSilent) {
  const Job job = parsed(appWith(""));
  EXPECT_EQ(job.numInstances, 1u);
  ASSERT_THAT(job.containers, SizeIs(1));
  const Container& c = job.containers[0];
  EXPECT_EQ(c.restart, RestartPolicy::kAlways);
  EXPECT_EQ(c.memory, 256 * kMiB);
  EXPECT_EQ(c.memory, kDefaultContainerMemory);
  EXPECT_THAT(c.command, IsEmpty());
  EXPECT_THAT(c.environment, IsEmpty());
  EXPECT_THAT(c.ports, IsEmpty());
  EXPECT_THAT(c.dependsOn, IsEmpty());
  EXPECT_FALSE(c.healthcheck.has_value());
  EXPECT_THAT(c.volumes, IsEmpty());
}

TEST(JobParser, TreatsEmptyValuesAsNotGiven) {
  const Job job = parsed(
      "name: web\nnumInstances:\ncontainers:\n  app:\n    image: nginx\n    restart:\n"
      "    memory: ~\n    command:\n    ports:\n");
  EXPECT_EQ(job.numInstances, 1u);
  ASSERT_THAT(job.containers, SizeIs(1));
  EXPECT_EQ(job.containers[0].restart, RestartPolicy::kAlways);
  EXPECT_EQ(job.containers[0].memory, 256 * kMiB);
  EXPECT_THAT(job.containers[0].command, IsEmpty());
}

TEST(JobParser, AppliesHealthCheckDefaults) {
  const HealthCheck check = healthCheck("{type: http, port: 8080}");
  EXPECT_EQ(check.path, "/");
  EXPECT_EQ(check.timeout, 5s);
  EXPECT_EQ(check.interval, 10s);
  EXPECT_EQ(check.healthyThreshold, 1);
  EXPECT_EQ(check.unhealthyThreshold, 3);
}

TEST(JobParser, AcceptsJson) {
  const Job job =
      parsed(R"({"name": "web", "containers": {"app": {"image": "nginx", "memory": "1G"}}})");
  ASSERT_THAT(job.containers, SizeIs(1));
  EXPECT_EQ(job.containers[0].memory, kGiB);
}

// ---- the job's name -------------------------------------------------------

TEST(JobParser, AcceptsDnsLabelsAsJobNames) {
  const std::string cases[] = {"a", "web", "web-1", "1web", "123", "a--b", std::string(63, 'x')};
  for (const auto& name : cases) {
    SCOPED_TRACE(name);
    EXPECT_EQ(parsed("name: \"" + name + "\"\ncontainers: {app: {image: nginx}}\n").name, name);
  }
}

TEST(JobParser, RejectsUppercaseJobName) {
  EXPECT_THAT(errorsOf("name: Web\ncontainers: {app: {image: nginx}}\n"),
              ElementsAre(fieldError("name", "\"Web\" is not a valid job name")));
}

TEST(JobParser, RejectsJobNamesThatAreNotDnsLabels) {
  const std::string cases[] = {"-web", "web-",     "web_app", "web.app",           "web app",
                               "",     "w\u00e9b", "WEB",     std::string(64, 'x')};
  for (const auto& name : cases) {
    SCOPED_TRACE(name);
    const auto errors = errorsOf("name: \"" + name + "\"\ncontainers: {app: {image: nginx}}\n");
    EXPECT_THAT(errors, ElementsAre(fieldError("name", "is not a valid job name")));
    if (!errors.empty()) {
      EXPECT_THAT(errors[0].message, HasSubstr("1 to 63 lowercase letters"));
    }
  }
}

TEST(JobParser, RejectsMissingJobName) {
  EXPECT_THAT(errorsOf("containers: {app: {image: nginx}}\n"),
              ElementsAre(fieldError("name", "is required")));
}

TEST(JobParser, RejectsJobNameThatIsNotText) {
  EXPECT_THAT(errorsOf("name: [web]\ncontainers: {app: {image: nginx}}\n"),
              ElementsAre(fieldError("name", "must be a single value, not a list")));
}

TEST(JobParser, RejectsUnknownTopLevelFieldWithSuggestion) {
  EXPECT_THAT(errorsOf("name: web\nnuminstances: 3\ncontainers: {app: {image: nginx}}\n"),
              ElementsAre(fieldError("numinstances",
                                     "is not a known field (did you mean \"numInstances\"?)")));
}

// ---- numInstances ---------------------------------------------------------

TEST(JobParser, AcceptsNumInstancesFromZeroToOneHundredThousand) {
  for (std::uint32_t n : {0u, 1u, 7u, 100000u}) {
    SCOPED_TRACE(n);
    EXPECT_EQ(parsed(appWith("") + "numInstances: " + std::to_string(n) + "\n").numInstances, n);
  }
}

TEST(JobParser, RejectsNumInstancesOutOfRange) {
  for (std::string_view n : {"-1", "100001", "99999999999999999999"}) {
    SCOPED_TRACE(n);
    EXPECT_THAT(errorsOf(appWith("") + "numInstances: " + std::string(n) + "\n"),
                ElementsAre(fieldError("numInstances", "is out of range (0 to 100000)")));
  }
}

TEST(JobParser, RejectsNumInstancesThatIsNotAWholeNumber) {
  for (std::string_view n : {"2.5", "three", "3x", "\"\"", "1e2"}) {
    SCOPED_TRACE(n);
    EXPECT_THAT(errorsOf(appWith("") + "numInstances: " + std::string(n) + "\n"),
                ElementsAre(fieldError("numInstances", "is not a whole number")));
  }
}

// ---- containers -----------------------------------------------------------

TEST(JobParser, RejectsMissingContainers) {
  EXPECT_THAT(errorsOf("name: web\n"), ElementsAre(fieldError("containers", "is required")));
  EXPECT_THAT(errorsOf("name: web\ncontainers:\n"),
              ElementsAre(fieldError("containers", "is required")));
}

TEST(JobParser, RejectsEmptyContainers) {
  EXPECT_THAT(errorsOf("name: web\ncontainers: {}\n"),
              ElementsAre(fieldError("containers", "must list at least one container")));
}

TEST(JobParser, RejectsContainersGivenAsAList) {
  EXPECT_THAT(errorsOf("name: web\ncontainers:\n  - image: nginx\n"),
              ElementsAre(fieldError("containers", "must be a mapping, not a list")));
}

TEST(JobParser, AcceptsSixtyFourContainersAndRejectsMore) {
  auto jobWith = [](int n) {
    std::string text = "name: web\ncontainers:\n";
    for (int i = 0; i < n; ++i) text += "  c" + std::to_string(i) + ": {image: nginx}\n";
    return text;
  };
  EXPECT_THAT(parsed(jobWith(64)).containers, SizeIs(64));
  EXPECT_THAT(errorsOf(jobWith(65)),
              ElementsAre(fieldError("containers", "lists 65 containers; at most 64 are allowed")));
}

TEST(JobParser, KeepsContainersInFileOrder) {
  const Job job =
      parsed("name: web\ncontainers:\n  web: {image: a}\n  api: {image: b}\n  db: {image: c}\n");
  ASSERT_THAT(job.containers, SizeIs(3));
  EXPECT_EQ(job.containers[0].name, "web");
  EXPECT_EQ(job.containers[1].name, "api");
  EXPECT_EQ(job.containers[2].name, "db");
}

TEST(JobParser, RejectsContainerNamesThatAreNotDnsLabels) {
  const std::string cases[] = {"App", "my_app", "-app", "app-", "my.app", std::string(64, 'c')};
  for (const auto& name : cases) {
    SCOPED_TRACE(name);
    EXPECT_THAT(errorsOf("name: web\ncontainers:\n  \"" + name + "\": {image: nginx}\n"),
                ElementsAre(fieldError("containers." + name, "is not a valid container name")));
  }
  EXPECT_THAT(
      parsed("name: web\ncontainers:\n  " + std::string(63, 'c') + ": {image: nginx}\n").containers,
      SizeIs(1));
}

TEST(JobParser, RejectsContainerGivenTwice) {
  EXPECT_THAT(errorsOf("name: web\ncontainers:\n  app: {image: a}\n  app: {image: b}\n"),
              ElementsAre(fieldError("containers.app", "is given more than once")));
}

TEST(JobParser, RejectsContainerThatIsNotAMapping) {
  EXPECT_THAT(errorsOf("name: web\ncontainers:\n  app: nginx\n"),
              ElementsAre(fieldError("containers.app", "must be a mapping, not a single value")));
  EXPECT_THAT(errorsOf("name: web\ncontainers:\n  app:\n"),
              ElementsAre(fieldError("containers.app", "must be a mapping, not empty")));
}

TEST(JobParser, RejectsUnknownFieldWithSuggestion) {
  EXPECT_THAT(errorsOf(appWith("memroy: 1G")),
              ElementsAre(fieldError("containers.app.memroy",
                                     "is not a known field (did you mean \"memory\"?)")));
  EXPECT_THAT(errorsOf(appWith("depends-on: []")),
              ElementsAre(fieldError("containers.app.depends-on", "did you mean \"depends_on\"?")));
}

TEST(JobParser, RejectsUnknownFieldWithoutSuggestionWhenNothingIsClose) {
  const auto errors = errorsOf(appWith("cpus: 2"));
  ASSERT_THAT(errors, ElementsAre(fieldError("containers.app.cpus", "is not a known field")));
  EXPECT_THAT(errors[0].message, Not(HasSubstr("did you mean")));
}

// ---- image ----------------------------------------------------------------

TEST(JobParser, RejectsMissingImage) {
  EXPECT_THAT(errorsOf("name: web\ncontainers:\n  app: {memory: 1G}\n"),
              ElementsAre(fieldError("containers.app.image", "is required")));
}

TEST(JobParser, AcceptsImageReferences) {
  const std::string_view cases[] = {"nginx", "nginx:1.25", "localhost/busybox",
                                    "registry.example.com:5000/team/app:v1.2_3",
                                    "app@sha256:0123abcd"};
  for (auto image : cases) {
    SCOPED_TRACE(image);
    const Job job =
        parsed("name: web\ncontainers:\n  app: {image: \"" + std::string(image) + "\"}\n");
    ASSERT_THAT(job.containers, SizeIs(1));
    EXPECT_EQ(job.containers[0].image, image);
  }
}

TEST(JobParser, RejectsInvalidImageReferences) {
  const std::string_view cases[] = {"nginx latest", "nginx;rm -rf /", "$(evil)", "", "ng\u00efnx",
                                    "a\\b"};
  for (auto image : cases) {
    SCOPED_TRACE(image);
    std::string quoted;
    for (char c : image) quoted += c == '\\' ? std::string("\\\\") : std::string(1, c);
    EXPECT_THAT(errorsOf("name: web\ncontainers:\n  app: {image: \"" + quoted + "\"}\n"),
                ElementsAre(fieldError("containers.app.image", "is not an image reference")));
  }
  EXPECT_THAT(
      errorsOf("name: web\ncontainers:\n  app: {image: \"" + std::string(513, 'a') + "\"}\n"),
      ElementsAre(fieldError("containers.app.image", "is not an image reference")));
}

TEST(JobParser, RejectsImageWithANulCharacter) {
  EXPECT_THAT(errorsOf("name: web\ncontainers:\n  app: {image: \"nginx\\0x\"}\n"),
              ElementsAre(fieldError("containers.app.image", "contains a NUL character")));
}

// ---- restart --------------------------------------------------------------

TEST(JobParser, ParsesEveryRestartPolicy) {
  const struct {
    std::string_view text;
    RestartPolicy policy;
  } cases[] = {
      {"always", RestartPolicy::kAlways}, {"on-failure", RestartPolicy::kOnFailure},
      {"no", RestartPolicy::kNo},  // unquoted: YAML 1.1 would read a boolean
      {"\"no\"", RestartPolicy::kNo},     {"'no'", RestartPolicy::kNo},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(app("restart: " + std::string(c.text)).restart, c.policy);
  }
}

TEST(JobParser, RejectsMisspeltRestartWithSuggestion) {
  EXPECT_THAT(errorsOf(appWith("restart: alway")),
              ElementsAre(fieldError("containers.app.restart",
                                     "\"alway\" is not one of always, on-failure, no (did you mean "
                                     "\"always\"?)")));
}

TEST(JobParser, RejectsRestartPoliciesThatDoNotExist) {
  for (std::string_view value : {"unless-stopped", "false", "Always", "[always]"}) {
    SCOPED_TRACE(value);
    EXPECT_THAT(errorsOf(appWith("restart: " + std::string(value))),
                ElementsAre(fieldError("containers.app.restart", "")));
  }
  EXPECT_THAT(
      errorsOf(appWith("restart: unless-stopped")),
      ElementsAre(fieldError("containers.app.restart", "is not one of always, on-failure, no")));
}

// ---- command --------------------------------------------------------------

TEST(JobParser, ParsesCommandGivenAsAList) {
  EXPECT_THAT(app("command: [\"bin/rails\", \"s\", \"-b\", \"0.0.0.0\"]").command,
              ElementsAre("bin/rails", "s", "-b", "0.0.0.0"));
  EXPECT_THAT(app("command:\n  - sh\n  - -c\n  - echo hi; sleep 1").command,
              ElementsAre("sh", "-c", "echo hi; sleep 1"));
}

TEST(JobParser, SplitsCommandGivenAsAStringLikeAShell) {
  EXPECT_THAT(app("command: bin/rails s -b '0.0.0.0'").command,
              ElementsAre("bin/rails", "s", "-b", "0.0.0.0"));
  EXPECT_THAT(app("command: sh -c \"echo 'hello world'\"").command,
              ElementsAre("sh", "-c", "echo 'hello world'"));
}

TEST(JobParser, RejectsEmptyCommand) {
  for (std::string_view value : {"\"\"", "\"   \"", "[]"}) {
    SCOPED_TRACE(value);
    EXPECT_THAT(errorsOf(appWith("command: " + std::string(value))),
                ElementsAre(fieldError("containers.app.command", "must not be empty")));
  }
}

TEST(JobParser, RejectsCommandWithUnclosedQuote) {
  EXPECT_THAT(errorsOf(appWith("command: echo 'oops")),
              ElementsAre(fieldError("containers.app.command", "unclosed ' quote")));
}

TEST(JobParser, RejectsCommandThatIsNeitherListNorString) {
  EXPECT_THAT(errorsOf(appWith("command: {run: x}")),
              ElementsAre(fieldError("containers.app.command",
                                     "must be a list of strings or one string, not a mapping")));
  EXPECT_THAT(
      errorsOf(appWith("command: [echo, [x]]")),
      ElementsAre(fieldError("containers.app.command[1]", "must be a single value, not a list")));
}

// A command of `words` words "a", as a flow list or as one string.
std::string commandOfWords(std::size_t words, bool asList) {
  std::string text = asList ? "command: [" : "command: \"";
  for (std::size_t i = 0; i < words; ++i) text += i ? (asList ? ", a" : " a") : "a";
  return text + (asList ? "]" : "\"");
}

TEST(JobParser, AcceptsCommandsOf4096ArgumentsAndRejectsLonger) {
  for (const bool asList : {true, false}) {
    SCOPED_TRACE(asList ? "a list" : "a string");
    EXPECT_THAT(app(commandOfWords(4096, asList)).command, SizeIs(4096));
    EXPECT_THAT(errorsOf(appWith(commandOfWords(4097, asList))),
                ElementsAre(fieldError("containers.app.command",
                                       "has 4097 arguments; at most 4096 are allowed")));
  }
}

// ---- environment ----------------------------------------------------------

TEST(JobParser, ParsesEnvironmentInAllThreeForms) {
  const std::vector<EnvVar> expected = {{"A", "1"}, {"B_2", ""}, {"c", "x=y"}};
  const std::string_view forms[] = {
      // A list of name/value pairs (the reference form).
      "environment:\n  - name: A\n    value: 1\n  - name: B_2\n  - name: c\n    value: x=y",
      // A mapping.
      "environment:\n  A: 1\n  B_2:\n  c: x=y",
      // NAME=value strings.
      "environment:\n  - A=1\n  - B_2=\n  - c=x=y",
  };
  for (auto form : forms) {
    SCOPED_TRACE(form);
    EXPECT_EQ(app(form).environment, expected);
  }
  EXPECT_THAT(app("environment: [B_2]").environment, ElementsAre(EnvVar{"B_2", ""}));
}

TEST(JobParser, KeepsEnvironmentValuesAsWritten) {
  EXPECT_THAT(app("environment: {A: 010, B: yes, C: 1e3, D: ~, E: \"\"}").environment,
              ElementsAre(EnvVar{"A", "010"}, EnvVar{"B", "yes"}, EnvVar{"C", "1e3"},
                          EnvVar{"D", ""}, EnvVar{"E", ""}));
}

TEST(JobParser, RejectsInvalidEnvironmentNames) {
  for (std::string_view name : {"1ABC", "MY-VAR", "A B", "A.B", "\u00c9"}) {
    SCOPED_TRACE(name);
    const std::string quoted = "\"" + std::string(name) + "\"";
    const std::string forms[] = {
        "environment:\n  - name: " + quoted + "\n    value: x",
        "environment:\n  " + quoted + ": x",
        "environment:\n  - " + quoted.substr(0, quoted.size() - 1) + "=x\"",
    };
    for (const auto& form : forms) {
      EXPECT_THAT(errorsOf(appWith(form)),
                  ElementsAre(fieldError("containers.app.environment",
                                         quoted + " is not a variable name")));
    }
  }
  EXPECT_THAT(errorsOf(appWith("environment: [\"=x\"]")),
              ElementsAre(fieldError("containers.app.environment", "\"\" is not a variable name")));
}

TEST(JobParser, RejectsEnvironmentVariableSetTwice) {
  const std::string_view forms[] = {
      "environment:\n  - {name: A, value: 1}\n  - {name: A, value: 2}",
      "environment: [A=1, A=2]",
      "environment: [A=1, {name: A, value: 2}]",
  };
  for (auto form : forms) {
    SCOPED_TRACE(form);
    EXPECT_THAT(errorsOf(appWith(form)), ElementsAre(fieldError("containers.app.environment",
                                                                "\"A\" is set more than once")));
  }
  EXPECT_THAT(errorsOf(appWith("environment:\n  A: 1\n  A: 2")),
              ElementsAre(fieldError("containers.app.environment.A", "is given more than once")));
}

TEST(JobParser, RejectsEnvironmentEntryWithoutName) {
  EXPECT_THAT(errorsOf(appWith("environment:\n  - value: x")),
              ElementsAre(fieldError("containers.app.environment[0].name", "is required")));
}

TEST(JobParser, RejectsUnknownFieldInEnvironmentEntryWithSuggestion) {
  EXPECT_THAT(
      errorsOf(appWith("environment:\n  - name: A\n    valu: x")),
      ElementsAre(fieldError("containers.app.environment[0].valu", "did you mean \"value\"?")));
}

TEST(JobParser, RejectsEnvironmentThatIsNeitherListNorMapping) {
  EXPECT_THAT(
      errorsOf(appWith("environment: A=1")),
      ElementsAre(fieldError("containers.app.environment", "must be a list, not a single value")));
  EXPECT_THAT(errorsOf(appWith("environment: {A: [1]}")),
              ElementsAre(fieldError("containers.app.environment.A", "must be a single value")));
}

// Every string of a valid Job is UTF-8 text without NUL, whichever spelling
// of a field carried it: the job is later written as JSON, which cannot hold
// anything else.
TEST(JobParser, RejectsEnvironmentTextThatIsNotUtf8OrHasANulInEveryForm) {
  const struct {
    std::string_view form;
    std::string_view path;
    std::string_view message;
  } cases[] = {
      {"environment:\n  - name: A\n    value: \"caf\xe9\"", "containers.app.environment[0].value",
       "is not valid UTF-8 text"},
      {"environment:\n  A: \"caf\xe9\"", "containers.app.environment.A", "is not valid UTF-8 text"},
      {"environment:\n  - \"A=caf\xe9\"", "containers.app.environment[0]",
       "is not valid UTF-8 text"},
      {"environment:\n  - name: A\n    value: \"a\\0b\"", "containers.app.environment[0].value",
       "contains a NUL character"},
      {"environment:\n  A: \"a\\0b\"", "containers.app.environment.A", "contains a NUL character"},
      {"environment:\n  - \"A=a\\0b\"", "containers.app.environment[0]",
       "contains a NUL character"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.form);
    EXPECT_THAT(errorsOf(appWith(c.form)),
                ElementsAre(fieldError(std::string(c.path), std::string(c.message))));
  }
}

// ---- ports ----------------------------------------------------------------

TEST(ParsePortMapping, AcceptsEverySyntaxOfDocsJobsMd) {
  const struct {
    std::string_view text;
    PortMapping port;
  } cases[] = {
      {"3000", {"", 0, 3000, Protocol::kTcp}},
      {"80:3000", {"", 80, 3000, Protocol::kTcp}},
      {"3000/tcp", {"", 0, 3000, Protocol::kTcp}},
      {"3000/udp", {"", 0, 3000, Protocol::kUdp}},
      {"53:5353/udp", {"", 53, 5353, Protocol::kUdp}},
      {"127.0.0.1:80:3000", {"127.0.0.1", 80, 3000, Protocol::kTcp}},
      {"127.0.0.1::3000", {"127.0.0.1", 0, 3000, Protocol::kTcp}},
      {"127.0.0.1:80:3000/udp", {"127.0.0.1", 80, 3000, Protocol::kUdp}},
      {"[::1]:80:3000", {"::1", 80, 3000, Protocol::kTcp}},
      {"[::1]::3000", {"::1", 0, 3000, Protocol::kTcp}},
      {"[2001:db8::7]:8080:80/udp", {"2001:db8::7", 8080, 80, Protocol::kUdp}},
      {"1:1", {"", 1, 1, Protocol::kTcp}},
      {"65535:65535", {"", 65535, 65535, Protocol::kTcp}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto port = parsePortMapping(c.text);
    ASSERT_TRUE(port.ok()) << port.error();
    EXPECT_EQ(*port, c.port);
  }
}

TEST(ParsePortMapping, RejectsMalformedMappingsAndSaysWhy) {
  const struct {
    std::string_view text;
    std::string_view message;
  } cases[] = {
      {"", "is not a port mapping"},
      {"0", "is not a port mapping"},
      {"65536", "is not a port mapping"},
      {"80:0", "is not a port mapping"},
      {"0:3000", "is not a port mapping"},
      {"http", "is not a port mapping"},
      {":3000", "is not a port mapping"},
      {"80:", "is not a port mapping"},
      {"80:3000:1", "is not an IP address"},
      {"1.2.3.4:80:3000:1", "is not a port mapping"},
      {"127.0.0.1:3000", "is not a port mapping"},
      {"999.1.1.1:80:3000", "\"999.1.1.1\" is not an IP address"},
      {"localhost:80:3000", "\"localhost\" is not an IP address"},
      {"::1:80:3000", "is not a port mapping"},
      {"[::1]80:3000", "is not a port mapping"},
      {"[::1", "is not a port mapping"},
      {"[::1]", "is not a port mapping"},
      {"[1.2.3.4]:80:3000", "\"1.2.3.4\" is not an IPv6 address"},
      {"[::1]:1.2.3.4:80:3000", "is not a port mapping"},
      {"80:3000/sctp", "\"sctp\" is not a protocol (use tcp or udp)"},
      {"80:3000/", "\"\" is not a protocol"},
      {"80:3000/UDP", "\"UDP\" is not a protocol"},
      {" 80:3000", "is not a port mapping"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto port = parsePortMapping(c.text);
    ASSERT_FALSE(port.ok()) << "parsed as " << toString(*port);
    EXPECT_THAT(port.error(), HasSubstr(c.message));
  }
}

TEST(ParsePortMapping, RefusesRanges) {
  for (std::string_view text : {"8000-8010", "80:3000-3005", "3000-3005/udp"}) {
    SCOPED_TRACE(text);
    auto port = parsePortMapping(text);
    ASSERT_FALSE(port.ok());
    EXPECT_THAT(port.error(), HasSubstr("port ranges are not supported; list each port"));
  }
}

TEST(JobParser, ParsesPortsQuotedOrNot) {
  // Unquoted 80:3000 would be a base-60 number to a YAML 1.1 reader.
  EXPECT_THAT(app("ports:\n  - 80:3000\n  - \"8080:3001\"\n  - 3002\n  - 53:53/udp").ports,
              ElementsAre(PortMapping{"", 80, 3000, Protocol::kTcp},
                          PortMapping{"", 8080, 3001, Protocol::kTcp},
                          PortMapping{"", 0, 3002, Protocol::kTcp},
                          PortMapping{"", 53, 53, Protocol::kUdp}));
}

TEST(JobParser, RejectsInvalidPortAtItsIndex) {
  EXPECT_THAT(errorsOf(appWith("ports: [\"80:3000\", \"99999\", \"8000-8010\"]")),
              ElementsAre(fieldError("containers.app.ports[1]", "\"99999\" is not a port mapping"),
                          fieldError("containers.app.ports[2]", "port ranges are not supported")));
  EXPECT_THAT(
      errorsOf(appWith("ports: \"80:3000\"")),
      ElementsAre(fieldError("containers.app.ports", "must be a list, not a single value")));
}

TEST(JobParser, RejectsHostPortCollisionAcrossContainers) {
  EXPECT_THAT(errorsOf("name: web\ncontainers:\n"
                       "  app: {image: a, ports: [\"80:3000\"]}\n"
                       "  admin: {image: b, ports: [\"80:4000\"]}\n"),
              ElementsAre(fieldError("containers.admin.ports[0]",
                                     "host port 80/tcp is already published by "
                                     "containers.app.ports[0]")));
}

TEST(JobParser, RejectsHostPortPublishedTwiceByOneContainer) {
  EXPECT_THAT(errorsOf(appWith("ports: [\"80:3000\", \"80:3001\"]")),
              ElementsAre(fieldError("containers.app.ports[1]",
                                     "host port 80/tcp is already published by "
                                     "containers.app.ports[0]")));
}

TEST(JobParser, RejectsHostPortCollisionWhateverTheHostAddress) {
  EXPECT_THAT(errorsOf(appWith("ports: [\"127.0.0.1:80:3000\", \"10.0.0.1:80:3001\"]")),
              ElementsAre(fieldError("containers.app.ports[1]", "host port 80/tcp")));
}

TEST(JobParser, AllowsTheSameHostPortOverTcpAndUdp) {
  EXPECT_THAT(app("ports: [\"53:53/udp\", \"53:53/tcp\"]").ports, SizeIs(2));
}

TEST(JobParser, AllowsEphemeralHostPortsInEveryContainer) {
  EXPECT_THAT(errorsOf("name: web\ncontainers:\n"
                       "  app: {image: a, ports: [\"3000\"]}\n"
                       "  admin: {image: b, ports: [\"4000\", \"127.0.0.1::4001\"]}\n"),
              IsEmpty());
}

TEST(JobParser, RejectsContainerPortUsedByTwoContainersOfThePod) {
  EXPECT_THAT(errorsOf("name: web\ncontainers:\n"
                       "  app: {image: a, ports: [\"3000\"]}\n"
                       "  admin: {image: b, ports: [\"8080:3000\"]}\n"),
              ElementsAre(fieldError("containers.admin.ports[0]",
                                     "container port 3000/tcp is already used by "
                                     "containers.app.ports[0]")));
}

TEST(JobParser, AllowsOneContainerToPublishItsPortTwice) {
  EXPECT_THAT(app("ports: [\"80:3000\", \"8080:3000\", \"3000\"]").ports, SizeIs(3));
}

// ---- depends_on -----------------------------------------------------------

TEST(JobParser, RejectsDependsOnUnknownContainerWithSuggestion) {
  EXPECT_THAT(errorsOf("name: web\ncontainers:\n"
                       "  app: {image: a, depends_on: [dbb]}\n"
                       "  db: {image: b}\n"),
              ElementsAre(fieldError("containers.app.depends_on[0]",
                                     "\"dbb\" is not a container of this job (did you mean "
                                     "\"db\"?)")));
}

TEST(JobParser, RejectsDependsOnUnknownContainerWithoutSuggestionWhenNothingIsClose) {
  const auto errors = errorsOf(appWith("depends_on: [postgres]"));
  ASSERT_THAT(errors, ElementsAre(fieldError("containers.app.depends_on[0]",
                                             "\"postgres\" is not a container of this job")));
  EXPECT_THAT(errors[0].message, Not(HasSubstr("did you mean")));
}

TEST(JobParser, RejectsContainerDependingOnItself) {
  EXPECT_THAT(errorsOf(appWith("depends_on: [app]")),
              ElementsAre(fieldError("containers.app.depends_on[0]",
                                     "a container cannot depend on itself")));
}

TEST(JobParser, RejectsDuplicateDependsOn) {
  EXPECT_THAT(errorsOf("name: web\ncontainers:\n"
                       "  app: {image: a, depends_on: [db, db]}\n"
                       "  db: {image: b}\n"),
              ElementsAre(fieldError("containers.app.depends_on[1]", "\"db\" is listed twice")));
}

TEST(JobParser, RejectsCycleInDependsOn) {
  EXPECT_THAT(errorsOf("name: web\ncontainers:\n"
                       "  a: {image: x, depends_on: [b]}\n"
                       "  b: {image: x, depends_on: [a]}\n"),
              ElementsAre(fieldError("containers", "depends_on has a cycle: a -> b -> a")));
}

TEST(JobParser, ReportsALongerCycleAlongItsPath) {
  EXPECT_THAT(errorsOf("name: web\ncontainers:\n"
                       "  start: {image: x, depends_on: [a]}\n"
                       "  a: {image: x, depends_on: [b]}\n"
                       "  b: {image: x, depends_on: [c]}\n"
                       "  c: {image: x, depends_on: [a]}\n"),
              ElementsAre(fieldError("containers", "depends_on has a cycle: a -> b -> c -> a")));
}

TEST(JobParser, RejectsDependsOnThatIsNotAList) {
  EXPECT_THAT(
      errorsOf("name: web\ncontainers:\n"
               "  app: {image: a, depends_on: db}\n"
               "  db: {image: b}\n"),
      ElementsAre(fieldError("containers.app.depends_on", "must be a list, not a single value")));
}

TEST(JobParser, RejectsDependsOnLongerThanTheOtherContainersOfAJob) {
  std::string list = "depends_on: [";
  for (int i = 0; i < 64; ++i) list += (i ? ", c" : "c") + std::to_string(i);
  EXPECT_THAT(errorsOf(appWith(list + "]")),
              ElementsAre(fieldError("containers.app.depends_on",
                                     "lists 64 entries; at most 63 are allowed")));
}

TEST(ValidateJob, ChecksJobsBuiltInCode) {
  Job job = expectedExample();
  job.containers[1].dependsOn = {"app"};
  EXPECT_THAT(validateJob(job),
              ElementsAre(fieldError("containers", "depends_on has a cycle: app -> db -> app")));
  job.containers[1].dependsOn = {"ap"};
  EXPECT_THAT(validateJob(job),
              ElementsAre(fieldError("containers.db.depends_on[0]", "(did you mean \"app\"?)")));
}

// ---- memory ---------------------------------------------------------------

TEST(JobParser, RejectsMemoryThatIsNotASize) {
  const auto errors = errorsOf(appWith("memory: 2X"));
  ASSERT_THAT(errors, ElementsAre(fieldError("containers.app.memory", "\"2X\" is not a size")));
  EXPECT_EQ(errors[0].line, 5);
  EXPECT_EQ(errors[0].column, 13);
}

TEST(JobParser, AcceptsMemoryFromSixMebibytesToSixteenTebibytes) {
  EXPECT_EQ(app("memory: 6M").memory, 6 * kMiB);
  EXPECT_EQ(app("memory: 512m").memory, 512 * kMiB);
  EXPECT_EQ(app("memory: 16T").memory, 16 * kTiB);
}

TEST(JobParser, RejectsMemoryBelowSixMebibytes) {
  for (std::string_view value : {"5M", "6143K", "2048", "0"}) {
    SCOPED_TRACE(value);
    EXPECT_THAT(errorsOf(appWith("memory: " + std::string(value))),
                ElementsAre(fieldError("containers.app.memory",
                                       "\"" + std::string(value) + "\" is outside 6M to 16T")));
  }
}

TEST(JobParser, RejectsMemoryAboveSixteenTebibytes) {
  EXPECT_THAT(errorsOf(appWith("memory: 17T")),
              ElementsAre(fieldError("containers.app.memory", "\"17T\" is outside 6M to 16T")));
}

// ---- healthcheck ----------------------------------------------------------

TEST(JobParser, RejectsHealthCheckWithoutType) {
  EXPECT_THAT(errorsOf(appWith("healthcheck: {port: 80}")),
              ElementsAre(fieldError("containers.app.healthcheck.type", "is required")));
}

TEST(JobParser, RejectsUnknownHealthCheckTypeWithSuggestion) {
  EXPECT_THAT(errorsOf(appWith("healthcheck: {type: htp, port: 80}")),
              ElementsAre(fieldError("containers.app.healthcheck.type",
                                     "\"htp\" is not one of http, tcp, exec (did you mean "
                                     "\"http\"?)")));
}

TEST(JobParser, RequiresPortForHttpAndTcpChecks) {
  for (std::string_view type : {"http", "tcp"}) {
    SCOPED_TRACE(type);
    EXPECT_THAT(errorsOf(appWith("healthcheck: {type: " + std::string(type) + "}")),
                ElementsAre(fieldError("containers.app.healthcheck.port", "is required")));
  }
}

TEST(JobParser, RejectsHealthCheckPortOutOfRange) {
  for (std::string_view port : {"0", "65536", "-80"}) {
    SCOPED_TRACE(port);
    EXPECT_THAT(
        errorsOf(appWith("healthcheck: {type: tcp, port: " + std::string(port) + "}")),
        ElementsAre(fieldError("containers.app.healthcheck.port", "is out of range (1 to 65535)")));
  }
}

TEST(JobParser, RejectsPortOnExecCheck) {
  EXPECT_THAT(errorsOf(appWith("healthcheck: {type: exec, command: [true], port: 80}")),
              ElementsAre(fieldError("containers.app.healthcheck.port",
                                     "applies to http and tcp checks only")));
}

TEST(JobParser, RejectsPathOnTcpAndExecChecks) {
  EXPECT_THAT(
      errorsOf(appWith("healthcheck: {type: tcp, port: 5432, path: /x}")),
      ElementsAre(fieldError("containers.app.healthcheck.path", "applies to http checks only")));
  EXPECT_THAT(
      errorsOf(appWith("healthcheck: {type: exec, command: [true], path: /x}")),
      ElementsAre(fieldError("containers.app.healthcheck.path", "applies to http checks only")));
}

TEST(JobParser, RejectsHttpPathThatIsNotARequestPath) {
  for (std::string_view path : {"healthz", "/health check", "\"\"", "\"/a\\tb\""}) {
    SCOPED_TRACE(path);
    EXPECT_THAT(
        errorsOf(appWith("healthcheck: {type: http, port: 80, path: " + std::string(path) + "}")),
        ElementsAre(fieldError("containers.app.healthcheck.path", "is not a request path")));
  }
  EXPECT_EQ(healthCheck("{type: http, port: 80, path: \"/healthz?full=1\"}").path,
            "/healthz?full=1");
}

TEST(JobParser, RequiresCommandForExecCheck) {
  EXPECT_THAT(errorsOf(appWith("healthcheck: {type: exec}")),
              ElementsAre(fieldError("containers.app.healthcheck.command", "is required")));
}

TEST(JobParser, RejectsCommandOnHttpAndTcpChecks) {
  EXPECT_THAT(
      errorsOf(appWith("healthcheck: {type: http, port: 80, command: [true]}")),
      ElementsAre(fieldError("containers.app.healthcheck.command", "applies to exec checks only")));
}

TEST(JobParser, ParsesExecCheckCommandAsListOrString) {
  const HealthCheck check = healthCheck("{type: exec, command: \"pg_isready -U 'web app'\"}");
  EXPECT_EQ(check.type, HealthCheckType::kExec);
  EXPECT_THAT(check.command, ElementsAre("pg_isready", "-U", "web app"));
  EXPECT_THAT(healthCheck("{type: exec, command: [pg_isready]}").command,
              ElementsAre("pg_isready"));
  EXPECT_THAT(errorsOf(appWith("healthcheck: {type: exec, command: []}")),
              ElementsAre(fieldError("containers.app.healthcheck.command", "must not be empty")));
}

TEST(JobParser, RejectsExecCheckCommandOfMoreThan4096Arguments) {
  std::string command = "[";
  for (int i = 0; i < 4097; ++i) command += i ? ", a" : "a";
  EXPECT_THAT(errorsOf(appWith("healthcheck: {type: exec, command: " + command + "]}")),
              ElementsAre(fieldError("containers.app.healthcheck.command",
                                     "has 4097 arguments; at most 4096 are allowed")));
}

TEST(JobParser, RejectsTimeoutLongerThanInterval) {
  EXPECT_THAT(errorsOf(appWith("healthcheck: {type: tcp, port: 80, timeout: 30, interval: 10}")),
              ElementsAre(fieldError("containers.app.healthcheck.timeout",
                                     "30s is longer than the interval 10s")));
  // The default interval (10s) counts too.
  EXPECT_THAT(errorsOf(appWith("healthcheck: {type: tcp, port: 80, timeout: 20s}")),
              ElementsAre(fieldError("containers.app.healthcheck.timeout",
                                     "20s is longer than the interval 10s")));
}

TEST(JobParser, AllowsTimeoutEqualToInterval) {
  const HealthCheck check = healthCheck("{type: tcp, port: 80, timeout: 1m, interval: 60s}");
  EXPECT_EQ(check.timeout, 60s);
  EXPECT_EQ(check.interval, 60s);
}

TEST(JobParser, RejectsHealthCheckDurationsOutsideOneSecondToOneHour) {
  const struct {
    std::string_view field;
    std::string_view value;
  } cases[] = {
      {"timeout", "500ms"}, {"timeout", "0"},     {"interval", "999ms"},
      {"interval", "2h"},   {"interval", "3601"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(std::string(c.field) + ": " + std::string(c.value));
    const std::string field(c.field);
    const std::string value(c.value);
    // The other duration is chosen so that timeout <= interval holds.
    const std::string other = field == "timeout" ? "interval: 1h" : "timeout: 1s";
    EXPECT_THAT(errorsOf(appWith("healthcheck: {type: tcp, port: 80, " + other + ", " + field +
                                 ": " + value + "}")),
                ElementsAre(fieldError("containers.app.healthcheck." + field,
                                       "\"" + value + "\" is outside 1s to 1h")));
  }
  const HealthCheck check = healthCheck("{type: tcp, port: 80, timeout: 1s, interval: 1h}");
  EXPECT_EQ(check.timeout, 1s);
  EXPECT_EQ(check.interval, 1h);
}

TEST(JobParser, RejectsHealthCheckDurationThatIsNotADuration) {
  EXPECT_THAT(errorsOf(appWith("healthcheck: {type: tcp, port: 80, interval: often}")),
              ElementsAre(fieldError("containers.app.healthcheck.interval",
                                     "\"often\" is not a duration")));
}

TEST(JobParser, AcceptsThresholdsFromOneToHundred) {
  const HealthCheck check =
      healthCheck("{type: tcp, port: 80, healthy_threshold: 1, unhealthy_threshold: 100}");
  EXPECT_EQ(check.healthyThreshold, 1);
  EXPECT_EQ(check.unhealthyThreshold, 100);
}

TEST(JobParser, RejectsThresholdsOutsideOneToHundred) {
  for (std::string_view field : {"healthy_threshold", "unhealthy_threshold"}) {
    for (std::string_view value : {"0", "101", "-1"}) {
      SCOPED_TRACE(std::string(field) + ": " + std::string(value));
      EXPECT_THAT(errorsOf(appWith("healthcheck: {type: tcp, port: 80, " + std::string(field) +
                                   ": " + std::string(value) + "}")),
                  ElementsAre(fieldError("containers.app.healthcheck." + std::string(field),
                                         "is out of range (1 to 100)")));
    }
  }
  EXPECT_THAT(errorsOf(appWith("healthcheck: {type: tcp, port: 80, healthy_threshold: 1.5}")),
              ElementsAre(fieldError("containers.app.healthcheck.healthy_threshold",
                                     "is not a whole number")));
}

TEST(JobParser, RejectsUnknownHealthCheckFieldWithSuggestion) {
  EXPECT_THAT(errorsOf(appWith("healthcheck: {type: tcp, port: 80, intervall: 10}")),
              ElementsAre(fieldError("containers.app.healthcheck.intervall",
                                     "did you mean \"interval\"?")));
}

TEST(JobParser, RejectsHealthCheckThatIsNotAMapping) {
  EXPECT_THAT(errorsOf(appWith("healthcheck: http")),
              ElementsAre(fieldError("containers.app.healthcheck",
                                     "must be a mapping, not a single value")));
}

// ---- capabilities ---------------------------------------------------------

TEST(JobParser, ParsesCapAddAndCapDropWithOrWithoutThePrefix) {
  const Container c = app("cap_add: [NET_ADMIN, CAP_SYS_TIME]\ncap_drop: [CAP_KILL, SETUID]");
  EXPECT_THAT(c.capAdd, ElementsAre("NET_ADMIN", "SYS_TIME"));
  EXPECT_THAT(c.capDrop, ElementsAre("KILL", "SETUID"));
}

TEST(JobParser, GivesTheDefaultCapabilitiesWhenTheFileIsSilent) {
  const Container c = app("");
  EXPECT_THAT(c.capAdd, IsEmpty());
  EXPECT_THAT(c.capDrop, IsEmpty());
  EXPECT_THAT(effectiveCapabilities(c),
              ElementsAre("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "NET_BIND_SERVICE",
                          "SETGID", "SETUID"));
  EXPECT_THAT(extraCapabilities(c), IsEmpty());
}

TEST(JobParser, CapDropAllLeavesOnlyWhatIsAdded) {
  const Container c = app("cap_drop: [ALL]\ncap_add: [NET_BIND_SERVICE, NET_RAW]");
  EXPECT_THAT(effectiveCapabilities(c), ElementsAre("NET_BIND_SERVICE", "NET_RAW"));
  // Only NET_RAW is beyond the default set, so only it needs the node's consent.
  EXPECT_THAT(extraCapabilities(c), ElementsAre("NET_RAW"));
}

TEST(JobParser, RejectsUnknownCapabilityWithSuggestion) {
  EXPECT_THAT(errorsOf(appWith("cap_add: [NET_ADMN]")),
              ElementsAre(fieldError("containers.app.cap_add[0]",
                                     "\"NET_ADMN\" is not a Linux capability (did you mean "
                                     "\"NET_ADMIN\"?)")));
  // Names are upper case, as capabilities(7) writes them.
  EXPECT_THAT(errorsOf(appWith("cap_drop: [KILL, net_raw]")),
              ElementsAre(fieldError("containers.app.cap_drop[1]",
                                     "\"net_raw\" is not a Linux capability (did you mean "
                                     "\"NET_RAW\"?)")));
  EXPECT_THAT(errorsOf(appWith("cap_add: [FLY]")),
              ElementsAre(fieldError("containers.app.cap_add[0]", "\"FLY\" is not a Linux capability")));
}

TEST(JobParser, RejectsAddingAllCapabilities) {
  EXPECT_THAT(errorsOf(appWith("cap_add: [ALL]")),
              ElementsAre(fieldError("containers.app.cap_add[0]", "ALL cannot be added")));
  EXPECT_THAT(errorsOf(appWith("cap_add: [CAP_ALL]")),
              ElementsAre(fieldError("containers.app.cap_add[0]", "ALL cannot be added")));
}

TEST(JobParser, RejectsCapabilityListedTwiceOrBothAddedAndDropped) {
  EXPECT_THAT(errorsOf(appWith("cap_add: [NET_ADMIN, CAP_NET_ADMIN]")),
              ElementsAre(fieldError("containers.app.cap_add[1]", "NET_ADMIN is listed twice")));
  EXPECT_THAT(errorsOf(appWith("cap_add: [KILL, SYS_TIME]\ncap_drop: [SYS_TIME]")),
              ElementsAre(fieldError("containers.app.cap_add[1]",
                                     "SYS_TIME is both added and dropped")));
}

TEST(JobParser, RejectsCapabilitiesThatAreNotAListOfNames) {
  EXPECT_THAT(errorsOf(appWith("cap_add: NET_ADMIN")),
              ElementsAre(fieldError("containers.app.cap_add", "must be a list")));
  EXPECT_THAT(errorsOf(appWith("cap_drop: [[KILL]]")),
              ElementsAre(fieldError("containers.app.cap_drop[0]", "must be a single value")));
}

TEST(JobParser, FindsTheFirstCapabilityAnAllowListLacks) {
  const Job job = parsed(
      "name: web\ncontainers:\n  a:\n    image: x\n    cap_add: [KILL, NET_ADMIN]\n"
      "  b:\n    image: x\n    cap_add: [SYS_TIME]\n");
  const std::vector<std::string> none;
  auto missing = firstCapabilityNotAllowed(job, none);
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->container, "a");
  EXPECT_EQ(missing->capability, "NET_ADMIN");  // KILL is a default: no consent needed
  const std::vector<std::string> netAdmin{"NET_ADMIN"};
  missing = firstCapabilityNotAllowed(job, netAdmin);
  ASSERT_TRUE(missing.has_value());
  EXPECT_EQ(missing->container, "b");
  EXPECT_EQ(missing->capability, "SYS_TIME");
  const std::vector<std::string> both{"SYS_TIME", "NET_ADMIN"};
  EXPECT_FALSE(firstCapabilityNotAllowed(job, both).has_value());
}

// ---- volumes --------------------------------------------------------------

TEST(JobParser, ParsesVolumesAndNormalisesTheirPaths) {
  EXPECT_THAT(app("volumes:\n  - {type: local, path: /data//x/, space: 1G}\n"
                  "  - {type: shared, path: /srv, space: 2M}")
                  .volumes,
              ElementsAre(Volume{VolumeType::kLocal, "/data/x", kGiB},
                          Volume{VolumeType::kShared, "/srv", 2 * kMiB}));
}

TEST(JobParser, RejectsVolumeWithoutTypePathOrSpace) {
  EXPECT_THAT(errorsOf(appWith("volumes: [{}]")),
              ElementsAre(fieldError("containers.app.volumes[0].type", "is required"),
                          fieldError("containers.app.volumes[0].path", "is required"),
                          fieldError("containers.app.volumes[0].space", "is required")));
}

TEST(JobParser, RejectsUnknownVolumeTypeWithSuggestion) {
  EXPECT_THAT(errorsOf(appWith("volumes: [{type: shard, path: /data, space: 1G}]")),
              ElementsAre(fieldError("containers.app.volumes[0].type",
                                     "\"shard\" is not one of shared, local (did you mean "
                                     "\"shared\"?)")));
}

TEST(JobParser, RejectsVolumePathsThatAreNotMountPaths) {
  const std::string_view cases[] = {
      "data", "./data", "/",        "//",       "/data/../etc", "/data/./x",
      "/..",  "/.",     "\"/a:b\"", "\"/a,b\"", "\"/a\\tb\"",   "~/data",
  };
  for (auto path : cases) {
    SCOPED_TRACE(path);
    EXPECT_THAT(
        errorsOf(appWith("volumes: [{type: local, path: " + std::string(path) + ", space: 1G}]")),
        ElementsAre(fieldError("containers.app.volumes[0].path", "is not a mount path")));
  }
}

TEST(JobParser, AcceptsDotsInsideVolumePathNames) {
  EXPECT_THAT(app("volumes: [{type: local, path: /data/.cache/..x, space: 1G}]").volumes,
              ElementsAre(Volume{VolumeType::kLocal, "/data/.cache/..x", kGiB}));
}

TEST(JobParser, RejectsTheSamePathMountedTwiceInOneContainer) {
  EXPECT_THAT(
      errorsOf(appWith("volumes:\n  - {type: local, path: /data, space: 1G}\n"
                       "  - {type: shared, path: /data/, space: 1G}")),
      ElementsAre(fieldError("containers.app.volumes[1].path", "\"/data/\" is mounted twice")));
}

TEST(JobParser, AllowsTheSamePathInTwoContainers) {
  EXPECT_THAT(errorsOf("name: web\ncontainers:\n"
                       "  app: {image: a, volumes: [{type: local, path: /data, space: 1G}]}\n"
                       "  db: {image: b, volumes: [{type: local, path: /data, space: 1G}]}\n"),
              IsEmpty());
}

TEST(JobParser, RejectsVolumeSpaceOfZeroOrTooMuch) {
  EXPECT_THAT(
      errorsOf(appWith("volumes: [{type: local, path: /data, space: 0}]")),
      ElementsAre(fieldError("containers.app.volumes[0].space", "\"0\" is outside 1 to 1024T")));
  EXPECT_THAT(errorsOf(appWith("volumes: [{type: local, path: /data, space: 1025T}]")),
              ElementsAre(fieldError("containers.app.volumes[0].space", "is outside 1 to 1024T")));
  EXPECT_THAT(errorsOf(appWith("volumes: [{type: local, path: /data, space: lots}]")),
              ElementsAre(fieldError("containers.app.volumes[0].space", "\"lots\" is not a size")));
}

TEST(JobParser, RejectsUnknownVolumeFieldWithSuggestion) {
  EXPECT_THAT(errorsOf(appWith("volumes: [{type: local, path: /data, space: 1G, spce: 1G}]")),
              ElementsAre(fieldError("containers.app.volumes[0].spce", "did you mean \"space\"?")));
}

// ---- ingress --------------------------------------------------------------

// The ingress of container "app" in `text`; fails the test if it has none.
Ingress ingressOf(std::string_view text, std::string_view container = "app") {
  const Job job = parsed(text);
  const Container* c = job.findContainer(container);
  if (c == nullptr || !c->ingress) {
    ADD_FAILURE() << "no ingress parsed for " << container << " from:\n" << text;
    return Ingress{};
  }
  return *c->ingress;
}

TEST(JobParser, ReadsAnIngressSection) {
  const struct {
    std::string_view fields;  // of container app
    Ingress ingress;
  } cases[] = {
      // hosts alone: those, on the port named.
      {"ingress: {hosts: [shop.example.com, www.shop.example.com], port: 3000}",
       {{"shop.example.com", "www.shop.example.com"}, false, 3000, 0}},
      // No hosts and no tcp: the default host.
      {"ingress: {port: 3000}", {{}, true, 3000, 0}},
      {"ingress: {hosts: [], port: 3000}", {{}, true, 3000, 0}},
      {"ingress: {}\nports: [\"3000\"]", {{}, true, 3000, 0}},
      {"ingress: true\nports: [\"3000\"]", {{}, true, 3000, 0}},
      // tcp alone: a TCP route and no host.
      {"ingress: {tcp: 15432, port: 5432}", {{}, false, 5432, 15432}},
      {"ingress: {hosts: [db.example.com], tcp: 15432, port: 5432}",
       {{"db.example.com"}, false, 5432, 15432}},
      // default_host adds the default host to what is named, or takes it away.
      {"ingress: {hosts: [shop.example.com], default_host: true, port: 80}",
       {{"shop.example.com"}, true, 80, 0}},
      {"ingress: {tcp: 2222, default_host: true, port: 22}", {{}, true, 22, 2222}},
      {"ingress: {hosts: [a.example.com], default_host: false, port: 80}",
       {{"a.example.com"}, false, 80, 0}},
      // YAML 1.2's spellings of the booleans.
      {"ingress: {hosts: [a.example.com], default_host: True, port: 80}",
       {{"a.example.com"}, true, 80, 0}},
      {"ingress: {tcp: 22, default_host: \"TRUE\", port: 80}", {{}, true, 80, 22}},
      // Host names are case-insensitive: kept in lower case.
      {"ingress: {hosts: [Shop.Example.COM], port: 80}", {{"shop.example.com"}, false, 80, 0}},
      {"ingress: {hosts: [\"xn--caf-dma.example\", 1password.example.com, a-b.c], port: 1}",
       {{"xn--caf-dma.example", "1password.example.com", "a-b.c"}, false, 1, 0}},
      {"ingress: {port: 65535, tcp: 65535}", {{}, false, 65535, 65535}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.fields);
    EXPECT_EQ(ingressOf(appWith(c.fields)), c.ingress);
  }
}

TEST(JobParser, DerivesTheIngressPortFromTheHealthCheckOrTheOnlyTcpPort) {
  const struct {
    std::string_view fields;
    std::uint16_t port;
  } cases[] = {
      {"ingress: {}\nhealthcheck: {type: http, port: 8080}", 8080},
      // The http check wins over the ports.
      {"ingress: {}\nports: [\"80:3000\", \"3001\"]\nhealthcheck: {type: http, port: 8080}", 8080},
      {"ingress: {}\nports: [\"80:3000\"]", 3000},
      // One container port published twice is still one port; UDP does not count.
      {"ingress: {}\nports: [\"80:3000\", \"8080:3000\", \"53:53/udp\"]", 3000},
      // A tcp check is no HTTP port: the ports decide.
      {"ingress: {}\nports: [\"3000\"]\nhealthcheck: {type: tcp, port: 9000}", 3000},
      // Named, the port is taken as named.
      {"ingress: {port: 9999}\nports: [\"3000\"]\nhealthcheck: {type: http, port: 8080}", 9999},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.fields);
    EXPECT_EQ(ingressOf(appWith(c.fields)).port, c.port);
  }
}

TEST(JobParser, AsksForTheIngressPortWhenItCannotBeDerived) {
  const std::string_view cases[] = {
      "ingress: {}",
      "ingress: true",
      "ingress: {hosts: [a.example.com]}\nports: [\"3000\", \"3001\"]",
      "ingress: {}\nports: [\"53:53/udp\"]",
      "ingress: {}\nhealthcheck: {type: tcp, port: 9000}",
  };
  for (auto fields : cases) {
    SCOPED_TRACE(fields);
    const auto errors = errorsOf(appWith(fields));
    EXPECT_THAT(errors, ElementsAre(fieldError("containers.app.ingress.port", "is required")));
    if (!errors.empty()) {
      EXPECT_GT(errors[0].line, 0) << "it points at the ingress";
    }
  }
}

TEST(JobParser, RejectsIngressHostsThatAreNotHostNamesAndSaysWhy) {
  const struct {
    std::string_view host;
    std::string_view message;
  } cases[] = {
      {"*.example.com", "wildcard host names are not supported; list each host"},
      {"shop.*.com", "wildcard host names are not supported"},
      {"shop.example.com:8080", "without a port"},
      {"[::1]", "not an IP address"},
      {"shop.example.com.", "ends with a dot"},
      {"localhost", "has one label"},
      {"10.0.0.1", "is an IP address, not a host name"},
      {"shop.example.123", "is an IP address"},
      {"-shop.example.com", "is not a host name"},
      {"shop-.example.com", "is not a host name"},
      {"shop..example.com", "is not a host name"},
      {".example.com", "is not a host name"},
      {"shop_1.example.com", "is not a host name"},
      {"shop example.com", "is not a host name"},
      {"", "is not a host name"},
      {"caf\u00e9.example", "write an international name in its xn-- form"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.host);
    EXPECT_THAT(errorsOf(appWith("ingress: {hosts: [\"" + std::string(c.host) + "\"], port: 80}")),
                ElementsAre(fieldError("containers.app.ingress.hosts[0]", std::string(c.message))));
  }
}

TEST(JobParser, AcceptsIngressHostsUpToTheDnsLimits) {
  const std::string label63(63, 'a');
  // 63 + 1 + 63 + 1 + 63 + 1 + 61 = 253 characters.
  const std::string longest = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'b');
  ASSERT_EQ(longest.size(), 253u);
  EXPECT_EQ(ingressOf(appWith("ingress: {hosts: [" + longest + "], port: 80}")).hosts,
            std::vector<std::string>{longest});
  EXPECT_THAT(errorsOf(appWith("ingress: {hosts: [" + longest + "b], port: 80}")),
              ElementsAre(fieldError("containers.app.ingress.hosts[0]", "at most 253")));
  EXPECT_THAT(errorsOf(appWith("ingress: {hosts: [" + label63 + "a.example], port: 80}")),
              ElementsAre(fieldError("containers.app.ingress.hosts[0]", "1 to 63")));
}

TEST(JobParser, AcceptsThirtyTwoIngressHostsAndRejectsMore) {
  std::string hosts;
  for (int i = 0; i < 32; ++i) hosts += (i ? ", h" : "h") + std::to_string(i) + ".example.com";
  EXPECT_THAT(ingressOf(appWith("ingress: {port: 80, hosts: [" + hosts + "]}")).hosts, SizeIs(32));
  EXPECT_THAT(errorsOf(appWith("ingress: {port: 80, hosts: [" + hosts + ", h32.example.com]}")),
              ElementsAre(fieldError("containers.app.ingress.hosts",
                                     "lists 33 entries; at most 32 are allowed")));
}

TEST(JobParser, RejectsAnIngressHostServedTwiceInTheJob) {
  EXPECT_THAT(errorsOf(appWith("ingress: {port: 80, hosts: [a.example.com, A.example.com]}")),
              ElementsAre(fieldError("containers.app.ingress.hosts[1]",
                                     "\"a.example.com\" is already served by "
                                     "containers.app.ingress.hosts[0]")));
  EXPECT_THAT(errorsOf("name: web\ncontainers:\n"
                       "  app: {image: a, ingress: {port: 80, hosts: [a.example.com]}}\n"
                       "  admin: {image: b, ingress: {port: 81, hosts: [a.example.com]}}\n"),
              ElementsAre(fieldError("containers.admin.ingress.hosts[0]",
                                     "already served by containers.app.ingress.hosts[0]")));
  // The default host too: one container serves it.
  EXPECT_THAT(errorsOf("name: web\ncontainers:\n"
                       "  app: {image: a, ingress: {port: 80}}\n"
                       "  admin: {image: b, ingress: {port: 81, default_host: true, tcp: 22}}\n"),
              ElementsAre(fieldError("containers.admin.ingress.default_host",
                                     "the job's default host is already served by "
                                     "containers.app.ingress")));
}

TEST(JobParser, RejectsAnIngressTcpPortServedTwiceOrPublishedByThePods) {
  EXPECT_THAT(errorsOf("name: web\ncontainers:\n"
                       "  app: {image: a, ingress: {port: 80, tcp: 8000}}\n"
                       "  admin: {image: b, ingress: {port: 81, tcp: 8000}}\n"),
              ElementsAre(fieldError("containers.admin.ingress.tcp",
                                     "ingress port 8000 is already served by "
                                     "containers.app.ingress.tcp")));
  EXPECT_THAT(errorsOf(appWith("ports: [\"8000:80\"]\ningress: {port: 80, tcp: 8000}")),
              ElementsAre(fieldError("containers.app.ingress.tcp",
                                     "port 8000 is also published by containers.app.ports[0]")));
  // A UDP host port of the same number is no conflict.
  EXPECT_THAT(errorsOf(appWith("ports: [\"8000:80/udp\"]\ningress: {port: 80, tcp: 8000}")),
              IsEmpty());
}

TEST(JobParser, RejectsAnIngressThatServesNothing) {
  EXPECT_THAT(errorsOf(appWith("ingress: {default_host: false, port: 80}")),
              ElementsAre(fieldError("containers.app.ingress", "serves nothing")));
}

TEST(JobParser, RejectsMalformedIngressFields) {
  const struct {
    std::string_view fields;
    std::string_view path;
    std::string_view message;
  } cases[] = {
      {"ingress: {port: 0}", "containers.app.ingress.port", "out of range (1 to 65535)"},
      {"ingress: {port: 65536}", "containers.app.ingress.port", "out of range"},
      {"ingress: {port: http}", "containers.app.ingress.port", "is not a whole number"},
      {"ingress: {port: 80, tcp: 0}", "containers.app.ingress.tcp", "out of range (1 to 65535)"},
      {"ingress: {port: 80, tcp: 70000}", "containers.app.ingress.tcp", "out of range"},
      {"ingress: {port: 80, hosts: a.example.com}", "containers.app.ingress.hosts",
       "must be a list"},
      {"ingress: {port: 80, hosts: [[a.example.com]]}", "containers.app.ingress.hosts[0]",
       "must be a single value"},
      {"ingress: {port: 80, default_host: yes}", "containers.app.ingress.default_host",
       "\"yes\" is not true or false"},
      {"ingress: {port: 80, host: [a.example.com]}", "containers.app.ingress.host",
       "is not a known field (did you mean \"hosts\"?)"},
      {"ingress: {port: 80, defaulthost: true}", "containers.app.ingress.defaulthost",
       "(did you mean \"default_host\"?)"},
      {"ingress: {port: 80, tls: true}", "containers.app.ingress.tls", "is not a known field"},
      {"ingress: no", "containers.app.ingress", "\"no\" is neither a mapping"},
      {"ingress: [a.example.com]", "containers.app.ingress", "must be a mapping"},
      {"ingres: {port: 80}", "containers.app.ingres", "(did you mean \"ingress\"?)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.fields);
    EXPECT_THAT(errorsOf(appWith(c.fields)),
                Contains(fieldError(std::string(c.path), std::string(c.message))));
  }
}

TEST(JobParser, GivesTheOnlyContainerPublishingTcpPortsTheDefaultHost) {
  // The reference example: app publishes 80:3000 and checks http on 3000.
  const Job job = parsed(example());
  ASSERT_TRUE(job.containers[0].ingress.has_value());
  EXPECT_EQ(*job.containers[0].ingress, (Ingress{{}, true, 3000, 0}));
  EXPECT_FALSE(job.containers[1].ingress.has_value());

  const struct {
    std::string_view text;
    std::optional<Ingress> app;  // what app gets
  } cases[] = {
      {"name: web\ncontainers:\n  app: {image: a, ports: [\"8080:80\"]}\n"
       "  db: {image: b}\n",
       Ingress{{}, true, 80, 0}},
      // An ephemeral host port is published too.
      {"name: web\ncontainers:\n  app: {image: a, ports: [\"80\"]}\n", Ingress{{}, true, 80, 0}},
      // Publishing nothing, or UDP only: nothing to serve.
      {"name: web\ncontainers:\n  app: {image: a}\n", std::nullopt},
      {"name: web\ncontainers:\n  app: {image: a, ports: [\"53:53/udp\"]}\n", std::nullopt},
      // Two containers publish TCP ports: which one is a guess, so neither.
      {"name: web\ncontainers:\n  app: {image: a, ports: [\"80:80\"]}\n"
       "  admin: {image: b, ports: [\"81:81\"]}\n",
       std::nullopt},
      // No port to take: no default, and no error either.
      {"name: web\ncontainers:\n  app: {image: a, ports: [\"80:80\", \"443:443\"]}\n",
       std::nullopt},
      // Any ingress key in the job, even `false` or on another container, decides.
      {"name: web\ncontainers:\n  app: {image: a, ports: [\"80:80\"], ingress: false}\n",
       std::nullopt},
      {"name: web\ncontainers:\n  app: {image: a, ports: [\"80:80\"]}\n"
       "  admin: {image: b, ingress: {port: 81, hosts: [admin.example.com]}}\n",
       std::nullopt},
      {"name: web\ncontainers:\n  app: {image: a, ports: [\"80:80\"]}\n"
       "  admin: {image: b, ingress: false}\n",
       std::nullopt},
      // An empty value is no key at all (General rules).
      {"name: web\ncontainers:\n  app: {image: a, ports: [\"80:80\"], ingress: }\n",
       Ingress{{}, true, 80, 0}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    const Job j = parsed(c.text);
    ASSERT_FALSE(j.containers.empty());
    EXPECT_EQ(j.containers[0].ingress, c.app);
  }
}

TEST(ValidateJob, ChecksTheIngressOfJobsBuiltInCode) {
  Job job = expectedExample();
  job.containers[0].ingress = Ingress{{"Shop.example.com", "*.example.com"}, false, 0, 0};
  job.containers[1].ingress = Ingress{{}, false, 5432, 0};
  EXPECT_THAT(validateJob(job),
              UnorderedElementsAre(
                  fieldError("containers.app.ingress.hosts[0]", "is not in lower case"),
                  fieldError("containers.app.ingress.hosts[1]", "wildcard"),
                  fieldError("containers.app.ingress.port", "is required"),
                  fieldError("containers.db.ingress", "serves nothing")));
}

// ---- update -----------------------------------------------------------------

// The update policy of appWith("") with `update: <section>` at the top level.
UpdatePolicy updateOf(std::string_view section) {
  return parsed(appWith("") + "update: " + std::string(section) + "\n").update;
}

// The problems of appWith("") with `update: <section>` at the top level.
std::vector<FieldError> updateErrorsOf(std::string_view section) {
  return errorsOf(appWith("") + "update: " + std::string(section) + "\n");
}

TEST(JobParser, GivesNomadsUpdateDefaultsWhenTheFileIsSilent) {
  const UpdatePolicy defaults = parsed(appWith("")).update;
  EXPECT_EQ(defaults, UpdatePolicy{});
  EXPECT_EQ(defaults.maxParallel, 1u);
  EXPECT_EQ(defaults.minHealthyTime, 10s);
  EXPECT_EQ(defaults.healthyDeadline, 5min);
  EXPECT_EQ(defaults.progressDeadline, 10min);
  EXPECT_FALSE(defaults.autoRevert);
  EXPECT_EQ(defaults.canary, 0u);
  EXPECT_EQ(defaults.strategy, UpdateStrategy::kRolling);
  // An empty section, or an empty value (General rules), is the same.
  EXPECT_EQ(updateOf("{}"), UpdatePolicy{});
  EXPECT_EQ(updateOf(""), UpdatePolicy{});
  EXPECT_EQ(updateOf("~"), UpdatePolicy{});
}

TEST(JobParser, ReadsEveryUpdateField) {
  const struct {
    std::string_view section;
    UpdatePolicy update;
  } cases[] = {
      {"{max_parallel: 3, min_healthy_time: 30s, healthy_deadline: 10m, progress_deadline: 1h, "
       "auto_revert: true, canary: 2, strategy: rolling}",
       {3, 30s, 10min, 1h, true, 2, UpdateStrategy::kRolling}},
      {"{strategy: recreate}", {1, 10s, 5min, 10min, false, 0, UpdateStrategy::kRecreate}},
      {"{strategy: recreate, canary: 0}", {1, 10s, 5min, 10min, false, 0, UpdateStrategy::kRecreate}},
      // Durations as everywhere else: bare seconds, units, combinations.
      {"{min_healthy_time: 0, healthy_deadline: 90, progress_deadline: 1m30s}",
       {1, 0s, 90s, 90s, false, 0, UpdateStrategy::kRolling}},
      {"{min_healthy_time: 0s, healthy_deadline: 1ms, progress_deadline: 1ms}",
       {1, 0s, 1ms, 1ms, false, 0, UpdateStrategy::kRolling}},
      // The bounds: 24h for every duration, kMaxInstances for the counts.
      {"{min_healthy_time: 23h59m59s, healthy_deadline: 24h, progress_deadline: 86400}",
       {1, 86399s, 24h, 24h, false, 0, UpdateStrategy::kRolling}},
      {"{max_parallel: 100000, canary: 100000}",
       {100000, 10s, 5min, 10min, false, 100000, UpdateStrategy::kRolling}},
      // YAML 1.2's spellings of the booleans.
      {"{auto_revert: True}", {1, 10s, 5min, 10min, true, 0, UpdateStrategy::kRolling}},
      {"{auto_revert: false}", {1, 10s, 5min, 10min, false, 0, UpdateStrategy::kRolling}},
      // Block style, as a file would usually have it.
      {"\n  max_parallel: 2\n  canary: 1\n", {2, 10s, 5min, 10min, false, 1, UpdateStrategy::kRolling}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.section);
    EXPECT_EQ(updateOf(c.section), c.update);
  }
}

TEST(JobParser, AcceptsTheUpdateSectionInJson) {
  const Job job = parsed(
      R"({"name": "web", "update": {"max_parallel": 2, "strategy": "recreate"},)"
      R"( "containers": {"app": {"image": "nginx"}}})");
  EXPECT_EQ(job.update.maxParallel, 2u);
  EXPECT_EQ(job.update.strategy, UpdateStrategy::kRecreate);
}

TEST(JobParser, RejectsEachUpdateRuleAtItsFieldPath) {
  const struct {
    std::string_view section;
    std::string_view path;
    std::string_view message;
  } cases[] = {
      // Counts.
      {"{max_parallel: 0}", "update.max_parallel", "is out of range (1 to 100000)"},
      {"{max_parallel: 100001}", "update.max_parallel", "is out of range (1 to 100000)"},
      {"{max_parallel: 1.5}", "update.max_parallel", "is not a whole number"},
      {"{canary: -1}", "update.canary", "is out of range (0 to 100000)"},
      {"{canary: 100001}", "update.canary", "is out of range (0 to 100000)"},
      // Durations: never negative, deadlines longer than 0, none past a day.
      {"{min_healthy_time: -1s}", "update.min_healthy_time", "\"-1s\" is not a duration"},
      {"{min_healthy_time: soon}", "update.min_healthy_time", "\"soon\" is not a duration"},
      {"{min_healthy_time: 25h, healthy_deadline: 24h, progress_deadline: 24h}",
       "update.min_healthy_time", "\"25h\" is longer than 24h"},
      {"{healthy_deadline: 0}", "update.healthy_deadline", "\"0\" leaves no time"},
      {"{healthy_deadline: 0s}", "update.healthy_deadline", "must be longer than 0s (e.g. 5m)"},
      {"{healthy_deadline: 24h1ms, progress_deadline: 24h}", "update.healthy_deadline",
       "\"24h1ms\" is longer than 24h"},
      {"{progress_deadline: 0ms}", "update.progress_deadline", "must be longer than 0s (e.g. 10m)"},
      {"{progress_deadline: 1441m}", "update.progress_deadline", "\"1441m\" is longer than 24h"},
      // min_healthy_time < healthy_deadline, on the field the file gives.
      {"{min_healthy_time: 1m, healthy_deadline: 30s}", "update.min_healthy_time",
       "1m is not shorter than healthy_deadline (30s)"},
      {"{min_healthy_time: 5m}", "update.min_healthy_time",
       "5m is not shorter than healthy_deadline (5m, the default)"},
      {"{healthy_deadline: 10s}", "update.healthy_deadline",
       "10s is not longer than min_healthy_time (10s, the default)"},
      {"{healthy_deadline: 2s}", "update.healthy_deadline", "raise healthy_deadline"},
      // progress_deadline >= healthy_deadline, always on progress_deadline.
      {"{progress_deadline: 1m}", "update.progress_deadline",
       "1m is shorter than healthy_deadline (5m, the default)"},
      {"{healthy_deadline: 15m}", "update.progress_deadline",
       "the default 10m is shorter than healthy_deadline (15m): the deployment would fail"},
      {"{healthy_deadline: 2h, progress_deadline: 1h59m}", "update.progress_deadline",
       "make progress_deadline at least 2h"},
      // Canaries need old instances to be compared with.
      {"{canary: 1, strategy: recreate}", "update.canary", "a canary with strategy recreate"},
      {"{strategy: recreate, canary: 3}", "update.canary",
       "3 canaries with strategy recreate: recreate stops every old instance first"},
      // Values of the wrong kind.
      {"{auto_revert: yes}", "update.auto_revert", "\"yes\" is not true or false"},
      {"{strategy: rollling}", "update.strategy",
       "\"rollling\" is not one of rolling, recreate (did you mean \"rolling\"?)"},
      {"{strategy: recreat}", "update.strategy", "(did you mean \"recreate\"?)"},
      {"{strategy: blue-green}", "update.strategy", "is not one of rolling, recreate"},
      // Unknown keys, with a suggestion when one is close.
      {"{max_paralel: 2}", "update.max_paralel",
       "is not a known field (did you mean \"max_parallel\"?)"},
      {"{canarys: 1}", "update.canarys", "(did you mean \"canary\"?)"},
      {"{autorevert: true}", "update.autorevert", "(did you mean \"auto_revert\"?)"},
      {"{stagger: 30s}", "update.stagger", "is not a known field"},
      // Not a mapping.
      {"rolling", "update", "must be a mapping"},
      {"[max_parallel]", "update", "must be a mapping"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.section);
    EXPECT_THAT(updateErrorsOf(c.section),
                ElementsAre(fieldError(std::string(c.path), std::string(c.message))));
  }
}

TEST(JobParser, RejectsAMisspeltUpdateSectionWithSuggestion) {
  EXPECT_THAT(errorsOf(appWith("") + "updates: {max_parallel: 2}\n"),
              ElementsAre(fieldError("updates", "is not a known field (did you mean \"update\"?)")));
}

TEST(JobParser, ChecksTheUpdateRulesBetweenFieldsOnlyOnFieldsThatRead) {
  // The deadline is refused, so min_healthy_time is not also compared with
  // the default deadline it would otherwise meet.
  EXPECT_THAT(updateErrorsOf("{min_healthy_time: 10m, healthy_deadline: soon}"),
              ElementsAre(fieldError("update.healthy_deadline", "\"soon\" is not a duration")));
  EXPECT_THAT(updateErrorsOf("{healthy_deadline: 0, progress_deadline: 1s}"),
              ElementsAre(fieldError("update.healthy_deadline", "leaves no time")));
  EXPECT_THAT(updateErrorsOf("{canary: 1, strategy: recreat}"),
              ElementsAre(fieldError("update.strategy", "did you mean \"recreate\"?")));
  // Every independent problem is reported.
  EXPECT_THAT(updateErrorsOf("{max_parallel: 0, min_healthy_time: 6m, progress_deadline: 1m, "
                             "auto_revert: maybe, canary: 1, strategy: recreate, surge: 1}"),
              UnorderedElementsAre(fieldError("update.surge", "is not a known field"),
                                   fieldError("update.max_parallel", "is out of range"),
                                   fieldError("update.min_healthy_time", "is not shorter"),
                                   fieldError("update.progress_deadline", "is shorter"),
                                   fieldError("update.auto_revert", "is not true or false"),
                                   fieldError("update.canary", "with strategy recreate")));
}

TEST(JobParser, ReportsUpdateProblemsOnTheirLine) {
  const auto errors = errorsOf(appWith("") +
                               "update:\n"                       // line 5
                               "  max_parallel: 2\n"             // line 6
                               "  healthy_deadline: 20s\n"       // line 7
                               "  min_healthy_time: 30s\n"       // line 8
                               "  strategy: recreate\n"          // line 9
                               "  canary: 1\n");                 // line 10
  ASSERT_THAT(errors, UnorderedElementsAre(fieldError("update.min_healthy_time", "not shorter"),
                                           fieldError("update.canary", "strategy recreate")));
  for (const auto& e : errors) {
    EXPECT_EQ(e.line, e.path == "update.canary" ? 10 : 8) << e.path;
  }
}

// ---- every problem at once ------------------------------------------------

TEST(JobParser, ReportsEveryProblemInTheFileNotJustTheFirst) {
  const auto errors = errorsOf(R"(name: Web
numInstances: -1
containers:
  app:
    imag: nginx
    memory: 2X
    depends_on: [nope]
    ports: ["80:3000"]
  db:
    image: postgres
    restart: alway
    ports: ["80:5432"]
    healthcheck:
      type: tcp
)");
  EXPECT_THAT(
      errors,
      UnorderedElementsAre(
          fieldError("name", "\"Web\" is not a valid job name"),
          fieldError("numInstances", "\"-1\" is out of range"),
          fieldError("containers.app.imag", "is not a known field (did you mean \"image\"?)"),
          fieldError("containers.app.image", "is required"),
          fieldError("containers.app.memory", "\"2X\" is not a size"),
          fieldError("containers.app.depends_on[0]", "\"nope\" is not a container of this job"),
          fieldError("containers.db.restart", "(did you mean \"always\"?)"),
          fieldError("containers.db.healthcheck.port", "is required"),
          fieldError("containers.db.ports[0]", "host port 80/tcp is already published")));

  // Each error read from the file knows its line.
  for (const auto& e : errors) {
    if (e.path == "containers.app.memory") {
      EXPECT_EQ(e.line, 6);
    }
    if (e.path == "containers.db.restart") {
      EXPECT_EQ(e.line, 11);
    }
    if (e.path == "name") {
      EXPECT_EQ(e.line, 1);
    }
  }
}

// ---- startOrder -----------------------------------------------------------

std::vector<std::string> startNames(const Job& job) {
  std::vector<std::string> names;
  for (std::size_t i : startOrder(job)) names.push_back(job.containers.at(i).name);
  return names;
}

TEST(StartOrder, StartsContainersAfterTheirDependencies) {
  const Job job = parsed(example());
  EXPECT_THAT(startOrder(job), ElementsAre(1u, 0u));
  EXPECT_THAT(startNames(job), ElementsAre("db", "app"));
}

TEST(StartOrder, KeepsFileOrderBetweenContainersThatAreReadyTogether) {
  EXPECT_THAT(startNames(parsed("name: web\ncontainers:\n"
                                "  c: {image: x}\n  b: {image: x}\n  a: {image: x}\n")),
              ElementsAre("c", "b", "a"));
  EXPECT_THAT(startNames(parsed("name: web\ncontainers:\n"
                                "  app: {image: x, depends_on: [db]}\n"
                                "  db: {image: x}\n"
                                "  cache: {image: x}\n"
                                "  worker: {image: x, depends_on: [cache]}\n")),
              ElementsAre("db", "app", "cache", "worker"));
}

TEST(StartOrder, StartsADiamondFromItsRoot) {
  EXPECT_THAT(startNames(parsed("name: web\ncontainers:\n"
                                "  web: {image: x, depends_on: [api, auth]}\n"
                                "  api: {image: x, depends_on: [db]}\n"
                                "  auth: {image: x, depends_on: [db]}\n"
                                "  db: {image: x}\n")),
              ElementsAre("db", "api", "auth", "web"));
}

TEST(StartOrder, StopsInsteadOfLoopingOnACycle) {
  Job job;
  job.name = "web";
  job.containers.resize(3);
  job.containers[0].name = "a";
  job.containers[0].dependsOn = {"b"};
  job.containers[1].name = "b";
  job.containers[1].dependsOn = {"a"};
  job.containers[2].name = "c";
  EXPECT_THAT(startNames(job), ElementsAre("c"));
}

// ---- isDnsLabel -----------------------------------------------------------

TEST(IsDnsLabel, FollowsRfc1123) {
  for (std::string_view name : {"a", "0", "web-1", "a-b-c", "x--y"}) {
    EXPECT_TRUE(isDnsLabel(name)) << name;
  }
  EXPECT_TRUE(isDnsLabel(std::string(63, 'a')));
  for (std::string_view name : {"", "-a", "a-", "A", "a_b", "a.b", "a b"}) {
    EXPECT_FALSE(isDnsLabel(name)) << name;
  }
  EXPECT_FALSE(isDnsLabel(std::string(64, 'a')));
}

TEST(IsHostName, AcceptsDotSeparatedDnsLabelsUpTo253Characters) {
  EXPECT_TRUE(isHostName("node-a"));
  EXPECT_TRUE(isHostName("a.b.c"));
  std::string longest;
  while (longest.size() + 64 <= 253) longest += std::string(63, 'a') + ".";
  longest += std::string(253 - longest.size(), 'b');
  ASSERT_EQ(longest.size(), 253u);
  EXPECT_TRUE(isHostName(longest));
  EXPECT_FALSE(isHostName(longest + "b"));
  EXPECT_FALSE(isHostName(""));
  EXPECT_FALSE(isHostName("a." + std::string(64, 'b')));
}

// ---- toProblem ------------------------------------------------------------

TEST(ToProblem, MakesAnInvalidJobProblemListingEveryError) {
  auto job = parseJob(appWith("memory: 2X\nrestart: alway"));
  ASSERT_FALSE(job.ok());
  const Problem problem = toProblem(job.error(), "web");
  EXPECT_EQ(problem.type.slug, "invalid-job");
  const nlohmann::json json = problem.toJson();
  EXPECT_EQ(json["type"], "/docs/errors.md#invalid-job");
  EXPECT_EQ(json["title"], "Invalid job");
  EXPECT_EQ(json["status"], 422);
  EXPECT_EQ(json["detail"], "The job file has 2 problems; see errors.");
  EXPECT_EQ(json["job"], "web");
  ASSERT_TRUE(json["errors"].is_array());
  ASSERT_EQ(json["errors"].size(), 2u);
  for (const auto& e : json["errors"]) {
    EXPECT_TRUE(e["path"].is_string());
    EXPECT_TRUE(e["message"].is_string());
    EXPECT_GT(e["line"].get<int>(), 0);
    EXPECT_GT(e["column"].get<int>(), 0);
  }
  EXPECT_EQ(json["errors"][0]["path"], "containers.app.restart");
  EXPECT_EQ(json["errors"][0]["line"], 6);
  EXPECT_EQ(json["errors"][1]["path"], "containers.app.memory");
  EXPECT_EQ(json["errors"][1]["line"], 5);
}

TEST(ToProblem, NamesTheOnlyErrorInTheDetail) {
  auto job = parseJob(appWith("memory: 2X"));
  ASSERT_FALSE(job.ok());
  const nlohmann::json json = toProblem(job.error()).toJson();
  EXPECT_THAT(json["detail"].get<std::string>(),
              HasSubstr("The job file has a problem: containers.app.memory: \"2X\" is not a size"));
  EXPECT_THAT(json["detail"].get<std::string>(), HasSubstr("(line 5)."));
  EXPECT_FALSE(json.contains("job")) << "no job name was given";
  EXPECT_EQ(json["errors"].size(), 1u);
}

TEST(ToProblem, MakesATooLargeProblemWithStatus413) {
  auto job =
      parseJob(appWith("") + "# " + std::string(200, 'x') + "\n", YamlLimits{.maxBytes = 100});
  ASSERT_FALSE(job.ok());
  EXPECT_TRUE(job.error().tooLarge);
  const Problem problem = toProblem(job.error());
  EXPECT_EQ(problem.type.slug, "job-file-too-large");
  const nlohmann::json json = problem.toJson();
  EXPECT_EQ(json["type"], "/docs/errors.md#job-file-too-large");
  EXPECT_EQ(json["status"], 413);
  EXPECT_THAT(json["detail"].get<std::string>(), HasSubstr("The job file is too large"));
  EXPECT_THAT(json["detail"].get<std::string>(), HasSubstr("at most 100 are accepted"));
}

// The reported attack on POST /v1/jobs and `ozy job validate`: a 970 KB file
// whose command is a 400 KiB string and 140,000 aliases of it. It used to be
// copied out argument by argument until memory ran out.
TEST(ToProblem, TreatsALongStringAliasedManyTimesAsAnInvalidJob) {
  std::string command = "[&a \"" + std::string(400 * 1024, 'x') + "\"";
  for (int i = 0; i < 140'000; ++i) command += ", *a";
  auto job = parseJob(appWith("command: " + command + "]"));
  ASSERT_FALSE(job.ok());
  EXPECT_FALSE(job.error().tooLarge);
  EXPECT_THAT(job.error().errors,
              ElementsAre(fieldError("", "too large once aliases are expanded: more than "
                                         "4194304 bytes")));
  EXPECT_EQ(job.error().errors[0].line, 5);
  EXPECT_EQ(toProblem(job.error()).type.slug, "invalid-job");
}

TEST(ToProblem, TreatsAnAliasBombAsAnInvalidJobNotATooLargeOne) {
  auto job = parseJob("a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a]\n",
                      YamlLimits{.maxNodes = 30});
  ASSERT_FALSE(job.ok());
  EXPECT_FALSE(job.error().tooLarge);
  EXPECT_EQ(toProblem(job.error()).type.slug, "invalid-job");
}

}  // namespace
}  // namespace ozy

namespace ozy {
namespace {

TEST(JobParserLimits, RejectsMoreThan1024PublishedHostPorts) {
  std::string text = "name: web\ncontainers:\n";
  for (int c = 0; c < 5; ++c) {
    text += "  c" + std::to_string(c) + ":\n    image: x\n    ports:\n";
    for (int p = 0; p < 250; ++p) {
      text += "      - \"" + std::to_string(1000 + c * 250 + p) + ":" + std::to_string(1000 + c * 250 + p) + "\"\n";
    }
  }
  auto job = parseJob(text);
  ASSERT_FALSE(job.ok());
  EXPECT_NE(job.error().errors[0].message.find("at most 1024"), std::string::npos)
      << job.error().errors[0].toString();
}

TEST(JobParserLimits, RejectsMoreThan64VolumesInAContainer) {
  std::string text = "name: web\ncontainers:\n  c:\n    image: x\n    volumes:\n";
  for (int v = 0; v < 65; ++v) {
    text += "      - {type: local, path: /v" + std::to_string(v) + ", space: 1G}\n";
  }
  auto job = parseJob(text);
  ASSERT_FALSE(job.ok());
  EXPECT_EQ(job.error().errors[0].path, "containers.c.volumes");
}

}  // namespace
}  // namespace ozy
