#include "job/job_parser.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <map>
#include <set>

#include <fmt/format.h>

#include "job/capabilities.h"
#include "job/image_reference.h"
#include "job/suggest.h"

namespace ozy {
namespace {

constexpr std::string_view kJobFields[] = {"name", "numInstances", "update", "containers"};
constexpr std::string_view kUpdateFields[] = {"max_parallel",      "min_healthy_time",
                                              "healthy_deadline",  "progress_deadline",
                                              "auto_revert",       "canary",
                                              "strategy"};
constexpr std::string_view kContainerFields[] = {"image",       "pull",        "registryAuth",
                                                 "restart",     "command",     "environment",
                                                 "ports",       "depends_on",  "memory",
                                                 "healthcheck", "volumes",     "cap_add",
                                                 "cap_drop",    "ingress"};
constexpr std::string_view kHealthFields[] = {"type",     "port",
                                              "path",     "command",
                                              "timeout",  "interval",
                                              "healthy_threshold", "unhealthy_threshold"};
constexpr std::string_view kIngressFields[] = {"hosts", "default_host", "port", "tcp"};
constexpr std::string_view kVolumeFields[] = {"type", "path", "space"};
constexpr std::string_view kEnvFields[] = {"name", "value"};
constexpr std::string_view kRestartNames[] = {"always", "on-failure", "no"};
// In PullPolicy's order.
constexpr std::string_view kPullNames[] = {"if-not-present", "always", "never"};
constexpr std::string_view kHealthTypes[] = {"http", "tcp", "exec"};
constexpr std::string_view kVolumeTypes[] = {"shared", "local"};
// In UpdateStrategy's order.
constexpr std::string_view kUpdateStrategies[] = {"rolling", "recreate"};

constexpr Bytes kMinContainerMemory = 6 * kMiB;  // runc refuses smaller limits
constexpr Bytes kMaxContainerMemory = 16 * kTiB;
constexpr Bytes kMaxVolumeSpace = 1024 * kTiB;
constexpr std::size_t kMaxPortsPerContainer = 256;
constexpr std::size_t kMaxHostPortsPerJob = 1024;
constexpr std::size_t kMaxVolumesPerContainer = 64;
constexpr std::size_t kMaxEnvironmentPerContainer = 4096;
// Real commands have a few dozen words; a program given thousands of
// arguments is better given a file. Linux caps argv and the environment
// together (ARG_MAX, 2 MiB with the usual 8 MiB stack, pointers included), so
// a far longer command could not start anyway.
constexpr std::size_t kMaxCommandWords = 4096;
// A container can wait for every other container of the job, each once.
constexpr std::size_t kMaxDependsOn = kMaxContainers - 1;
constexpr std::size_t kMaxCapabilitiesPerList = 64;
// Every host is a key in etcd and a claim in the submission's Txn (etcd
// allows 128 operations by default); a site with more names than this is
// better served by one name and redirects.
constexpr std::size_t kMaxIngressHostsPerContainer = 32;
constexpr Millis kMinInterval{1000};
constexpr Millis kMaxInterval{3600 * 1000};
// A deployment that needs more than a day per batch is one nobody watches;
// the bound also keeps every deadline far from any clock arithmetic limit.
constexpr Millis kMaxUpdateDuration{24 * 3600 * 1000};

std::string nameRule(std::string_view what) {
  return fmt::format(
      "is not a valid {}: use 1 to 63 lowercase letters, digits and '-', starting and ending "
      "with a letter or digit (it becomes part of DNS names)",
      what);
}

bool isEnvName(std::string_view name) {
  if (name.empty() || name.size() > 256) return false;
  auto alpha = [](char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_'; };
  if (!alpha(name[0])) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alpha(c) || (c >= '0' && c <= '9'); });
}

// Image references: registry/path:tag@digest, without whitespace or shell
// metacharacters. The runtime does the full check; this catches typos early.
bool isImageReference(std::string_view image) {
  if (image.empty() || image.size() > 512) return false;
  return std::all_of(image.begin(), image.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == '/' || c == ':' || c == '@';
  });
}

// A key of an auth.json file (podman's containers-auth.json(5)): a registry
// host with an optional port, or a host and a repository path under it.
bool isRegistryAuthName(std::string_view name) {
  if (name.empty() || name.size() > 255 || name.front() == '/' || name.back() == '/') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '-' || c == '/' || c == ':' || c == '[' || c == ']';
  });
}

std::optional<std::uint16_t> portNumber(std::string_view text) {
  unsigned value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < 1 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

bool isIpAddress(const std::string& text) {
  unsigned char buffer[16];
  return inet_pton(AF_INET, text.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, text.c_str(), buffer) == 1;
}

}  // namespace

