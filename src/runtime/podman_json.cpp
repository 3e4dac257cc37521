// libpod JSON translation; see podman_json.h. Field names were checked
// against a live podman 4.3.1 service (curl --unix-socket), not only the docs.
#include "runtime/podman_json.h"

#include <fmt/format.h>

#include <cctype>
#include <charconv>

#include "common/base64.h"

namespace ozy::runtime::podman {

using nlohmann::json;

namespace {

std::string_view restartPolicyName(RestartPolicy policy) {
  switch (policy) {
    case RestartPolicy::kAlways:
      return "always";
    case RestartPolicy::kOnFailure:
      return "on-failure";
    case RestartPolicy::kNo:
      break;
  }
  return "no";
}

Result<json, std::string> parseJson(std::string_view body, std::string_view what) {
  json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return fail(fmt::format("podman answered {} with something that is not JSON", what));
  }
  return parsed;
}

Labels labelsOf(const json& object) {
  Labels labels;
  if (!object.is_object()) return labels;
  for (const auto& [key, value] : object.items()) {
    if (value.is_string()) labels[key] = value.get<std::string>();
  }
  return labels;
}

std::string stringOf(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int intOf(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int>() : 0;
}

bool boolOf(const json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_boolean() && it->get<bool>();
}

// podman reports "never" as Go's zero time.
std::string timeOf(const json& object, const char* key) {
  std::string text = stringOf(object, key);
  return text.rfind("0001-01-01", 0) == 0 ? std::string() : text;
}

ContainerSummary containerSummaryOf(const json& entry) {
  ContainerSummary summary;
  summary.id = stringOf(entry, "Id");
  const auto names = entry.find("Names");
  if (names != entry.end() && names->is_array() && !names->empty() && names->front().is_string()) {
    summary.name = names->front().get<std::string>();
  }
  summary.state = parseStatus(stringOf(entry, "State"));
  summary.exitCode = intOf(entry, "ExitCode");
  // podman 4.3's container list carries neither a restart count nor the OOM
  // flag; they stay unknown here and inspectContainer() has them.
  return summary;
}

}  // namespace

json podCreateBody(const PodSpec& spec) {
  json body = {{"name", spec.name}, {"labels", spec.labels}};
  if (!spec.hostname.empty()) body["hostname"] = spec.hostname;
  if (!spec.dnsServers.empty()) body["dns_server"] = spec.dnsServers;
  if (!spec.network.empty()) {
    body["netns"] = {{"nsmode", "bridge"}};
    body["Networks"] = {{spec.network, json::object()}};
  }
  json ports = json::array();
  for (const PublishedPort& port : spec.ports) {
    json mapping = {{"container_port", port.containerPort},
                    {"host_port", port.hostPort},
                    {"protocol", port.protocol}};
    if (!port.hostIp.empty()) mapping["host_ip"] = port.hostIp;
    ports.push_back(std::move(mapping));
  }
  if (!ports.empty()) body["portmappings"] = std::move(ports);
  if (spec.idMap.size > 0) {
    // podman 4.3 ignores a pod's "userns" unless "idmappings" says what to
    // map; "private" with an explicit map gives every pod the same ids
    // ("auto" would pick a new range per pod).
    const json map = json::array(
        {{{"container_id", 0}, {"host_id", spec.idMap.hostId}, {"size", spec.idMap.size}}});
    body["userns"] = {{"nsmode", "private"}};
    body["idmappings"] = {{"UIDMap", map}, {"GIDMap", map}};
  }
  return body;
}

json containerCreateBody(const ContainerSpec& spec) {
  json body = {{"name", spec.name},
               {"image", spec.image},
               {"env", spec.env},
               {"labels", spec.labels},
               {"restart_policy", restartPolicyName(spec.restart)},
               {"stop_timeout", spec.stopTimeout.count()}};
  if (!spec.pod.empty()) body["pod"] = spec.pod;
  if (!spec.command.empty()) body["command"] = spec.command;
  json limits = json::object();
  if (spec.memoryLimit > 0) {
    // swap == limit: memory+swap may not exceed the limit, so the limit is
    // hard. podman's default would allow as much swap again.
    limits["memory"] = {{"limit", spec.memoryLimit}, {"swap", spec.memoryLimit}};
  }
  if (spec.pidsLimit > 0) limits["pids"] = {{"limit", spec.pidsLimit}};
  if (!limits.empty()) body["resource_limits"] = std::move(limits);
  if (spec.noNewPrivileges) body["no_new_privileges"] = true;
  if (spec.capabilities) {
    body["cap_drop"] = {"ALL"};
    body["cap_add"] = *spec.capabilities;
  }
  // The k8s-file log driver (podman's default here) truncates at this size.
  if (spec.logMaxSize > 0) body["log_configuration"] = {{"size", spec.logMaxSize}};
  json mounts = json::array();
  for (const Mount& mount : spec.mounts) {
    mounts.push_back({{"destination", mount.containerPath},
                      {"source", mount.hostPath},
                      {"type", "bind"},
                      // nosuid, nodev inside the container: a setuid binary or a
                      // device node in a volume grants nothing there. (The host
                      // side is protected by the 0700 roots and by the user
                      // namespace that owns what containers write.)
                      {"options", {"rbind", "nosuid", "nodev", mount.readOnly ? "ro" : "rw"}}});
  }
  if (!mounts.empty()) body["mounts"] = std::move(mounts);
  return body;
}

Result<std::string, std::string> parseId(std::string_view body) {
  auto parsed = parseJson(body, "a create request");
  if (!parsed) return fail(std::move(parsed).error());
  std::string id = parsed->is_object() ? stringOf(*parsed, "Id") : std::string();
  if (id.empty()) return fail(std::string("podman's create answer has no \"Id\""));
  return id;
}

Result<std::vector<PodSummary>, std::string> parsePodList(std::string_view podsBody,
                                                          std::string_view containersBody) {
  auto pods = parseJson(podsBody, "a pod listing");
  if (!pods) return fail(std::move(pods).error());
  auto containers = parseJson(containersBody, "a container listing");
  if (!containers) return fail(std::move(containers).error());
  if (!pods->is_array() || !containers->is_array()) {
    return fail(std::string("podman's pod or container listing is not a JSON array"));
  }
  std::vector<PodSummary> result;
  for (const json& entry : *pods) {
    if (!entry.is_object()) continue;
    PodSummary pod{stringOf(entry, "Id"),
                   stringOf(entry, "Name"),
                   labelsOf(entry.value("Labels", json())),
                   stringOf(entry, "Status"),
                   {}};
    for (const json& container : *containers) {
      if (!container.is_object() || boolOf(container, "IsInfra")) continue;
      if (stringOf(container, "Pod") == pod.id)
        pod.containers.push_back(containerSummaryOf(container));
    }
    result.push_back(std::move(pod));
  }
  return result;
}

Result<ContainerState, std::string> parseContainerState(std::string_view body) {
  auto parsed = parseJson(body, "a container inspection");
  if (!parsed) return fail(std::move(parsed).error());
  const auto state = parsed->is_object() ? parsed->find("State") : parsed->end();
  if (!parsed->is_object() || state == parsed->end() || !state->is_object()) {
    return fail(std::string("podman's container inspection has no \"State\""));
  }
  ContainerState result;
  result.status = parseStatus(stringOf(*state, "Status"));
  result.exitCode = intOf(*state, "ExitCode");
  result.oomKilled = boolOf(*state, "OOMKilled");
  result.restartCount = intOf(*parsed, "RestartCount");
  result.startedAt = timeOf(*state, "StartedAt");
  result.finishedAt = timeOf(*state, "FinishedAt");
  return result;
}

Result<std::string, std::string> parseInfraContainerId(std::string_view body) {
  auto parsed = parseJson(body, "a pod inspection");
  if (!parsed) return fail(std::move(parsed).error());
  if (!parsed->is_object()) return fail(std::string("podman's pod inspection is not an object"));
  std::string id = stringOf(*parsed, "InfraContainerID");
  if (id.empty()) return fail(std::string("the pod has no infra container"));
  return id;
}

// NetworkSettings: {"IPAddress": "10.88.0.5", "Networks": {"podman":
// {"IPAddress": ...}}, "Ports": {"8080/tcp": [{"HostIp": "", "HostPort": "41234"}]}}
Result<PodNetwork, std::string> parsePodNetwork(std::string_view infraBody) {
  auto parsed = parseJson(infraBody, "a container inspection");
  if (!parsed) return fail(std::move(parsed).error());
  const auto settings = parsed->is_object() ? parsed->find("NetworkSettings") : parsed->end();
  PodNetwork network;
  if (settings == parsed->end() || !settings->is_object()) return network;
  network.ip = stringOf(*settings, "IPAddress");
  if (const auto nets = settings->find("Networks");
      network.ip.empty() && nets != settings->end() && nets->is_object()) {
    for (const auto& [name, net] : nets->items()) {
      if (net.is_object() && !stringOf(net, "IPAddress").empty()) {
        network.ip = stringOf(net, "IPAddress");
        break;
      }
    }
  }
  const auto ports = settings->find("Ports");
  if (ports == settings->end() || !ports->is_object()) return network;
  for (const auto& [key, bindings] : ports->items()) {
    const auto slash = key.find('/');
    unsigned containerPort = 0;
    const std::string number = key.substr(0, slash);
    auto [ptr, ec] = std::from_chars(number.data(), number.data() + number.size(), containerPort);
    if (ec != std::errc() || containerPort == 0 || containerPort > 65535 || !bindings.is_array()) {
      continue;
    }
    for (const auto& binding : bindings) {
      if (!binding.is_object()) continue;
      unsigned hostPort = 0;
      const std::string text = stringOf(binding, "HostPort");
      std::from_chars(text.data(), text.data() + text.size(), hostPort);
      if (hostPort == 0 || hostPort > 65535) continue;
      network.ports.push_back({stringOf(binding, "HostIp"), static_cast<std::uint16_t>(hostPort),
                               static_cast<std::uint16_t>(containerPort),
                               slash == std::string::npos ? "tcp" : key.substr(slash + 1)});
    }
  }
  return network;
}

Result<std::optional<int>, std::string> parseExecExit(std::string_view body) {
  auto parsed = parseJson(body, "an exec inspection");
  if (!parsed) return fail(std::move(parsed).error());
  if (!parsed->is_object()) return fail(std::string("podman's exec inspection is not an object"));
  if (boolOf(*parsed, "Running")) return std::optional<int>();
  return std::optional<int>(intOf(*parsed, "ExitCode"));
}

ContainerStatus parseStatus(std::string_view state) {
  if (state == "running") return ContainerStatus::kRunning;
  if (state == "created" || state == "configured" || state == "initialized") {
    return ContainerStatus::kCreated;
  }
  if (state == "exited" || state == "stopped") return ContainerStatus::kExited;
  if (state == "paused") return ContainerStatus::kPaused;
  if (state == "stopping") return ContainerStatus::kStopping;
  return ContainerStatus::kUnknown;
}

std::string labelFilter(const Labels& labels) {
  json values = json::array();
  for (const auto& [key, value] : labels) values.push_back(key + "=" + value);
  return json{{"label", values}}.dump();
}

std::string podFilter(const std::vector<std::string>& podIds) {
  return json{{"pod", podIds}}.dump();
}

std::string percentEncode(std::string_view text) {
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(c);
    } else {
      out += fmt::format("%{:02X}", byte);
    }
  }
  return out;
}

