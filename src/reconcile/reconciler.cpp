#include "reconcile/reconciler.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "job/job_parser.h"

namespace ozy {

std::string podName(std::string_view job, std::uint32_t id) {
  return fmt::format("ozy-{}-{}", job, id);
}

std::string podHostname(std::string_view job, std::uint32_t id) {
  constexpr std::size_t kMaxLabel = 63;
  const std::string suffix = fmt::format("-{}", id);
  std::string_view head = job.substr(0, kMaxLabel - suffix.size());
  while (!head.empty() && head.back() == '-') head.remove_suffix(1);  // no "--" in the middle
  return std::string(head) + suffix;
}

std::chrono::milliseconds restartDelay(std::uint32_t restarts, const RestartBackoff& backoff) {
  auto delay = backoff.initial;
  for (std::uint32_t i = 0; i < restarts && delay < backoff.max; ++i) delay *= 2;
  return std::min(delay, backoff.max);
}

namespace {

using Key = std::pair<std::string, std::uint32_t>;  // job, instance id

constexpr std::string_view kJobChanged = "job changed";

bool policyRestarts(RestartPolicy policy, const ObservedContainer& c) {
  const bool failed = c.state == ContainerState::kExited ? c.exitCode != 0 : !c.healthy;
  switch (policy) {
    case RestartPolicy::kAlways:
      return true;
    case RestartPolicy::kOnFailure:
      return failed;
    case RestartPolicy::kNo:
      return false;
  }
  return false;
}

// Start, restart or wait, container by container in depends_on order, for a
// pod that exists and runs the desired version.
void reconcileContainers(const DesiredInstance& want, const ObservedPod& pod, std::int64_t nowMs,
                         const RestartBackoff& backoff, std::vector<Action>& out) {
  std::map<std::string, const ObservedContainer*> seen;
  for (const auto& c : pod.containers) seen[c.name] = &c;
  const Job& spec = *want.spec;
  for (std::size_t index : startOrder(spec)) {
    const Container& c = spec.containers[index];
    const ObservedContainer* o = seen.contains(c.name) ? seen[c.name] : nullptr;
    // A dependent waits until everything it depends on runs and is healthy.
    const bool depsReady = std::all_of(c.dependsOn.begin(), c.dependsOn.end(), [&](const auto& d) {
      return seen.contains(d) && seen[d]->state == ContainerState::kRunning && seen[d]->healthy &&
             seen[d]->ready;
    });
    Action base{ActionKind::kStartContainer, pod.name, want.job, want.id, c.name, "", 0};
    if (o == nullptr || o->state == ContainerState::kUnknown) continue;  // the pod is recreated
    if (o->state == ContainerState::kCreated) {
      if (!depsReady) continue;
      base.reason = "not started yet";
      out.push_back(base);
      continue;
    }
    const bool down = o->state == ContainerState::kExited || !o->healthy;
    if (!down || !policyRestarts(c.restart, *o)) continue;
    if (!depsReady) continue;
    const std::int64_t due = o->lastStartMs + restartDelay(o->restarts, backoff).count();
    const std::string why = o->state == ContainerState::kExited
                                ? fmt::format("exited with code {}", o->exitCode)
                                : std::string("unhealthy");
    if (nowMs < due) {
      base.kind = ActionKind::kWait;
      base.reason = fmt::format("{}; restart {} in back-off", why, o->restarts + 1);
      base.notBeforeMs = due;
    } else {
      base.kind = ActionKind::kRestartContainer;
      base.reason = fmt::format("{}; restart {}", why, o->restarts + 1);
    }
    out.push_back(base);
  }
}

bool podIsBroken(const DesiredInstance& want, const ObservedPod& pod) {
  // A container of the spec missing from the pod, or in a state podman could
  // not report, cannot be repaired in place: the pod is made again.
  for (const auto& c : want.spec->containers) {
    auto it = std::find_if(pod.containers.begin(), pod.containers.end(),
                           [&](const ObservedContainer& o) { return o.name == c.name; });
    if (it == pod.containers.end() || it->state == ContainerState::kUnknown) return true;
  }
  return false;
}

}  // namespace

bool replacesWithNewSpec(const Action& removal) {
  return removal.kind == ActionKind::kRemovePod && removal.removal == RemovalReason::kSpecChanged;
}

std::vector<Action> reconcile(const std::vector<DesiredInstance>& desired,
                              const std::vector<ObservedPod>& observed, std::int64_t nowMs,
                              const RestartBackoff& backoff) {
  std::map<Key, const DesiredInstance*> wanted;
  for (const auto& d : desired) wanted[{d.job, d.id}] = &d;
  std::map<Key, const ObservedPod*> running;
  std::vector<Action> removals;
  std::vector<Action> creations;
  std::vector<Action> containers;

  for (const auto& pod : observed) {
    const Key key{pod.job, pod.id};
    auto it = wanted.find(key);
    if (it == wanted.end() || running.contains(key)) {
      removals.push_back({ActionKind::kRemovePod, pod.name, pod.job, pod.id, "",
                          it == wanted.end() ? "no longer assigned to this node" : "duplicate pod", 0,
                          it == wanted.end() ? RemovalReason::kNotAssigned : RemovalReason::kDuplicate});
      continue;
    }
    if (pod.jobVersion != it->second->jobVersion) {
      removals.push_back({ActionKind::kRemovePod, pod.name, pod.job, pod.id, "",
                          fmt::format("{} from version {} to {}", kJobChanged, pod.jobVersion,
                                      it->second->jobVersion),
                          0, RemovalReason::kSpecChanged});
      continue;  // created again below, from the new spec
    }
    if (podIsBroken(*it->second, pod)) {
      removals.push_back({ActionKind::kRemovePod, pod.name, pod.job, pod.id, "",
                          "a container is missing; recreating the pod", 0, RemovalReason::kBroken});
      continue;
    }
    running[key] = &pod;
  }
  for (const auto& d : desired) {
    const Key key{d.job, d.id};
    if (auto it = running.find(key); it != running.end()) {
      reconcileContainers(d, *it->second, nowMs, backoff, containers);
    } else {
      creations.push_back({ActionKind::kCreatePod, podName(d.job, d.id), d.job, d.id, "",
                           "assigned to this node", 0});
    }
  }
  std::vector<Action> out = std::move(removals);
  out.insert(out.end(), creations.begin(), creations.end());
  out.insert(out.end(), containers.begin(), containers.end());
  return out;
}

}  // namespace ozy
