// A container's logs and an exec's output against a real podman 4.3 service:
// streams told apart, tail and since, follow to the container's end, stops,
// missing containers, and the log file's size bound.
#include <algorithm>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "podman_fixture.h"
#include "runtime/unix_http.h"

namespace ozy::runtime::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Code = RuntimeError::Code;

#define ASSERT_OK(expr)                                    \
  do {                                                     \
    auto ozyResult_ = (expr);                              \
    ASSERT_TRUE(ozyResult_) << ozyResult_.error().message; \
  } while (false)

// What a log read delivered, for a test thread to wait on while another
// thread reads.
class Collected {
 public:
  LogSink sink() {
    return [this](LogStream stream, std::string_view text) {
      std::lock_guard lock(mutex_);
      (stream == LogStream::kStdout ? out_ : err_) += text;
      ++chunks_;
      changed_.notify_all();
      return true;
    };
  }
  void finish(RuntimeResult<Done> result) {
    std::lock_guard lock(mutex_);
    result_.emplace(std::move(result));
    finishedAt_ = Clock::now();
    changed_.notify_all();
  }
  // Waits until `condition(out, err)` holds; false if `limit` passed first.
  bool waitFor(const std::function<bool(const std::string&, const std::string&)>& condition,
               std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return condition(out_, err_); });
  }
  bool waitForEnd(std::chrono::milliseconds limit) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, limit, [&] { return result_.has_value(); });
  }
  std::string out() {
    std::lock_guard lock(mutex_);
    return out_;
  }
  std::string err() {
    std::lock_guard lock(mutex_);
    return err_;
  }
  int chunks() {
    std::lock_guard lock(mutex_);
    return chunks_;
  }
  // Only after waitForEnd() returned true.
  RuntimeResult<Done> result() {
    std::lock_guard lock(mutex_);
    return *result_;
  }
  Clock::time_point finishedAt() {
    std::lock_guard lock(mutex_);
    return finishedAt_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::string out_;
  std::string err_;
  int chunks_ = 0;
  std::optional<RuntimeResult<Done>> result_;
  Clock::time_point finishedAt_;
};

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// Polls inspectContainer until the container has exited or `limit` passes.
bool waitForExit(ContainerRuntime& runtime, const std::string& id,
                 std::chrono::milliseconds limit) {
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    auto state = runtime.inspectContainer(id);
    if (state && state->status == ContainerStatus::kExited) return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

class PodmanLogsTest : public PodmanTest {
 protected:
  // A container of its own pod, running `script` under sh, started.
  std::string runScript(const std::string& name, const std::string& script) {
    auto pod = runtime_->createPod(podSpec(name));
    EXPECT_TRUE(pod) << pod.error().message;
    if (!pod) return {};
    auto id = runtime_->createContainer(containerSpec(name, *pod, {"sh", "-c", script}));
    EXPECT_TRUE(id) << id.error().message;
    if (!id) return {};
    auto started = runtime_->startContainer(*id);
    EXPECT_TRUE(started) << started.error().message;
    return started ? *id : std::string();
  }
  // A container that printed `script`'s output and has exited.
  std::string runToExit(const std::string& name, const std::string& script) {
    const std::string id = runScript(name, script);
    if (!id.empty()) {
      EXPECT_TRUE(waitForExit(*runtime_, id, 20s)) << name << " did not exit";
    }
    return id;
  }
  // Reads the log again and again until its stdout is `expected`.
  bool waitForLog(const std::string& id, const std::string& expected,
                  std::chrono::milliseconds limit) {
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      Collected logs;
      logs.finish(runtime_->containerLogs(id, {}, logs.sink(), {}));
      if (logs.out() == expected) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }
  // Reads the whole log without following.
  Collected& read(const std::string& id, const LogOptions& options) {
    auto& collected = reads_.emplace_back(std::make_unique<Collected>());
    collected->finish(runtime_->containerLogs(id, options, collected->sink(), {}));
    return *collected;
  }

  std::vector<std::unique_ptr<Collected>> reads_;
};

TEST_F(PodmanLogsTest, LogsMarkStdoutAndStderrApart) {
  const std::string id =
      runToExit("streams", "echo out-1; echo err-1 >&2; echo out-2; echo err-2 >&2; printf tail");
  ASSERT_FALSE(id.empty());
  Collected& logs = read(id, {});
  ASSERT_OK(logs.result());
  // Within a stream the order is kept; across the two, conmon's reads decide.
  EXPECT_EQ(logs.out(), "out-1\nout-2\ntail");  // a last line without newline stays so
  EXPECT_EQ(logs.err(), "err-1\nerr-2\n");
}

TEST_F(PodmanLogsTest, TailGivesOnlyTheLastLines) {
  const std::string id = runToExit("tail", "for i in 1 2 3 4 5; do echo line-$i; done");
  ASSERT_FALSE(id.empty());
  LogOptions lastTwo;
  lastTwo.tailLines = 2;
  Collected& two = read(id, lastTwo);
  ASSERT_OK(two.result());
  EXPECT_EQ(two.out(), "line-4\nline-5\n");
  LogOptions none;
  none.tailLines = 0;
  Collected& zero = read(id, none);
  ASSERT_OK(zero.result());
  EXPECT_EQ(zero.out(), "");
  LogOptions negative;
  negative.tailLines = -1;
  auto refused = runtime_->containerLogs(id, negative, Collected().sink(), {});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, Code::kInvalid) << refused.error().message;
}

