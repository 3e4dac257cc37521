#include "scheduler/planner.h"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>

#include "placement/placer.h"
#include "scheduler/keys.h"

namespace ozy {

const NodeEntry* ClusterSnapshot::find(std::string_view node) const {
  auto it = std::lower_bound(nodes.begin(), nodes.end(), node,
                             [](const NodeEntry& e, std::string_view n) { return e.name < n; });
  return it != nodes.end() && it->name == node ? &*it : nullptr;
}

namespace {

using Target = KeyCompare::Target;

// Usage arithmetic: what `count` instances holding `a`'s per-instance
// resources add to (or take from) a node.
void addTo(UsageRecord& usage, const Assignment& a, std::uint32_t count) {
  usage.used.memory += a.perInstance.memory * count;
  usage.used.disk += a.perInstance.disk * count;
  usage.instances += count;
  for (std::uint32_t i = 0; i < count; ++i) {
    for (const auto& p : a.hostPorts) {
      usage.ports.insert(std::upper_bound(usage.ports.begin(), usage.ports.end(), p), p);
    }
  }
}

void takeFrom(UsageRecord& usage, const Assignment& a, std::uint32_t count) {
  auto sub = [](Bytes x, Bytes y) { return x > y ? x - y : 0; };
  usage.used.memory = sub(usage.used.memory, a.perInstance.memory * count);
  usage.used.disk = sub(usage.used.disk, a.perInstance.disk * count);
  usage.instances = usage.instances > count ? usage.instances - count : 0;
  for (std::uint32_t i = 0; i < count; ++i) {
    for (const auto& p : a.hostPorts) {
      if (auto it = std::lower_bound(usage.ports.begin(), usage.ports.end(), p);
          it != usage.ports.end() && *it == p) {
        usage.ports.erase(it);
      }
    }
  }
}

// The placement engine's view: live nodes only, in snapshot order; drained
// ones are there (so a problem can name them) but take nothing.
struct EngineInput {
  ClusterState cluster;
  std::vector<const NodeEntry*> entries;  // engine node index -> snapshot entry
};

EngineInput engineInput(const ClusterSnapshot& snapshot) {
  EngineInput in;
  for (const auto& e : snapshot.nodes) {
    if (!e.live) continue;
    // A reserved port is as taken as one an instance holds, so the placer
    // never picks the node for it and "insufficient-ports" counts the node.
    std::vector<HostPort> taken = e.usage.ports;
    taken.insert(taken.end(), e.record.reservedPorts.begin(), e.record.reservedPorts.end());
    in.cluster.nodes.push_back(
        NodeState{e.name, e.record.capacity, e.usage.used, std::move(taken), e.drained()});
    in.entries.push_back(&e);
  }
  in.cluster.sharedCapacity = snapshot.sharedPool.capacity;
  in.cluster.sharedUsed = snapshot.sharedPool.used;
  return in;
}

// Collects the per-node changes of a plan and turns them into guarded writes.
// Assignments are kept per node and version (one group each); a node's key
// is written whole, with its untouched groups, when any of them changed.
class PlanBuilder {
 public:
  // `existing`: every group the job has (JobEntry::assignments), so a node's
  // key keeps the groups a plan does not touch.
  explicit PlanBuilder(const ClusterSnapshot& snapshot,
                       const std::vector<std::pair<std::string, Assignment>>* existing = nullptr)
      : snapshot_(snapshot) {
    if (existing) {
      for (const auto& [node, a] : *existing) existing_.emplace(GroupKey{node, a.version}, a);
    }
  }

  // The node's group of `initial`'s version: as the job has it, or else
  // `initial` (a new group, with the demand its instances hold).
  Assignment& assignment(const std::string& node, const Assignment& initial) {
    const GroupKey key{node, initial.version};
    auto it = assignments_.find(key);
    if (it != assignments_.end()) return it->second;
    const auto had = existing_.find(key);
    const Assignment& start = had != existing_.end() ? had->second : initial;
    original_.emplace(key, start);
    return assignments_.emplace(key, start).first->second;
  }
  UsageRecord& usage(const std::string& node) {
    if (auto it = usage_.find(node); it != usage_.end()) return it->second;
    const NodeEntry* e = snapshot_.find(node);
    return usage_.emplace(node, e ? e->usage : UsageRecord{}).first->second;
  }

