// The control plane's view of a job's event log: what the API's
// GET /v1/jobs/NAME/events will serve (a page, job-not-found, a blocking
// read that waits for the next event).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "control/control_plane.h"
#include "events/event_log.h"
#include "job/job_parser.h"
#include "scheduler/keys.h"
#include "support/etcd_with_store.h"

namespace ozy {
namespace {

using namespace std::chrono_literals;

class ControlPlaneEvents : public testing_support::EtcdStoreTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(EtcdStoreTest::SetUp());
    ASSERT_TRUE(
        store_
            ->put(keys::node("n1"),
                  encode(NodeRecord{
                      "n1", "10.0.0.1", "http://10.0.0.1:7700", {4 * kGiB, 10 * kGiB}, 0, {}}))
            .ok());
    ControlPlaneOptions options;
    options.maxWaiting = 1;
    control_ = std::make_unique<ControlPlane>(*store_, options);
    auto job = parseJob("name: web\ncontainers:\n  app:\n    image: busybox\n    memory: 64M\n");
    ASSERT_TRUE(job);
    ASSERT_TRUE(control_->submit(*job));
    EventLogOptions logOptions;
    logOptions.node = "n1";
    auto log = EventLog::start(*store_, logOptions);
    ASSERT_TRUE(log.ok()) << log.error();
    log_ = std::move(log).value();
  }
  void TearDown() override {
    if (log_) log_->stop();
  }

  Event placed(const std::string& message) {
    Event e;
    e.job = "web";
    e.instance = 0;
    e.kind = EventKind::kPlaced;
    e.message = message;
    return e;
  }

  std::unique_ptr<ControlPlane> control_;
  std::unique_ptr<EventLog> log_;
};

TEST_F(ControlPlaneEvents, ServesTheJobsLogAndRefusesOtherJobs) {
  log_->record(placed("one"));
  log_->record(placed("two"));
  ASSERT_TRUE(log_->flush(10s));
  auto page = control_->events("web", EventQuery{});
  ASSERT_TRUE(page) << page.error().detail;
  ASSERT_EQ(page->events.size(), 2u);
  EXPECT_EQ(page->events[0].event.message, "one");
  EXPECT_EQ(page->events[1].event.message, "two");
  EXPECT_GT(page->revision, 0);

  auto missing = control_->events("nope", EventQuery{});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().type.slug, problems::kJobNotFound.slug);
  auto invalid = control_->events("Not/A/Job", EventQuery{});
  ASSERT_FALSE(invalid);
  EXPECT_EQ(invalid.error().type.slug, problems::kInvalidJobName.slug);
}

TEST_F(ControlPlaneEvents, ABlockingReadWaitsForTheNextEventWithinItsSlots) {
  auto page = control_->events("web", EventQuery{});
  ASSERT_TRUE(page);
  std::thread writer([&] {
    std::this_thread::sleep_for(200ms);
    log_->record(placed("next"));
  });
  const auto before = std::chrono::steady_clock::now();
  control_->waitForEvents("web", page->revision, 20s);
  EXPECT_LT(std::chrono::steady_clock::now() - before, 10s) << "it waited for the timeout";
  writer.join();
  EventQuery after;
  after.afterRevision = page->revision;
  auto next = control_->events("web", after);
  ASSERT_TRUE(next);
  ASSERT_EQ(next->events.size(), 1u);
  EXPECT_EQ(next->events[0].event.message, "next");

  // Without a free slot, a blocking read answers at once.
  ControlPlaneOptions none;
  none.maxWaiting = 0;
  ControlPlane busy(*store_, none);
  const auto second = std::chrono::steady_clock::now();
  busy.waitForEvents("web", next->revision, 20s);
  EXPECT_LT(std::chrono::steady_clock::now() - second, 5s);
}

}  // namespace
}  // namespace ozy