TEST_F(PodmanLogsTest, SinceLeavesOutEarlierLinesAndTimestampsPrefixEachLine) {
  const std::string id = runToExit("since", "echo one; echo two");
  ASSERT_FALSE(id.empty());
  LogOptions future;
  future.sinceUnixSeconds = std::chrono::duration_cast<std::chrono::seconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count() +
                            3600;
  Collected& later = read(id, future);
  ASSERT_OK(later.result());
  EXPECT_EQ(later.out(), "");
  LogOptions stamped;
  stamped.sinceUnixSeconds = 0;
  stamped.timestamps = true;
  Collected& all = read(id, stamped);
  ASSERT_OK(all.result());
  // podman 4.3.1: RFC 3339 in whole seconds, UTC, e.g. "2026-12-01T20:04:35Z one".
  const std::string text = all.out();
  ASSERT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  EXPECT_EQ(text.find("Z one\n"), 19u) << text;
  EXPECT_EQ(text.substr(0, 2), "20") << text;
}

TEST_F(PodmanLogsTest, FollowGetsLinesPrintedLaterAndEndsWhenTheContainerExits) {
  // The container prints "after" only once the test, having seen "before",
  // lets it: so "after" is surely printed while the follow runs.
  const std::string id = runScript(
      "follow", "echo before; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo after >&2; exit 0");
  ASSERT_FALSE(id.empty());
  Collected followed;
  std::jthread reader([&](std::stop_token stop) {
    LogOptions options;
    options.follow = true;
    followed.finish(runtime_->containerLogs(id, options, followed.sink(), stop));
  });
  ASSERT_TRUE(followed.waitFor([](auto& out, auto&) { return out == "before\n"; }, 20s))
      << followed.out();
  ASSERT_OK(runtime_->exec(id, {"touch", "/tmp/go"}, 10s));
  ASSERT_TRUE(followed.waitFor([](auto&, auto& err) { return err == "after\n"; }, 20s))
      << followed.err();
  // podman ends the stream about half a second after the container exits.
  ASSERT_TRUE(followed.waitForEnd(20s)) << "the follow did not end with the container";
  ASSERT_OK(followed.result());
  EXPECT_EQ(followed.out(), "before\n");
}

TEST_F(PodmanLogsTest, FollowWithTailStartsFromTheLastLines) {
  const std::string id =
      runScript("follow-tail",
                "echo old-1; echo old-2; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo new-1");
  ASSERT_FALSE(id.empty());
  // Both old lines are logged before the follow starts.
  ASSERT_TRUE(waitForLog(id, "old-1\nold-2\n", 20s));
  Collected followed;
  std::jthread reader([&](std::stop_token stop) {
    LogOptions options;
    options.follow = true;
    options.tailLines = 1;
    followed.finish(runtime_->containerLogs(id, options, followed.sink(), stop));
  });
  ASSERT_TRUE(followed.waitFor([](auto& out, auto&) { return out == "old-2\n"; }, 20s))
      << followed.out();
  ASSERT_OK(runtime_->exec(id, {"touch", "/tmp/go"}, 10s));
  ASSERT_TRUE(followed.waitForEnd(20s));
  ASSERT_OK(followed.result());
  EXPECT_EQ(followed.out(), "old-2\nnew-1\n");
}

