// Desired instances against the pods observed on one node: the actions that
// make the node match (create, remove, start, restart), as data.
//
// Pure and level-triggered: the agent calls it on every change and on a
// periodic resync with what etcd assigns and what podman reports, and
// carries out the actions. Restarts follow the container's restart policy
// with a growing back-off (10 s doubling to 5 min, as Kubernetes does); a
// restart that is not due yet comes back as a kWait with its time, so the
// agent knows when to look again.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "job/job.h"

namespace ozy {

struct DesiredInstance {
  std::string job;
  std::uint32_t id = 0;
  std::uint64_t jobVersion = 0;  // the spec's hash (specHash): what the pod's label says
  std::shared_ptr<const Job> spec;
  std::uint64_t version = 0;     // the job version (JobRecord::specVersion) it runs
};

enum class ContainerState { kCreated, kRunning, kExited, kUnknown };

struct ObservedContainer {
  std::string name;  // the job's name for the container
  ContainerState state = ContainerState::kUnknown;
  int exitCode = 0;
  bool healthy = true;         // false once its health check says unhealthy
  std::uint32_t restarts = 0;  // restarts the agent has made
  std::int64_t lastStartMs = 0;
  // Its health check has passed (true for a container without one): what a
  // dependent waits for. A container that is neither ready nor unhealthy is
  // still starting, and is left alone.
  bool ready = true;
};

struct ObservedPod {
  std::string name;
  std::string job;
  std::uint32_t id = 0;
  std::uint64_t jobVersion = 0;
  std::vector<ObservedContainer> containers;
};

enum class ActionKind { kRemovePod, kCreatePod, kStartContainer, kRestartContainer, kWait };

// Why a pod is removed, as data for the code that acts on it (the reason's
// text is for people).
enum class RemovalReason {
  kNone,          // not a removal
  kNotAssigned,   // its instance is no longer on this node
  kDuplicate,     // a second pod of one instance
  kSpecChanged,   // its instance now runs another spec: made again from it
  kBroken,        // a container is missing: made again
};

struct Action {
  ActionKind kind;
  std::string pod;
  std::string job;
  std::uint32_t id = 0;
  std::string container;   // for start, restart and wait
  std::string reason;      // for logs and `ozy job status`
  std::int64_t notBeforeMs = 0;  // for kWait: when the restart is due
  RemovalReason removal = RemovalReason::kNone;  // for kRemovePod
  bool operator==(const Action&) const = default;
};

struct RestartBackoff {
  std::chrono::milliseconds initial{10'000};
  std::chrono::milliseconds max{300'000};
};

// "ozy-<job>-<id>": unique per node, and readable in `podman pod ps`.
std::string podName(std::string_view job, std::uint32_t id);

// The pod's host name, "<job>-<id>": a DNS label of at most 63 characters,
// so the job name is cut short when a long one and the id would not fit
// (host names need not be unique; pod names do).
std::string podHostname(std::string_view job, std::uint32_t id);

// The pause before restart number `restarts + 1`: initial, doubling, capped.
std::chrono::milliseconds restartDelay(std::uint32_t restarts, const RestartBackoff& backoff = {});

// Removals first (they free ports and memory), then creations, then
// container starts and restarts in depends_on order.
std::vector<Action> reconcile(const std::vector<DesiredInstance>& desired,
                              const std::vector<ObservedPod>& observed, std::int64_t nowMs,
                              const RestartBackoff& backoff = {});

// Whether a kRemovePod action makes way for a pod of its job's new spec (the
// instance stays; its pod is made again).
bool replacesWithNewSpec(const Action& removal);

}  // namespace ozy
