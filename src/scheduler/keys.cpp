#include "scheduler/keys.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>

namespace ozy::keys {

std::string node(std::string_view name) { return std::string(kNodes) + std::string(name); }
std::string usage(std::string_view nodeName) { return std::string(kUsage) + std::string(nodeName); }
std::string drain(std::string_view nodeName) { return std::string(kDrain) + std::string(nodeName); }
std::string job(std::string_view name) { return std::string(kJobs) + std::string(name); }
std::string assignmentsOf(std::string_view nodeName) {
  return std::string(kAssignments) + std::string(nodeName) + "/";
}
std::string assignment(std::string_view nodeName, std::string_view jobName) {
  return assignmentsOf(nodeName) + std::string(jobName);
}

std::string statusOf(std::string_view jobName) {
  return std::string(kStatus) + std::string(jobName) + "/";
}
std::string status(std::string_view jobName, std::uint32_t id) {
  return statusOf(jobName) + std::to_string(id);
}

std::string versionsOf(std::string_view jobName) {
  return std::string(kVersions) + std::string(jobName) + "/";
}
std::string version(std::string_view jobName, std::uint64_t n) {
  return versionsOf(jobName) + std::to_string(n);
}
std::string deployment(std::string_view jobName) {
  return std::string(kDeployments) + std::string(jobName);
}

std::string eventsOf(std::string_view jobName) {
  return std::string(kEvents) + std::string(jobName) + "/";
}
std::string event(std::string_view jobName, std::int64_t atMs, std::string_view nodeName,
                  std::uint64_t serial) {
  return fmt::format("{}{:013}-{}-{:016x}", eventsOf(jobName),
                     std::clamp<std::int64_t>(atMs, 0, kMaxEventMs), nodeName, serial);
}

std::string ingressHost(std::string_view host) { return std::string(kIngressHosts) + std::string(host); }
std::string ingressTcp(std::uint16_t port) { return std::string(kIngressTcp) + std::to_string(port); }

std::string_view nameUnder(std::string_view key, std::string_view prefix) {
  if (!key.starts_with(prefix)) return {};
  return key.substr(prefix.size());
}

std::optional<StatusKey> parseStatus(std::string_view key) {
  const std::string_view rest = nameUnder(key, kStatus);
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  const std::string_view digits = rest.substr(slash + 1);
  std::uint32_t id = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
  if (digits.empty() || error != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return StatusKey{rest.substr(0, slash), id};
}

std::optional<EventKey> parseEvent(std::string_view key) {
  // <job>/<13 digits>-<node>-<16 hex digits>; the node may hold '-', so the
  // fixed-width parts are taken from both ends.
  constexpr std::size_t kMsDigits = 13;
  constexpr std::size_t kSerialDigits = 16;
  const std::string_view rest = nameUnder(key, kEvents);
  const auto slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return std::nullopt;
  const std::string_view id = rest.substr(slash + 1);
  if (id.size() < kMsDigits + 1 + 1 + 1 + kSerialDigits || id[kMsDigits] != '-' ||
      id[id.size() - kSerialDigits - 1] != '-') {
    return std::nullopt;
  }
  const std::string_view ms = id.substr(0, kMsDigits);
  const std::string_view serial = id.substr(id.size() - kSerialDigits);
  EventKey out;
  out.job = rest.substr(0, slash);
  out.node = id.substr(kMsDigits + 1, id.size() - kMsDigits - 1 - kSerialDigits - 1);
  if (out.node.find('/') != std::string_view::npos) return std::nullopt;
  // Digits and lower-case hex only, as written: one key has one spelling.
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  if (!std::all_of(ms.begin(), ms.end(), digit) ||
      !std::all_of(serial.begin(), serial.end(),
                   [&](char c) { return digit(c) || (c >= 'a' && c <= 'f'); })) {
    return std::nullopt;
  }
  std::from_chars(ms.data(), ms.data() + ms.size(), out.atMs);
  std::from_chars(serial.data(), serial.data() + serial.size(), out.serial, 16);
  return out;
}

}  // namespace ozy::keys
