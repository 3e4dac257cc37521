// The control plane's operations on cluster state: read a consistent
// snapshot from the store, let the planner decide, commit the plan in one
// guarded Txn, and on a lost race re-read, re-plan and retry (bounded).
//
// Every agent runs one; the HTTP API calls it. It owns no threads. Errors are
// Problems, ready for the API: a store outage is store-unavailable (503),
// never a hang, because every store call has a deadline.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "events/event_reader.h"
#include "problem/problem.h"
#include "scheduler/ingress_claims.h"
#include "scheduler/planner.h"
#include "store/store.h"

#include <atomic>
#include <mutex>

namespace ozy::metrics {
class Metrics;
}

namespace ozy {

class EventLog;

struct ControlPlaneOptions {
  int maxAttempts = 16;  // commits tried before schedule-contention
  // etcd's --max-txn-ops: a plan needing more operations is refused with
  // transaction-too-large instead of failing inside etcd.
  std::size_t maxTxnOps = 128;
  std::function<std::int64_t()> nowMs;                      // wall clock, for records
  std::function<void(std::chrono::milliseconds)> sleep;     // back-off between attempts
  std::function<std::uint64_t()> random;                    // jitter
  // The cluster's DNS domain (ozy agent --domain): a job's default ingress
  // host is <job>.<domain>, claimed when the job is submitted. A DNS domain
  // or empty (no default hosts); every agent of a cluster must agree on it.
  std::string domain = "ozy.local";
  // Versions kept per job beyond those instances run and the newest that
  // succeeded (ozy agent --versions-kept).
  std::size_t versionsKept = 10;
  // Blocking reads waiting at once (waitForJobChange): half the API's
  // handler threads, so waiting never takes them all.
  int maxWaiting = 4;
  // Commit outcomes and times, by operation; null: not measured.
  metrics::Metrics* metrics = nullptr;
  // Where this agent's commits record what they did to instances (placed,
  // pending, re-placed, removed, deployment steps); null: nowhere.
  EventLog* events = nullptr;
};

struct NodeInfo {
  NodeRecord record;
  UsageRecord usage;
  std::int64_t lease = 0;
  std::optional<DrainRecord> drain;  // while the node is drained
};

// A node's drain after `ozy node drain` or `undrain`. The node may have left
// (a drain outlives the registration): `live` says whether it is registered.
struct DrainResult {
  std::string node;
  bool live = false;
  UsageRecord usage;                 // what it still holds
  std::optional<DrainRecord> drain;  // after the change; none once undrained
  bool changed = false;              // false when it already was so
};

struct InstanceInfo {
  std::uint32_t id = 0;
  std::string node;  // empty while pending
  std::uint64_t version = 0;  // the job version it runs; the job's newest while pending
  // What its node last reported; nothing until the node has looked at it.
  std::optional<InstanceStatus> status;
};

struct JobInfo {
  JobRecord record;
  std::vector<InstanceInfo> instances;  // placed and pending, by id
  std::optional<DeploymentRecord> deployment = std::nullopt;  // the newest, by job()
  std::int64_t revision = 0;  // the store revision job() read at
};

// One job at a glance, for `ozy status`.
struct JobOverview {
  JobRecord record;
  std::map<InstanceState, std::uint32_t> states;  // instances by the state their node reports
  std::optional<DeploymentRecord> deployment = std::nullopt;
};

struct ClusterOverview {
  std::vector<NodeInfo> nodes;
  std::vector<JobOverview> jobs;
  // The newest events of all jobs together, oldest first (of the first
  // kOverviewEventJobs jobs by name, kOverviewEvents at most).
  std::vector<Event> recentEvents;
};
inline constexpr std::size_t kOverviewEvents = 10;
inline constexpr std::size_t kOverviewEventJobs = 20;

// What running a job file did to the job (docs/jobs.md#update).
enum class JobChange {
  kCreated,    // a new job
  kUnchanged,  // the same spec: nothing was written
  kScaled,     // only numInstances or the update section
  kUpdated,    // a new version the running instances took in place
  kDeploying,  // a new version, rolled out by a deployment
  kOther,      // scale, stop, re-placement, a deployment's step
};
std::string_view toString(JobChange change);

// What a submit, scale or stop did.
struct ChangeResult {
  JobRecord job;
  std::vector<InstancePlacement> placed;
  std::vector<InstancePlacement> removed;
  std::int64_t revision = 0;  // of the commit; 0 for a dry run
  JobChange change = JobChange::kOther;
  std::optional<DeploymentRecord> deployment = std::nullopt;  // the one the change started
};

// What one look at a deployment did.
struct DeployStepResult {
  bool active = false;  // the deployment still runs (or waits for promotion)
  bool wrote = false;
  // When the deployment wants its next look at the latest (0: any time).
  std::int64_t lookAgainAtMs = 0;
};

class SnapshotCache;

class ControlPlane {
 public:
  // `cache` (optional, not owned) serves the first planning attempt of each
  // change without a read; any doubt falls back to reading etcd.
  ControlPlane(Store& store, ControlPlaneOptions options, SnapshotCache* cache = nullptr);

  Result<std::vector<NodeInfo>, Problem> listNodes();
  Result<std::vector<JobInfo>, Problem> listJobs();
  Result<JobInfo, Problem> job(const std::string& name);
  // The nodes and every job with its instances by state and its
  // deployment: four reads, whatever the cluster's size (not at one
  // revision: a glance, not a decision).
  Result<ClusterOverview, Problem> overview();