TEST_F(PodmanLogsTest, AStopEndsAFollowPromptly) {
  const std::string id = runScript("stop-follow", "echo ready; sleep 600");
  ASSERT_FALSE(id.empty());
  Collected followed;
  std::jthread reader([&](std::stop_token stop) {
    LogOptions options;
    options.follow = true;
    followed.finish(runtime_->containerLogs(id, options, followed.sink(), stop));
  });
  ASSERT_TRUE(followed.waitFor([](auto& out, auto&) { return out == "ready\n"; }, 20s));
  const auto asked = Clock::now();
  reader.request_stop();
  ASSERT_TRUE(followed.waitForEnd(5s)) << "the stop did not end the follow";
  EXPECT_LT(followed.finishedAt() - asked, 500ms);
  ASSERT_OK(followed.result());
}

TEST_F(PodmanLogsTest, FollowingASilentContainerOutlastsTheCallDeadline) {
  // podman 4.3.1 sends the answer's header only with the first line, so a
  // silent container's follow waits for it with no deadline but the stop.
  const std::string id = runScript("silent", "sleep 600");
  ASSERT_FALSE(id.empty());
  PodmanConfig shortDeadline;
  shortDeadline.socketPath = socketPath();
  shortDeadline.deadline = 500ms;
  PodmanRuntime runtime(shortDeadline);
  Collected followed;
  std::jthread reader([&](std::stop_token stop) {
    LogOptions options;
    options.follow = true;
    followed.finish(runtime.containerLogs(id, options, followed.sink(), stop));
  });
  // The follow must still be waiting well past the 500 ms deadline.
  EXPECT_FALSE(followed.waitForEnd(2s)) << "the follow ended before it was stopped";
  const auto asked = Clock::now();
  reader.request_stop();
  ASSERT_TRUE(followed.waitForEnd(5s)) << "the stop did not end the follow";
  EXPECT_LT(followed.finishedAt() - asked, 500ms);
  ASSERT_OK(followed.result());
  EXPECT_EQ(followed.chunks(), 0);
}

TEST_F(PodmanLogsTest, ASinkThatHasEnoughEndsTheRead) {
  const std::string id = runToExit("enough", "for i in 1 2 3 4 5; do echo line-$i; done");
  ASSERT_FALSE(id.empty());
  std::vector<std::string> seen;
  ASSERT_OK(runtime_->containerLogs(id, {},
                                    [&](LogStream, std::string_view text) {
                                      seen.emplace_back(text);
                                      return seen.size() < 2;
                                    },
                                    {}));
  EXPECT_EQ(seen, (std::vector<std::string>{"line-1\n", "line-2\n"}));
}

TEST_F(PodmanLogsTest, AContainerNeverStartedHasAnEmptyLog) {
  auto pod = runtime_->createPod(podSpec("unstarted"));
  ASSERT_TRUE(pod) << pod.error().message;
  auto id = runtime_->createContainer(containerSpec("unstarted", *pod, {"echo", "never"}));
  ASSERT_TRUE(id) << id.error().message;
  Collected& logs = read(*id, {});
  ASSERT_OK(logs.result());
  EXPECT_EQ(logs.chunks(), 0);
  // A follow, too, ends at once: there is nothing to wait for.
  LogOptions follow;
  follow.follow = true;
  const auto before = Clock::now();
  Collected& followed = read(*id, follow);
  ASSERT_OK(followed.result());
  EXPECT_EQ(followed.chunks(), 0);
  EXPECT_LT(Clock::now() - before, 5s);
}

TEST_F(PodmanLogsTest, LogsOfAMissingContainerAreNotFound) {
  const std::string nope = uniqueName("no-such");
  for (bool follow : {false, true}) {
    LogOptions options;
    options.follow = follow;
    Collected& logs = read(nope, options);
    auto result = logs.result();
    ASSERT_FALSE(result) << "follow " << follow;
    EXPECT_EQ(result.error().code, Code::kNotFound) << result.error().message;
    EXPECT_TRUE(contains(result.error().message, nope)) << result.error().message;
  }
}

TEST_F(PodmanLogsTest, ExecGivesTheOutputOfEachStreamAndTheExitCode) {
  const std::string id = runScript("exec-output", "sleep 600");
  ASSERT_FALSE(id.empty());
  auto ran = runtime_->exec(id, {"sh", "-c", "echo out; echo err >&2; exit 3"}, 10s);
  ASSERT_TRUE(ran) << ran.error().message;
  EXPECT_EQ(ran->exitCode, 3);
  EXPECT_EQ(ran->stdoutText, "out\n");
  EXPECT_EQ(ran->stderrText, "err\n");
  EXPECT_FALSE(ran->truncated);
}