// "3000", "80:3000", "127.0.0.1:80:3000", "127.0.0.1::3000", "[::1]:80:3000",
// each optionally followed by "/tcp" or "/udp".
Result<PortMapping, std::string> parsePortMapping(std::string_view text) {
  const std::string bad = fmt::format(
      "\"{}\" is not a port mapping (use \"CONTAINER\", \"HOST:CONTAINER\" or "
      "\"IP:HOST:CONTAINER\", optionally with /tcp or /udp)",
      text.substr(0, 60));
  PortMapping port;
  std::string_view rest = text;
  if (const auto slash = rest.rfind('/'); slash != std::string_view::npos) {
    const std::string_view proto = rest.substr(slash + 1);
    if (proto == "udp") {
      port.protocol = Protocol::kUdp;
    } else if (proto != "tcp") {
      return fail(fmt::format("\"{}\" is not a protocol (use tcp or udp)", proto.substr(0, 20)));
    }
    rest = rest.substr(0, slash);
  }
  if (!rest.empty() && rest.front() == '[') {
    const auto close = rest.find(']');
    if (close == std::string_view::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return fail(bad);
    }
    port.hostIp = std::string(rest.substr(1, close - 1));
    rest = rest.substr(close + 2);
    if (!isIpAddress(port.hostIp) || port.hostIp.find(':') == std::string::npos) {
      return fail(fmt::format("\"{}\" is not an IPv6 address", port.hostIp));
    }
  }
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= rest.size(); ++i) {
    if (i == rest.size() || rest[i] == ':') {
      parts.push_back(rest.substr(start, i - start));
      start = i + 1;
    }
  }
  if (parts.size() > 3 || (parts.size() == 3 && !port.hostIp.empty())) return fail(bad);
  if (parts.size() == 3) {
    port.hostIp = std::string(parts[0]);
    if (!isIpAddress(port.hostIp)) {
      return fail(fmt::format("\"{}\" is not an IP address", parts[0].substr(0, 60)));
    }
    parts.erase(parts.begin());
  }
  const auto container = portNumber(parts.back());
  if (!container) {
    if (parts.back().find('-') != std::string_view::npos) {
      return fail(fmt::format("\"{}\": port ranges are not supported; list each port",
                              text.substr(0, 60)));
    }
    return fail(bad);
  }
  port.containerPort = *container;
  if (parts.size() == 2 && !parts[0].empty()) {
    const auto host = portNumber(parts[0]);
    if (!host) return fail(bad);
    port.hostPort = *host;
  } else if (parts.size() == 2 && port.hostIp.empty()) {
    return fail(bad);  // ":3000"
  }
  return port;
}

namespace {

class JobReader {
 public:
  explicit JobReader(std::vector<FieldError>& errors) : r_(errors) {}

  Job read(const YAML::Node& root) {
    Job job;
    if (!r_.mapping(root, "", kJobFields)) return job;
    if (auto node = FieldReader::field(root, "name"); FieldReader::present(node)) {
      if (auto name = r_.string(node, "name")) {
        job.name = *name;
        if (!isDnsLabel(job.name)) r_.error(node, "name", quote(job.name) + " " + nameRule("job name"));
      }
    } else {
      r_.missing(root, "name");
    }
    if (auto node = FieldReader::field(root, "numInstances"); FieldReader::present(node)) {
      if (auto n = r_.integer(node, "numInstances", 0, kMaxInstances)) {
        job.numInstances = static_cast<std::uint32_t>(*n);
      }
    }
    if (auto node = FieldReader::field(root, "update"); FieldReader::present(node)) {
      job.update = readUpdate(node, "update");
    }
    const auto containers = FieldReader::field(root, "containers");
    if (!FieldReader::present(containers)) {
      r_.missing(root, "containers");
      return job;
    }
    if (!r_.namedMapping(containers, "containers")) return job;
    if (containers.size() == 0) r_.error(containers, "containers", "must list at least one container");
    if (containers.size() > kMaxContainers) {
      r_.error(containers, "containers",
               fmt::format("lists {} containers; at most {} are allowed", containers.size(),
                           kMaxContainers));
      return job;
    }
    std::set<std::string> seen;
    for (const auto& entry : containers) {
      if (!entry.first.IsScalar() || !seen.insert(entry.first.Scalar()).second) continue;
      job.containers.push_back(readContainer(entry.first.Scalar(), entry.second));
    }
    // A job that says nothing of ingress gets what it most likely wants: its
    // one container publishing TCP ports served as <job>.<cluster domain>.
    // Any `ingress` key, even `false`, says the file decides.
    if (!ingressGiven_) {
      if (auto i = defaultIngressContainer(job)) {
        Container& c = job.containers[*i];
        c.ingress = Ingress{{}, true, *derivedIngressPort(c), 0};
      }
    }
    return job;
  }

 private:
  static std::string quote(std::string_view s) {
    return fmt::format("\"{}\"", s.size() > 60 ? std::string(s.substr(0, 60)) + "..." : std::string(s));
  }

