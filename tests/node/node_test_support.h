// What the node tests share: running a command for its output, podman with
// the project's containers.conf, and waiting on a condition.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "scheduler/keys.h"
#include "scheduler/records.h"
#include "store/store.h"

#include "support/temp_dir.h"
#include "support/test_image.h"

namespace ozy::node_testing {

// The command's stdout (stderr dropped), without trailing blanks.
inline std::string run(const std::string& command) {
  std::string out;
  FILE* pipe = ::popen((command + " 2>/dev/null").c_str(), "r");
  if (pipe == nullptr) return out;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  ::pclose(pipe);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

inline std::string podman(const std::string& args) {
  return run("CONTAINERS_CONF='" + testing_support::projectContainersConf() + "' podman " + args);
}

// Polls `ready` until it holds or `timeout` passes; its last answer.
inline bool waitFor(const std::function<bool()>& ready, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return ready();
}

// A job's instance statuses as etcd holds them, by id.
inline std::map<std::uint32_t, InstanceStatus> statuses(Store& store, const std::string& job) {
  std::map<std::uint32_t, InstanceStatus> out;
  auto range = store.getPrefix(keys::statusOf(job));
  if (!range) return out;
  for (const auto& kv : range->kvs) {
    auto s = decodeInstanceStatus(kv.value);
    if (s) out[std::stoul(std::string(keys::nameUnder(kv.key, keys::statusOf(job))))] = *s;
  }
  return out;
}

// Exactly `count` instances, every one in `state`.
inline bool allIn(Store& store, const std::string& job, std::size_t count, InstanceState state) {
  auto s = statuses(store, job);
  if (s.size() != count) return false;
  for (const auto& [id, status] : s) {
    if (status.state != state) return false;
  }
  return true;
}

// The busybox test image, made once per test program (in a directory that
// lives as long as it); empty, or why it could not be made.
inline const std::string& testImageError() {
  static testing_support::TempDir dir;
  static const std::string error =
      testing_support::ensureTestImage(dir.path(), testing_support::projectContainersConf());
  return error;
}

}  // namespace ozy::node_testing
