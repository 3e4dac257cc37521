// Where a container's image comes from: the registry a reference names, the
// pull policy it gets by default (Kubernetes' rules), and the job file's
// `pull` and `registryAuth` fields, parsed strictly and written back.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "../support/field_errors.h"
#include "job/image_reference.h"
#include "job/job_format.h"
#include "job/job_parser.h"

namespace ozy {
namespace {

using ::testing::ElementsAre;
using testing_support::fieldError;

std::string appWith(const std::string& image, const std::string& fields = "") {
  return "name: web\ncontainers:\n  app:\n    image: " + image + "\n" + fields;
}

std::vector<FieldError> errorsOf(const std::string& text) {
  auto job = parseJob(text);
  return job.ok() ? std::vector<FieldError>{} : job.error().errors;
}

TEST(ImageReference, NamesTheRegistryOnlyWhenTheFirstPartIsAHost) {
  const struct {
    const char* reference;
    const char* registry;
  } cases[] = {
      {"nginx", "docker.io"},
      {"library/nginx:1.25", "docker.io"},
      {"registry.example.com/team/app:1", "registry.example.com"},
      {"127.0.0.1:5000/ozy-test:v1", "127.0.0.1:5000"},
      {"localhost/ozy-test-busybox:2", "localhost"},
      {"registry:5000/app@sha256:0123", "registry:5000"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.reference);
    EXPECT_EQ(imageRegistry(c.reference), c.registry);
  }
}

TEST(ImageReference, DefaultsToAlwaysForMovingTagsOnly) {
  const struct {
    const char* reference;
    PullPolicy policy;
  } cases[] = {
      {"nginx", PullPolicy::kAlways},
      {"nginx:latest", PullPolicy::kAlways},
      {"127.0.0.1:5000/app", PullPolicy::kAlways},  // the port is not a tag
      {"127.0.0.1:5000/app:latest", PullPolicy::kAlways},
      {"nginx:1.25", PullPolicy::kIfNotPresent},
      {"127.0.0.1:5000/app:v1", PullPolicy::kIfNotPresent},
      {"app@sha256:0123abcd", PullPolicy::kIfNotPresent},        // pinned
      {"app:latest@sha256:0123abcd", PullPolicy::kIfNotPresent},  // the digest wins
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.reference);
    EXPECT_EQ(defaultPullPolicy(c.reference), c.policy);
    EXPECT_EQ(isDigestReference(c.reference), std::string(c.reference).find('@') != std::string::npos);
  }
}

TEST(JobParserPull, FillsInTheDefaultForTheImage) {
  auto tagged = parseJob(appWith("registry.example.com/app:1"));
  ASSERT_TRUE(tagged.ok());
  EXPECT_EQ(tagged->containers[0].pull, PullPolicy::kIfNotPresent);
  auto latest = parseJob(appWith("registry.example.com/app"));
  ASSERT_TRUE(latest.ok());
  EXPECT_EQ(latest->containers[0].pull, PullPolicy::kAlways);
  EXPECT_EQ(latest->containers[0].registryAuth, "");
}

TEST(JobParserPull, TakesEveryPolicy) {
  for (const auto& [word, policy] : {std::pair{"if-not-present", PullPolicy::kIfNotPresent},
                                     std::pair{"always", PullPolicy::kAlways},
                                     std::pair{"never", PullPolicy::kNever}}) {
    SCOPED_TRACE(word);
    auto job = parseJob(appWith("app:1", std::string("    pull: ") + word + "\n"));
    ASSERT_TRUE(job.ok());
    EXPECT_EQ(job->containers[0].pull, policy);
  }
}

TEST(JobParserPull, RejectsAMisspeltPolicyWithASuggestion) {
  EXPECT_THAT(errorsOf(appWith("app:1", "    pull: if-not-presnt\n")),
              ElementsAre(fieldError("containers.app.pull",
                                     "is not one of if-not-present, always, never (did you mean "
                                     "\"if-not-present\"?)")));
  EXPECT_THAT(errorsOf(appWith("app:1", "    pul: always\n")),
              ElementsAre(fieldError("containers.app.pul", "did you mean \"pull\"?")));
}

TEST(JobParserPull, TakesARegistryAuthNameAndRejectsWhatNoAuthFileHolds) {
  auto job = parseJob(appWith("registry.example.com:5000/app:1", "    registryAuth: registry.example.com:5000\n"));
  ASSERT_TRUE(job.ok());
  EXPECT_EQ(job->containers[0].registryAuth, "registry.example.com:5000");
  EXPECT_THAT(errorsOf(appWith("app:1", "    registryAuth: \"user:pass@host\"\n")),
              ElementsAre(fieldError("containers.app.registryAuth", "is not a registry name")));
  EXPECT_THAT(errorsOf(appWith("app:1", "    registryAuth: [a]\n")),
              ElementsAre(fieldError("containers.app.registryAuth", "")));
}

TEST(JobParserPull, NormalisedOutputShowsThePolicyAndReadsBackTheSame) {
  auto job = parseJob(appWith("127.0.0.1:5000/app", "    registryAuth: 127.0.0.1:5000\n"));
  ASSERT_TRUE(job.ok());
  const auto json = toJson(*job);
  EXPECT_EQ(json["containers"]["app"]["pull"], "always");
  EXPECT_EQ(json["containers"]["app"]["registryAuth"], "127.0.0.1:5000");
  auto again = parseJob(toYaml(*job));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *job);
  // A policy given against the default survives the round trip.
  auto never = parseJob(appWith("app", "    pull: never\n"));
  ASSERT_TRUE(never.ok());
  auto neverAgain = parseJob(toJson(*never).dump());
  ASSERT_TRUE(neverAgain.ok());
  EXPECT_EQ(neverAgain->containers[0].pull, PullPolicy::kNever);
}

}  // namespace
}  // namespace ozy