  Container readContainer(const std::string& name, const YAML::Node& node) {
    Container c;
    c.name = name;
    c.memory = kDefaultContainerMemory;
    const std::string path = childPath("containers", name);
    if (!isDnsLabel(name)) {
      r_.error(node, path, quote(name) + " " + nameRule("container name"));
    }
    if (!r_.mapping(node, path, kContainerFields)) return c;

    if (auto n = FieldReader::field(node, "image"); FieldReader::present(n)) {
      if (auto image = r_.string(n, childPath(path, "image"))) {
        c.image = *image;
        if (!isImageReference(c.image)) {
          r_.error(n, childPath(path, "image"),
                   quote(c.image) + " is not an image reference (e.g. registry/name:tag)");
        }
      }
    } else {
      r_.missing(node, childPath(path, "image"));
    }
    c.pull = defaultPullPolicy(c.image);
    if (auto n = FieldReader::field(node, "pull"); FieldReader::present(n)) {
      if (auto i = r_.choice(n, childPath(path, "pull"), kPullNames)) {
        c.pull = static_cast<PullPolicy>(*i);
      }
    }
    if (auto n = FieldReader::field(node, "registryAuth"); FieldReader::present(n)) {
      if (auto auth = r_.string(n, childPath(path, "registryAuth"))) {
        c.registryAuth = *auth;
        if (!isRegistryAuthName(c.registryAuth)) {
          r_.error(n, childPath(path, "registryAuth"),
                   quote(c.registryAuth) +
                       " is not a registry name: use a key of the nodes' --registry-auth file "
                       "(e.g. registry.example.com:5000)");
        }
      }
    }
    if (auto n = FieldReader::field(node, "restart"); FieldReader::present(n)) {
      if (auto i = r_.choice(n, childPath(path, "restart"), kRestartNames)) {
        c.restart = static_cast<RestartPolicy>(*i);
      }
    }
    if (auto n = FieldReader::field(node, "command"); FieldReader::present(n)) {
      if (auto command = r_.command(n, childPath(path, "command"), kMaxCommandWords)) {
        c.command = std::move(*command);
      }
    }
    if (auto n = FieldReader::field(node, "environment"); FieldReader::present(n)) {
      c.environment = readEnvironment(n, childPath(path, "environment"));
    }
    if (auto n = FieldReader::field(node, "ports"); FieldReader::present(n)) {
      c.ports = readPorts(n, childPath(path, "ports"));
    }
    if (auto n = FieldReader::field(node, "depends_on"); FieldReader::present(n)) {
      const std::string listPath = childPath(path, "depends_on");
      if (r_.sequence(n, listPath) && withinLimit(n, listPath, kMaxDependsOn)) {
        for (std::size_t i = 0; i < n.size(); ++i) {
          if (auto dep = r_.string(n[i], indexPath(listPath, i))) c.dependsOn.push_back(*dep);
        }
      }
    }
    if (auto n = FieldReader::field(node, "memory"); FieldReader::present(n)) {
      const std::string memPath = childPath(path, "memory");
      if (auto memory = r_.size(n, memPath)) {
        c.memory = *memory;
        if (c.memory < kMinContainerMemory || c.memory > kMaxContainerMemory) {
          r_.error(n, memPath,
                   fmt::format("{} is outside {} to {}", quote(n.Scalar()),
                               formatSize(kMinContainerMemory), formatSize(kMaxContainerMemory)));
        }
      }
    }
    if (auto n = FieldReader::field(node, "healthcheck"); FieldReader::present(n)) {
      c.healthcheck = readHealthCheck(n, childPath(path, "healthcheck"));
    }
    if (auto n = FieldReader::field(node, "volumes"); FieldReader::present(n)) {
      c.volumes = readVolumes(n, childPath(path, "volumes"));
    }
    if (auto n = FieldReader::field(node, "cap_add"); FieldReader::present(n)) {
      c.capAdd = readCapabilities(n, childPath(path, "cap_add"), /*allowAll=*/false);
    }
    if (auto n = FieldReader::field(node, "cap_drop"); FieldReader::present(n)) {
      c.capDrop = readCapabilities(n, childPath(path, "cap_drop"), /*allowAll=*/true);
    }
    for (std::size_t i = 0; i < c.capAdd.size(); ++i) {
      if (std::find(c.capDrop.begin(), c.capDrop.end(), c.capAdd[i]) != c.capDrop.end()) {
        r_.error(node, indexPath(childPath(path, "cap_add"), i),
                 fmt::format("{} is both added and dropped; keep it in one of cap_add and cap_drop",
                             c.capAdd[i]));
      }
    }
    // Last: the port it defaults to comes from the health check and ports.
    if (auto n = FieldReader::field(node, "ingress"); FieldReader::present(n)) {
      ingressGiven_ = true;
      c.ingress = readIngress(n, childPath(path, "ingress"), c);
    }
    return c;
  }

  // The update section (docs/jobs.md#update); what the file leaves out keeps
  // UpdatePolicy's default. A rule between two fields is checked only when
  // both read well, so one mistake is reported once.
  UpdatePolicy readUpdate(const YAML::Node& node, const std::string& path) {
    UpdatePolicy u;
    if (!r_.mapping(node, path, kUpdateFields)) return u;
    auto readCount = [&](std::string_view key, std::int64_t min, std::uint32_t& out) {
      if (auto n = FieldReader::field(node, key); FieldReader::present(n)) {
        if (auto v = r_.integer(n, childPath(path, key), min, kMaxInstances)) {
          out = static_cast<std::uint32_t>(*v);
        }
      }
    };
    readCount("max_parallel", 1, u.maxParallel);
    readCount("canary", 0, u.canary);

    // A duration the file gives, or its default; `usable` is false when the
    // file gives one that is refused.
    struct Given {
      YAML::Node node;  // undefined when the file does not give it
      bool usable = true;
      bool given() const { return FieldReader::present(node); }
    };
    auto readDuration = [&](std::string_view key, bool deadline, Millis& out) {
      Given got;
      got.node = FieldReader::field(node, key);
      if (!got.given()) return got;
      const std::string at = childPath(path, key);
      got.usable = false;
      if (auto d = r_.duration(got.node, at)) {
        if (*d > kMaxUpdateDuration) {
          r_.error(got.node, at,
                   fmt::format("{} is longer than {}, the longest any update duration may be",
                               quote(got.node.Scalar()), formatDuration(kMaxUpdateDuration)));
        } else if (deadline && d->count() == 0) {
          r_.error(got.node, at,
                   fmt::format("{} leaves no time: a deadline must be longer than 0s (e.g. {})",
                               quote(got.node.Scalar()), formatDuration(out)));
        } else {
          out = *d;
          got.usable = true;
        }
      }
      return got;
    };
    const Given minHealthy = readDuration("min_healthy_time", false, u.minHealthyTime);
    const Given healthy = readDuration("healthy_deadline", true, u.healthyDeadline);
    const Given progress = readDuration("progress_deadline", true, u.progressDeadline);
    // "10s", or "10s, the default" where the file is silent.
    auto told = [](const Given& g, Millis value) {
      return g.given() ? formatDuration(value) : formatDuration(value) + ", the default";
    };
    if (minHealthy.usable && healthy.usable && u.minHealthyTime >= u.healthyDeadline) {
      // On the field the file gives: that is the one to change.
      if (minHealthy.given() || !healthy.given()) {
        r_.error(minHealthy.given() ? minHealthy.node : node, childPath(path, "min_healthy_time"),
                 fmt::format("{} is not shorter than healthy_deadline ({}): a batch could never "
                             "stay healthy that long before its deadline passes; lower "
                             "min_healthy_time or raise healthy_deadline",
                             told(minHealthy, u.minHealthyTime), told(healthy, u.healthyDeadline)));
      } else {
        r_.error(healthy.node, childPath(path, "healthy_deadline"),
                 fmt::format("{} is not longer than min_healthy_time ({}): a batch could never "
                             "stay healthy that long before its deadline passes; raise "
                             "healthy_deadline or lower min_healthy_time",
                             told(healthy, u.healthyDeadline), told(minHealthy, u.minHealthyTime)));
      }
    }
    if (healthy.usable && progress.usable && u.progressDeadline < u.healthyDeadline) {
      r_.error(progress.given() ? progress.node : node, childPath(path, "progress_deadline"),
               fmt::format("{} is shorter than healthy_deadline ({}): the deployment would fail "
                           "before a batch's own deadline passes; make progress_deadline at "
                           "least {}",
                           progress.given() ? formatDuration(u.progressDeadline)
                                            : "the default " + formatDuration(u.progressDeadline),
                           told(healthy, u.healthyDeadline),
                           formatDuration(u.healthyDeadline)));
    }

    if (auto n = FieldReader::field(node, "auto_revert"); FieldReader::present(n)) {
      if (auto flag = r_.boolean(n, childPath(path, "auto_revert"))) u.autoRevert = *flag;
    }
    if (auto n = FieldReader::field(node, "strategy"); FieldReader::present(n)) {
      if (auto i = r_.choice(n, childPath(path, "strategy"), kUpdateStrategies)) {
        u.strategy = static_cast<UpdateStrategy>(*i);
      }
    }
    if (u.canary > 0 && u.strategy == UpdateStrategy::kRecreate) {
      r_.error(FieldReader::field(node, "canary"), childPath(path, "canary"),
               fmt::format("{} with strategy recreate: recreate stops every old instance first, "
                           "so no old instance is left to compare canaries with; use strategy "
                           "rolling, or canary 0",
                           u.canary == 1 ? std::string("a canary")
                                         : fmt::format("{} canaries", u.canary)));
    }
    return u;
  }

