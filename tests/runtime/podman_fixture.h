// PodmanTest: a fixture that gives each test a PodmanRuntime on a private
// `podman system service`, the busybox test image, and a label that marks
// everything the test creates so TearDown removes it, failed or not.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "runtime/podman_runtime.h"
#include "runtime/podman_service.h"
#include "support/test_image.h"

namespace ozy::runtime::testing {

using ozy::testing_support::kTestImage;

class PodmanTest : public ::testing::Test {
 public:
  static std::string socketPath();
  static std::string containersConf();

 protected:
  // Once per suite: the service (and the image, imported if missing).
  static void SetUpTestSuite();
  static void TearDownTestSuite();
  void SetUp() override;
  void TearDown() override;

  // A pod carrying this test's label, named uniquely ("...-pod-NAME").
  PodSpec podSpec(const std::string& name) const;
  // A container in `pod` from the test image, carrying this test's label.
  ContainerSpec containerSpec(const std::string& name, const std::string& pod,
                              std::vector<std::string> command) const;
  std::string uniqueName(const std::string& name) const {
    return "ozy-test-" + token_ + "-" + name;
  }

  std::unique_ptr<PodmanRuntime> runtime_;
  std::string token_;  // the value of this test's "ozy-test" label
};

// A TCP port on 127.0.0.1 that was free a moment ago.
int freeLoopbackPort();

}  // namespace ozy::runtime::testing
