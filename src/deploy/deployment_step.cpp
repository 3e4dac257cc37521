#include "deploy/deployment_step.h"

#include <algorithm>
#include <optional>

#include <fmt/format.h>

#include "job/units.h"

namespace ozy {
namespace {

struct Placed {
  std::uint32_t id = 0;
  std::string node;
  std::uint64_t version = 0;
  const InstanceStatus* status = nullptr;  // its own node's report, if any
};

bool publishesHostPorts(const Job& job) {
  for (const auto& c : job.containers) {
    for (const auto& port : c.ports) {
      if (port.hostPort != 0) return true;
    }
  }
  return false;
}

std::string plural(std::size_t n, std::string_view word) {
  return fmt::format("{} {}{}", n, word, n == 1 ? "" : "s");
}

// How a batch instance is doing, for a failure's message.
std::string describe(const Placed& p, std::uint64_t version) {
  if (!p.status) return fmt::format("instance {} on {} has not reported", p.id, p.node);
  if (p.status->version != version) {
    return fmt::format("instance {} on {} has not started version {}", p.id, p.node, version);
  }
  if (p.status->state == InstanceState::kHealthy) {
    return fmt::format("instance {} on {} has been healthy for less than min_healthy_time", p.id,
                       p.node);
  }
  return fmt::format("instance {} on {} is {}{}{}", p.id, p.node, toString(p.status->state),
                     p.status->reason.empty() ? "" : ": ", p.status->reason);
}

}  // namespace

DeploymentStep decideStep(const DeploymentView& view) {
  const DeploymentRecord& d = view.deployment;
  const UpdatePolicy& policy = d.policy;
  const std::int64_t now = view.nowMs;
  DeploymentStep step;
  step.next = d;
  if (d.state != DeploymentState::kRunning) return step;  // paused or over: nothing to do
  if (d.version != view.job.specVersion) {
    // The job moved on without this deployment (a record written by an
    // older agent, or by hand): its instances are placed on the job's
    // version, so this one could never converge. It ends.
    step.kind = StepKind::kAdvance;
    step.next.state = DeploymentState::kSuperseded;
    step.next.message = fmt::format("the job is at version {} now", view.job.specVersion);
    step.next.batch.clear();
    step.next.removing.clear();
    step.next.updatedAtMs = now;
    return step;
  }

  std::map<std::uint32_t, Placed> placed;
  for (const auto& [node, a] : view.assignments) {
    for (auto id : a.instances) {
      const auto s = view.statuses.find(id);
      const InstanceStatus* status =
          s != view.statuses.end() && s->second.node == node ? &s->second : nullptr;
      placed[id] = Placed{id, node, a.version, status};
    }
  }
  std::vector<const Placed*> old;
  std::size_t fresh = 0;
  for (const auto& [id, p] : placed) {
    if (p.version == d.version) {
      ++fresh;
    } else {
      old.push_back(&p);
    }
  }
  const std::size_t pending = view.job.pending.size();
  const std::size_t wanted = view.job.spec.numInstances;
  const std::int64_t minHealthy = policy.minHealthyTime.count();

  // How long the instance has been healthy on the new version; nothing if
  // it is not (a report from before the new pod started says another version).
  auto healthyForMs = [&](const Placed& p) -> std::optional<std::int64_t> {
    if (!p.status || p.status->state != InstanceState::kHealthy || p.status->version != d.version) {
      return std::nullopt;
    }
    return now - p.status->sinceMs;
  };
  auto later = [&](std::int64_t at) {
    if (at > now && (step.lookAgainAtMs == 0 || at < step.lookAgainAtMs)) step.lookAgainAtMs = at;
  };
  auto failWith = [&](std::string why) {
    step.kind = StepKind::kFail;
    step.next.state = DeploymentState::kFailed;
    step.next.message = std::move(why);
    step.next.batch.clear();
    step.next.removing.clear();
    step.next.updatedAtMs = now;
    // A revert that fails too is not reverted again: that would loop.
    step.revert = policy.autoRevert && d.revertsFailed == 0;
    return step;
  };

  // 1. The batch under way: complete once each of its instances has been
  // healthy for min_healthy_time; failed once healthy_deadline has passed.
  // One waiting for room (its node died and no other had room for it) is
  // not healthy; one a scale down removed is no longer waited for.
  std::vector<const Placed*> batch;
  std::optional<std::uint32_t> unplaced;  // the first of the batch that is pending
  for (auto id : d.batch) {
    if (auto it = placed.find(id); it != placed.end() && it->second.version == d.version) {
      batch.push_back(&it->second);
    } else if (!unplaced && std::find(view.job.pending.begin(), view.job.pending.end(), id) !=
                                view.job.pending.end()) {
      unplaced = id;
    }
  }
  bool acted = false;
  if (!d.batch.empty()) {
    const Placed* notReady = nullptr;
    for (const Placed* p : batch) {
      const auto healthy = healthyForMs(*p);
      if (healthy && *healthy >= minHealthy) continue;
      if (!notReady) notReady = p;
      if (healthy) later(p->status->sinceMs + minHealthy);
    }
    if (notReady || unplaced) {
      const std::int64_t deadline = d.batchPlacedAtMs + policy.healthyDeadline.count();
      if (now >= deadline) {
        return failWith(fmt::format(
            "batch {} was not healthy for {} within healthy_deadline {}: {}", d.batchesDone + 1,
            formatDuration(policy.minHealthyTime), formatDuration(policy.healthyDeadline),
            notReady ? describe(*notReady, d.version)
                     : fmt::format("instance {} waits for a node with room", *unplaced)));
      }
      later(deadline);
      later(d.progressDeadlineMs);
      if (now >= d.progressDeadlineMs) {
        return failWith(fmt::format("no batch completed within progress_deadline {}",
                                    formatDuration(policy.progressDeadline)));
      }
      return step;  // wait
    }
    if (d.canaryBatch && !d.promoted) {
      step.kind = StepKind::kPause;
      step.next.state = DeploymentState::kPaused;
      step.next.message = fmt::format("{} healthy; waiting for `ozy job promote {}`",
                                      plural(batch.size(), "canary"), view.job.spec.name);
      step.next.updatedAtMs = now;
      return step;
    }
    // Done: as many old instances go as new ones came, keeping the total
    // at what the job wants.
    const std::size_t total = placed.size() + pending;
    std::size_t toRemove = std::min(d.batch.size(), old.size());
    toRemove = std::min(toRemove, total > wanted ? total - wanted : 0);
    // Those not serving go first, then the oldest versions, highest ids.
    std::stable_sort(old.begin(), old.end(), [&](const Placed* a, const Placed* b) {
      const bool aServes = a->status && a->status->state == InstanceState::kHealthy;
      const bool bServes = b->status && b->status->state == InstanceState::kHealthy;
      if (aServes != bServes) return !aServes;
      if (a->version != b->version) return a->version < b->version;
      return a->id > b->id;
    });
    for (std::size_t i = 0; i < toRemove; ++i) step.remove.push_back(old[i]->id);
    old.erase(old.begin(), old.begin() + static_cast<std::ptrdiff_t>(toRemove));
    step.next.batch.clear();
    step.next.canaryBatch = false;
    step.next.batchesDone += 1;
    step.next.progressDeadlineMs = now + policy.progressDeadline.count();
    acted = true;
  } else if (now >= d.progressDeadlineMs) {
    return failWith(fmt::format("no batch completed within progress_deadline {}",
                                formatDuration(policy.progressDeadline)));
  }
  later(step.next.progressDeadlineMs);

  // Old instances removed earlier whose pods may still run: their host
  // ports are not free on their nodes until they are gone.
  std::vector<std::uint32_t> removing;
  for (auto id : d.removing) {
    if (!placed.contains(id) && view.statuses.contains(id)) removing.push_back(id);
  }
  removing.insert(removing.end(), step.remove.begin(), step.remove.end());
  const bool waitForPorts = publishesHostPorts(view.job.spec) ||
                            policy.strategy == UpdateStrategy::kRecreate;
  // Kept for every job: their ids are not given out again while their old
  // pods may still drain (a new pod of a reused id waits for the old one
  // to go); waited for only when they hold host ports.
  step.next.removing = removing;

  // 2. What comes next.
  const std::size_t have = fresh + pending;
  const std::size_t need = wanted > have ? wanted - have : 0;
  auto advance = [&](std::string message) {
    step.next.message = std::move(message);
    if (acted || step.place > 0 || !step.remove.empty() || step.next != d) {
      step.kind = StepKind::kAdvance;
      step.next.updatedAtMs = now;
    }
    return step;
  };
  if (policy.strategy == UpdateStrategy::kRecreate && !old.empty()) {
    // Every old instance goes before any new one is placed.
    for (const Placed* p : old) step.remove.push_back(p->id);
    for (const Placed* p : old) step.next.removing.push_back(p->id);
    return advance(fmt::format("stopping {}", plural(old.size(), "old instance")));
  }
  if (policy.strategy == UpdateStrategy::kRolling && policy.canary > 0 && wanted > 0 &&
      !d.promoted && d.batchesDone == 0 && !old.empty() && !acted) {
    // Never more canaries than the job wants instances.
    const auto canaries = static_cast<std::uint32_t>(std::min<std::size_t>(policy.canary, wanted));
    step.place = canaries;
    step.placeCanaries = true;
    step.next.canaryBatch = true;
    return advance(fmt::format("placing {}", plural(canaries, "canary")));
  }
  if (need > 0) {
    if (waitForPorts && !step.next.removing.empty()) {
      return advance(fmt::format(
          "waiting for {} to stop{}", plural(step.next.removing.size(), "old instance"),
          policy.strategy == UpdateStrategy::kRecreate ? "" : " (they hold host ports)"));
    }
    const std::size_t batchSize =
        policy.strategy == UpdateStrategy::kRecreate ? need : std::min<std::size_t>(policy.maxParallel, need);
    step.place = static_cast<std::uint32_t>(batchSize);
    return advance(fmt::format("batch {}: placing {}; {} left", step.next.batchesDone + 1,
                               plural(batchSize, "instance"), plural(old.size(), "old instance")));
  }
  if (!old.empty()) {
    // As many new instances as wanted already: the old ones all go.
    for (const Placed* p : old) step.remove.push_back(p->id);
    for (const Placed* p : old) step.next.removing.push_back(p->id);
    return advance(fmt::format("removing {}", plural(old.size(), "old instance")));
  }
  // Done only when every instance runs the version and has been healthy
  // on it for min_healthy_time: instances the batches did not bring (a
  // first version, ones moved off a dead node, a scale-up meanwhile) are
  // checked here, and pending ones are waited for.
  const Placed* notServing = nullptr;
  for (const auto& [id, p] : placed) {
    if (p.version != d.version) continue;  // removed in this step
    const auto healthy = healthyForMs(p);
    if (healthy && *healthy >= minHealthy) continue;
    if (healthy) later(p.status->sinceMs + minHealthy);
    if (!notServing) notServing = &p;
  }
  if (notServing || pending > 0) {
    return advance(notServing ? fmt::format("waiting for every instance to be healthy: {}",
                                            describe(*notServing, d.version))
                              : fmt::format("waiting for room for {}",
                                            plural(pending, "pending instance")));
  }
  step.kind = StepKind::kSucceed;
  step.next.state = DeploymentState::kSucceeded;
  step.next.message = fmt::format("{} {} version {}", plural(fresh, "instance"),
                                  fresh == 1 ? "runs" : "run", d.version);
  step.next.removing.clear();
  step.next.updatedAtMs = now;
  return step;
}

}  // namespace ozy