  // `false` (nothing served), `true` (every default, as `{}`), or a mapping.
  // Nothing when any part of it is wrong, so validateJob() sees only whole
  // ingresses and reports nothing twice.
  std::optional<Ingress> readIngress(const YAML::Node& node, const std::string& path,
                                     const Container& c) {
    if (node.IsScalar()) {
      const auto flag = FieldReader::booleanValue(node.Scalar());
      if (!flag) {
        r_.error(node, path,
                 fmt::format("{} is neither a mapping (hosts, default_host, port, tcp) nor false",
                             quote(node.Scalar())));
        return std::nullopt;
      }
      if (!*flag) return std::nullopt;
    } else if (!r_.mapping(node, path, kIngressFields)) {
      return std::nullopt;
    }
    Ingress in;
    bool ok = true;
    bool hostsGiven = false;
    if (auto n = FieldReader::field(node, "hosts"); FieldReader::present(n)) {
      const std::string listPath = childPath(path, "hosts");
      if (r_.sequence(n, listPath) && withinLimit(n, listPath, kMaxIngressHostsPerContainer)) {
        hostsGiven = n.size() > 0;
        for (std::size_t i = 0; i < n.size(); ++i) {
          const std::string at = indexPath(listPath, i);
          auto text = r_.string(n[i], at);
          if (!text) {
            ok = false;
            continue;
          }
          auto host = parseIngressHost(*text);
          if (!host) {
            r_.error(n[i], at, host.error());
            ok = false;
            continue;
          }
          in.hosts.push_back(std::move(host).value());
        }
      } else {
        ok = false;
      }
    }
    if (auto n = FieldReader::field(node, "tcp"); FieldReader::present(n)) {
      if (auto p = r_.integer(n, childPath(path, "tcp"), 1, 65535)) {
        in.tcp = static_cast<std::uint16_t>(*p);
      } else {
        ok = false;
      }
    }
    // Served by the default host unless the file names what serves it.
    in.defaultHost = !hostsGiven && in.tcp == 0;
    if (auto n = FieldReader::field(node, "default_host"); FieldReader::present(n)) {
      if (auto flag = r_.boolean(n, childPath(path, "default_host"))) {
        in.defaultHost = *flag;
      } else {
        ok = false;
      }
    }
    if (auto n = FieldReader::field(node, "port"); FieldReader::present(n)) {
      if (auto p = r_.integer(n, childPath(path, "port"), 1, 65535)) {
        in.port = static_cast<std::uint16_t>(*p);
      } else {
        ok = false;
      }
    } else if (auto derived = derivedIngressPort(c)) {
      in.port = *derived;
    } else {
      r_.error(node, childPath(path, "port"),
               "is required: name the container port the ingress sends traffic to (it is taken "
               "from an http health check, or from the container's only TCP port, when there is "
               "one)");
      ok = false;
    }
    if (!ok) return std::nullopt;
    return in;
  }

  // A list of capability names as docker-compose takes them: "NET_ADMIN" or
  // "CAP_NET_ADMIN", kept without the prefix. "ALL" only where `allowAll`
  // (cap_drop): adding every capability would make the container as strong
  // as the host's root.
  std::vector<std::string> readCapabilities(const YAML::Node& node, const std::string& path,
                                            bool allowAll) {
    std::vector<std::string> caps;
    if (!r_.sequence(node, path) || !withinLimit(node, path, kMaxCapabilitiesPerList)) return caps;
    for (std::size_t i = 0; i < node.size(); ++i) {
      const std::string at = indexPath(path, i);
      auto text = r_.string(node[i], at);
      if (!text) continue;
      std::string name = text->starts_with("CAP_") ? text->substr(4) : *text;
      if (name == "ALL" && !allowAll) {
        r_.error(node[i], at, "ALL cannot be added; list each capability the container needs");
        continue;
      }
      if (name != "ALL" && !isCapability(name)) {
        std::string message = quote(*text) + " is not a Linux capability";
        if (auto guess = closestMatch(name, kLinuxCapabilities)) {
          message += fmt::format(" (did you mean \"{}\"?)", *guess);
        }
        r_.error(node[i], at, message);
        continue;
      }
      if (std::find(caps.begin(), caps.end(), name) != caps.end()) {
        r_.error(node[i], at, fmt::format("{} is listed twice", name));
        continue;
      }
      caps.push_back(std::move(name));
    }
    return caps;
  }

