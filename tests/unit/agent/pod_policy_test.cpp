// What a node refuses to run, rule by rule: capabilities beyond the default
// set need --allow-capability, host IPs other than the node's address need
// --allow-host-ip, and the node's own ports are never a job's.
#include "agent/pod_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "job/job_parser.h"

namespace ozy {
namespace {

using ::testing::HasSubstr;

Job jobWith(const std::string& fields) {
  auto job = parseJob("name: web\ncontainers:\n  app:\n    image: x\n" + fields);
  EXPECT_TRUE(job.ok());
  return job.ok() ? *job : Job{};
}

PodPolicy policy() {
  PodPolicy p;
  p.address = "10.0.0.5";
  p.reservedPorts = {{2379, Protocol::kTcp}, {7700, Protocol::kTcp}};
  return p;
}

TEST(PodPolicy, RunsAPlainJob) {
  EXPECT_EQ(refusal(jobWith("    ports: [\"80:3000\", \"10.0.0.5:81:3001\", \"3002\"]\n"), policy()),
            std::nullopt);
}

TEST(PodPolicy, RefusesACapabilityBeyondTheDefaultsUnlessAllowed) {
  const Job job = jobWith("    cap_add: [KILL, NET_ADMIN]\n");
  const auto reason = refusal(job, policy());
  ASSERT_TRUE(reason.has_value());
  EXPECT_THAT(*reason, HasSubstr("container app asks for capability NET_ADMIN"));
  EXPECT_THAT(*reason, HasSubstr("--allow-capability NET_ADMIN"));
  PodPolicy allowing = policy();
  allowing.allowedCapabilities = {"NET_ADMIN"};
  EXPECT_EQ(refusal(job, allowing), std::nullopt);
}

TEST(PodPolicy, RefusesAHostIpOtherThanTheNodesUnlessAllowed) {
  for (const char* ip : {"10.0.0.6", "0.0.0.0", "127.0.0.1"}) {
    SCOPED_TRACE(ip);
    const Job job = jobWith(std::string("    ports: [\"") + ip + ":80:3000\"]\n");
    const auto reason = refusal(job, policy());
    ASSERT_TRUE(reason.has_value());
    EXPECT_THAT(*reason, HasSubstr(std::string("on host address ") + ip));
    EXPECT_THAT(*reason, HasSubstr(std::string("--allow-host-ip ") + ip));
    PodPolicy allowing = policy();
    allowing.allowedHostIps = {ip};
    EXPECT_EQ(refusal(job, allowing), std::nullopt);
  }
}

TEST(PodPolicy, RefusesAReservedHostPortOfTheSameProtocol) {
  const auto reason = refusal(jobWith("    ports: [\"7700:80\"]\n"), policy());
  ASSERT_TRUE(reason.has_value());
  EXPECT_THAT(*reason, HasSubstr("host port 7700/tcp, which this node reserves"));
  EXPECT_EQ(refusal(jobWith("    ports: [\"7700:80/udp\"]\n"), policy()), std::nullopt);
}

}  // namespace
}  // namespace ozy
