// WorkerPool's bound: a queue limit of 0 (the stream pool's) takes a job
// exactly when a thread is free for it, even one that has not yet begun to
// wait.
#include "http/worker_pool.h"

#include <gtest/gtest.h>

#include <memory>

#include "support/test_server.h"

namespace ozy::http {
namespace {

using namespace std::chrono_literals;

TEST(HttpWorkerPool, WithoutAQueueTakesAJobForAThreadThatHasJustStarted) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    WorkerPool pool(1, 0);
    EXPECT_TRUE(pool.trySubmit([] {})) << "attempt " << attempt;
  }
}

TEST(HttpWorkerPool, WithoutAQueueRefusesAJobWhileEveryThreadIsBusy) {
  auto gate = std::make_shared<testing::Gate>();
  WorkerPool pool(1, 0);
  ASSERT_TRUE(pool.trySubmit([gate] {
    gate->markEntered();
    gate->waitOpen();
  }));
  ASSERT_TRUE(gate->waitEntered(5s));

  const bool second = pool.trySubmit([] {});
  gate->open();

  EXPECT_FALSE(second);
}

}  // namespace
}  // namespace ozy::http