  // Three spellings, as docker-compose allows: a list of {name, value}
  // (the reference form), a mapping NAME: value, or a list of "NAME=value".
  std::vector<EnvVar> readEnvironment(const YAML::Node& node, const std::string& path) {
    std::vector<EnvVar> env;
    if ((node.IsMap() || node.IsSequence()) && !withinLimit(node, path, kMaxEnvironmentPerContainer)) {
      return env;
    }
    auto value = [&](const YAML::Node& v, const std::string& at) -> std::string {
      if (!FieldReader::present(v)) return "";
      return r_.string(v, at).value_or("");
    };
    if (node.IsMap()) {
      if (!r_.namedMapping(node, path)) return env;
      std::set<std::string> seen;
      for (const auto& entry : node) {
        if (!entry.first.IsScalar() || !seen.insert(entry.first.Scalar()).second) continue;
        const std::string name = entry.first.Scalar();
        env.push_back({name, value(entry.second, childPath(path, name))});
      }
    } else if (r_.sequence(node, path)) {
      for (std::size_t i = 0; i < node.size(); ++i) {
        const std::string at = indexPath(path, i);
        const YAML::Node item = node[i];
        if (item.IsScalar()) {
          auto text = r_.string(item, at);  // checks UTF-8 and NUL like every other value
          if (!text) continue;
          const auto eq = text->find('=');
          env.push_back({text->substr(0, eq), eq == std::string::npos ? "" : text->substr(eq + 1)});
        } else if (r_.mapping(item, at, kEnvFields)) {
          const auto name = FieldReader::field(item, "name");
          if (!FieldReader::present(name)) {
            r_.missing(item, childPath(at, "name"));
            continue;
          }
          auto n = r_.string(name, childPath(at, "name"));
          if (!n) continue;
          env.push_back({*n, value(FieldReader::field(item, "value"), childPath(at, "value"))});
        }
      }
    }
    std::set<std::string> names;
    for (const auto& var : env) {
      if (!isEnvName(var.name)) {
        r_.error(node, path,
                 fmt::format("{} is not a variable name (letters, digits and '_', not starting "
                             "with a digit)",
                             quote(var.name)));
      } else if (!names.insert(var.name).second) {
        r_.error(node, path, fmt::format("{} is set more than once", quote(var.name)));
      }
    }
    return env;
  }

  // Long lists cost the scheduler (every host port is checked per node), so
  // each list has a bound.
  bool withinLimit(const YAML::Node& list, const std::string& path, std::size_t limit) {
    if (list.size() <= limit) return true;
    r_.error(list, path, fmt::format("lists {} entries; at most {} are allowed", list.size(), limit));
    return false;
  }

  std::vector<PortMapping> readPorts(const YAML::Node& node, const std::string& path) {
    std::vector<PortMapping> ports;
    if (!r_.sequence(node, path) || !withinLimit(node, path, kMaxPortsPerContainer)) return ports;
    for (std::size_t i = 0; i < node.size(); ++i) {
      const std::string at = indexPath(path, i);
      auto text = r_.string(node[i], at);
      if (!text) continue;
      auto port = parsePortMapping(*text);
      if (!port) {
        r_.error(node[i], at, port.error());
        continue;
      }
      ports.push_back(*port);
    }
    return ports;
  }

  std::optional<HealthCheck> readHealthCheck(const YAML::Node& node, const std::string& path) {
    HealthCheck h;
    if (!r_.mapping(node, path, kHealthFields)) return std::nullopt;
    const auto typeNode = FieldReader::field(node, "type");
    if (!FieldReader::present(typeNode)) {
      r_.missing(node, childPath(path, "type"));
      return std::nullopt;
    }
    const auto type = r_.choice(typeNode, childPath(path, "type"), kHealthTypes);
    if (!type) return std::nullopt;
    h.type = static_cast<HealthCheckType>(*type);
    const bool needsPort = h.type != HealthCheckType::kExec;

    const auto port = FieldReader::field(node, "port");
    if (needsPort && !FieldReader::present(port)) {
      r_.missing(node, childPath(path, "port"));
    } else if (!needsPort && FieldReader::present(port)) {
      r_.error(port, childPath(path, "port"), "applies to http and tcp checks only");
    } else if (needsPort) {
      if (auto p = r_.integer(port, childPath(path, "port"), 1, 65535)) {
        h.port = static_cast<std::uint16_t>(*p);
      }
    }
    if (auto p = FieldReader::field(node, "path"); FieldReader::present(p)) {
      if (h.type != HealthCheckType::kHttp) {
        r_.error(p, childPath(path, "path"), "applies to http checks only");
      } else if (auto text = r_.string(p, childPath(path, "path"))) {
        h.path = *text;
        if (h.path.empty() || h.path[0] != '/' ||
            std::any_of(h.path.begin(), h.path.end(),
                        [](char c) { return c <= ' ' || c == 0x7f; })) {
          r_.error(p, childPath(path, "path"),
                   quote(h.path) + " is not a request path (it starts with '/' and has no spaces)");
        }
      }
    }
    const auto command = FieldReader::field(node, "command");
    if (h.type == HealthCheckType::kExec && !FieldReader::present(command)) {
      r_.missing(node, childPath(path, "command"));
    } else if (h.type != HealthCheckType::kExec && FieldReader::present(command)) {
      r_.error(command, childPath(path, "command"), "applies to exec checks only");
    } else if (h.type == HealthCheckType::kExec) {
      if (auto c = r_.command(command, childPath(path, "command"), kMaxCommandWords)) {
        h.command = std::move(*c);
      }
    }
    auto readDuration = [&](std::string_view key, Millis& out) {
      if (auto n = FieldReader::field(node, key); FieldReader::present(n)) {
        const std::string at = childPath(path, key);
        if (auto d = r_.duration(n, at)) {
          if (*d < kMinInterval || *d > kMaxInterval) {
            r_.error(n, at,
                     fmt::format("{} is outside {} to {}", quote(n.Scalar()),
                                 formatDuration(kMinInterval), formatDuration(kMaxInterval)));
          } else {
            out = *d;
          }
        }
      }
    };
    readDuration("timeout", h.timeout);
    readDuration("interval", h.interval);
    if (h.timeout > h.interval) {
      r_.error(node, childPath(path, "timeout"),
               fmt::format("{} is longer than the interval {}; a check must end before the next "
                           "one starts",
                           formatDuration(h.timeout), formatDuration(h.interval)));
    }
    auto readThreshold = [&](std::string_view key, int& out) {
      if (auto n = FieldReader::field(node, key); FieldReader::present(n)) {
        if (auto v = r_.integer(n, childPath(path, key), 1, 100)) out = static_cast<int>(*v);
      }
    };
    readThreshold("healthy_threshold", h.healthyThreshold);
    readThreshold("unhealthy_threshold", h.unhealthyThreshold);
    return h;
  }

