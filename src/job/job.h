// The job model: what a job file says, normalised (defaults filled in, sizes
// in bytes, durations in milliseconds). Plain data; parsing lives in
// job_parser.h, placement demand in placement/demand.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "job/units.h"

namespace ozy {

enum class RestartPolicy { kAlways, kOnFailure, kNo };
enum class Protocol { kTcp, kUdp };
enum class HealthCheckType { kHttp, kTcp, kExec };
enum class VolumeType { kShared, kLocal };
// When a node pulls a container's image, with Kubernetes' meanings: only if
// it lacks it, before every new pod, or never (the image must be there).
enum class PullPolicy { kIfNotPresent, kAlways, kNever };

struct EnvVar {
  std::string name;
  std::string value;
  bool operator==(const EnvVar&) const = default;
};

// "127.0.0.1:80:3000/udp": hostIp 127.0.0.1, hostPort 80, containerPort 3000.
// hostPort 0 ("3000" alone) asks for an ephemeral host port chosen when the
// instance starts, as docker-compose does: it constrains no placement.
struct PortMapping {
  std::string hostIp;
  std::uint16_t hostPort = 0;
  std::uint16_t containerPort = 0;
  Protocol protocol = Protocol::kTcp;
  bool operator==(const PortMapping&) const = default;
};

struct HealthCheck {
  HealthCheckType type = HealthCheckType::kHttp;
  std::uint16_t port = 0;            // http and tcp
  std::string path = "/";            // http
  std::vector<std::string> command;  // exec
  Millis timeout{5000};
  Millis interval{10000};
  int healthyThreshold = 1;
  int unhealthyThreshold = 3;
  bool operator==(const HealthCheck&) const = default;
};

struct Volume {
  VolumeType type = VolumeType::kLocal;
  std::string path;  // absolute path inside the container
  Bytes space = 0;
  bool operator==(const Volume&) const = default;
};

// What every node's ingress serves of a container (docs/ingress.md): HTTP
// whose Host is one of `hosts`, and, when `tcp` is set, every byte arriving
// on that ingress port, both to `port` on a healthy instance's pod.
// `defaultHost` stands for "<job>.<cluster domain>": the parser cannot know
// the domain, so whoever serves or claims host names resolves it
// (defaultHostOf). Host names are lowercase, each once, never with a port.
// The file's syntax and the default a job gets without any `ingress` key:
// docs/jobs.md#ingress. Which job may serve a host or port cluster-wide is
// settled at submission (scheduler/ingress_claims.h): the claim keys under
// /ozy/ingress/ are the authority, a spec alone is not (jobs stored before
// claims existed read with a default ingress but hold no claim).
struct Ingress {
  std::vector<std::string> hosts;
  bool defaultHost = false;
  std::uint16_t port = 0;  // the container port
  std::uint16_t tcp = 0;   // 0: no TCP route
  bool operator==(const Ingress&) const = default;
};

struct Container {
  std::string name;
  std::string image;
  // The parser fills in the default for the image (image_reference.h).
  PullPolicy pull = PullPolicy::kIfNotPresent;
  // Which of the node's registry credentials (a key of `ozy agent
  // --registry-auth`'s file) pull the image; empty: none. Only the name is
  // ever stored, never the secret.
  std::string registryAuth;
  RestartPolicy restart = RestartPolicy::kAlways;
  std::vector<std::string> command;  // empty: the image's default
  std::vector<EnvVar> environment;
  std::vector<PortMapping> ports;
  std::vector<std::string> dependsOn;
  Bytes memory = 0;
  std::optional<HealthCheck> healthcheck;
  std::vector<Volume> volumes;
  // Linux capabilities on top of, and taken from, the default set
  // (job/capabilities.h): names without "CAP_", each once; capDrop may hold
  // "ALL". Adding one outside the default set needs the node's consent
  // (ozy agent --allow-capability).
  std::vector<std::string> capAdd;
  std::vector<std::string> capDrop;
  // Absent: the ingress serves nothing of this container.
  std::optional<Ingress> ingress;
  bool operator==(const Container&) const = default;
};

// How a running job moves to a new version (docs/jobs.md#update), with
// Nomad's meanings and defaults. `rolling`: batches of `maxParallel` new
// instances are placed beside the old ones; once a batch has been healthy
// for `minHealthyTime` (within `healthyDeadline` of its placement) as many
// old instances go, and the next batch starts. `recreate`: every old
// instance goes first, then the new ones are placed together. `canary` new
// instances come first, in addition, and the deployment waits for `ozy job
// promote` once they are healthy. A deployment fails when a batch misses its
// healthy deadline or no batch has become healthy for `progressDeadline`;
// with `autoRevert` the job then goes back to its last version whose
// deployment succeeded.
enum class UpdateStrategy { kRolling, kRecreate };

struct UpdatePolicy {
  std::uint32_t maxParallel = 1;
  Millis minHealthyTime{10'000};
  Millis healthyDeadline{300'000};
  Millis progressDeadline{600'000};
  bool autoRevert = false;
  std::uint32_t canary = 0;
  UpdateStrategy strategy = UpdateStrategy::kRolling;
  bool operator==(const UpdatePolicy&) const = default;
};

struct Job {
  std::string name;
  std::uint32_t numInstances = 1;
  // In the order the file lists them; startOrder() gives depends_on order.
  std::vector<Container> containers;
  // How a change of the containers rolls out; changing it alone replaces
  // no instance.
  UpdatePolicy update;
  bool operator==(const Job&) const = default;

  const Container* findContainer(std::string_view name) const;
};

// "<job>.<domain>": the host name Ingress::defaultHost stands for.
std::string defaultHostOf(std::string_view job, std::string_view domain);

// Defaults applied where the job file is silent; docs/jobs.md lists them.
inline constexpr Bytes kDefaultContainerMemory = 256 * kMiB;
inline constexpr std::uint32_t kMaxInstances = 100'000;
inline constexpr std::size_t kMaxContainers = 64;

std::string_view toString(RestartPolicy policy);
std::string_view toString(Protocol protocol);
std::string_view toString(HealthCheckType type);
std::string_view toString(VolumeType type);
std::string_view toString(PullPolicy policy);
std::string_view toString(UpdateStrategy strategy);

// "127.0.0.1:80:3000/udp" in the job file's own syntax.
std::string toString(const PortMapping& port);

}  // namespace ozy