RuntimeResult<std::string> parsePullStream(std::string_view body, std::string_view reference) {
  std::string error;
  std::string id;
  while (!body.empty()) {
    const auto end = body.find('\n');
    const std::string_view line = body.substr(0, end);
    body = end == std::string_view::npos ? std::string_view() : body.substr(end + 1);
    const json item = json::parse(line, nullptr, false);
    if (!item.is_object()) continue;
    if (const std::string e = stringOf(item, "error"); !e.empty()) error = e;
    if (const std::string i = stringOf(item, "id"); !i.empty()) id = i;
  }
  if (error.empty() && !id.empty()) return id;
  if (error.empty()) {
    return fail(RuntimeError{
        RuntimeError::Code::kOther,
        fmt::format("podman could not pull {}: its answer named no image", reference)});
  }
  const auto says = [&](std::string_view words) { return error.find(words) != std::string::npos; };
  RuntimeError failure{RuntimeError::Code::kOther, ""};
  std::string hint;
  if (says("manifest unknown") || says("name unknown") || says("not found") ||
      says("image not known")) {
    failure.code = RuntimeError::Code::kNotFound;
    hint = "the registry has no such image or tag";
  } else if (says("unauthorized") || says("authentication required") || says("denied")) {
    hint =
        "the registry refused the credentials (the container's registryAuth, the agent's "
        "--registry-auth)";
  } else if (says("server gave HTTP response to HTTPS client")) {
    failure.code = RuntimeError::Code::kUnavailable;
    hint =
        "the registry speaks plain HTTP; start the agent with --insecure-registry HOST:PORT if "
        "that is meant";
  } else if (says("certificate") || says("x509")) {
    hint = "the registry's TLS certificate does not verify";
  } else if (says("pinging container registry") || says("connection refused") ||
             says("no such host") || says("i/o timeout") || says("network is unreachable")) {
    failure.code = RuntimeError::Code::kUnavailable;
    hint = "the registry cannot be reached";
  }
  failure.message = hint.empty()
                        ? fmt::format("podman could not pull {}: {}", reference, error)
                        : fmt::format("podman could not pull {}: {} ({})", reference, hint, error);
  return fail(std::move(failure));
}

