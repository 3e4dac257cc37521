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

// A stored spec. Stored specs were validated at submission; their JSON form
// is larger than the file they came from, so the limits for untrusted files
// would wrongly refuse a big but valid job. JSON has no aliases: the text's
// size bounds the expanded size, and the node count bounds every list.
Job specFromJson(const json& j) {
  auto spec = parseJob(j.dump(), YamlLimits{.maxBytes = 64u << 20,
                                            .maxNodes = 50'000'000,
                                            .maxDepth = 64,
                                            .maxExpandedBytes = 64u << 20,
                                            .maxEntries = 50'000'000});
  if (!spec) {
    throw std::runtime_error("its spec is invalid: " +
                             (spec.error().errors.empty() ? std::string("?")
                                                          : spec.error().errors[0].toString()));
  }
  return std::move(spec).value();
}

// Reads an enum stored as its toString() word.
template <typename E, std::size_t N>
E enumFromJson(const json& j, const E (&values)[N]) {
  const auto word = j.get<std::string>();
  for (E v : values) {
    if (toString(v) == word) return v;
  }
  throw std::invalid_argument("unknown value \"" + word + "\"");
}

constexpr DeploymentOutcome kOutcomes[] = {DeploymentOutcome::kNone, DeploymentOutcome::kRunning,
                                           DeploymentOutcome::kSucceeded, DeploymentOutcome::kFailed,
                                           DeploymentOutcome::kSuperseded};
constexpr DeploymentState kDeploymentStates[] = {
    DeploymentState::kRunning, DeploymentState::kPaused, DeploymentState::kSucceeded,
    DeploymentState::kFailed, DeploymentState::kSuperseded};
constexpr UpdateStrategy kStrategies[] = {UpdateStrategy::kRolling, UpdateStrategy::kRecreate};

json policyToJson(const UpdatePolicy& p) {
  return json{{"maxParallel", p.maxParallel},
              {"minHealthyTimeMs", p.minHealthyTime.count()},
              {"healthyDeadlineMs", p.healthyDeadline.count()},
              {"progressDeadlineMs", p.progressDeadline.count()},
              {"autoRevert", p.autoRevert},
              {"canary", p.canary},
              {"strategy", toString(p.strategy)}};
}

UpdatePolicy policyFromJson(const json& j) {
  UpdatePolicy p;
  p.maxParallel = j.at("maxParallel").get<std::uint32_t>();
  p.minHealthyTime = Millis(j.at("minHealthyTimeMs").get<std::int64_t>());
  p.healthyDeadline = Millis(j.at("healthyDeadlineMs").get<std::int64_t>());
  p.progressDeadline = Millis(j.at("progressDeadlineMs").get<std::int64_t>());
  p.autoRevert = j.at("autoRevert").get<bool>();
  p.canary = j.at("canary").get<std::uint32_t>();
  p.strategy = enumFromJson(j.at("strategy"), kStrategies);
  // The parser's bounds: a record edited by hand must not make a step place
  // billions of instances or overflow a deadline.
  constexpr std::int64_t kDay = 24 * 3600 * 1000;
  if (p.maxParallel == 0 || p.maxParallel > kMaxInstances || p.canary > kMaxInstances ||
      p.minHealthyTime.count() < 0 || p.minHealthyTime.count() > kDay ||
      p.healthyDeadline.count() <= 0 || p.healthyDeadline.count() > kDay ||
      p.progressDeadline.count() <= 0 || p.progressDeadline.count() > kDay) {
    throw std::invalid_argument("update policy out of bounds");
  }
  return p;
}

}  // namespace

std::string_view toString(DeploymentOutcome outcome) {
  switch (outcome) {
    case DeploymentOutcome::kNone:
      return "none";
    case DeploymentOutcome::kRunning:
      return "running";
    case DeploymentOutcome::kSucceeded:
      return "succeeded";
    case DeploymentOutcome::kFailed:
      return "failed";
    case DeploymentOutcome::kSuperseded:
      return "superseded";
  }
  return "none";
}

std::string_view toString(DeploymentState state) {
  switch (state) {
    case DeploymentState::kRunning:
      return "running";
    case DeploymentState::kPaused:
      return "paused";
    case DeploymentState::kSucceeded:
      return "succeeded";
    case DeploymentState::kFailed:
      return "failed";
    case DeploymentState::kSuperseded:
      return "superseded";
  }
  return "running";
}

json toJson(const VersionRecord& r) {
  return json{{"version", r.version},     {"spec", toJson(r.spec)},
              {"submittedAtMs", r.submittedAtMs}, {"changes", r.changes},
              {"outcome", toString(r.outcome)},   {"revertOf", r.revertOf}};
}

std::string encode(const VersionRecord& r) { return toJson(r).dump(); }

json toJson(const DeploymentRecord& r) {
  return json{{"version", r.version},
              {"fromVersion", r.fromVersion},
              {"state", toString(r.state)},
              {"policy", policyToJson(r.policy)},
              {"startedAtMs", r.startedAtMs},
              {"updatedAtMs", r.updatedAtMs},
              {"progressDeadlineMs", r.progressDeadlineMs},
              {"batch", r.batch},
              {"batchPlacedAtMs", r.batchPlacedAtMs},
              {"canaryBatch", r.canaryBatch},
              {"promoted", r.promoted},
              {"removing", r.removing},
              {"batchesDone", r.batchesDone},
              {"message", r.message},
              {"revertsFailed", r.revertsFailed}};
}