  std::vector<Volume> readVolumes(const YAML::Node& node, const std::string& path) {
    std::vector<Volume> volumes;
    if (!r_.sequence(node, path) || !withinLimit(node, path, kMaxVolumesPerContainer)) return volumes;
    std::set<std::string> paths;
    for (std::size_t i = 0; i < node.size(); ++i) {
      const std::string at = indexPath(path, i);
      const YAML::Node item = node[i];
      if (!r_.mapping(item, at, kVolumeFields)) continue;
      Volume v;
      bool ok = true;
      if (auto t = FieldReader::field(item, "type"); FieldReader::present(t)) {
        auto type = r_.choice(t, childPath(at, "type"), kVolumeTypes);
        ok = ok && type.has_value();
        if (type) v.type = static_cast<VolumeType>(*type);
      } else {
        r_.missing(item, childPath(at, "type"));
        ok = false;
      }
      if (auto p = FieldReader::field(item, "path"); FieldReader::present(p)) {
        auto text = r_.string(p, childPath(at, "path"));
        ok = ok && text.has_value();
        if (text) {
          v.path = *text;
          if (!isMountPath(v.path)) {
            r_.error(p, childPath(at, "path"),
                     quote(v.path) +
                         " is not a mount path (absolute, not '/', no '..' or '.' parts, no "
                         "':' or ',')");
            ok = false;
          } else if (!paths.insert(normalisePath(v.path)).second) {
            r_.error(p, childPath(at, "path"), quote(v.path) + " is mounted twice");
            ok = false;
          } else {
            v.path = normalisePath(v.path);
          }
        }
      } else {
        r_.missing(item, childPath(at, "path"));
        ok = false;
      }
      if (auto s = FieldReader::field(item, "space"); FieldReader::present(s)) {
        auto space = r_.size(s, childPath(at, "space"));
        if (space && (*space == 0 || *space > kMaxVolumeSpace)) {
          r_.error(s, childPath(at, "space"),
                   fmt::format("{} is outside 1 to {}", quote(s.Scalar()), formatSize(kMaxVolumeSpace)));
          space.reset();
        }
        ok = ok && space.has_value();
        if (space) v.space = *space;
      } else {
        r_.missing(item, childPath(at, "space"));
        ok = false;
      }
      if (ok) volumes.push_back(std::move(v));
    }
    return volumes;
  }

  static bool isMountPath(std::string_view p) {
    if (p.size() < 2 || p.size() > 4096 || p[0] != '/') return false;
    if (p.find_first_of(":,") != std::string_view::npos) return false;
    for (char c : p) {
      if (static_cast<unsigned char>(c) < ' ' || c == 0x7f) return false;
    }
    std::size_t start = 1;
    while (start <= p.size()) {
      auto end = p.find('/', start);
      if (end == std::string_view::npos) end = p.size();
      const auto part = p.substr(start, end - start);
      if (part == "." || part == "..") return false;
      start = end + 1;
    }
    return normalisePath(p) != "/";
  }

  // Collapses repeated and trailing slashes: "/data//x/" -> "/data/x".
  static std::string normalisePath(std::string_view p) {
    std::string out;
    for (char c : p) {
      if (c == '/' && !out.empty() && out.back() == '/') continue;
      out.push_back(c);
    }
    if (out.size() > 1 && out.back() == '/') out.pop_back();
    return out;
  }

