// What the node tests share: running a command for its output, podman with
// the project's containers.conf, podman's event times, and waiting on a
// condition.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

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

// podman's RFC 3339 event time ("2026-12-01T09:29:38.858506881Z") in ns.
inline std::optional<std::int64_t> eventNanos(const std::string& text) {
  std::tm tm{};
  const char* rest = ::strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr) return std::nullopt;
  std::int64_t nanos = static_cast<std::int64_t>(::timegm(&tm)) * 1'000'000'000;
  if (*rest == '.') {
    std::int64_t scale = 100'000'000;
    for (++rest; *rest >= '0' && *rest <= '9'; ++rest, scale /= 10) nanos += (*rest - '0') * scale;
  }
  return nanos;
}

// The time (ns since the epoch) of the first event of this kind, e.g.
// "died", for `container` ("<pod>.<container>"), whose name in its job is
// `jobContainer`; nullopt if none.
inline std::optional<std::int64_t> eventTime(const std::string& container, const std::string& jobContainer,
                                             const std::string& event) {
  // By label, then by name: a removed container's name no longer resolves
  // in podman's own filter.
  const std::string out = podman(fmt::format(
      "events --since 10m --stream=false --filter event={} --filter label=ozy.container={} "
      "--format json",
      event, jobContainer));
  std::optional<std::int64_t> first;
  std::size_t start = 0;
  while (start < out.size()) {
    const auto end = out.find('\n', start);
    const auto line = nlohmann::json::parse(out.substr(start, end - start), nullptr, false);
    if (line.is_object() && line.value("Name", "") == container && line.contains("Time")) {
      auto at = eventNanos(line["Time"].get<std::string>());
      if (at && (!first || *at < *first)) first = at;
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return first;
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
