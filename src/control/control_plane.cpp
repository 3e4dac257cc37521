#include "control/control_plane.h"

#include <charconv>
#include <condition_variable>

#include <algorithm>
#include <map>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "control/snapshot_cache.h"
#include "events/event_log.h"
#include "metrics/metrics.h"
#include "deploy/deployment_step.h"
#include "deploy/spec_change.h"
#include "job/job_parser.h"
#include "scheduler/keys.h"
#include "scheduler/snapshot_update.h"

namespace ozy {
namespace {

Problem corrupt(const std::string& key, const std::string& why) {
  return makeProblem(problems::kCorruptState,
                     fmt::format("The value of {} cannot be read: {}. Fix or remove the key "
                                 "(docs/operations.md).",
                                 key, why),
                     {{"key", key}});
}

Problem invalidName(const std::string& name) {
  return makeProblem(problems::kInvalidJobName,
                     fmt::format("\"{}\" is not a job name: job names are DNS labels (1 to 63 "
                                 "lowercase letters, digits and '-').",
                                 name.substr(0, 80)),
                     {{"job", name.substr(0, 80)}});
}

Problem notFound(const std::string& name) {
  return makeProblem(problems::kJobNotFound, fmt::format("There is no job named \"{}\".", name),
                     {{"job", name}});
}

Problem invalidNodeName(const std::string& name) {
  return makeProblem(problems::kInvalidNodeName,
                     fmt::format("\"{}\" is not a node name: node names are host names "
                                 "(dot-separated DNS labels of lowercase letters, digits and '-').",
                                 name.substr(0, 80)),
                     {{"node", name.substr(0, 80)}});
}

Problem nodeNotFound(const std::string& name) {
  return makeProblem(problems::kNodeNotFound,
                     fmt::format("There is no node named \"{}\": it is not registered, holds no "
                                 "instances and is not drained. `ozy node list` lists the nodes.",
                                 name),
                     {{"node", name}});
}

// Counts a blocking read for as long as it waits; taken() says how many,
// this one included.
class WaitingSlot {
 public:
  explicit WaitingSlot(std::atomic<int>& count) : count_(count), taken_(count.fetch_add(1) + 1) {}
  ~WaitingSlot() { count_.fetch_sub(1); }
  WaitingSlot(const WaitingSlot&) = delete;
  WaitingSlot& operator=(const WaitingSlot&) = delete;
  int taken() const { return taken_; }

