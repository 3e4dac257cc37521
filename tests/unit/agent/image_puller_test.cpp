// ImagePuller against a fake runtime: one pull per image however many ask,
// a bound on pulls at once and on the queue, `always` answered only by a pull
// that began after the ask, failures kept for the ask they answer, and a
// stop that does not wait for a registry.
#include "agent/image_puller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>

#include "../support/fake_container_runtime.h"

namespace ozy {
namespace {

using namespace std::chrono_literals;
using Phase = PullOutcome::Phase;
using testing_support::FakeContainerRuntime;

bool eventually(const std::function<bool()>& ready) {
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return ready();
}

class ImagePullerTest : public ::testing::Test {
 protected:
  std::unique_ptr<ImagePuller> makePuller(std::size_t parallel = 3, std::size_t maxWaiting = 256) {
    return std::make_unique<ImagePuller>(
        runtime_, ImagePullerConfig{.parallel = parallel,
                                    .maxWaiting = maxWaiting,
                                    .onDone = [this] { ++done_; },
                                    .steadyMs = [this] { return clock_.load(); }});
  }
  static PullRequest request(const std::string& reference) { return {reference, std::nullopt, true}; }
  // Asks until the answer is no longer "pulling".
  static PullOutcome settled(ImagePuller& puller, const std::string& reference, std::int64_t askedAt,
                             bool fresh) {
    PullOutcome outcome;
    eventually([&] {
      outcome = puller.want(request(reference), askedAt, fresh);
      return outcome.phase != Phase::kPulling;
    });
    return outcome;
  }

  FakeContainerRuntime runtime_;
  std::atomic<std::int64_t> clock_{100};
  std::atomic<int> done_{0};
};

TEST_F(ImagePullerTest, TenInstancesWaitingForOneImageMakeOnePull) {
  auto puller = makePuller();
  runtime_.hold(true);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(puller->want(request("r/app:1"), 100, false).phase, Phase::kPulling);
  }
  ASSERT_TRUE(eventually([&] { return runtime_.running() == 1; }));
  for (int i = 0; i < 10; ++i) puller->want(request("r/app:1"), 100, false);
  runtime_.hold(false);
  EXPECT_EQ(settled(*puller, "r/app:1", 100, false).phase, Phase::kDone);
  EXPECT_EQ(runtime_.pulls("r/app:1"), 1);
  EXPECT_EQ(done_.load(), 1);
}

TEST_F(ImagePullerTest, NoMoreThanTheBoundPullAtOnce) {
  auto puller = makePuller(3);
  runtime_.hold(true);
  for (int i = 0; i < 6; ++i) puller->want(request("r/app-" + std::to_string(i) + ":1"), 100, false);
  ASSERT_TRUE(eventually([&] { return runtime_.running() == 3; }));
  std::this_thread::sleep_for(50ms);  // room for a fourth, if there were one
  EXPECT_EQ(runtime_.running(), 3);
  runtime_.hold(false);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(settled(*puller, "r/app-" + std::to_string(i) + ":1", 100, false).phase, Phase::kDone);
  }
  EXPECT_EQ(runtime_.maxRunning(), 3);
}

TEST_F(ImagePullerTest, AFreshPullMustBeginAfterTheAsk) {
  auto puller = makePuller();
  EXPECT_EQ(settled(*puller, "r/app:latest", 100, true).phase, Phase::kDone);
  EXPECT_EQ(runtime_.pulls("r/app:latest"), 1);
  // Asked at the same time: that pull answers it.
  EXPECT_EQ(puller->want(request("r/app:latest"), 100, true).phase, Phase::kDone);
  // A later pod wants a later pull (the tag may have moved).
  clock_ = 200;
  EXPECT_EQ(puller->want(request("r/app:latest"), 200, true).phase, Phase::kPulling);
  EXPECT_EQ(settled(*puller, "r/app:latest", 200, true).phase, Phase::kDone);
  EXPECT_EQ(runtime_.pulls("r/app:latest"), 2);
  // Without `fresh` an image pulled earlier is good.
  EXPECT_EQ(puller->want(request("r/app:latest"), 150, false).phase, Phase::kDone);
  EXPECT_EQ(runtime_.pulls("r/app:latest"), 2);
}

