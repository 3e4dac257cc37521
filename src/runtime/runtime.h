// ContainerRuntime: what the node agent asks of the container engine, in the
// project's own words (one pod per instance, its containers inside it).
//
// The agent sees only this interface, so its tests run against a fake;
// PodmanRuntime (podman_runtime.h) is the real one. Every call has a deadline
// and returns failures as a RuntimeError value whose message a sysadmin can act
// on; no exception leaves an implementation.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
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
  std::int64_t pidsLimit = 0;    // processes and threads at once; 0: no limit
  std::uint64_t logMaxSize = 0;  // bytes of the container's log file; 0: no limit
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

// Which of a container's output streams a piece of output came from.
enum class LogStream { kStdout, kStderr };
std::string_view toString(LogStream stream);

// Receives a container's output a piece at a time; returning false ends the
// read. A piece is one line with its newline, or a part of a longer line.
using LogSink = std::function<bool(LogStream, std::string_view)>;

struct LogOptions {
  // Keep reading as the container writes, until it stops.
  bool follow = false;
  // Only the last N lines (of both streams together), then anything new; 0
  // gives none. nullopt: every line the log still holds.
  std::optional<std::int64_t> tailLines;
  // Only lines logged at or after this time (seconds since the epoch).
  std::optional<std::int64_t> sinceUnixSeconds;
  // Each line begins with the time it was logged (RFC 3339) and a space.
  bool timestamps = false;
};

// What a command run by exec() wrote, bounded: a health check's output is
// for a message, not for storage, and a runaway command must not take the
// agent's memory with it.
inline constexpr std::size_t kExecOutputLimit = std::size_t{1} << 20;  // per stream

struct ExecResult {
  int exitCode = 0;
  std::string stdoutText;  // the first kExecOutputLimit bytes it wrote to stdout
  std::string stderrText;  // likewise for stderr
  bool truncated = false;  // it wrote more than that to either stream
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

  // Runs `command` inside a running container and returns its exit code and
  // output; kTimeout if it has not finished within `timeout`, kNotFound if
  // there is no such container, kConflict if it is not running.
  virtual RuntimeResult<ExecResult> exec(const std::string& container,
                                         const std::vector<std::string>& command,
                                         std::chrono::milliseconds timeout) = 0;

  // Hands the container's logged output to `onChunk`, each piece marked with
  // its stream, in the order the engine logged it (within one stream, the
  // order it was written; across the two, only as the engine read them).
  // Without `follow` it ends at the end of the log; with it, when the
  // container stops. Either way it also ends, with Done, when `onChunk`
  // returns false or `stop` is requested. A container never started has an
  // empty log. kNotFound: no such container; kInvalid: a negative tail or
  // since. Without `follow` the whole read has the call deadline; a follow
  // has none but `stop` (the engine may stay silent for as long as the
  // container does).
  virtual RuntimeResult<Done> containerLogs(const std::string& container, const LogOptions& options,
                                            const LogSink& onChunk, std::stop_token stop) = 0;
};

}  // namespace ozy::runtime
