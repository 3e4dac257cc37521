// A pod is made again when its job's spec hash changes: so the hash must
// move with what makes the pod, and stay put for what does not (the number
// of instances, the ingress, the update section).
#include "agent/desired_state.h"

#include <gtest/gtest.h>

#include "common/fnv.h"
#include "job/job_parser.h"

namespace ozy {
namespace {

Job jobOf(const std::string& text) {
  auto job = parseJob(text);
  EXPECT_TRUE(job.ok());
  return job.ok() ? *job : Job{};
}

const std::string kWeb = "name: web\ncontainers:\n  app: {image: nginx, ports: [\"80:3000\"]";

TEST(SpecHash, IsTheHashPodsOfJobsStoredBeforeIngressExistedCarry) {
  // The job now reads with a default ingress; its hash is still that of the
  // canonical form it had before, so an upgrade replaces no pod.
  const Job web = jobOf(kWeb + "}\n");
  ASSERT_TRUE(web.containers[0].ingress.has_value());
  EXPECT_EQ(specHash(web),
            fnv1a(R"({"name":"web","numInstances":0,"containers":{"app":{"image":"nginx",)"
                  R"("pull":"always","restart":"always","environment":[],"ports":["80:3000"],)"
                  R"("depends_on":[],"memory":"256M","volumes":[]}}})"));
}

TEST(SpecHash, IgnoresTheUpdateSection) {
  const auto base = specHash(jobOf(kWeb + "}\n"));
  EXPECT_EQ(specHash(jobOf("update: {max_parallel: 3, canary: 1, auto_revert: true}\n" + kWeb +
                           "}\n")),
            base);
  EXPECT_EQ(specHash(jobOf("update: {strategy: recreate, healthy_deadline: 1m}\n" + kWeb + "}\n")),
            base);
}

TEST(SpecHash, IgnoresTheIngressAndTheInstanceCount) {
  const auto base = specHash(jobOf(kWeb + "}\n"));
  EXPECT_EQ(specHash(jobOf(kWeb + ", ingress: false}\n")), base);
  EXPECT_EQ(specHash(jobOf(kWeb + ", ingress: {hosts: [a.example.com], tcp: 22}}\n")), base);
  EXPECT_EQ(specHash(jobOf("numInstances: 7\n" + kWeb + "}\n")), base);
  EXPECT_NE(specHash(jobOf(kWeb + ", memory: 1G}\n")), base);
}

}  // namespace
}  // namespace ozy