  // Every node whose usage changes is fenced: its usage key must be as read,
  // and a live node's registration must be unchanged (the same lease, the
  // same capacity the plan used). Nodes whose usage ends up as read are left
  // alone: no compare, no write, no needless contention.
  void finish(CommitPlan& plan, bool newNodesMustBeLive) {
    for (auto& [node, usage] : usage_) {
      const NodeEntry* e = snapshot_.find(node);
      if (e && usage == e->usage) continue;
      plan.compares.push_back({keys::usage(node), Target::kModRevision, e ? e->usageModRevision : 0});
      if (e && e->live && newNodesMustBeLive) {
        plan.compares.push_back({keys::node(node), Target::kModRevision, e->modRevision});
      }
      if ((!e || !e->live) && usage == UsageRecord{}) {
        plan.deletes.push_back(keys::usage(node));  // a gone node's last instance left
      } else {
        plan.puts.push_back({keys::usage(node), encode(usage)});
        plan.usage.emplace(node, usage);
      }
    }
    std::set<std::string> changed;
    for (auto& [key, a] : assignments_) {
      std::sort(a.instances.begin(), a.instances.end());
      if (a != original_.at(key)) changed.insert(key.first);
    }
    for (const auto& node : changed) {
      const auto groups = groupsOf(node);
      if (groups.empty()) {
        plan.deletes.push_back(keys::assignment(node, jobName()));
      } else {
        plan.puts.push_back({keys::assignment(node, groups.front().job), encode(groups)});
      }
    }
  }

  std::vector<std::string> nodesWithInstances(const std::vector<std::string>& before) const {
    std::set<std::string> nodes(before.begin(), before.end());
    for (const auto& [key, a] : assignments_) {
      if (groupsOf(key.first).empty()) {
        nodes.erase(key.first);
      } else {
        nodes.insert(key.first);
      }
    }
    return {nodes.begin(), nodes.end()};
  }

 private:
  using GroupKey = std::pair<std::string, std::uint64_t>;

  // The node's non-empty groups after the plan, oldest version first.
  std::vector<Assignment> groupsOf(const std::string& node) const {
    std::map<std::uint64_t, const Assignment*> byVersion;
    for (auto it = existing_.lower_bound({node, 0}); it != existing_.end() && it->first.first == node;
         ++it) {
      byVersion[it->first.second] = &it->second;
    }
    for (auto it = assignments_.lower_bound({node, 0});
         it != assignments_.end() && it->first.first == node; ++it) {
      byVersion[it->first.second] = &it->second;
    }
    std::vector<Assignment> out;
    for (const auto& [version, a] : byVersion) {
      if (!a->instances.empty()) out.push_back(*a);
    }
    return out;
  }
  std::string jobName() const {
    if (!assignments_.empty()) return assignments_.begin()->second.job;
    return existing_.empty() ? std::string() : existing_.begin()->second.job;
  }

