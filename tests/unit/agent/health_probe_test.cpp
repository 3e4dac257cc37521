// Exec health checks against a fake runtime: the command's exit code
// decides, and a runtime failure is the probe's failure.
#include "agent/health_probe.h"

#include <gtest/gtest.h>

#include "../support/fake_container_runtime.h"

namespace ozy {
namespace {

using testing_support::FakeContainerRuntime;
using Code = runtime::RuntimeError::Code;

CheckTarget execTarget(const std::string& container) {
  CheckTarget target;
  target.key = container + "/1";
  target.container = container;
  target.check.type = HealthCheckType::kExec;
  target.check.command = {"check-health"};
  return target;
}

TEST(ExecProbe, PassesOnExitCodeZeroAndRunsTheCheckCommand) {
  FakeContainerRuntime runtime;
  runtime.setExecResult("web", runtime::ExecResult{0, "fine\n", "", false});
  const ProbeResult result = runProbe(execTarget("web"), runtime);
  EXPECT_TRUE(result.ok) << result.detail;
  ASSERT_EQ(runtime.execsSeen().size(), 1u);
  EXPECT_EQ(runtime.execsSeen()[0].first, "web");
  EXPECT_EQ(runtime.execsSeen()[0].second, std::vector<std::string>{"check-health"});
}

TEST(ExecProbe, FailsWithTheExitCode) {
  FakeContainerRuntime runtime;
  runtime.setExecResult("web", runtime::ExecResult{3, "", "not ready\n", false});
  const ProbeResult result = runProbe(execTarget("web"), runtime);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.detail, "the check command exited with code 3");
}

TEST(ExecProbe, FailsWithTheRuntimesReason) {
  FakeContainerRuntime runtime;
  runtime.setExecResult("web", fail(runtime::RuntimeError{Code::kTimeout, "too slow"}));
  const ProbeResult result = runProbe(execTarget("web"), runtime);
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.detail, "too slow");
  EXPECT_FALSE(runProbe(execTarget("gone"), runtime).ok);  // no such container
}

}  // namespace
}  // namespace ozy
