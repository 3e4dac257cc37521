// Turns a decision (submit, scale, stop) into the exact etcd write that
// commits it, guarded by compares on everything the decision read.
//
// Pure: input is a snapshot read at one revision, output is a CommitPlan
// (compares, puts, deletes) or the problem that prevents the change. The
// agent executes the plan in one Txn; if any compare fails, something the
// plan relied on changed, and the agent re-reads, re-plans and retries.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "problem/problem.h"
#include "scheduler/records.h"

namespace ozy {

// A node as the scheduler sees it: live (registered under a lease) or not,
// with its usage key, which outlives the node until its instances are moved,
// and whether it is drained.
struct NodeEntry {
  std::string name;
  bool live = false;
  NodeRecord record;              // valid when live
  // Of the node key. Registration writes it (and with it the capacity the
  // plan used); lease renewals do not, so comparing it costs nothing.
  std::int64_t modRevision = 0;
  UsageRecord usage;
  std::int64_t usageModRevision = 0;  // 0: no usage key yet
  // Of the drain key; 0: the node is not drained. Its value (when, by whom)
  // is for people and plays no part in planning.
  std::int64_t drainModRevision = 0;

  bool drained() const { return drainModRevision != 0; }
};

struct ClusterSnapshot {
  std::int64_t revision = 0;
  std::vector<NodeEntry> nodes;  // sorted by name
  SharedPoolRecord sharedPool;
  std::int64_t sharedPoolModRevision = 0;

  const NodeEntry* find(std::string_view node) const;
};

struct JobEntry {
  JobRecord record;
  std::int64_t modRevision = 0;
  // node -> its assignment of this job (for every node in record.nodes)
  std::vector<std::pair<std::string, Assignment>> assignments;
};

struct KeyCompare {
  enum class Target { kVersion, kCreateRevision, kModRevision };
  std::string key;
  Target target = Target::kModRevision;
  std::int64_t equals = 0;  // version 0 / revision 0: the key does not exist
};

struct KeyPut {
  std::string key;
  std::string value;
};

struct InstancePlacement {
  std::uint32_t id = 0;
  std::string node;
};

struct CommitPlan {
  std::vector<KeyCompare> compares;
  std::vector<KeyPut> puts;
  std::vector<std::string> deletes;
  std::vector<std::string> deletePrefixes;  // every key under each
  // What the plan does, for the API's answer.
  std::vector<InstancePlacement> placed;   // new instances and their nodes
  std::vector<InstancePlacement> removed;  // instances stopped (node empty if pending)
  JobRecord job;                           // the job record after the plan
  // What each usage put encodes, by node, so the agent's cache can take its
  // own commit without decoding what it has just encoded.
  std::map<std::string, UsageRecord> usage;

  std::size_t operationCount() const {
    return puts.size() + deletes.size() + deletePrefixes.size();
  }
};

// A new job: every instance placed or none (insufficient-* problem).
Result<CommitPlan, Problem> planSubmit(const ClusterSnapshot& snapshot, const Job& job,
                                       std::int64_t nowMs);

// Change a job's number of instances. Growing places the new instances all
// or nothing, spreading away from nodes that already run the job; shrinking
// removes pending instances first, then `unhealthy` ones, then instances on
// the fullest nodes.
// `newSpec`, when given, becomes the job's spec (a change of the update
// section alone rides along with a scale); count is then its numInstances.
Result<CommitPlan, Problem> planScale(const ClusterSnapshot& snapshot, const JobEntry& job,
                                      std::uint32_t count,
                                      const std::set<std::uint32_t>& unhealthy = {},
                                      const Job* newSpec = nullptr);

// The job's versions as read with it (VersionRecords at /ozy/versions/), and
// its deployment record, each with its key's mod_revision for the compare.
struct VersionEntry {
  VersionRecord record;
  std::int64_t modRevision = 0;
};
struct DeploymentEntry {
  DeploymentRecord record;
  std::int64_t modRevision = 0;
};

// A new version of a running job (docs/jobs.md#update).
struct UpdateRequest {
  Job spec;
  // The running instances take it in place (the pods stay: only the
  // ingress changed), or a deployment rolls it out.
  bool inPlace = false;
  std::vector<std::string> changes;  // VersionRecord::changes
  std::uint64_t revertOf = 0;        // a revert: the version it brings back
  std::int64_t nowMs = 0;
  std::vector<VersionEntry> versions;  // as stored, any order
  std::optional<DeploymentEntry> deployment;
  // The outcome given to the version an active deployment was rolling out.
  DeploymentOutcome interrupted = DeploymentOutcome::kSuperseded;
  // Versions kept beyond those instances run and the last that succeeded.
  std::size_t versionsKept = 10;
};

// Writes the new version's record, the job record with its spec, and: in
// place, every instance of the newest version moves to the new one (an
// active deployment then rolls that out instead); else a deployment record
// that starts from the current mix, superseding an active one. Versions past
// `versionsKept` go, except those instances run and the newest that
// succeeded. Guarded by the job's, the deployment's and every rewritten
// version's mod_revision. Claims are the caller's (ingress_claims.h).
CommitPlan planUpdate(const ClusterSnapshot& snapshot, const JobEntry& job, const UpdateRequest& update);

// One step of a deployment, as the caller decided it (deploy/deployment_step.h).
struct DeployStepWrite {
  DeploymentEntry deployment;  // as read
  DeploymentRecord next;       // to write; the planner adds the new batch's ids
  std::uint32_t place = 0;     // new instances of the job's version, all or nothing
  std::vector<std::uint32_t> remove;
  // The deployed version's record with its outcome, when the step ends it.
  std::optional<VersionEntry> version;
  std::int64_t nowMs = 0;
};

// Places and removes as the step says, guarded by the job's and the
// deployment's mod_revision; insufficient-* when the batch does not fit.
Result<CommitPlan, Problem> planDeployStep(const ClusterSnapshot& snapshot, const JobEntry& job,
                                           const DeployStepWrite& step);

// Remove a job, its assignments, and what they held, with its versions and
// its deployment.
CommitPlan planStop(const ClusterSnapshot& snapshot, const JobEntry& job);

// Re-place a job's instances on nodes that are gone (not live in the
// snapshot) and its pending ones: as many as fit go to live nodes, spread
// away from those already running the job; the rest stay pending. The gone
// nodes' assignments and usage give back what those instances held. The
// plan stays within `maxOperations` (etcd's --max-txn-ops): gone nodes and
// placements beyond it wait for a later round, the latter as pending. An
// empty plan (no writes) when nothing would move.
CommitPlan planReplace(const ClusterSnapshot& snapshot, const JobEntry& job,
                       std::size_t maxOperations);

}  // namespace ozy