TEST_F(ImagePullerTest, AFreshAskDuringAnOlderPullGetsOneMorePullForAllWhoWait) {
  auto puller = makePuller();
  runtime_.hold(true);
  puller->want(request("r/app:latest"), 100, true);
  ASSERT_TRUE(eventually([&] { return runtime_.running() == 1; }));
  clock_ = 200;
  for (int i = 0; i < 5; ++i) EXPECT_EQ(puller->want(request("r/app:latest"), 200, true).phase, Phase::kPulling);
  runtime_.hold(false);
  EXPECT_EQ(settled(*puller, "r/app:latest", 200, true).phase, Phase::kDone);
  EXPECT_EQ(runtime_.pulls("r/app:latest"), 2);
}

TEST_F(ImagePullerTest, IfNotPresentTakesThePullUnderWay) {
  auto puller = makePuller();
  runtime_.hold(true);
  puller->want(request("r/app:1"), 100, false);
  ASSERT_TRUE(eventually([&] { return runtime_.running() == 1; }));
  clock_ = 200;
  EXPECT_EQ(puller->want(request("r/app:1"), 200, false).phase, Phase::kPulling);
  runtime_.hold(false);
  EXPECT_EQ(settled(*puller, "r/app:1", 200, false).phase, Phase::kDone);
  EXPECT_EQ(runtime_.pulls("r/app:1"), 1);
}

TEST_F(ImagePullerTest, AFailureAnswersItsAskAndALaterAskPullsAgain) {
  auto puller = makePuller();
  runtime_.failPull("r/app:nope", {runtime::RuntimeError::Code::kNotFound, "no such tag"});
  const PullOutcome failed = settled(*puller, "r/app:nope", 100, false);
  EXPECT_EQ(failed.phase, Phase::kFailed);
  EXPECT_EQ(failed.error, "no such tag");
  EXPECT_EQ(puller->want(request("r/app:nope"), 100, false), failed);
  EXPECT_EQ(runtime_.pulls("r/app:nope"), 1);
  // After the back-off the instance asks again, later: a new pull.
  clock_ = 5000;
  EXPECT_EQ(settled(*puller, "r/app:nope", 5000, false).phase, Phase::kFailed);
  EXPECT_EQ(runtime_.pulls("r/app:nope"), 2);
}

TEST_F(ImagePullerTest, TheQueueHasABound) {
  auto puller = makePuller(1, 2);
  runtime_.hold(true);
  puller->want(request("r/a:1"), 100, false);
  ASSERT_TRUE(eventually([&] { return runtime_.running() == 1; }));
  EXPECT_EQ(puller->want(request("r/b:1"), 100, false).phase, Phase::kPulling);
  EXPECT_EQ(puller->want(request("r/c:1"), 100, false).phase, Phase::kPulling);
  const PullOutcome refused = puller->want(request("r/d:1"), 100, false);
  EXPECT_EQ(refused.phase, Phase::kFailed);
  EXPECT_NE(refused.error.find("waiting to be pulled"), std::string::npos) << refused.error;
  runtime_.hold(false);
}

TEST_F(ImagePullerTest, CredentialsAndTlsGoToTheRuntime) {
  auto puller = makePuller();
  PullRequest withAuth{"r:5000/app:1", runtime::RegistryAuth{"alice", "pw", "r:5000"}, false};
  puller->want(withAuth, 100, false);
  ASSERT_TRUE(eventually([&] { return puller->want(withAuth, 100, false).phase == Phase::kDone; }));
  ASSERT_EQ(runtime_.authsSeen().size(), 1u);
  EXPECT_EQ(runtime_.authsSeen()[0].username, "alice");
  EXPECT_EQ(runtime_.authsSeen()[0].serverAddress, "r:5000");
  EXPECT_EQ(runtime_.tlsVerifySeen(), std::vector<bool>{false});
}

TEST_F(ImagePullerTest, StopAbandonsAPullUnderWay) {
  auto puller = makePuller();
  runtime_.hold(true);
  puller->want(request("r/slow:1"), 100, false);
  ASSERT_TRUE(eventually([&] { return runtime_.running() == 1; }));
  const auto began = std::chrono::steady_clock::now();
  puller->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - began, 5s);
  EXPECT_EQ(runtime_.running(), 0);
  EXPECT_EQ(puller->want(request("r/other:1"), 100, false).phase, Phase::kPulling);  // and nothing runs
  EXPECT_EQ(runtime_.pulls("r/other:1"), 0);
}

}  // namespace
}  // namespace ozy
