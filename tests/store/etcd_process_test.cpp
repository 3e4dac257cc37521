// The test helper EtcdProcess itself: it must never leave an etcd running or
// files behind, even when the test binary dies.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "etcd_test_support.h"

namespace ozy {
namespace {

using namespace std::chrono_literals;
using testing_support::EtcdProcess;

// Whether `pid` is a live process (a zombie awaiting its reaper counts as
// dead).
bool alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string pidField, name, state;
  if (!(stat >> pidField >> name >> state)) return false;
  return state != "Z" && state != "X";
}

bool diesWithin(pid_t pid, std::chrono::seconds bound) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (alive(pid)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

class EtcdProcessTest : public EtcdTest {};

TEST_F(EtcdProcessTest, StopKillsEtcdAndRemovesItsFiles) {
  const pid_t pid = etcd_->pid();
  const std::filesystem::path dataDir = etcd_->dataDir();
  ASSERT_TRUE(alive(pid));
  ASSERT_TRUE(std::filesystem::exists(dataDir));
  etcd_->stop();
  EXPECT_FALSE(alive(pid));
  EXPECT_FALSE(std::filesystem::exists(dataDir.parent_path()));
  EXPECT_FALSE(etcd_->running());
}

TEST_F(EtcdProcessTest, RestartKeepsTheDataAndTheEndpoint) {
  ASSERT_TRUE(isOk(store_->put("/kept", "yes")));
  const std::string endpoint = etcd_->endpoint();
  auto restarted = etcd_->restart();
  ASSERT_TRUE(restarted.ok()) << restarted.error();
  EXPECT_EQ(etcd_->endpoint(), endpoint);
  auto store = connect();
  auto got = store->get("/kept");
  ASSERT_TRUE(isOk(got));
  EXPECT_EQ(got->kvs.size(), 1u);
}

// A test binary that crashes cannot run destructors; etcd must die with it.
TEST(EtcdProcessCrashTest, EtcdDiesWhenTheProcessThatStartedItDies) {
  // Orphans are re-parented to this process, which can then reap them.
  ASSERT_EQ(::prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
  int pipeFds[2];
  ASSERT_EQ(::pipe(pipeFds), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  struct Started {
    pid_t pid = -1;
    char dataDir[512] = {};
  };
  if (child == 0) {
    auto etcd = EtcdProcess::start();
    Started started;
    if (etcd.ok()) {
      started.pid = (*etcd)->pid();
      (*etcd)->dataDir().copy(started.dataDir, sizeof started.dataDir - 1);
    }
    (void)!::write(pipeFds[1], &started, sizeof started);
    ::kill(::getpid(), SIGKILL);  // no destructors, no clean-up
  }
  ::close(pipeFds[1]);
  Started started;
  const ssize_t got = ::read(pipeFds[0], &started, sizeof started);
  ::close(pipeFds[0]);
  ::waitpid(child, nullptr, 0);
  ASSERT_EQ(got, static_cast<ssize_t>(sizeof started));
  ASSERT_GT(started.pid, 0) << "the child could not start etcd";
  EXPECT_TRUE(diesWithin(started.pid, 10s));
  if (alive(started.pid)) ::kill(started.pid, SIGKILL);  // never leave it behind
  ::waitpid(started.pid, nullptr, 0);
  // What the dead child could not clean up.
  std::error_code ignored;
  std::filesystem::remove_all(std::filesystem::path(started.dataDir).parent_path(), ignored);
}

}  // namespace
}  // namespace ozy