  const ClusterSnapshot& snapshot_;
  std::map<GroupKey, Assignment> existing_;
  std::map<GroupKey, Assignment> assignments_;
  std::map<GroupKey, Assignment> original_;
  std::map<std::string, UsageRecord> usage_;
};

Assignment emptyAssignment(const JobRecord& job, const JobDemand& demand) {
  return Assignment{job.spec.name, job.specVersion, {}, demand.perInstance, demand.hostPorts};
}

DeploymentRecord newDeployment(const Job& spec, std::uint64_t version, std::uint64_t from,
                               std::int64_t nowMs) {
  DeploymentRecord d;
  d.version = version;
  d.fromVersion = from;
  d.policy = spec.update;
  d.startedAtMs = nowMs;
  d.updatedAtMs = nowMs;
  d.progressDeadlineMs = nowMs + spec.update.progressDeadline.count();
  return d;
}

// Lowest ids in use by none of `inUse`, `count` of them.
std::vector<std::uint32_t> freeIds(const std::set<std::uint32_t>& inUse, std::size_t count) {
  std::vector<std::uint32_t> ids;
  for (std::uint32_t id = 0; ids.size() < count; ++id) {
    if (!inUse.contains(id)) ids.push_back(id);
  }
  return ids;
}

void guardSharedPool(CommitPlan& plan, const ClusterSnapshot& snapshot, Bytes newUsed) {
  plan.compares.push_back(
      {std::string(keys::kSharedPool), Target::kModRevision, snapshot.sharedPoolModRevision});
  SharedPoolRecord pool = snapshot.sharedPool;
  pool.used = newUsed;
  plan.puts.push_back({std::string(keys::kSharedPool), encode(pool)});
}

// Places `ids` and records them in `builder` and `plan`: all or nothing (the
// problem if they do not fit), or as many as fit, in order. Returns how many
// were placed: the first ones of `ids`.
Result<std::size_t, Problem> placeInstances(const ClusterSnapshot& snapshot, const JobRecord& job,
                                            const JobDemand& demand,
                                            const std::vector<std::uint32_t>& ids,
                                            const std::vector<std::string>& nodesWithJob,
                                            bool chargeShared, PlanBuilder& builder,
                                            CommitPlan& plan,
                                            PlacementMode mode = PlacementMode::kAllOrNothing,
                                            std::size_t maxNodes = SIZE_MAX) {
  EngineInput in = engineInput(snapshot);
  PlacementRequest request{demand, static_cast<std::uint32_t>(ids.size()), {}, chargeShared, mode};
  for (std::uint32_t i = 0; i < in.entries.size(); ++i) {
    if (std::binary_search(nodesWithJob.begin(), nodesWithJob.end(), in.entries[i]->name)) {
      request.nodesWithJob.push_back(i);
    }
  }
  Placer placer(std::move(in.cluster));
  auto outcome = placer.place(request);
  if (!outcome) return fail(std::move(outcome).error());
  // Group by node first: per-node bookkeeping then costs one lookup per node,
  // not one per instance (a 10,000-instance job lands on a few hundred nodes).
  std::vector<std::vector<std::uint32_t>> idsByNode(in.entries.size());
  // As many as fit may stop early, to touch at most `maxNodes` nodes.
  std::size_t placed = 0;
  std::size_t touched = 0;
  for (; placed < outcome->nodes.size(); ++placed) {
    auto& onNode = idsByNode[outcome->nodes[placed]];
    if (onNode.empty()) {
      if (touched == maxNodes) break;
      ++touched;
    }
    onNode.push_back(ids[placed]);
  }
  const Assignment initial = emptyAssignment(job, demand);
  plan.placed.reserve(plan.placed.size() + placed);
  for (std::size_t n = 0; n < idsByNode.size(); ++n) {
    if (idsByNode[n].empty()) continue;
    const std::string& node = in.entries[n]->name;
    Assignment& a = builder.assignment(node, initial);
    a.instances.insert(a.instances.end(), idsByNode[n].begin(), idsByNode[n].end());
    addTo(builder.usage(node), initial, static_cast<std::uint32_t>(idsByNode[n].size()));
    for (auto id : idsByNode[n]) plan.placed.push_back({id, node});
  }
  return placed;
}

// New instances `ids` of a running job, of its newest version, all or
// nothing (a scale-up, a deployment's batch): they join the groups the job
// has on the nodes chosen, and the job draws its shared space if it has not.
Result<std::size_t, Problem> placeNewInstances(const ClusterSnapshot& snapshot, const JobEntry& entry,
                                               const std::vector<std::uint32_t>& ids,
                                               PlanBuilder& builder, CommitPlan& plan) {
  const JobDemand demand = demandOf(entry.record.spec);
  const bool chargeShared = entry.record.sharedSpace == 0 && demand.sharedSpace > 0;
  auto placed = placeInstances(snapshot, plan.job, demand, ids, entry.record.nodes, chargeShared,
                               builder, plan);
  if (!placed) return placed;
  if (chargeShared) {
    plan.job.sharedSpace = demand.sharedSpace;
    guardSharedPool(plan, snapshot, snapshot.sharedPool.used + demand.sharedSpace);
  }
  return placed;
}

}  // namespace

Result<CommitPlan, Problem> planSubmit(const ClusterSnapshot& snapshot, const Job& job,
                                       std::int64_t nowMs) {
  CommitPlan plan;
  plan.job.spec = job;
  plan.job.version = 1;
  plan.job.createdAtMs = nowMs;
  const JobDemand demand = demandOf(job);
  std::vector<std::uint32_t> ids(job.numInstances);
  for (std::uint32_t i = 0; i < job.numInstances; ++i) ids[i] = i;

  PlanBuilder builder(snapshot);
  auto placed = placeInstances(snapshot, plan.job, demand, ids, {}, true, builder, plan);
  if (!placed) return fail(std::move(placed).error());

  // The job must not exist yet: two submissions of one name race here.
  plan.compares.push_back({keys::job(job.name), Target::kVersion, 0});
  if (demand.sharedSpace > 0 && job.numInstances > 0) {
    plan.job.sharedSpace = demand.sharedSpace;
    guardSharedPool(plan, snapshot, snapshot.sharedPool.used + demand.sharedSpace);
  }
  builder.finish(plan, true);
  plan.job.nodes = builder.nodesWithInstances({});
  plan.puts.push_back({keys::job(job.name), encode(plan.job)});
  // Version 1, and a deployment that waits for it to be healthy (for every
  // instance, as at the end of any deployment): until it is, it is no
  // version to revert to. Its batch stays empty: listing every id of a
  // large job again would double what the commit writes.
  VersionRecord version;
  version.version = 1;
  version.spec = job;
  version.submittedAtMs = nowMs;
  version.outcome = DeploymentOutcome::kRunning;
  plan.puts.push_back({keys::version(job.name, 1), encode(version)});
  const DeploymentRecord deployment = newDeployment(job, 1, 0, nowMs);
  plan.puts.push_back({keys::deployment(job.name), encode(deployment)});
  return plan;
}

Result<CommitPlan, Problem> planScale(const ClusterSnapshot& snapshot, const JobEntry& entry,
                                      std::uint32_t count,
                                      const std::set<std::uint32_t>& unhealthy,
                                      const Job* newSpec) {
  CommitPlan plan;
  plan.job = entry.record;
  plan.job.version += 1;
  if (newSpec) plan.job.spec = *newSpec;
  plan.job.spec.numInstances = count;
  const std::string& name = entry.record.spec.name;
  plan.compares.push_back({keys::job(name), Target::kModRevision, entry.modRevision});

  // Instances as they stand: on nodes (one group per node and version), and
  // pending.
  const auto& current = entry.assignments;
  std::set<std::uint32_t> inUse(entry.record.pending.begin(), entry.record.pending.end());
  for (const auto& [node, a] : current) inUse.insert(a.instances.begin(), a.instances.end());
  const auto existing = static_cast<std::uint32_t>(inUse.size());

  PlanBuilder builder(snapshot, &entry.assignments);
  if (count > existing) {
    // New ids fill the lowest gaps, so ids stay small and stable.
    const std::vector<std::uint32_t> ids = freeIds(inUse, count - existing);
    auto placed = placeNewInstances(snapshot, entry, ids, builder, plan);
    if (!placed) return fail(std::move(placed).error());
  } else if (count < existing) {
    std::uint32_t toRemove = existing - count;
    // 1. Pending instances cost nothing to drop.
    while (toRemove > 0 && !plan.job.pending.empty()) {
      plan.removed.push_back({plan.job.pending.back(), ""});
      plan.job.pending.pop_back();
      --toRemove;
    }
    for (const auto& [node, a] : current) builder.assignment(node, a);
    // 2. Unhealthy instances, wherever they are.
    for (auto& [node, a] : current) {
      for (auto id : std::vector<std::uint32_t>(a.instances.rbegin(), a.instances.rend())) {
        if (toRemove == 0 || !unhealthy.contains(id)) continue;
        Assignment& target = builder.assignment(node, a);
        std::erase(target.instances, id);
        takeFrom(builder.usage(node), a, 1);
        plan.removed.push_back({id, node});
        --toRemove;
      }
    }
    // 3. From gone nodes, then drained ones (their instances would have to
    // move anyway), then those of older versions (a deployment would
    // replace them), then from the fullest node (by memory share); one at a
    // time, highest id first.
    while (toRemove > 0) {
      const std::pair<std::string, Assignment>* fullest = nullptr;
      std::tuple<int, std::uint64_t, double> fullestRank{-1, 0, 0.0};
      for (const auto& na : current) {
        const auto& [node, a] = na;
        if (builder.assignment(node, a).instances.empty()) continue;
        const NodeEntry* e = snapshot.find(node);
        const UsageRecord& u = builder.usage(node);
        // A node that is gone has no capacity: empty it first.
        const bool live = e && e->live && e->record.capacity.memory > 0;
        const std::tuple<int, std::uint64_t, double> rank{
            !live ? 2 : (e->drained() ? 1 : 0), plan.job.specVersion - a.version,
            live ? static_cast<double>(u.used.memory) /
                       static_cast<double>(e->record.capacity.memory)
                 : 0.0};
        if (rank > fullestRank) {
          fullestRank = rank;
          fullest = &na;
        }
      }
      if (!fullest) break;  // cannot happen: counts came from these assignments
      Assignment& target = builder.assignment(fullest->first, fullest->second);
      const std::uint32_t id = target.instances.back();
      target.instances.pop_back();
      takeFrom(builder.usage(fullest->first), fullest->second, 1);
      plan.removed.push_back({id, fullest->first});
      --toRemove;
    }
  }
  builder.finish(plan, true);
  plan.job.nodes = builder.nodesWithInstances(entry.record.nodes);
  plan.puts.push_back({keys::job(name), encode(plan.job)});
  return plan;
}

CommitPlan planReplace(const ClusterSnapshot& snapshot, const JobEntry& entry,
                       std::size_t maxOperations) {
  CommitPlan plan;
  plan.job = entry.record;
  const std::string& name = entry.record.spec.name;
  auto live = [&](const std::string& node) {
    const NodeEntry* e = snapshot.find(node);
    return e && e->live;
  };
  // The job key and the shared pool take two writes and two compares. Every
  // node touched costs two writes (assignment, usage) and two compares (usage,
  // node key); a live drained node one compare more (its drain key).
  std::size_t budget = maxOperations > 2 ? maxOperations - 2 : 0;

  // Instances that run nowhere come first: the pending ones and those on
  // gone nodes, which leave them with what they held, lowest ids first. A
  // transaction too small for every gone node takes some now and the rest
  // on a later round.
  PlanBuilder builder(snapshot, &entry.assignments);
  std::vector<std::uint32_t> ids(entry.record.pending.begin(), entry.record.pending.end());
  std::vector<std::string> nodesWithJob;
  std::vector<const std::pair<std::string, Assignment>*> onDrained;
  std::size_t goneTaken = 0;
  for (const auto& na : entry.assignments) {
    const auto& [node, a] = na;
    if (live(node)) {
      builder.assignment(node, a);  // new instances join what it has
      if (snapshot.find(node)->drained()) {
        onDrained.push_back(&na);
      } else {
        nodesWithJob.push_back(node);
      }
      continue;
    }
    if (budget < 2) continue;
    budget -= 2;
    ++goneTaken;
    Assignment& target = builder.assignment(node, a);
    takeFrom(builder.usage(node), a, static_cast<std::uint32_t>(a.instances.size()));
    for (auto id : a.instances) plan.removed.push_back({id, node});
    ids.insert(ids.end(), a.instances.begin(), a.instances.end());
    target.instances.clear();
    // Gone for real: a view that missed the node coming back must not take
    // its instances away.
    plan.compares.push_back({keys::node(node), Target::kVersion, 0});
  }
  std::sort(ids.begin(), ids.end());
  const std::size_t urgent = ids.size();

  // Then those on live drained nodes: they still run, so they move only
  // where room is left after the others, and what finds none stays where
  // it is (not pending) for a later round. The first drained node needs a
  // node to move to within the limit; the next join only while every
  // instance gathered could still go to a node of its own, so the limit is
  // not spent on sources with nowhere to send their instances.
  std::map<std::uint32_t, const std::pair<std::string, Assignment>*> drainedHolder;
  std::size_t gathered = ids.size();
  for (const auto* na : onDrained) {
    const std::size_t more = gathered + na->second.instances.size();
    if (budget < (drainedHolder.empty() ? 3 + 2 : 3 + 2 * more)) break;
    budget -= 3;
    gathered = more;
    for (auto id : na->second.instances) drainedHolder.emplace(id, na);
  }
  for (const auto& [id, na] : drainedHolder) ids.push_back(id);

  // A gone node the record still names without an assignment (tolerated by
  // reads) is dropped from the record, or the job would look lost forever.
  std::vector<std::string> nodes;
  bool staleNames = false;
  for (const auto& node : entry.record.nodes) {
    const bool assigned = std::any_of(entry.assignments.begin(), entry.assignments.end(),
                                      [&](const auto& na) { return na.first == node; });
    if (!assigned && !live(node)) {
      staleNames = true;
    } else {
      nodes.push_back(node);
    }
  }
  std::sort(nodesWithJob.begin(), nodesWithJob.end());

  // Every instance of a job needs the same, so what is placed is a prefix
  // of `ids`: urgent ones first.
  const JobDemand demand = demandOf(entry.record.spec);
  const bool chargeShared = entry.record.sharedSpace == 0 && demand.sharedSpace > 0;
  auto placed = placeInstances(snapshot, plan.job, demand, ids, nodesWithJob, chargeShared,
                               builder, plan, PlacementMode::kAsManyAsFit, budget / 2);
  const std::size_t count = placed ? *placed : 0;  // as many as fit: no problem to report
  if (goneTaken == 0 && !staleNames && count == 0) return CommitPlan{};  // nothing to write

  // The placed instances of drained nodes leave them, in the same Txn that
  // puts them elsewhere, keeping their ids.
  std::map<const std::pair<std::string, Assignment>*, std::vector<std::uint32_t>> moved;
  for (std::size_t i = urgent; i < count; ++i) moved[drainedHolder.at(ids[i])].push_back(ids[i]);
  for (auto& [na, movedIds] : moved) {
    const auto& [node, a] = *na;
    std::vector<std::uint32_t>& leaving = movedIds;  // a lambda cannot capture a binding
    std::sort(leaving.begin(), leaving.end());
    std::erase_if(builder.assignment(node, a).instances, [&](std::uint32_t id) {
      return std::binary_search(leaving.begin(), leaving.end(), id);
    });
    takeFrom(builder.usage(node), a, static_cast<std::uint32_t>(leaving.size()));
    for (auto id : leaving) plan.removed.push_back({id, node});
    // Still drained: an undrain in between keeps the instances where they run.
    plan.compares.push_back(
        {keys::drain(node), Target::kModRevision, snapshot.find(node)->drainModRevision});
  }

  if (chargeShared && count > 0) {
    plan.job.sharedSpace = demand.sharedSpace;
    guardSharedPool(plan, snapshot, snapshot.sharedPool.used + demand.sharedSpace);
  }
  plan.compares.push_back({keys::job(name), Target::kModRevision, entry.modRevision});
  plan.job.pending.assign(ids.begin() + static_cast<std::ptrdiff_t>(std::min(count, urgent)),
                          ids.begin() + static_cast<std::ptrdiff_t>(urgent));
  // A live drained node's usage changes: finish() fences its registration
  // too, so one that died meanwhile is re-planned as gone.
  builder.finish(plan, true);
  plan.job.nodes = builder.nodesWithInstances(nodes);
  plan.puts.push_back({keys::job(name), encode(plan.job)});
  return plan;
}

CommitPlan planStop(const ClusterSnapshot& snapshot, const JobEntry& entry) {
  CommitPlan plan;
  plan.job = entry.record;
  const std::string& name = entry.record.spec.name;
  plan.compares.push_back({keys::job(name), Target::kModRevision, entry.modRevision});
  PlanBuilder builder(snapshot, &entry.assignments);
  for (const auto& [node, a] : entry.assignments) {
    Assignment& target = builder.assignment(node, a);
    takeFrom(builder.usage(node), a, static_cast<std::uint32_t>(a.instances.size()));
    for (auto id : a.instances) plan.removed.push_back({id, node});
    target.instances.clear();
  }
  for (auto id : entry.record.pending) plan.removed.push_back({id, ""});
  if (entry.record.sharedSpace > 0) {
    const Bytes used = snapshot.sharedPool.used;
    guardSharedPool(plan, snapshot,
                    used > entry.record.sharedSpace ? used - entry.record.sharedSpace : 0);
  }
  builder.finish(plan, false);
  plan.deletes.push_back(keys::job(name));
  plan.deletes.push_back(keys::deployment(name));
  plan.deletePrefixes.push_back(keys::versionsOf(name));
  plan.deletePrefixes.push_back(keys::eventsOf(name));
  plan.job.nodes.clear();
  plan.job.pending.clear();
  return plan;
}

CommitPlan planUpdate(const ClusterSnapshot& snapshot, const JobEntry& entry,
                      const UpdateRequest& update) {
  CommitPlan plan;
  plan.job = entry.record;
  const std::string& name = entry.record.spec.name;
  const std::uint64_t from = entry.record.specVersion;
  const std::uint64_t to = from + 1;
  plan.job.version += 1;
  plan.job.specVersion = to;
  plan.job.spec = update.spec;
  plan.compares.push_back({keys::job(name), Target::kModRevision, entry.modRevision});
  const std::string deploymentKey = keys::deployment(name);
  plan.compares.push_back({deploymentKey, Target::kModRevision,
                           update.deployment ? update.deployment->modRevision : 0});

  std::map<std::uint64_t, const VersionEntry*> versions;
  for (const auto& v : update.versions) versions[v.record.version] = &v;
  auto rewriteVersion = [&](std::uint64_t version, DeploymentOutcome outcome) {
    auto it = versions.find(version);
    if (it == versions.end() || it->second->record.outcome == outcome) return;
    VersionRecord changed = it->second->record;
    changed.outcome = outcome;
    plan.compares.push_back({keys::version(name, version), Target::kModRevision, it->second->modRevision});
    plan.puts.push_back({keys::version(name, version), encode(changed)});
  };

  const bool active = update.deployment && update.deployment->record.active();
  PlanBuilder builder(snapshot, &entry.assignments);
  VersionRecord record;
  record.version = to;
  record.spec = update.spec;
  record.submittedAtMs = update.nowMs;
  record.changes = update.changes;
  record.revertOf = update.revertOf;
  if (update.inPlace) {
    // The pods stay: the newest version's instances are the new version's.
    for (const auto& [node, a] : entry.assignments) {
      if (a.version != from) continue;
      Assignment moved = a;
      moved.version = to;
      builder.assignment(node, moved).instances = a.instances;
      builder.assignment(node, a).instances.clear();
    }
    if (active) {
      // The deployment goes on, now towards the new version.
      DeploymentRecord d = update.deployment->record;
      d.version = to;
      d.updatedAtMs = update.nowMs;
      plan.puts.push_back({deploymentKey, encode(d)});
      rewriteVersion(from, DeploymentOutcome::kSuperseded);
      record.outcome = DeploymentOutcome::kRunning;
    } else {
      record.outcome = versions.contains(from) ? versions.at(from)->record.outcome
                                               : DeploymentOutcome::kSucceeded;
    }
  } else {
    if (active) rewriteVersion(update.deployment->record.version, update.interrupted);
    DeploymentRecord d = newDeployment(update.spec, to, from, update.nowMs);
    d.revertsFailed = update.interrupted == DeploymentOutcome::kFailed && active
                     ? update.deployment->record.version
                     : 0;
    if (d.revertsFailed != 0) {
      d.message = fmt::format("reverting version {}: {}", d.revertsFailed, update.deployment->record.message);
    }
    plan.puts.push_back({deploymentKey, encode(d)});
    record.outcome = DeploymentOutcome::kRunning;
  }
  plan.puts.push_back({keys::version(name, to), encode(record)});
  if (!versions.contains(from) && !update.inPlace) {
    // A job stored before versions existed has no record of the version its
    // instances run: written now from its record, so its nodes keep
    // finding their spec once the job record holds the new one.
    VersionRecord before;
    before.version = from;
    before.spec = entry.record.spec;
    before.submittedAtMs = entry.record.createdAtMs;
    before.outcome = DeploymentOutcome::kNone;
    plan.compares.push_back({keys::version(name, from), Target::kVersion, 0});
    plan.puts.push_back({keys::version(name, from), encode(before)});
  }

  // History: the newest versionsKept, every version instances run, and the
  // newest that succeeded (what a revert goes back to).
  std::set<std::uint64_t> keep{to};
  for (const auto& [node, a] : entry.assignments) keep.insert(a.version);
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if (it->second->record.outcome == DeploymentOutcome::kSucceeded) {
      keep.insert(it->first);
      break;
    }
  }
  std::size_t kept = 1;
  for (auto it = versions.rbegin(); it != versions.rend(); ++it) {
    if (kept < update.versionsKept) {
      keep.insert(it->first);
      ++kept;
    }
    if (!keep.contains(it->first)) plan.deletes.push_back(keys::version(name, it->first));
  }
  builder.finish(plan, true);
  plan.job.nodes = builder.nodesWithInstances(entry.record.nodes);
  plan.puts.push_back({keys::job(name), encode(plan.job)});
  return plan;
}