std::string registryAuthHeader(const RegistryAuth& auth) {
  const json body = {{"username", auth.username},
                     {"password", auth.password},
                     {"serveraddress", auth.serverAddress}};
  return base64Encode(body.dump(), /*urlSafe=*/true);
}

std::string logsPath(const std::string& container, const LogOptions& options) {
  // podman answers 400 unless at least one stream is asked for; both are,
  // and the frames tell them apart.
  std::string path =
      fmt::format("/containers/{}/logs?stdout=true&stderr=true", percentEncode(container));
  if (options.follow) path += "&follow=true";
  if (options.timestamps) path += "&timestamps=true";
  // podman 4.3.1 takes a line count ("all" or a negative one means every
  // line) and, for since, Unix seconds as well as RFC 3339.
  if (options.tailLines) path += fmt::format("&tail={}", *options.tailLines);
  if (options.sinceUnixSeconds) path += fmt::format("&since={}", *options.sinceUnixSeconds);
  return path;
}

RuntimeError errorFromResponse(int status, std::string_view body, std::string_view what) {
  const json parsed = json::parse(body, nullptr, false);
  std::string message = parsed.is_object() ? stringOf(parsed, "message") : std::string();
  const std::string cause = parsed.is_object() ? stringOf(parsed, "cause") : std::string();
  if (message.empty()) message = fmt::format("HTTP status {}", status);
  RuntimeError error{RuntimeError::Code::kOther,
                     fmt::format("podman could not {}: {}", what, message)};
  // A pod removal reports several errors but only the last one's cause, so
  // the whole message is searched for the state conflicts.
  const auto mentions = [&](std::string_view word) {
    return cause.find(word) != std::string::npos || message.find(word) != std::string::npos;
  };
  const bool missing =
      cause.find("no such") != std::string::npos || cause.find("not known") != std::string::npos;
  if (status == 404 || missing) {
    error.code = RuntimeError::Code::kNotFound;
  } else if (status == 409 || mentions("state improper") || mentions("already exists") ||
             mentions("dependency exists")) {
    error.code = RuntimeError::Code::kConflict;
  } else if (status == 400) {
    error.code = RuntimeError::Code::kInvalid;
  }
  return error;
}

}  // namespace ozy::runtime::podman
