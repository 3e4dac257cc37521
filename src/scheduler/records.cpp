#include "scheduler/records.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "common/append_numbers.h"
#include "job/job_format.h"
#include "job/job_parser.h"

namespace ozy {
namespace {

using nlohmann::json;

json portsToJson(const std::vector<HostPort>& ports) {
  json out = json::array();
  for (const auto& p : ports) out.push_back(toString(p));
  return out;
}

std::vector<HostPort> portsFromJson(const json& list) {
  std::vector<HostPort> out;
  for (const auto& item : list) {
    auto mapping = parsePortMapping(item.get<std::string>());
    if (!mapping || mapping->hostPort != 0) throw std::runtime_error("bad port " + item.dump());
    out.push_back(HostPort{mapping->containerPort, mapping->protocol});
  }
  return out;
}

Resources resourcesFromJson(const json& j) {
  return Resources{j.at("memory").get<Bytes>(), j.at("disk").get<Bytes>()};
}

// Runs a decoder, turning any JSON or shape error into one message.
template <typename T, typename F>
Result<T, std::string> decodeWith(std::string_view what, std::string_view text, F&& body) {
  try {
    return body(json::parse(text));
  } catch (const std::exception& e) {
    return fail(fmt::format("stored {} record is unreadable: {}", what, e.what()));
  }
}

}  // namespace

json toJson(const Resources& r) { return json{{"memory", r.memory}, {"disk", r.disk}}; }

std::string encode(const NodeRecord& r) {
  return json{{"name", r.name},
              {"address", r.address},
              {"api", r.api},
              {"capacity", toJson(r.capacity)},
              {"startedAtMs", r.startedAtMs},
              {"reservedPorts", portsToJson(r.reservedPorts)}}
      .dump();
}

std::string encode(const UsageRecord& r) {
  return json{{"used", toJson(r.used)}, {"ports", portsToJson(r.ports)}, {"instances", r.instances}}
      .dump();
}

std::string encode(const Assignment& r) {
  // Written by hand: a large job's assignments hold thousands of ids, and
  // building a JSON value per id cost more than the etcd write itself.
  // decodeAssignment() reads it back as ordinary JSON.
  std::string out = fmt::format(R"({{"job":{},"jobVersion":{},"instances":[)", json(r.job).dump(),
                                r.jobVersion);
  appendNumbers(out, r.instances);
  out += fmt::format(R"(],"perInstance":{},"hostPorts":{}}})", toJson(r.perInstance).dump(),
                     portsToJson(r.hostPorts).dump());
  return out;
}

std::string encode(const JobRecord& r) {
  nlohmann::ordered_json out;
  out["spec"] = toJson(r.spec);
  out["version"] = r.version;
  out["nodes"] = r.nodes;
  out["pending"] = r.pending;
  out["sharedSpace"] = r.sharedSpace;
  out["createdAtMs"] = r.createdAtMs;
  // Only when held: records of jobs without claims keep their form.
  if (!r.ingress.empty()) out["ingress"] = {{"hosts", r.ingress.hosts}, {"tcp", r.ingress.tcp}};
  return out.dump();
}

std::string encode(const SharedPoolRecord& r) {
  return json{{"capacity", r.capacity}, {"used", r.used}}.dump();
}

std::string_view toString(InstanceState state) {
  switch (state) {
    case InstanceState::kPending:
      return "pending";
    case InstanceState::kPulling:
      return "pulling";
    case InstanceState::kStarting:
      return "starting";
    case InstanceState::kHealthy:
      return "healthy";
    case InstanceState::kUnhealthy:
      return "unhealthy";
    case InstanceState::kFailed:
      return "failed";
    case InstanceState::kUnknown:
      return "unknown";
    case InstanceState::kStopping:
      return "stopping";
  }
  return "pending";
}

std::string encode(const InstanceStatus& r) {
  return json{{"node", r.node},         {"state", toString(r.state)}, {"reason", r.reason},
              {"restarts", r.restarts}, {"podIp", r.podIp},          {"sinceMs", r.sinceMs}}
      .dump();
}

std::string encode(const DrainRecord& r) { return json{{"sinceMs", r.sinceMs}, {"by", r.by}}.dump(); }

Result<NodeRecord, std::string> decodeNode(std::string_view text) {
  return decodeWith<NodeRecord>("node", text, [](const json& j) {
    return NodeRecord{j.at("name").get<std::string>(), j.at("address").get<std::string>(),
                      j.at("api").get<std::string>(), resourcesFromJson(j.at("capacity")),
                      j.at("startedAtMs").get<std::int64_t>(),
                      j.contains("reservedPorts") ? portsFromJson(j.at("reservedPorts"))
                                                  : std::vector<HostPort>{}};
  });
}

Result<UsageRecord, std::string> decodeUsage(std::string_view text) {
  return decodeWith<UsageRecord>("usage", text, [](const json& j) {
    return UsageRecord{resourcesFromJson(j.at("used")), portsFromJson(j.at("ports")),
                       j.at("instances").get<std::uint32_t>()};
  });
}

Result<Assignment, std::string> decodeAssignment(std::string_view text) {
  return decodeWith<Assignment>("assignment", text, [](const json& j) {
    return Assignment{j.at("job").get<std::string>(), j.at("jobVersion").get<std::uint64_t>(),
                      j.at("instances").get<std::vector<std::uint32_t>>(),
                      resourcesFromJson(j.at("perInstance")), portsFromJson(j.at("hostPorts"))};
  });
}

Result<JobRecord, std::string> decodeJob(std::string_view text) {
  return decodeWith<JobRecord>("job", text, [](const json& j) {
    // Stored specs were validated at submission; their JSON form is larger
    // than the file they came from, so the limits for untrusted files would
    // wrongly refuse a big but valid job. JSON has no aliases: the text's
    // size bounds the expanded size, and the node count bounds every list.
    auto spec = parseJob(j.at("spec").dump(), YamlLimits{.maxBytes = 64u << 20,
                                                         .maxNodes = 50'000'000,
                                                         .maxDepth = 64,
                                                         .maxExpandedBytes = 64u << 20,
                                                         .maxEntries = 50'000'000});
    if (!spec) {
      throw std::runtime_error("its spec is invalid: " +
                               (spec.error().errors.empty() ? std::string("?")
                                                            : spec.error().errors[0].toString()));
    }
    JobRecord r;
    r.spec = std::move(spec).value();
    r.version = j.at("version").get<std::uint64_t>();
    r.nodes = j.at("nodes").get<std::vector<std::string>>();
    r.pending = j.at("pending").get<std::vector<std::uint32_t>>();
    r.sharedSpace = j.at("sharedSpace").get<Bytes>();
    r.createdAtMs = j.at("createdAtMs").get<std::int64_t>();
    if (j.contains("ingress")) {
      // Claim keys are built from these: only host names and real ports.
      r.ingress.hosts = j.at("ingress").at("hosts").get<std::vector<std::string>>();
      for (const auto& host : r.ingress.hosts) {
        if (!isHostName(host)) throw std::runtime_error("bad ingress host " + json(host).dump());
      }
      for (auto port : j.at("ingress").at("tcp").get<std::vector<std::uint32_t>>()) {
        if (port == 0 || port > 65535) throw std::runtime_error(fmt::format("bad ingress port {}", port));
        r.ingress.tcp.push_back(static_cast<std::uint16_t>(port));
      }
    }
    return r;
  });
}

Result<SharedPoolRecord, std::string> decodeSharedPool(std::string_view text) {
  return decodeWith<SharedPoolRecord>("shared pool", text, [](const json& j) {
    return SharedPoolRecord{j.at("capacity").get<Bytes>(), j.at("used").get<Bytes>()};
  });
}

Result<InstanceStatus, std::string> decodeInstanceStatus(std::string_view text) {
  return decodeWith<InstanceStatus>("instance status", text, [](const json& j) {
    const auto word = j.at("state").get<std::string>();
    InstanceState state = InstanceState::kPending;
    for (auto s : {InstanceState::kPending, InstanceState::kPulling, InstanceState::kStarting,
                   InstanceState::kHealthy, InstanceState::kUnhealthy, InstanceState::kFailed,
                   InstanceState::kUnknown, InstanceState::kStopping}) {
      if (toString(s) == word) state = s;
    }
    if (toString(state) != word) throw std::invalid_argument("unknown state \"" + word + "\"");
    return InstanceStatus{j.at("node").get<std::string>(), state,
                          j.at("reason").get<std::string>(), j.at("restarts").get<std::uint32_t>(),
                          j.at("podIp").get<std::string>(), j.at("sinceMs").get<std::int64_t>()};
  });
}

Result<DrainRecord, std::string> decodeDrain(std::string_view text) {
  return decodeWith<DrainRecord>("drain", text, [](const json& j) {
    return DrainRecord{j.at("sinceMs").get<std::int64_t>(), j.at("by").get<std::string>()};
  });
}

}  // namespace ozy