 private:
  std::atomic<int>& count_;
  const int taken_;
};

Txn toTxn(const CommitPlan& plan) {
  Txn txn;
  for (const auto& c : plan.compares) {
    switch (c.target) {
      case KeyCompare::Target::kVersion:
        txn.compares.push_back(Compare::version(c.key, Compare::kEqual, c.equals));
        break;
      case KeyCompare::Target::kCreateRevision:
        txn.compares.push_back(Compare::createRevision(c.key, Compare::kEqual, c.equals));
        break;
      case KeyCompare::Target::kModRevision:
        txn.compares.push_back(Compare::modRevision(c.key, Compare::kEqual, c.equals));
        break;
    }
  }
  for (const auto& p : plan.puts) txn.success.push_back(TxnOp::put(p.key, p.value));
  for (const auto& k : plan.deletes) txn.success.push_back(TxnOp::remove(k));
  for (const auto& k : plan.deletePrefixes) txn.success.push_back(TxnOp::removePrefix(k));
  return txn;
}

// Snapshot state plus, optionally, one job key read at the same revision.
struct StateRead {
  ClusterSnapshot snapshot;
  std::optional<KeyValue> jobKey;
};

}  // namespace

Problem toProblem(const StoreError& error) {
  if (error.code == StoreError::kTxnTooLarge) {
    return makeProblem(problems::kTransactionTooLarge,
                       fmt::format("etcd refused the change as too large: {}. Raise etcd's "
                                   "--max-txn-ops and --max-request-bytes, and the agents' "
                                   "--max-txn-ops to match (docs/operations.md).",
                                   error.message));
  }
  return makeProblem(problems::kStoreUnavailable,
                     fmt::format("The cluster state store did not answer: {} ({}). Check that "
                                 "etcd is running and reachable from this node.",
                                 error.message, toString(error.code)));
}

ControlPlane::ControlPlane(Store& store, ControlPlaneOptions options, SnapshotCache* cache)
    : store_(store), options_(std::move(options)), cache_(cache) {}

namespace {

// The read every decision starts from, at one revision: nodes, usage, the
// shared pool, drained nodes and, for a submission, the job's key (its
// absence is part of the decision).
Result<StateRead, Problem> readState(Store& store, const std::string* jobName) {
  Txn txn;
  txn.success = {TxnOp::getPrefix(std::string(keys::kNodes)),
                 TxnOp::getPrefix(std::string(keys::kUsage)),
                 TxnOp::get(std::string(keys::kSharedPool)),
                 TxnOp::getPrefix(std::string(keys::kDrain))};
  if (jobName) txn.success.push_back(TxnOp::get(keys::job(*jobName)));
  auto got = store.txn(txn);
  if (!got) return fail(toProblem(got.error()));
  const TxnResult& result = *got;
  StateRead read;
  read.snapshot.revision = result.revision;
  std::map<std::string, NodeEntry> nodes;
  for (const auto& kv : result.gets.at(0)) {
    auto record = decodeNode(kv.value);
    if (!record) return fail(corrupt(kv.key, record.error()));
    NodeEntry& e = nodes[record->name];
    e.name = record->name;
    e.live = true;
    e.record = std::move(record).value();
    e.modRevision = kv.modRevision;
  }
  for (const auto& kv : result.gets.at(1)) {
    auto usage = decodeUsage(kv.value);
    if (!usage) return fail(corrupt(kv.key, usage.error()));
    const std::string name(keys::nameUnder(kv.key, keys::kUsage));
    NodeEntry& e = nodes[name];
    e.name = name;
    e.usage = std::move(usage).value();
    e.usageModRevision = kv.modRevision;
  }
  for (const auto& kv : result.gets.at(3)) {
    // Only presence counts: an unreadable drain key still means drained.
    const std::string name(keys::nameUnder(kv.key, keys::kDrain));
    NodeEntry& e = nodes[name];
    e.name = name;
    e.drainModRevision = kv.modRevision;
  }
  for (auto& [name, e] : nodes) read.snapshot.nodes.push_back(std::move(e));
  if (!result.gets.at(2).empty()) {
    const KeyValue& kv = result.gets.at(2).front();
    auto pool = decodeSharedPool(kv.value);
    if (!pool) return fail(corrupt(kv.key, pool.error()));
    read.snapshot.sharedPool = *pool;
    read.snapshot.sharedPoolModRevision = kv.modRevision;
  }
  if (jobName && !result.gets.at(4).empty()) read.jobKey = result.gets.at(4).front();
  return read;
}

// How one guarded Txn ended: landed at `revision`, or lost a race, in which
// case `guarded` holds what etcd held then for every key the compares
// guarded (absent keys missing), read in the same Txn at `readRevision`.
struct CommitOutcome {
  std::optional<std::int64_t> revision;
  std::vector<std::string> guardedKeys;
  std::vector<KeyValue> guarded;
  std::int64_t readRevision = 0;
};

// Runs `plan` in one Txn. Its failure branch reads back the keys the
// compares guard, so a lost race costs no extra round trip before the
// re-plan, and only as many reads as the plan touched keys (reading the
// whole cluster there would hold etcd's write path for it). With each usage
// key it reads the node's drain key: a drain rewrites the usage key, so a
// plan that lost to a drain re-plans knowing the node is drained.
Result<CommitOutcome, Problem> commitPlan(Store& store, std::size_t maxTxnOps,
                                          const std::string& jobName, const CommitPlan& plan) {
  const std::size_t ops = std::max(plan.operationCount(), plan.compares.size());
  if (ops > maxTxnOps) {
    return fail(makeProblem(
        problems::kTransactionTooLarge,
        fmt::format("The change to job \"{}\" needs {} operations in one transaction, more than "
                    "the {} etcd allows (--max-txn-ops). Raise etcd's --max-txn-ops and the "
                    "agents' --max-txn-ops together (docs/operations.md).",
                    jobName, ops, maxTxnOps),
        {{"job", jobName}, {"operations", ops}, {"limit", maxTxnOps}}));
  }
  Txn txn = toTxn(plan);
  CommitOutcome outcome;
  auto readBack = [&](const std::string& key) {
    if (std::find(outcome.guardedKeys.begin(), outcome.guardedKeys.end(), key) !=
        outcome.guardedKeys.end()) {
      return;
    }
    outcome.guardedKeys.push_back(key);
    txn.failure.push_back(TxnOp::get(key));
  };
  for (const auto& c : plan.compares) {
    readBack(c.key);
    if (auto node = keys::nameUnder(c.key, keys::kUsage); !node.empty()) readBack(keys::drain(node));
  }
  auto committed = store.txn(txn);
  if (!committed) return fail(toProblem(committed.error()));
  if (committed->succeeded) {
    outcome.revision = committed->revision;
    return outcome;
  }
  for (auto& found : committed->gets) {
    for (auto& kv : found) outcome.guarded.push_back(std::move(kv));
  }
  outcome.readRevision = committed->revision;
  return outcome;
}

// `snapshot` brought up to date with what a lost commit read back.
StateRead refreshed(ClusterSnapshot snapshot, const CommitOutcome& lost, const std::string& jobKey) {
  StateRead read{std::move(snapshot), std::nullopt};
  for (const auto& key : lost.guardedKeys) {
    const auto kv = std::find_if(lost.guarded.begin(), lost.guarded.end(),
                                 [&](const KeyValue& k) { return k.key == key; });
    if (kv == lost.guarded.end()) {
      applyKey(read.snapshot, key, nullptr, lost.readRevision);
    } else {
      // An unreadable node key counts as gone; other unreadable values stay
      // as they were, so the next commit loses and the read after it
      // reports them.
      applyKey(read.snapshot, key, &kv->value, kv->modRevision);
      if (key == jobKey) read.jobKey = *kv;
    }
  }
  prune(read.snapshot);
  read.snapshot.revision = std::max(read.snapshot.revision, lost.readRevision);
  return read;
}

}  // namespace

namespace {

// One node's keys, read at one revision: what a drain or undrain decides on.
struct NodeKeys {
  std::optional<KeyValue> node;
  std::optional<KeyValue> usage;
  std::optional<KeyValue> drain;
  bool known() const { return node || usage || drain; }
};

Result<NodeKeys, Problem> readNodeKeys(Store& store, const std::string& node) {
  Txn txn;
  txn.success = {TxnOp::get(keys::node(node)), TxnOp::get(keys::usage(node)),
                 TxnOp::get(keys::drain(node))};
  auto got = store.txn(txn);
  if (!got) return fail(toProblem(got.error()));
  NodeKeys out;
  auto first = [&](std::size_t i) {
    const auto& found = got->gets.at(i);
    return found.empty() ? std::nullopt : std::optional<KeyValue>(found.front());
  };
  out.node = first(0);
  out.usage = first(1);
  out.drain = first(2);
  return out;
}

// The answer to a drain or undrain, from the node's keys after it.
Result<DrainResult, Problem> drainResult(const std::string& node, const NodeKeys& keys,
                                         bool changed) {
  DrainResult result{node, keys.node.has_value(), {}, std::nullopt, changed};
  if (keys.usage) {
    auto usage = decodeUsage(keys.usage->value);
    if (!usage) return fail(corrupt(keys.usage->key, usage.error()));
    result.usage = std::move(usage).value();
  }
  if (keys.drain) {
    auto record = decodeDrain(keys.drain->value);
    if (!record) return fail(corrupt(keys.drain->key, record.error()));
    result.drain = std::move(record).value();
  }
  return result;
}

}  // namespace

Result<DrainResult, Problem> ControlPlane::drain(const std::string& node, const std::string& by) {
  if (!isHostName(node)) return fail(invalidNodeName(node));
  const DrainRecord record{options_.nowMs ? options_.nowMs() : 0, by};
  for (int attempt = 0; attempt < options_.maxAttempts; ++attempt) {
    if (attempt > 0) backOff(attempt);
    auto read = readNodeKeys(store_, node);
    if (!read) return fail(std::move(read).error());
    NodeKeys& found = *read;
    if (!found.known()) return fail(nodeNotFound(node));
    if (found.drain) return drainResult(node, found, false);
    // The drain key, and the usage key written back as it is: every plan
    // that chose this node before the drain compares the usage key, so it
    // loses its commit and re-plans seeing the drain (its Txn reads the
    // drain key back). A live node without usage gets an empty one.
    CommitPlan plan;
    plan.compares.push_back({keys::drain(node), KeyCompare::Target::kVersion, 0});
    plan.compares.push_back({keys::usage(node), KeyCompare::Target::kModRevision,
                             found.usage ? found.usage->modRevision : 0});
    plan.puts.push_back({keys::drain(node), encode(record)});
    if (found.usage || found.node) {
      UsageRecord usage;
      if (found.usage) {
        auto decoded = decodeUsage(found.usage->value);
        if (!decoded) return fail(corrupt(found.usage->key, decoded.error()));
        usage = std::move(decoded).value();
      }
      plan.puts.push_back({keys::usage(node), found.usage ? found.usage->value : encode(usage)});
      plan.usage.emplace(node, usage);
    }
    auto committed = store_.txn(toTxn(plan));
    if (!committed) return fail(toProblem(committed.error()));
    if (!committed->succeeded) continue;  // drained meanwhile, or its usage changed: look again
    if (cache_) cache_->applyCommit(plan, committed->revision);
    spdlog::info("node {} drained (through {})", node, by);
    found.drain = KeyValue{keys::drain(node), plan.puts[0].value, committed->revision,
                           committed->revision, 1, 0};
    return drainResult(node, found, true);
  }
  return fail(makeProblem(problems::kScheduleContention,
                          fmt::format("Node \"{}\" kept changing while it was being drained; try "
                                      "again.",
                                      node),
                          {{"node", node}}));
}

Result<DrainResult, Problem> ControlPlane::undrain(const std::string& node) {
  if (!isHostName(node)) return fail(invalidNodeName(node));
  auto read = readNodeKeys(store_, node);
  if (!read) return fail(std::move(read).error());
  NodeKeys& found = *read;
  if (!found.known()) return fail(nodeNotFound(node));
  if (!found.drain) return drainResult(node, found, false);
  // A plain delete: nothing it decides on can change under it. A move off
  // the node planned before it compares the drain key and loses.
  auto removed = store_.remove(keys::drain(node));
  if (!removed) return fail(toProblem(removed.error()));
  if (cache_) {
    CommitPlan plan;
    plan.deletes.push_back(keys::drain(node));
    cache_->applyCommit(plan, removed->revision);
  }
  spdlog::info("node {} undrained", node);
  found.drain.reset();
  return drainResult(node, found, removed->deleted > 0);
}

Result<ClusterSnapshot, Problem> ControlPlane::snapshot() {
  auto read = readState(store_, nullptr);
  if (!read) return fail(std::move(read).error());
  return std::move(read->snapshot);
}

Result<std::optional<JobEntry>, Problem> ControlPlane::readJob(const std::string& name) {
  auto state = readJobState(name);
  if (!state) return fail(std::move(state).error());
  if (!*state) return std::optional<JobEntry>{};
  return std::optional<JobEntry>(std::move((*state)->entry));
}

Result<std::optional<ControlPlane::JobState>, Problem> ControlPlane::readJobState(
    const std::string& name) {
  // Two reads (the job, then its assignments, versions and deployment), made
  // consistent by requiring that the job did not change in between; every
  // change to a job's assignments also rewrites the job. (A deployment's
  // step that changes only the deployment may land in between: its compares
  // on the deployment key then make a plan from this read lose.)
  for (int attempt = 0; attempt < options_.maxAttempts; ++attempt) {
    auto got = store_.get(keys::job(name));
    if (!got) return fail(toProblem(got.error()));
    if (got->kvs.empty()) return std::optional<JobState>{};
    const KeyValue& kv = got->kvs.front();
    auto record = decodeJob(kv.value);
    if (!record) return fail(corrupt(kv.key, record.error()));
    if (record->spec.name != name) {
      // Writes are built from the record; one that names another job must
      // never steer them to that job's keys.
      return fail(corrupt(kv.key, fmt::format("it holds job \"{}\"", record->spec.name)));
    }
    JobState state;
    JobEntry& entry = state.entry;
    entry.record = std::move(record).value();
    entry.modRevision = kv.modRevision;
    Txn txn;
    txn.compares.push_back(Compare::modRevision(kv.key, Compare::kEqual, kv.modRevision));
    for (const auto& node : entry.record.nodes) {
      txn.success.push_back(TxnOp::get(keys::assignment(node, name)));
    }
    txn.success.push_back(TxnOp::getPrefix(keys::versionsOf(name)));
    txn.success.push_back(TxnOp::get(keys::deployment(name)));
    auto assignments = store_.txn(txn);
    if (!assignments) return fail(toProblem(assignments.error()));
    if (!assignments->succeeded) continue;  // the job changed meanwhile
    state.revision = assignments->revision;
    const std::size_t nodes = entry.record.nodes.size();
    for (std::size_t i = 0; i < nodes; ++i) {
      const auto& found = assignments->gets.at(i);
      if (found.empty()) continue;  // tolerated: the job record lists a node with nothing left
      auto groups = decodeAssignments(found.front().value);
      if (!groups) return fail(corrupt(found.front().key, groups.error()));
      for (auto& a : *groups) entry.assignments.emplace_back(entry.record.nodes[i], std::move(a));
    }
    for (const auto& v : assignments->gets.at(nodes)) {
      // History: one unreadable version must not stop the job from being
      // scaled, stopped or re-placed. It is left out (and so never a
      // revert target), and a version whose key says another number or job
      // is refused the same way.
      auto version = decodeVersion(v.value);
      if (version && (keys::version(name, version->version) != v.key || version->spec.name != name)) {
        version = fail(std::string("it holds another job's or version's record"));
      }
      if (!version) {
        spdlog::warn("job {}: leaving out {}: {}", name, v.key, version.error());
        continue;
      }
      state.versions.push_back({std::move(version).value(), v.modRevision});
    }
    std::sort(state.versions.begin(), state.versions.end(), [](const auto& a, const auto& b) {
      return a.record.version < b.record.version;
    });
    if (const auto& d = assignments->gets.at(nodes + 1); !d.empty()) {
      auto deployment = decodeDeployment(d.front().value);
      if (!deployment) return fail(corrupt(d.front().key, deployment.error()));
      state.deployment = DeploymentEntry{std::move(deployment).value(), d.front().modRevision};
    }
    return std::optional<JobState>(std::move(state));
  }
  return fail(makeProblem(problems::kScheduleContention,
                          fmt::format("Job \"{}\" kept changing while it was read; try again.", name),
                          {{"job", name}}));
}

void ControlPlane::backOff(int attempt) {
  // Full jitter over an exponential window (10 ms doubling, at most 500 ms),
  // so agents that lost the same race do not collide again in lockstep.
  const std::int64_t window = std::min<std::int64_t>(500, std::int64_t{10} << std::min(attempt, 6));
  const auto r = options_.random ? options_.random() : 0;
  if (options_.sleep) options_.sleep(std::chrono::milliseconds(static_cast<std::int64_t>(r % window)));
}

void ControlPlane::recordCommit(std::string_view operation, const std::string& jobName, const CommitPlan& plan) {
  if (!options_.events || operation == "stop") return;  // a stopped job's log goes with it
  const std::int64_t now = options_.nowMs ? options_.nowMs() : 0;
  const bool replacing = operation == "replace";
  const std::uint64_t version = plan.job.specVersion;
  for (const auto& p : plan.placed) {
    Event e;
    e.atMs = now;
    e.job = jobName;
    e.instance = p.id;
    e.node = p.node;
    e.kind = replacing ? EventKind::kReplaced : EventKind::kPlaced;
    e.version = version;
    e.message = fmt::format("{} on node {} ({})", replacing ? "placed again" : "placed", p.node, operation);
    options_.events->record(std::move(e));
  }
  for (const auto& p : plan.removed) {
    Event e;
    e.atMs = now;
    e.job = jobName;
    e.instance = p.id;
    e.node = p.node;
    e.kind = EventKind::kRemoved;
    e.message = p.node.empty() ? fmt::format("dropped while pending ({})", operation)
                               : fmt::format("taken off node {} ({})", p.node, operation);
    options_.events->record(std::move(e));
  }
  if (operation != "deploy-step" && !plan.job.pending.empty()) {
    Event e;
    e.atMs = now;
    e.job = jobName;
    e.kind = EventKind::kPending;
    e.message = fmt::format("{} instances wait for room ({})", plan.job.pending.size(), operation);
    options_.events->record(std::move(e));
  }
}

Problem ControlPlane::contention(const std::string& jobName) const {
  return makeProblem(
      problems::kScheduleContention,
      fmt::format("The schedule changed {} times while job \"{}\" was being committed; try again.",
                  options_.maxAttempts, jobName),
      {{"job", jobName}});
}

Result<ChangeResult, Problem> ControlPlane::commitWithRetry(std::string_view operation,
                                                           const std::string& jobName,
                                                           const Problem* exists,
                                                           const PlanFunction& plan) {
  std::unique_lock planning(planMutex_);
  std::optional<StateRead> current;  // what etcd held when the last commit lost
  for (int attempt = 0; attempt < options_.maxAttempts; ++attempt) {
    if (attempt > 1) {
      // Losing twice means others are committing too: back off, and let
      // others plan meanwhile. What the last loss read is stale after it.
      planning.unlock();
      backOff(attempt);
      planning.lock();
      current.reset();
    }
    // Attempt 0 plans from the cache; a submission's plan then rests on the
    // commit's compare for the job's absence. A retry plans from the state
    // the lost commit read back, or from a fresh read of etcd.
    bool fromCache = false;
    std::optional<ClusterSnapshot> snap;
    if (current) {
      if (exists && current->jobKey) return fail(*exists);
      snap = std::move(current->snapshot);
      current.reset();
    } else if (attempt == 0 && cache_) {
      snap = cache_->current();
      fromCache = snap.has_value();
    }
    if (!snap) {
      auto read = readState(store_, exists ? &jobName : nullptr);
      if (!read) return fail(std::move(read).error());
      if (exists && read->jobKey) return fail(*exists);
      snap = std::move(read->snapshot);
    }
    auto decided = plan(*snap);
    if (!decided && fromCache) continue;  // maybe only the cache is behind: read etcd
    if (!decided) return fail(std::move(decided).error());
    if (decided->operationCount() == 0) {
      return ChangeResult{std::move(decided->job), {}, {}, 0};  // nothing to change
    }
    const auto started = std::chrono::steady_clock::now();
    auto outcome = commitPlan(store_, options_.maxTxnOps, jobName, *decided);
    if (options_.metrics) {
      const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
      options_.metrics->committed(operation,
                                  !outcome            ? metrics::CommitResult::kFailed
                                  : outcome->revision ? metrics::CommitResult::kCommitted
                                                      : metrics::CommitResult::kConflict,
                                  took.count());
      if (outcome && !outcome->revision && attempt + 1 < options_.maxAttempts) {
        options_.metrics->retried(operation);
      }
    }
    if (!outcome) return fail(std::move(outcome).error());
    if (outcome->revision) {
      if (cache_) cache_->applyCommit(*decided, *outcome->revision);
      recordCommit(operation, jobName, *decided);
      return ChangeResult{std::move(decided->job), std::move(decided->placed),
                          std::move(decided->removed), *outcome->revision};
    }
    // Lost a race: something the plan read changed. Re-plan on what etcd
    // holds now for the keys that mattered.
    current = refreshed(std::move(*snap), *outcome, keys::job(jobName));
  }
  return fail(contention(jobName));
}

Result<ChangeResult, Problem> ControlPlane::submit(const Job& job) {
  if (!isDnsLabel(job.name)) return fail(invalidName(job.name));
  const auto nowMs = options_.nowMs ? options_.nowMs() : 0;
  const Problem exists = makeProblem(
      problems::kJobExists,
      fmt::format("A job named \"{}\" already exists; stop it first, or scale it with `ozy job "
                  "scale`.",
                  job.name),
      {{"job", job.name}});
  const IngressClaims claims = ingressClaimsOf(job, options_.domain);
  auto created = commitWithRetry("submit", job.name, &exists,
                                 [&](const ClusterSnapshot& snap) -> Result<CommitPlan, Problem> {
    auto plan = planSubmit(snap, job, nowMs);
    if (!plan || claims.empty()) return plan;
    // Read afresh for every attempt: a lost commit may have lost to the
    // job that now holds the host.
    auto held = readClaims(claims);
    if (!held) return fail(std::move(held).error());
    return withClaims(std::move(plan).value(), claims, *held);
  });
  if (!created && created.error().type.slug == problems::kJobExists.slug) return update(job, 0);
  if (created) created->change = JobChange::kCreated;
  return created;
}

void ControlPlane::waitForJobChange(const std::string& name, std::int64_t revision,
                                    std::chrono::milliseconds timeout) {
  WaitingSlot slot(waiting_);
  if (slot.taken() > options_.maxWaiting) return;
  std::mutex mutex;
  std::condition_variable changed;
  bool seen = false;
  auto onEvents = [&](std::vector<WatchEvent>, std::int64_t) {
    std::lock_guard lock(mutex);
    seen = true;
    changed.notify_all();
  };
  auto onError = [&](const StoreError&) {
    std::lock_guard lock(mutex);
    seen = true;  // cannot tell: answer now
    changed.notify_all();
  };
  // Prefixes: a job whose name extends this one's wakes it too, which only
  // costs an early answer.
  std::vector<std::unique_ptr<Watch>> watches;
  for (const std::string& prefix : {keys::job(name), keys::deployment(name), keys::statusOf(name)}) {
    watches.push_back(store_.watch(prefix, revision + 1, onEvents, onError));
  }
  {
    std::unique_lock lock(mutex);
    changed.wait_for(lock, timeout, [&] { return seen; });
  }
  for (auto& w : watches) {
    if (w) w->stop();
  }
}

Result<EventPage, Problem> ControlPlane::events(const std::string& name, const EventQuery& query) {
  if (!isDnsLabel(name)) return fail(invalidName(name));
  auto page = readEvents(store_, name, query);
  if (!page) return fail(toProblem(page.error()));
  // After the log: a job stopped in between answers job-not-found rather
  // than with a log that is being deleted.
  auto job = store_.get(keys::job(name));
  if (!job) return fail(toProblem(job.error()));
  if (job->kvs.empty()) return fail(notFound(name));
  return std::move(page).value();
}

void ControlPlane::waitForEvents(const std::string& name, std::int64_t revision,
                                 std::chrono::milliseconds timeout) {
  if (!isDnsLabel(name)) return;
  WaitingSlot slot(waiting_);
  if (slot.taken() > options_.maxWaiting) return;
  ozy::waitForEvents(store_, name, revision, timeout);
}

std::string_view toString(JobChange change) {
  switch (change) {
    case JobChange::kCreated:
      return "created";
    case JobChange::kUnchanged:
      return "unchanged";
    case JobChange::kScaled:
      return "scaled";
    case JobChange::kUpdated:
      return "updated";
    case JobChange::kDeploying:
      return "deploying";
    case JobChange::kOther:
      return "changed";
  }
  return "changed";
}

Result<CommitPlan, Problem> ControlPlane::planNewVersion(const ClusterSnapshot& snap,
                                                         const JobState& state, const Job& spec,
                                                         bool inPlace, std::uint64_t revertOf,
                                                         DeploymentOutcome interrupted) {
  const JobRecord& current = state.entry.record;
  UpdateRequest request;
  request.spec = spec;
  request.inPlace = inPlace;
  request.changes = describeChanges(current.spec, spec);
  request.revertOf = revertOf;
  request.nowMs = options_.nowMs ? options_.nowMs() : 0;
  request.versions = state.versions;
  request.deployment = state.deployment;
  request.interrupted = interrupted;
  request.versionsKept = options_.versionsKept;
  CommitPlan plan = planUpdate(snap, state.entry, request);
  // The ingress claims move with the spec: new ones are taken (or refused
  // as taken), and those no longer claimed given back.
  const IngressClaims claims = ingressClaimsOf(spec, options_.domain);
  if (claims == current.ingress) return plan;
  IngressClaims all = claims;
  all.hosts.insert(all.hosts.end(), current.ingress.hosts.begin(), current.ingress.hosts.end());
  all.tcp.insert(all.tcp.end(), current.ingress.tcp.begin(), current.ingress.tcp.end());
  auto held = readClaims(all);
  if (!held) return fail(std::move(held).error());
  const std::set<std::string> wanted = [&] {
    auto k = claimKeys(claims);
    return std::set<std::string>(k.begin(), k.end());
  }();
  std::vector<ClaimHolder> stillHeld;
  std::vector<ClaimHolder> given;
  for (const auto& h : *held) (wanted.contains(h.key) ? stillHeld : given).push_back(h);
  auto claimed = withClaims(std::move(plan), claims, stillHeld);
  if (!claimed) return claimed;
  releaseClaims(*claimed, spec.name, given);
  return claimed;
}

Result<ChangeResult, Problem> ControlPlane::update(const Job& job, std::uint64_t revertOf) {
  JobChange change = JobChange::kOther;
  bool scaleAfter = false;
  auto result = commitWithRetry("update", job.name, nullptr,
                                [&](const ClusterSnapshot& snap) -> Result<CommitPlan, Problem> {
    auto state = readJobState(job.name);
    if (!state) return fail(std::move(state).error());
    if (!*state) return fail(notFound(job.name));
    const JobRecord& current = (*state)->entry.record;
    scaleAfter = false;
    switch (classifyChange(current.spec, job)) {
      case SpecChange::kUnchanged:
        change = JobChange::kUnchanged;
        return CommitPlan{};
      case SpecChange::kScale:
        change = JobChange::kScaled;
        return planScale(snap, (*state)->entry, job.numInstances, {}, &job);
      case SpecChange::kInPlace: {
        change = JobChange::kUpdated;
        // The count follows in a scale of its own, once the version is in.
        Job spec = job;
        spec.numInstances = current.spec.numInstances;
        scaleAfter = job.numInstances != current.spec.numInstances;
        return planNewVersion(snap, **state, spec, true, revertOf, DeploymentOutcome::kSuperseded);
      }
      case SpecChange::kNewPods:
        change = JobChange::kDeploying;
        return planNewVersion(snap, **state, job, false, revertOf, DeploymentOutcome::kSuperseded);
    }
    return CommitPlan{};
  });
  if (!result) return result;
  if (change == JobChange::kUnchanged) {
    auto info = readJob(job.name);
    if (info && *info) result->job = (*info)->record;
  }
  if (scaleAfter) {
    auto scaled = scale(job.name, job.numInstances);
    if (!scaled) return scaled;
    result->placed = std::move(scaled->placed);
    result->removed = std::move(scaled->removed);
    result->job = std::move(scaled->job);
    result->revision = scaled->revision;
  }
  result->change = change;
  if (change == JobChange::kDeploying) {
    auto state = readJobState(job.name);
    if (state && *state && (*state)->deployment) result->deployment = (*state)->deployment->record;
  }
  return result;
}

Result<ChangeResult, Problem> ControlPlane::revert(const std::string& name, std::uint64_t to) {
  auto wanted = version(name, to);
  if (!wanted) return fail(std::move(wanted).error());
  // The version's containers, ingress and update section; the number of
  // instances stays what it is (scaling is its own change).
  auto current = readJob(name);
  if (!current) return fail(std::move(current).error());
  if (!*current) return fail(notFound(name));
  Job spec = wanted->spec;
  spec.numInstances = (*current)->record.spec.numInstances;
  return update(spec, to);
}

Result<std::vector<VersionRecord>, Problem> ControlPlane::versions(const std::string& name) {
  if (!isDnsLabel(name)) return fail(invalidName(name));
  auto state = readJobState(name);
  if (!state) return fail(std::move(state).error());
  if (!*state) return fail(notFound(name));
  std::vector<VersionRecord> out;
  for (auto& v : (*state)->versions) out.push_back(std::move(v.record));
  return out;
}

Result<VersionRecord, Problem> ControlPlane::version(const std::string& name, std::uint64_t n) {
  auto all = versions(name);
  if (!all) return fail(std::move(all).error());
  for (auto& v : *all) {
    if (v.version == n) return std::move(v);
  }
  return fail(makeProblem(problems::kVersionNotFound,
                          fmt::format("Job \"{}\" has no version {} in its history; `ozy job "
                                      "history {}` lists the versions kept.",
                                      name, n, name),
                          {{"job", name}, {"version", n}}));
}

Result<DeploymentRecord, Problem> ControlPlane::promote(const std::string& name) {
  if (!isDnsLabel(name)) return fail(invalidName(name));
  for (int attempt = 0; attempt < options_.maxAttempts; ++attempt) {
    if (attempt > 0) backOff(attempt);
    auto state = readJobState(name);
    if (!state) return fail(std::move(state).error());
    if (!*state) return fail(notFound(name));
    const auto& d = (*state)->deployment;
    if (!d || !d->record.active() || d->record.policy.canary == 0 || d->record.promoted) {
      const std::string where = !d ? "none" : std::string(toString(d->record.state));
      return fail(makeProblem(
          problems::kNotPromotable,
          fmt::format("Job \"{}\" has no deployment waiting for promotion ({}).", name,
                      !d ? "it has no deployment"
                         : d->record.policy.canary == 0
                               ? "its deployment places no canaries"
                               : d->record.promoted ? "it has been promoted already"
                                                    : "its deployment is " + where),
          {{"job", name}, {"state", where}}));
    }
    DeploymentRecord next = d->record;
    const auto now = options_.nowMs ? options_.nowMs() : 0;
    next.promoted = true;
    if (next.state == DeploymentState::kPaused) {
      next.state = DeploymentState::kRunning;
      // Its deadlines start again: a pause is no lack of progress.
      next.batchPlacedAtMs = now;
      next.progressDeadlineMs = now + next.policy.progressDeadline.count();
    }
    next.message = "promoted";
    next.updatedAtMs = now;
    Txn txn;
    txn.compares.push_back(
        Compare::modRevision(keys::deployment(name), Compare::kEqual, d->modRevision));
    txn.success.push_back(TxnOp::put(keys::deployment(name), encode(next)));
    auto committed = store_.txn(txn);
    if (!committed) return fail(toProblem(committed.error()));
    if (committed->succeeded) {
      spdlog::info("job {}: deployment of version {} promoted", name, next.version);
      return next;
    }
  }
  return fail(contention(name));
}

Result<DeployStepResult, Problem> ControlPlane::deployStep(const std::string& name) {
  DeployStepResult out;
  std::string stepNote;  // what the step that was committed did, for the job's events
  auto result = commitWithRetry("deploy-step", name, nullptr,
                                [&](const ClusterSnapshot& snap) -> Result<CommitPlan, Problem> {
    out = DeployStepResult{};
    auto read = readJobState(name);
    if (!read) return fail(std::move(read).error());
    if (!*read || !(*read)->deployment || !(*read)->deployment->record.active()) return CommitPlan{};
    const JobState& state = **read;
    const DeploymentEntry& current = *state.deployment;
    // Not the lenient read: no reports would look like stopped old pods.
    auto statuses = readStatusesOrFail(name);
    if (!statuses) return fail(std::move(statuses).error());
    const std::int64_t now = options_.nowMs ? options_.nowMs() : 0;
    const DeploymentStep step =
        decideStep(DeploymentView{state.entry.record, state.entry.assignments, current.record,
                                  *statuses, now});
    out.active = step.next.active();
    out.lookAgainAtMs = step.lookAgainAtMs;
    if (step.kind == StepKind::kWait) return CommitPlan{};
    // Only a step that moves the deployment is news; a new "waiting for ..."
    // message is in `ozy job status`.
    stepNote.clear();
    if (step.kind != StepKind::kAdvance || step.place > 0 || !step.remove.empty()) stepNote = fmt::format("deployment of version {}: {}{}{}", current.record.version,
                           toString(step.next.state), step.next.message.empty() ? "" : ", ", step.next.message);
    DeployStepWrite write;
    write.deployment = current;
    write.next = step.next;
    write.place = step.place;
    write.remove = step.remove;
    write.nowMs = now;
    auto versionOf = [&](std::uint64_t v) -> const VersionEntry* {
      for (const auto& e : state.versions) {
        if (e.record.version == v) return &e;
      }
      return nullptr;
    };
    if (step.kind == StepKind::kSucceed || step.kind == StepKind::kFail) {
      if (const VersionEntry* v = versionOf(current.record.version)) {
        write.version = *v;
        write.version->record.outcome = step.kind == StepKind::kSucceed
                                            ? DeploymentOutcome::kSucceeded
                                            : DeploymentOutcome::kFailed;
      }
    }
    if (step.kind == StepKind::kFail && step.revert) {
      // Back to the newest version that succeeded, as a new version.
      const VersionEntry* good = nullptr;
      for (const auto& e : state.versions) {
        if (e.record.outcome == DeploymentOutcome::kSucceeded &&
            e.record.version < current.record.version) {
          good = &e;
        }
      }
      if (good) {
        JobState failed = state;
        failed.deployment->record.message = step.next.message;
        spdlog::warn("job {}: deployment of version {} failed ({}); reverting to version {}", name,
                     current.record.version, step.next.message, good->record.version);
        out.active = true;
        Job spec = good->record.spec;
        spec.numInstances = state.entry.record.spec.numInstances;
        return planNewVersion(snap, failed, spec, false, good->record.version,
                              DeploymentOutcome::kFailed);
      }
    }
    if (step.kind == StepKind::kFail) {
      spdlog::warn("job {}: deployment of version {} failed: {}", name, current.record.version,
                   step.next.message);
    }
    auto plan = planDeployStep(snap, state.entry, write);
    if (plan) return plan;
    // The batch does not fit: the deployment says so and waits for room
    // (its progress deadline still runs).
    write.place = 0;
    write.next.message = fmt::format("waiting for room for the next batch: {}", plan.error().detail);
    if (write.remove.empty() && write.next == current.record) return CommitPlan{};
    if (write.remove.empty() && write.next.message == current.record.message) return CommitPlan{};
    return planDeployStep(snap, state.entry, write);
  });
  if (!result) return fail(std::move(result).error());
  out.wrote = result->revision != 0;
  if (out.wrote && options_.events && !stepNote.empty()) {
    Event e;
    e.atMs = options_.nowMs ? options_.nowMs() : 0;
    e.job = name;
    e.kind = EventKind::kDeployment;
    e.message = std::move(stepNote);
    options_.events->record(std::move(e));
  }
  return out;
}

Result<std::vector<ClaimHolder>, Problem> ControlPlane::readClaims(const IngressClaims& claims) {
  Txn txn;
  for (auto& key : claimKeys(claims)) txn.success.push_back(TxnOp::get(std::move(key)));
  auto got = store_.txn(txn);
  if (!got) return fail(toProblem(got.error()));
  std::vector<ClaimHolder> held;
  for (const auto& found : got->gets) {
    for (const auto& kv : found) held.push_back({kv.key, kv.value, kv.modRevision});
  }
  return held;
}

Result<ChangeResult, Problem> ControlPlane::planOnly(const Job& job) {
  if (!isDnsLabel(job.name)) return fail(invalidName(job.name));
  auto read = readState(store_, &job.name);
  if (!read) return fail(std::move(read).error());
  if (read->jobKey) {
    // A dry run of an existing job shows what running the file would do:
    // nothing, a scale, or a new version (whose deployment places nothing
    // at first).
    auto state = readJobState(job.name);
    if (!state) return fail(std::move(state).error());
    if (*state) {
      const JobRecord& current = (*state)->entry.record;
      const SpecChange kind = classifyChange(current.spec, job);
      if (kind == SpecChange::kUnchanged) {
        return ChangeResult{current, {}, {}, 0, JobChange::kUnchanged};
      }
      if (kind == SpecChange::kScale) {
        auto plan = planScale(read->snapshot, (*state)->entry, job.numInstances, {}, &job);
        if (!plan) return fail(std::move(plan).error());
        return ChangeResult{std::move(plan->job), std::move(plan->placed), std::move(plan->removed),
                            0, JobChange::kScaled};
      }
      auto plan = planNewVersion(read->snapshot, **state, job, kind == SpecChange::kInPlace, 0,
                                 DeploymentOutcome::kSuperseded);
      if (!plan) return fail(std::move(plan).error());
      return ChangeResult{std::move(plan->job), {}, {}, 0,
                          kind == SpecChange::kInPlace ? JobChange::kUpdated : JobChange::kDeploying};
    }
  }
  auto plan = planSubmit(read->snapshot, job, options_.nowMs ? options_.nowMs() : 0);
  if (!plan) return fail(std::move(plan).error());
  // A host or port another job holds would refuse the submission too.
  if (const IngressClaims claims = ingressClaimsOf(job, options_.domain); !claims.empty()) {
    auto held = readClaims(claims);
    if (!held) return fail(std::move(held).error());
    plan = withClaims(std::move(plan).value(), claims, *held);
    if (!plan) return fail(std::move(plan).error());
  }
  return ChangeResult{std::move(plan->job), std::move(plan->placed), {}, 0};
}

Result<ChangeResult, Problem> ControlPlane::scale(const std::string& name, std::uint32_t count) {
  if (!isDnsLabel(name)) return fail(invalidName(name));
  if (count > kMaxInstances) {
    return fail(makeProblem(problems::kInvalidScale,
                            fmt::format("{} instances is more than the {} a job may have.", count,
                                        kMaxInstances),
                            {{"job", name}}));
  }
  return commitWithRetry("scale", name, nullptr, [&](const ClusterSnapshot& snap) -> Result<CommitPlan, Problem> {
    auto entry = readJob(name);
    if (!entry) return fail(std::move(entry).error());
    if (!*entry) return fail(notFound(name));
    // Scaling down removes unhealthy instances first.
    std::set<std::uint32_t> unhealthy;
    if (count < (*entry)->record.spec.numInstances) {
      std::map<std::uint32_t, std::string> nodeOf;
      for (const auto& [node, a] : (*entry)->assignments) {
        for (auto id : a.instances) nodeOf[id] = node;
      }
      for (const auto& [id, status] : readStatuses(name)) {
        // Only what the instance's current node says counts.
        const bool current = nodeOf.contains(id) && nodeOf.at(id) == status.node;
        if (current && (status.state == InstanceState::kUnhealthy ||
                        status.state == InstanceState::kFailed)) {
          unhealthy.insert(id);
        }
      }
    }
    return planScale(snap, **entry, count, unhealthy);
  });
}

Result<ChangeResult, Problem> ControlPlane::stop(const std::string& name) {
  if (!isDnsLabel(name)) return fail(invalidName(name));
  return commitWithRetry("stop", name, nullptr, [&](const ClusterSnapshot& snap) -> Result<CommitPlan, Problem> {
    auto entry = readJob(name);
    if (!entry) return fail(std::move(entry).error());
    if (!*entry) return fail(notFound(name));
    CommitPlan plan = planStop(snap, **entry);
    // What the record says the job holds, not what its spec would claim
    // now: the cluster domain may have changed since.
    if (const IngressClaims& claims = (*entry)->record.ingress; !claims.empty()) {
      auto held = readClaims(claims);
      if (!held) return fail(std::move(held).error());
      releaseClaims(plan, name, *held);
    }
    return plan;
  });
}

Result<ChangeResult, Problem> ControlPlane::replace(const std::string& name) {
  if (!isDnsLabel(name)) return fail(invalidName(name));
  return commitWithRetry("replace", name, nullptr, [&](const ClusterSnapshot& snap) -> Result<CommitPlan, Problem> {
    auto entry = readJob(name);
    if (!entry) return fail(std::move(entry).error());
    if (!*entry) return CommitPlan{};  // stopped meanwhile: nothing to move
    return planReplace(snap, **entry, options_.maxTxnOps);
  });
}

Result<std::vector<std::string>, Problem> ControlPlane::jobsToReplace(
    const std::set<std::string>& nodesToVacate, bool pending) {
  std::optional<ClusterSnapshot> snap = cache_ ? cache_->current() : std::nullopt;
  if (!snap) {
    auto read = snapshot();
    if (!read) return fail(std::move(read).error());
    snap = std::move(read).value();
  }
  auto jobs = listJobs();
  if (!jobs) return fail(std::move(jobs).error());
  std::vector<std::string> names;
  for (const auto& info : *jobs) {
    const JobRecord& r = info.record;
    const bool onNodeToVacate =
        std::any_of(r.nodes.begin(), r.nodes.end(), [&](const std::string& n) {
          const NodeEntry* e = snap->find(n);
          return nodesToVacate.contains(n) && (!e || !e->live || e->drained());
        });
    if (onNodeToVacate || (pending && !r.pending.empty())) names.push_back(r.spec.name);
  }
  return names;
}

Result<std::vector<NodeInfo>, Problem> ControlPlane::listNodes() {
  Txn txn;
  txn.success = {TxnOp::getPrefix(std::string(keys::kNodes)),
                 TxnOp::getPrefix(std::string(keys::kUsage)),
                 TxnOp::getPrefix(std::string(keys::kDrain))};
  auto result = store_.txn(txn);
  if (!result) return fail(toProblem(result.error()));
  std::map<std::string, UsageRecord> usage;
  for (const auto& kv : result->gets.at(1)) {
    auto u = decodeUsage(kv.value);
    if (!u) return fail(corrupt(kv.key, u.error()));
    usage[std::string(keys::nameUnder(kv.key, keys::kUsage))] = std::move(u).value();
  }
  std::map<std::string, DrainRecord> drains;
  for (const auto& kv : result->gets.at(2)) {
    auto d = decodeDrain(kv.value);
    if (!d) return fail(corrupt(kv.key, d.error()));
    drains[std::string(keys::nameUnder(kv.key, keys::kDrain))] = std::move(d).value();
  }
  std::vector<NodeInfo> nodes;
  for (const auto& kv : result->gets.at(0)) {
    auto record = decodeNode(kv.value);
    if (!record) return fail(corrupt(kv.key, record.error()));
    NodeInfo info{std::move(record).value(), {}, kv.lease, std::nullopt};
    if (auto it = usage.find(info.record.name); it != usage.end()) info.usage = it->second;
    if (auto it = drains.find(info.record.name); it != drains.end()) info.drain = it->second;
    nodes.push_back(std::move(info));
  }
  return nodes;
}

namespace {

JobInfo describe(const JobEntry& entry) {
  JobInfo info{entry.record, {}};
  for (const auto& [node, a] : entry.assignments) {
    for (auto id : a.instances) info.instances.push_back({id, node, a.version, std::nullopt});
  }
  for (auto id : entry.record.pending) {
    info.instances.push_back({id, "", entry.record.specVersion, std::nullopt});
  }
  std::sort(info.instances.begin(), info.instances.end(),
            [](const InstanceInfo& a, const InstanceInfo& b) { return a.id < b.id; });
  return info;
}

}  // namespace

Result<JobInfo, Problem> ControlPlane::job(const std::string& name) {
  if (!isDnsLabel(name)) return fail(invalidName(name));
  auto state = readJobState(name);
  if (!state) return fail(std::move(state).error());
  if (!*state) return fail(notFound(name));
  JobInfo info = describe((*state)->entry);
  if ((*state)->deployment) info.deployment = (*state)->deployment->record;
  info.revision = (*state)->revision;
  // Statuses are reports, not decisions: a failed read leaves them out.
  auto statuses = readStatuses(name);
  for (auto& instance : info.instances) {
    auto it = statuses.find(instance.id);
    // A report from another node is left over from an earlier placement.
    if (it != statuses.end() && it->second.node == instance.node) instance.status = it->second;
  }
  return info;
}

std::map<std::uint32_t, InstanceStatus> ControlPlane::readStatuses(const std::string& name) {
  auto read = readStatusesOrFail(name);
  if (!read) {
    spdlog::warn("cannot read the status of job {}: {}", name, read.error().detail);
    return {};
  }
  return std::move(read).value();
}

Result<std::map<std::uint32_t, InstanceStatus>, Problem> ControlPlane::readStatusesOrFail(
    const std::string& name) {
  std::map<std::uint32_t, InstanceStatus> out;
  auto range = store_.getPrefix(keys::statusOf(name));
  if (!range) return fail(toProblem(range.error()));
  for (const auto& kv : range->kvs) {
    const std::string id(keys::nameUnder(kv.key, keys::statusOf(name)));
    std::uint32_t n = 0;
    auto [ptr, ec] = std::from_chars(id.data(), id.data() + id.size(), n);
    auto status = decodeInstanceStatus(kv.value);
    if (ec != std::errc() || ptr != id.data() + id.size() || !status) continue;
    out.emplace(n, std::move(status).value());
  }
  return out;
}

Result<ClusterOverview, Problem> ControlPlane::overview() {
  ClusterOverview out;
  auto nodes = listNodes();
  if (!nodes) return fail(std::move(nodes).error());
  out.nodes = std::move(nodes).value();
  auto jobs = listJobs();
  if (!jobs) return fail(std::move(jobs).error());
  std::map<std::string, JobOverview, std::less<>> byName;
  for (auto& j : *jobs) {
    std::string name = j.record.spec.name;  // before the record moves
    byName.emplace(std::move(name), JobOverview{std::move(j.record), {}, std::nullopt});
  }
  // Reports and deployments are for people here: an unreadable one is left out.
  if (auto statuses = store_.getPrefix(std::string(keys::kStatus))) {
    for (const auto& kv : statuses->kvs) {
      const auto key = keys::parseStatus(kv.key);
      const auto job = key ? byName.find(key->job) : byName.end();
      auto status = decodeInstanceStatus(kv.value);
      if (job != byName.end() && status) ++job->second.states[status->state];
    }
  }
  if (auto deployments = store_.getPrefix(std::string(keys::kDeployments))) {
    for (const auto& kv : deployments->kvs) {
      const auto job = byName.find(keys::nameUnder(kv.key, keys::kDeployments));
      auto record = decodeDeployment(kv.value);
      if (job != byName.end() && record) job->second.deployment = std::move(record).value();
    }
  }
  for (auto& [name, job] : byName) {
    // A read per job: the log has no cluster-wide order to page through.
    if (out.jobs.size() < kOverviewEventJobs) {
      if (auto page = readEvents(store_, name, EventQuery{kOverviewEvents, 0})) {
        for (auto& e : page->events) out.recentEvents.push_back(std::move(e.event));
      }
    }
    out.jobs.push_back(std::move(job));
  }
  std::sort(out.recentEvents.begin(), out.recentEvents.end(),
            [](const Event& a, const Event& b) { return a.atMs < b.atMs; });
  if (out.recentEvents.size() > kOverviewEvents) {
    out.recentEvents.erase(out.recentEvents.begin(),
                           out.recentEvents.end() - static_cast<std::ptrdiff_t>(kOverviewEvents));
  }
  return out;
}

Result<std::vector<JobInfo>, Problem> ControlPlane::listJobs() {
  auto all = store_.getPrefix(std::string(keys::kJobs));
  if (!all) return fail(toProblem(all.error()));
  std::vector<JobInfo> jobs;
  for (const auto& kv : all->kvs) {
    auto record = decodeJob(kv.value);
    if (!record) {
      // One unreadable job must not hide all the others.
      spdlog::warn("job list: skipping {}: {}", kv.key, record.error());
      continue;
    }
    // The list shows placement counts from the record alone; `job(name)`
    // reads the assignments for the per-instance view.
    jobs.push_back(JobInfo{std::move(record).value(), {}});
  }
  return jobs;
}

}  // namespace ozy
