// ContainerRuntime: what the node agent asks of the container engine, in the
// project's own words (one pod per instance, its containers inside it).
//
// The agent sees only this interface, so its tests run against a fake;
// PodmanRuntime (podman_runtime.h) is the real one. Every call has a deadline
// and returns failures as a RuntimeError value whose message a sysadmin can act
// on; no exception leaves an implementation.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"

namespace ozy::runtime {

struct RuntimeError {
  enum class Code {
    kUnavailable,  // the engine cannot be reached or did not answer in time
    kNotFound,     // no such pod, container or image
    kConflict,     // a name in use, or an operation the object's state forbids
    kInvalid,      // the engine rejected the request as malformed
    kTimeout,      // the engine answered, but the work (an exec) outran its timeout
    kOther,
  };
  Code code = Code::kOther;
  std::string message;
};

std::string_view toString(RuntimeError::Code code);

template <typename T>
using RuntimeResult = Result<T, RuntimeError>;
using Done = std::monostate;

using Labels = std::map<std::string, std::string>;

// A login to one registry, as `podman login` would make it.
struct RegistryAuth {
  std::string username;
  std::string password;
  std::string serverAddress;  // the registry's host[:port]
};

struct PublishedPort {
  std::string hostIp;  // empty: every address of the host
  std::uint16_t hostPort = 0;
  std::uint16_t containerPort = 0;
  std::string protocol = "tcp";  // "tcp" or "udp"
};

// A user namespace's ids: container uids and gids 0 to size-1 are the host's
// hostId to hostId+size-1. Without one (size 0) container root is host root.
struct IdMap {
  std::uint32_t hostId = 0;
  std::uint32_t size = 0;
  bool operator==(const IdMap&) const = default;
};

struct PodSpec {
  std::string name;
  Labels labels;
  // Ports belong to the pod: its containers share one network namespace.
  std::vector<PublishedPort> ports;
  std::vector<std::string> dnsServers;  // empty: the engine's default resolv.conf
  std::string hostname;                 // empty: the engine's choice
  std::string network;                  // the engine network to join; empty: its default
  // The user namespace every container of the pod shares (the same map for
  // uids and gids).
  IdMap idMap;
};

enum class RestartPolicy { kNo, kOnFailure, kAlways };

struct Mount {
  std::string hostPath;  // an existing directory on the node
  std::string containerPath;
  bool readOnly = false;
};

struct ContainerSpec {
  std::string name;
  std::string pod;  // pod id or name
  std::string image;
  std::vector<std::string> command;  // empty: the image's default
  std::map<std::string, std::string> env;
  std::uint64_t memoryLimit = 0;  // bytes, hard (no swap on top); 0: none
  RestartPolicy restart = RestartPolicy::kNo;
  std::vector<Mount> mounts;
  Labels labels;
  // How long a stop waits after SIGTERM before SIGKILL.
  std::chrono::seconds stopTimeout{10};
  // No process of the container gains privileges by exec (setuid, file
  // capabilities).
  bool noNewPrivileges = true;
  // Exactly these capabilities (names without "CAP_"), every other dropped;
  // nullopt: the engine's default set.
  std::optional<std::vector<std::string>> capabilities;
  std::int64_t pidsLimit = 0;      // processes and threads at once; 0: no limit
  std::uint64_t logMaxSize = 0;    // bytes of the container's log file; 0: no limit
};

enum class ContainerStatus { kCreated, kRunning, kPaused, kStopping, kExited, kUnknown };
std::string_view toString(ContainerStatus status);

struct ContainerSummary {
  std::string id;
  std::string name;
  ContainerStatus state = ContainerStatus::kUnknown;
  int exitCode = 0;
  // Not every listing reports these; inspectContainer() always does.
  std::optional<int> restartCount;
  std::optional<bool> oomKilled;
};

struct PodSummary {
  std::string id;
  std::string name;
  Labels labels;
  std::string status;  // the engine's word, e.g. "Running", "Exited", "Degraded"
  std::vector<ContainerSummary> containers;  // the pod's own, without its infra container
};

struct ContainerState {
  ContainerStatus status = ContainerStatus::kUnknown;
  int exitCode = 0;
  // The kernel's OOM killer ended it. podman 4.3 with runc on cgroup v1 does
  // not always notice: an exit code of 137 with a memory limit is the hint.
  bool oomKilled = false;
  int restartCount = 0;
  std::string startedAt;   // RFC 3339 as the engine reports it; empty if never
  std::string finishedAt;  // likewise
};

// Where a running pod can be reached: its address on the engine's network,
// and the host ports its container ports were published on (an ephemeral
// host port is known only once the pod runs).
struct PodNetwork {
  std::string ip;  // empty while the pod has no network (not started)
  std::vector<PublishedPort> ports;
};

class ContainerRuntime {
 public:
  virtual ~ContainerRuntime() = default;

  // Answers once the engine does; for startup checks.
  virtual RuntimeResult<Done> ping() = 0;
  virtual RuntimeResult<bool> imageExists(const std::string& image) = 0;
  // Pulls `reference` from its registry, with `auth` if given, over TLS
  // that is verified unless `tlsVerify` is false (which also allows plain
  // HTTP); returns the image's id. Slow on purpose: its deadline is long,
  // and a stop requested through `stop` abandons it (kUnavailable).
  // kNotFound: the registry has no such image or tag; kUnavailable: the
  // engine or the registry cannot be reached.
  virtual RuntimeResult<std::string> pullImage(const std::string& reference,
                                               const std::optional<RegistryAuth>& auth,
                                               bool tlsVerify, std::stop_token stop) = 0;

  // Removes the image `reference` names, or only that name if the image has
  // others. kConflict: a container uses it (it is never forced);
  // kNotFound: no such image.
  virtual RuntimeResult<Done> removeImage(const std::string& reference) = 0;

  // Returns the pod's id.
  virtual RuntimeResult<std::string> createPod(const PodSpec& spec) = 0;
  virtual RuntimeResult<Done> startPod(const std::string& pod) = 0;
  virtual RuntimeResult<Done> stopPod(const std::string& pod, std::chrono::seconds timeout) = 0;
  virtual RuntimeResult<Done> removePod(const std::string& pod, bool force) = 0;
  // Pods carrying every label in `labels` (key=value); an empty map lists all.
  virtual RuntimeResult<std::vector<PodSummary>> listPods(const Labels& labels) = 0;
  virtual RuntimeResult<PodNetwork> inspectPodNetwork(const std::string& pod) = 0;

  // Returns the container's id.
  virtual RuntimeResult<std::string> createContainer(const ContainerSpec& spec) = 0;
  virtual RuntimeResult<Done> startContainer(const std::string& container) = 0;
  virtual RuntimeResult<Done> stopContainer(const std::string& container,
                                            std::chrono::seconds timeout) = 0;
  virtual RuntimeResult<Done> removeContainer(const std::string& container, bool force) = 0;
  virtual RuntimeResult<ContainerState> inspectContainer(const std::string& container) = 0;

  // Runs `command` inside a running container and returns its exit code;
  // kTimeout if it has not finished within `timeout`.
  virtual RuntimeResult<int> exec(const std::string& container,
                                  const std::vector<std::string>& command,
                                  std::chrono::milliseconds timeout) = 0;
};

}  // namespace ozy::runtime