  FieldReader r_;
  bool ingressGiven_ = false;  // some container has an `ingress` key
};

// Depth-first search for a depends_on cycle; returns it as "a -> b -> a".
std::optional<std::string> findCycle(const Job& job) {
  enum class Mark { kNew, kActive, kDone };
  std::map<std::string, Mark> marks;
  std::vector<std::string> stack;
  std::optional<std::string> cycle;
  auto visit = [&](auto&& self, const Container& c) -> void {
    if (cycle) return;
    marks[c.name] = Mark::kActive;
    stack.push_back(c.name);
    for (const auto& dep : c.dependsOn) {
      const Container* next = job.findContainer(dep);
      if (next == nullptr || next == &c) continue;  // reported separately
      if (marks[dep] == Mark::kActive) {
        std::string text;
        auto from = std::find(stack.begin(), stack.end(), dep);
        for (auto it = from; it != stack.end(); ++it) text += *it + " -> ";
        cycle = text + dep;
        return;
      }
      if (marks[dep] == Mark::kNew) self(self, *next);
      if (cycle) return;
    }
    stack.pop_back();
    marks[c.name] = Mark::kDone;
  };
  for (const auto& c : job.containers) {
    if (marks[c.name] == Mark::kNew) visit(visit, c);
  }
  return cycle;
}

// Rules of ingresses across the job: every host name, the default one
// included, and every ingress TCP port is served by one container. Every
// node's ingress listens on the TCP ports, so none can be a host port of the
// job's own pods too.
template <typename Add>
void validateIngress(const Job& job, Add&& add) {
  std::map<std::string, std::string> hosts;  // host -> the path serving it
  std::map<std::uint16_t, std::string> tcp;
  std::optional<std::string> defaultHost;
  std::map<std::uint16_t, std::string> published;  // TCP host port -> its path
  for (const auto& c : job.containers) {
    for (std::size_t i = 0; i < c.ports.size(); ++i) {
      const PortMapping& p = c.ports[i];
      if (p.hostPort != 0 && p.protocol == Protocol::kTcp) {
        published.try_emplace(p.hostPort, indexPath(fmt::format("containers.{}.ports", c.name), i));
      }
    }
  }
  for (const auto& c : job.containers) {
    if (!c.ingress) continue;
    const Ingress& in = *c.ingress;
    const std::string path = fmt::format("containers.{}.ingress", c.name);
    if (in.hosts.size() > kMaxIngressHostsPerContainer) {
      add(childPath(path, "hosts"), fmt::format("lists {} entries; at most {} are allowed",
                                                in.hosts.size(), kMaxIngressHostsPerContainer));
    }
    for (std::size_t i = 0; i < in.hosts.size(); ++i) {
      const std::string at = indexPath(childPath(path, "hosts"), i);
      auto host = parseIngressHost(in.hosts[i]);
      if (!host) {
        add(at, host.error());
      } else if (*host != in.hosts[i]) {
        add(at, fmt::format("\"{}\" is not in lower case", in.hosts[i]));
      } else if (auto [it, fresh] = hosts.try_emplace(in.hosts[i], at); !fresh) {
        add(at, fmt::format("\"{}\" is already served by {}", in.hosts[i], it->second));
      }
    }
    if (in.defaultHost) {
      if (defaultHost) {
        add(childPath(path, "default_host"),
            fmt::format("the job's default host is already served by {}", *defaultHost));
      } else {
        defaultHost = path;
      }
    }
    if (in.port == 0) add(childPath(path, "port"), "is required (1 to 65535)");
    if (in.tcp != 0) {
      const std::string at = childPath(path, "tcp");
      if (auto [it, fresh] = tcp.try_emplace(in.tcp, at); !fresh) {
        add(at, fmt::format("ingress port {} is already served by {}", in.tcp, it->second));
      }
      if (auto it = published.find(in.tcp); it != published.end()) {
        add(at, fmt::format("port {} is also published by {}: every node's ingress listens on "
                            "it, so no pod can take it as a host port",
                            in.tcp, it->second));
      }
    }
    if (in.hosts.empty() && !in.defaultHost && in.tcp == 0) {
      add(path,
          "serves nothing: give hosts or tcp, leave default_host true, or write ingress: false");
    }
  }
}

}  // namespace

bool isDnsLabel(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(name.front()) || !alnum(name.back())) return false;
  return std::all_of(name.begin(), name.end(), [&](char c) { return alnum(c) || c == '-'; });
}

bool isHostName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t start = 0;
  while (start <= name.size()) {
    auto end = name.find('.', start);
    if (end == std::string_view::npos) end = name.size();
    if (!isDnsLabel(name.substr(start, end - start))) return false;
    start = end + 1;
  }
  return true;
}

