#include "scheduler/keys.h"

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

}  // namespace ozy::keys
