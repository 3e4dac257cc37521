#include "job/job.h"

#include <fmt/format.h>

namespace ozy {

const Container* Job::findContainer(std::string_view wanted) const {
  for (const auto& c : containers) {
    if (c.name == wanted) return &c;
  }
  return nullptr;
}

std::string_view toString(RestartPolicy policy) {
  switch (policy) {
    case RestartPolicy::kAlways:
      return "always";
    case RestartPolicy::kOnFailure:
      return "on-failure";
    case RestartPolicy::kNo:
      return "no";
  }
  return "?";
}

std::string_view toString(Protocol protocol) {
  return protocol == Protocol::kTcp ? "tcp" : "udp";
}

std::string_view toString(HealthCheckType type) {
  switch (type) {
    case HealthCheckType::kHttp:
      return "http";
    case HealthCheckType::kTcp:
      return "tcp";
    case HealthCheckType::kExec:
      return "exec";
  }
  return "?";
}

std::string_view toString(VolumeType type) { return type == VolumeType::kShared ? "shared" : "local"; }

std::string_view toString(PullPolicy policy) {
  switch (policy) {
    case PullPolicy::kIfNotPresent:
      return "if-not-present";
    case PullPolicy::kAlways:
      return "always";
    case PullPolicy::kNever:
      return "never";
  }
  return "?";
}

std::string_view toString(UpdateStrategy strategy) {
  return strategy == UpdateStrategy::kRecreate ? "recreate" : "rolling";
}

std::string defaultHostOf(std::string_view job, std::string_view domain) {
  std::string host(job);
  host += '.';
  host += domain;
  return host;
}

std::string toString(const PortMapping& port) {
  std::string out;
  if (!port.hostIp.empty()) {
    // IPv6 addresses are bracketed so the colons stay unambiguous.
    out += port.hostIp.find(':') != std::string::npos ? fmt::format("[{}]:", port.hostIp)
                                                       : port.hostIp + ":";
  }
  if (port.hostPort != 0) {
    out += fmt::format("{}:", port.hostPort);
  } else if (!port.hostIp.empty()) {
    out += ":";  // "127.0.0.1::3000": an ephemeral host port on that address
  }
  out += fmt::format("{}", port.containerPort);
  if (port.protocol == Protocol::kUdp) out += "/udp";
  return out;
}

}  // namespace ozy