Result<std::string, std::string> parseIngressHost(std::string_view text) {
  std::string host(text);
  std::transform(host.begin(), host.end(), host.begin(), [](char ch) {
    return ch >= 'A' && ch <= 'Z' ? static_cast<char>(ch - 'A' + 'a') : ch;
  });
  const std::string quoted =
      fmt::format("\"{}\"", host.size() > 60 ? host.substr(0, 60) + "..." : host);
  if (host.find('*') != std::string::npos) {
    return fail(quoted + ": wildcard host names are not supported; list each host");
  }
  if (host.find(':') != std::string::npos || host.find('[') != std::string::npos) {
    return fail(quoted +
                " is not a host name: give the name alone, without a port (the ingress "
                "matches the Host header without its port) and not an IP address");
  }
  if (!host.empty() && host.back() == '.') {
    return fail(quoted + " ends with a dot: write the name without it");
  }
  if (!isHostName(host)) {
    std::string message =
        quoted + " is not a host name: dot-separated labels of 1 to 63 letters, digits and '-', "
                 "not starting or ending with '-', at most 253 characters in all";
    if (std::any_of(host.begin(), host.end(), [](char ch) { return ch & 0x80; })) {
      message += " (write an international name in its xn-- form)";
    }
    return fail(message);
  }
  const auto lastDot = host.rfind('.');
  if (lastDot == std::string::npos) {
    return fail(quoted + " has one label: an ingress host is a full name (e.g. shop.example.com)");
  }
  // No top-level domain is all digits (RFC 3696), so this refuses every
  // IPv4 address, which a Host header may hold but no job should claim.
  const std::string_view tld = std::string_view(host).substr(lastDot + 1);
  if (std::all_of(tld.begin(), tld.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
    return fail(quoted + " is an IP address, not a host name");
  }
  return host;
}

std::optional<std::uint16_t> derivedIngressPort(const Container& container) {
  if (container.healthcheck && container.healthcheck->type == HealthCheckType::kHttp) {
    return container.healthcheck->port;
  }
  std::optional<std::uint16_t> only;
  for (const auto& p : container.ports) {
    if (p.protocol != Protocol::kTcp || p.containerPort == only) continue;
    if (only) return std::nullopt;  // two ports: which one is a guess
    only = p.containerPort;
  }
  return only;
}

std::optional<std::size_t> defaultIngressContainer(const Job& job) {
  std::optional<std::size_t> found;
  for (std::size_t i = 0; i < job.containers.size(); ++i) {
    const auto& ports = job.containers[i].ports;
    if (std::none_of(ports.begin(), ports.end(),
                     [](const PortMapping& p) { return p.protocol == Protocol::kTcp; })) {
      continue;
    }
    if (found) return std::nullopt;  // two candidates: no default
    found = i;
  }
  if (found && !derivedIngressPort(job.containers[*found])) return std::nullopt;
  return found;
}

std::vector<FieldError> validateJob(const Job& job) {
  std::vector<FieldError> errors;
  auto add = [&](std::string path, std::string message) {
    errors.push_back(FieldError{std::move(path), std::move(message)});
  };
  // depends_on names containers of this job, not itself, each once.
  for (const auto& c : job.containers) {
    const std::string path = fmt::format("containers.{}.depends_on", c.name);
    std::set<std::string> seen;
    for (std::size_t i = 0; i < c.dependsOn.size(); ++i) {
      const std::string& dep = c.dependsOn[i];
      if (dep == c.name) {
        add(indexPath(path, i), "a container cannot depend on itself");
      } else if (job.findContainer(dep) == nullptr) {
        std::vector<std::string_view> names;
        for (const auto& other : job.containers) names.push_back(other.name);
        std::string message = fmt::format("\"{}\" is not a container of this job", dep.substr(0, 60));
        if (auto guess = closestMatch(dep, names)) message += fmt::format(" (did you mean \"{}\"?)", *guess);
        add(indexPath(path, i), message);
      } else if (!seen.insert(dep).second) {
        add(indexPath(path, i), fmt::format("\"{}\" is listed twice", dep));
      }
    }
  }
  if (auto cycle = findCycle(job)) {
    add("containers", fmt::format("depends_on has a cycle: {}", *cycle));
  }

  // Containers of an instance share the pod's network namespace: a host port
  // can be published once per pod, and a container port belongs to one container.
  struct Owner {
    std::string path;
    std::string container;
  };
  std::size_t published = 0;
  for (const auto& c : job.containers) {
    for (const auto& p : c.ports) published += p.hostPort != 0 ? 1 : 0;
  }
  if (published > kMaxHostPortsPerJob) {
    add("containers", fmt::format("the job publishes {} host ports; at most {} are allowed",
                                  published, kMaxHostPortsPerJob));
  }
  std::map<std::pair<std::uint16_t, Protocol>, Owner> hostPorts;
  std::map<std::pair<std::uint16_t, Protocol>, Owner> containerPorts;
  for (const auto& c : job.containers) {
    for (std::size_t i = 0; i < c.ports.size(); ++i) {
      const PortMapping& p = c.ports[i];
      const std::string path = indexPath(fmt::format("containers.{}.ports", c.name), i);
      if (p.hostPort != 0) {
        auto [it, fresh] = hostPorts.try_emplace({p.hostPort, p.protocol}, Owner{path, c.name});
        if (!fresh) {
          add(path, fmt::format("host port {}/{} is already published by {}", p.hostPort,
                                toString(p.protocol), it->second.path));
        }
      }
      auto [it, fresh] =
          containerPorts.try_emplace({p.containerPort, p.protocol}, Owner{path, c.name});
      if (!fresh && it->second.container != c.name) {
        add(path, fmt::format("container port {}/{} is already used by {} (containers of a pod "
                              "share one network)",
                              p.containerPort, toString(p.protocol), it->second.path));
      }
    }
  }
  validateIngress(job, add);
  return errors;
}

std::vector<std::size_t> startOrder(const Job& job) {
  std::vector<std::size_t> order;
  std::vector<bool> started(job.containers.size(), false);
  // Repeatedly take the first container (in file order) whose dependencies
  // have all started: O(n^2) on at most kMaxContainers, and stable.
  while (order.size() < job.containers.size()) {
    bool progressed = false;
    for (std::size_t i = 0; i < job.containers.size(); ++i) {
      if (started[i]) continue;
      const bool ready = std::all_of(
          job.containers[i].dependsOn.begin(), job.containers[i].dependsOn.end(),
          [&](const std::string& dep) {
            for (std::size_t j = 0; j < job.containers.size(); ++j) {
              if (job.containers[j].name == dep) return static_cast<bool>(started[j]);
            }
            return true;  // unknown names are validation errors, not ordering ones
          });
      if (ready) {
        started[i] = true;
        order.push_back(i);
        progressed = true;
        break;
      }
    }
    if (!progressed) break;  // a cycle: validateJob() reports it
  }
  return order;
}

Result<Job, JobParseError> parseJob(std::string_view text, const YamlLimits& limits) {
  auto root = loadYaml(text, limits);
  if (!root) {
    return fail(JobParseError{root.error().kind == YamlLoadError::Kind::kTooLarge,
                              {root.error().error}});
  }
  std::vector<FieldError> errors;
  Job job = JobReader(errors).read(*root);
  // Cross-field rules run on whatever parsed, so one pass reports everything.
  for (auto& e : validateJob(job)) errors.push_back(std::move(e));
  if (!errors.empty()) return fail(JobParseError{false, std::move(errors)});
  return job;
}

Problem toProblem(const JobParseError& error, std::string_view jobName) {
  nlohmann::json extensions = nlohmann::json::object();
  if (!jobName.empty()) extensions["job"] = std::string(jobName);
  if (error.tooLarge) {
    const std::string detail = error.errors.empty() ? "The job file is too large."
                                                    : "The job file is too large: " +
                                                          error.errors.front().message + ".";
    return makeProblem(problems::kJobFileTooLarge, detail, std::move(extensions));
  }
  const std::size_t n = error.errors.size();
  std::string detail = n == 1 ? fmt::format("The job file has a problem: {}.",
                                            error.errors.front().toString())
                              : fmt::format("The job file has {} problems; see errors.", n);
  return makeFieldProblem(problems::kInvalidJob, std::move(detail), error.errors,
                          std::move(extensions));
}

}  // namespace ozy