TEST_F(PodmanLogsTest, ExecKeepsTheFirstMebibyteOfAStreamAndSaysSo) {
  const std::string id = runScript("exec-big", "sleep 600");
  ASSERT_FALSE(id.empty());
  auto ran = runtime_->exec(
      id, {"sh", "-c", "head -c 3000000 /dev/zero | tr '\\0' x; echo small >&2; exit 0"}, 20s);
  ASSERT_TRUE(ran) << ran.error().message;
  EXPECT_EQ(ran->exitCode, 0);
  EXPECT_TRUE(ran->truncated);
  EXPECT_EQ(ran->stdoutText, std::string(kExecOutputLimit, 'x'));
  EXPECT_EQ(ran->stderrText, "small\n");
}

TEST_F(PodmanLogsTest, ExecInAMissingContainerIsNotFound) {
  auto ran = runtime_->exec(uniqueName("no-such"), {"true"}, 5s);
  ASSERT_FALSE(ran);
  EXPECT_EQ(ran.error().code, Code::kNotFound) << ran.error().message;
}

TEST_F(PodmanLogsTest, ExecInAStoppedContainerIsAConflict) {
  const std::string id = runToExit("exec-stopped", "true");
  ASSERT_FALSE(id.empty());
  auto ran = runtime_->exec(id, {"true"}, 5s);
  ASSERT_FALSE(ran);
  EXPECT_EQ(ran.error().code, Code::kConflict) << ran.error().message;
}

// The log file's path, from the container's inspection (HostConfig.LogConfig.Path).
std::string logPath(const std::string& socket, const std::string& id) {
  UnixHttpClient client({socket});
  http::ClientRequest request;
  request.path = "/v4.0.0/libpod/containers/" + id + "/json";
  auto response = client.send(request);
  if (!response || response->status != 200) return {};
  const auto inspected = nlohmann::json::parse(response->body, nullptr, false);
  if (!inspected.is_object()) return {};
  return inspected.value(nlohmann::json::json_pointer("/HostConfig/LogConfig/Path"), std::string());
}

TEST_F(PodmanLogsTest, TheLogFileStaysWithinLogMaxSize) {
  // About 1.2 MB of output against a 64 KiB bound: conmon (k8s-file with
  // log_size_max) empties the file whenever the next write would pass it.
  constexpr std::uint64_t kLimit = 64 << 10;
  auto pod = runtime_->createPod(podSpec("log-size"));
  ASSERT_TRUE(pod) << pod.error().message;
  ContainerSpec spec = containerSpec("log-size", *pod,
                                     {"sh", "-c",
                                      "i=0; while [ $i -lt 20000 ]; do echo "
                                      "line-$i-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; "
                                      "i=$((i+1)); done; echo last-line"});
  spec.logMaxSize = kLimit;
  auto id = runtime_->createContainer(spec);
  ASSERT_TRUE(id) << id.error().message;
  ASSERT_OK(runtime_->startContainer(*id));
  ASSERT_TRUE(waitForExit(*runtime_, *id, 60s));

  const std::string path = logPath(socketPath(), *id);
  ASSERT_FALSE(path.empty()) << "inspect names no log file";
  std::error_code error;
  const auto size = std::filesystem::file_size(path, error);
  ASSERT_FALSE(error) << path << ": " << error.message();
  EXPECT_GT(size, 0u);
  // conmon checks before each write, so the file never passes the bound;
  // a line (at most 8 KiB as conmon writes it) is the slack allowed.
  EXPECT_LE(size, kLimit + (8 << 10)) << path;

  // Still readable: the latest lines are there, the earliest were dropped.
  Collected& logs = read(*id, {});
  ASSERT_OK(logs.result());
  const std::string out = logs.out();
  EXPECT_TRUE(
      out.ends_with("line-19999-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nlast-line\n"))
      << out.substr(out.size() - std::min<std::size_t>(out.size(), 200));
  EXPECT_FALSE(out.starts_with("line-0-")) << "nothing was dropped: the bound did not act";
  EXPECT_LE(out.size(), kLimit);
}

}  // namespace
}  // namespace ozy::runtime::testing