std::string encode(const DeploymentRecord& r) { return toJson(r).dump(); }

Result<VersionRecord, std::string> decodeVersion(std::string_view text) {
  return decodeWith<VersionRecord>("version", text, [](const json& j) {
    VersionRecord r;
    r.version = j.at("version").get<std::uint64_t>();
    r.spec = specFromJson(j.at("spec"));
    r.submittedAtMs = j.at("submittedAtMs").get<std::int64_t>();
    r.changes = j.at("changes").get<std::vector<std::string>>();
    r.outcome = enumFromJson(j.at("outcome"), kOutcomes);
    r.revertOf = j.at("revertOf").get<std::uint64_t>();
    return r;
  });
}

Result<DeploymentRecord, std::string> decodeDeployment(std::string_view text) {
  return decodeWith<DeploymentRecord>("deployment", text, [](const json& j) {
    DeploymentRecord r;
    r.version = j.at("version").get<std::uint64_t>();
    r.fromVersion = j.at("fromVersion").get<std::uint64_t>();
    r.state = enumFromJson(j.at("state"), kDeploymentStates);
    r.policy = policyFromJson(j.at("policy"));
    r.startedAtMs = j.at("startedAtMs").get<std::int64_t>();
    r.updatedAtMs = j.at("updatedAtMs").get<std::int64_t>();
    r.progressDeadlineMs = j.at("progressDeadlineMs").get<std::int64_t>();
    r.batch = j.at("batch").get<std::vector<std::uint32_t>>();
    r.batchPlacedAtMs = j.at("batchPlacedAtMs").get<std::int64_t>();
    r.canaryBatch = j.at("canaryBatch").get<bool>();
    r.promoted = j.at("promoted").get<bool>();
    r.removing = j.at("removing").get<std::vector<std::uint32_t>>();
    r.batchesDone = j.at("batchesDone").get<std::uint32_t>();
    r.message = j.at("message").get<std::string>();
    r.revertsFailed = j.at("revertsFailed").get<std::uint64_t>();
    return r;
  });
}

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

std::string encode(const std::vector<Assignment>& groups) {
  // Written by hand: a large job's assignments hold thousands of ids, and
  // building a JSON value per id cost more than the etcd write itself.
  // decodeAssignments() reads it back as ordinary JSON.
  std::string out = fmt::format(R"({{"job":{},"groups":[)",
                                json(groups.empty() ? std::string() : groups.front().job).dump());
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const Assignment& g = groups[i];
    out += fmt::format(R"({}{{"version":{},"instances":[)", i == 0 ? "" : ",", g.version);
    appendNumbers(out, g.instances);
    out += fmt::format(R"(],"perInstance":{},"hostPorts":{}}})", toJson(g.perInstance).dump(),
                       portsToJson(g.hostPorts).dump());
  }
  out += "]}";
  return out;
}

std::string encode(const JobRecord& r) {
  nlohmann::ordered_json out;
  out["spec"] = toJson(r.spec);
  out["version"] = r.version;
  out["specVersion"] = r.specVersion;
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
              {"restarts", r.restarts}, {"podIp", r.podIp},          {"sinceMs", r.sinceMs},
              {"version", r.version}}
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

Result<std::vector<Assignment>, std::string> decodeAssignments(std::string_view text) {
  return decodeWith<std::vector<Assignment>>("assignment", text, [](const json& j) {
    const auto job = j.at("job").get<std::string>();
    auto group = [&](const json& g, std::uint64_t version) {
      return Assignment{job, version, g.at("instances").get<std::vector<std::uint32_t>>(),
                        resourcesFromJson(g.at("perInstance")), portsFromJson(g.at("hostPorts"))};
    };
    std::vector<Assignment> out;
    if (!j.contains("groups")) {
      out.push_back(group(j, 1));  // from before versions: one group
      return out;
    }
    for (const auto& g : j.at("groups")) {
      const auto version = g.at("version").get<std::uint64_t>();
      if (version == 0 || (!out.empty() && version <= out.back().version)) {
        throw std::runtime_error("groups not in ascending version order");
      }
      out.push_back(group(g, version));
    }
    return out;
  });
}

Result<JobRecord, std::string> decodeJob(std::string_view text) {
  return decodeWith<JobRecord>("job", text, [](const json& j) {
    JobRecord r;
    r.spec = specFromJson(j.at("spec"));
    r.version = j.at("version").get<std::uint64_t>();
    r.specVersion = j.value("specVersion", std::uint64_t{1});
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
                          j.at("podIp").get<std::string>(), j.at("sinceMs").get<std::int64_t>(),
                          j.value("version", std::uint64_t{0})};
  });
}

Result<DrainRecord, std::string> decodeDrain(std::string_view text) {
  return decodeWith<DrainRecord>("drain", text, [](const json& j) {
    return DrainRecord{j.at("sinceMs").get<std::int64_t>(), j.at("by").get<std::string>()};
  });
}

}  // namespace ozy