  // Creates the job, or updates it when it exists: unchanged, a scale, a
  // new version taken in place, or a new version and its deployment.
  Result<ChangeResult, Problem> submit(const Job& job);
  // Runs version `version` of the job again, as a new version.
  Result<ChangeResult, Problem> revert(const std::string& name, std::uint64_t version);
  // Lets a deployment waiting on healthy canaries go on.
  Result<DeploymentRecord, Problem> promote(const std::string& name);
  // One look at the job's deployment: decide (deploy/deployment_step.h) and
  // commit the step, if any.
  Result<DeployStepResult, Problem> deployStep(const std::string& name);
  // The job's kept versions, oldest first; one of them.
  Result<std::vector<VersionRecord>, Problem> versions(const std::string& name);
  Result<VersionRecord, Problem> version(const std::string& name, std::uint64_t version);
  // Waits until the job's record, deployment or an instance's report
  // changes after `revision`, or `timeout` passes: what a blocking read of
  // a deployment waits on. At most options.maxWaiting wait at once (each
  // holds an API thread); the others return at once.
  void waitForJobChange(const std::string& name, std::int64_t revision,
                        std::chrono::milliseconds timeout);
  // The job's event log (events/event_reader.h): the newest query.limit
  // events, or those etcd took after query.afterRevision. job-not-found
  // when the job does not exist (its log goes with it).
  Result<EventPage, Problem> events(const std::string& name, const EventQuery& query);
  // Waits until etcd takes an event of the job after `revision`, or
  // `timeout` passes: what a blocking read of the job's events waits on.
  // Takes one of the same options.maxWaiting slots as waitForJobChange.
  void waitForEvents(const std::string& name, std::int64_t revision,
                     std::chrono::milliseconds timeout);
  // What submit() would do, committing nothing.
  Result<ChangeResult, Problem> planOnly(const Job& job);
  Result<ChangeResult, Problem> scale(const std::string& name, std::uint32_t count);
  Result<ChangeResult, Problem> stop(const std::string& name);
  // Moves `name`'s instances off nodes that are gone or drained and places
  // its pending ones, as many as fit (planReplace). Revision 0 when nothing
  // moved, including when the job no longer exists.
  Result<ChangeResult, Problem> replace(const std::string& name);
  // The jobs replace() would act on: those naming one of `nodesToVacate`
  // that is gone or drained, and, with `pending`, those with pending
  // instances.
  Result<std::vector<std::string>, Problem> jobsToReplace(
      const std::set<std::string>& nodesToVacate, bool pending);

  // Marks `node` drained (`by`: the node whose API took the request): no new
  // instances go there, and the replacers move its instances off. Known
  // nodes only (registered, holding usage, or drained already:
  // node-not-found otherwise). Idempotent: draining a drained node keeps
  // its first record.
  Result<DrainResult, Problem> drain(const std::string& node, const std::string& by);
  // Ends a drain: the node takes new instances again; nothing moves back.
  Result<DrainResult, Problem> undrain(const std::string& node);

  // The consistent read every decision starts from (public for tests).
  Result<ClusterSnapshot, Problem> snapshot();

 private:
  Result<std::optional<JobEntry>, Problem> readJob(const std::string& name);
  // The job with its versions and deployment, read at one revision.
  struct JobState {
    JobEntry entry;
    std::vector<VersionEntry> versions;
    std::optional<DeploymentEntry> deployment;
    std::int64_t revision = 0;
  };
  Result<std::optional<JobState>, Problem> readJobState(const std::string& name);
  // An existing job given a new spec (submit(), revert()).
  Result<ChangeResult, Problem> update(const Job& job, std::uint64_t revertOf);
  // The plan of a new version, with its ingress claims moved.
  Result<CommitPlan, Problem> planNewVersion(const ClusterSnapshot& snap, const JobState& state,
                                             const Job& spec, bool inPlace,
                                             std::uint64_t revertOf, DeploymentOutcome interrupted);
  // The instances' reports by id (unreadable ones skipped; none if etcd fails).
  std::map<std::uint32_t, InstanceStatus> readStatuses(const std::string& name);
  Result<std::map<std::uint32_t, InstanceStatus>, Problem> readStatusesOrFail(const std::string& name);
  // What etcd holds under each claim key of `claims` (absent ones missing).
  Result<std::vector<ClaimHolder>, Problem> readClaims(const IngressClaims& claims);
  using PlanFunction = std::function<Result<CommitPlan, Problem>(const ClusterSnapshot&)>;
  // Runs plan() against fresh state until its commit lands or attempts run
  // out. For a submission, `exists` is the answer when the job's key turns
  // out to exist (the commit also requires its absence); else null.
  // `operation` names the change in the metrics ("submit", "scale", ...).
  Result<ChangeResult, Problem> commitWithRetry(std::string_view operation, const std::string& jobName,
                                                const Problem* exists, const PlanFunction& plan);
  Problem contention(const std::string& jobName) const;
  // Records in the job's events what a commit did to its instances.
  void recordCommit(std::string_view operation, const std::string& jobName, const CommitPlan& plan);
  void backOff(int attempt);

  Store& store_;
  ControlPlaneOptions options_;
  SnapshotCache* cache_;
  // One plan-and-commit at a time per agent: plans made side by side from
  // the same view would pick the same best-fit node and all but one would
  // lose the commit race. Agents still race each other; the Txn settles it.
  std::mutex planMutex_;
  std::atomic<int> waiting_{0};
};

// A StoreError as the problem the API answers with.
Problem toProblem(const StoreError& error);

}  // namespace ozy