Result<CommitPlan, Problem> planDeployStep(const ClusterSnapshot& snapshot, const JobEntry& entry,
                                           const DeployStepWrite& step) {
  CommitPlan plan;
  plan.job = entry.record;
  const std::string& name = entry.record.spec.name;
  plan.compares.push_back({keys::job(name), Target::kModRevision, entry.modRevision});
  plan.compares.push_back(
      {keys::deployment(name), Target::kModRevision, step.deployment.modRevision});
  DeploymentRecord next = step.next;
  PlanBuilder builder(snapshot, &entry.assignments);
  std::set<std::uint32_t> inUse(entry.record.pending.begin(), entry.record.pending.end());
  for (const auto& [node, a] : entry.assignments) inUse.insert(a.instances.begin(), a.instances.end());
  // Removed and stopping ids are not given out again in this step: their
  // old pods may still be draining under them.
  inUse.insert(next.removing.begin(), next.removing.end());
  inUse.insert(step.remove.begin(), step.remove.end());
  const std::set<std::uint32_t> removing(step.remove.begin(), step.remove.end());
  for (const auto& [node, a] : entry.assignments) {
    for (auto id : a.instances) {
      if (!removing.contains(id)) continue;
      std::erase(builder.assignment(node, a).instances, id);
      takeFrom(builder.usage(node), a, 1);
      plan.removed.push_back({id, node});
    }
  }
  if (step.place > 0) {
    const std::vector<std::uint32_t> ids = freeIds(inUse, step.place);
    auto placed = placeNewInstances(snapshot, entry, ids, builder, plan);
    if (!placed) return fail(std::move(placed).error());
    next.batch = ids;
    next.batchPlacedAtMs = step.nowMs;
  }
  plan.puts.push_back({keys::deployment(name), encode(next)});
  if (step.version) {
    plan.compares.push_back(
        {keys::version(name, step.version->record.version), Target::kModRevision, step.version->modRevision});
    plan.puts.push_back({keys::version(name, step.version->record.version), encode(step.version->record)});
  }
  if (!step.remove.empty() || step.place > 0) {
    plan.job.version += 1;
    builder.finish(plan, true);
    plan.job.nodes = builder.nodesWithInstances(entry.record.nodes);
    plan.puts.push_back({keys::job(name), encode(plan.job)});
  }
  return plan;
}

}  // namespace ozy
