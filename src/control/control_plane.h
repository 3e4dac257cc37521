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
#include "problem/problem.h"
#include "scheduler/ingress_claims.h"
#include "scheduler/planner.h"
#include "store/store.h"

#include <mutex>

namespace ozy {

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
  // What its node last reported; nothing until the node has looked at it.
  std::optional<InstanceStatus> status;
};

struct JobInfo {
  JobRecord record;
  std::vector<InstanceInfo> instances;  // placed and pending, by id
};

// What a submit, scale or stop did.
struct ChangeResult {
  JobRecord job;
  std::vector<InstancePlacement> placed;
  std::vector<InstancePlacement> removed;
  std::int64_t revision = 0;  // of the commit; 0 for a dry run
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

  Result<ChangeResult, Problem> submit(const Job& job);
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
  // The instances' reports by id (unreadable ones skipped; none if etcd fails).
  std::map<std::uint32_t, InstanceStatus> readStatuses(const std::string& name);
  // What etcd holds under each claim key of `claims` (absent ones missing).
  Result<std::vector<ClaimHolder>, Problem> readClaims(const IngressClaims& claims);
  using PlanFunction = std::function<Result<CommitPlan, Problem>(const ClusterSnapshot&)>;
  // Runs plan() against fresh state until its commit lands or attempts run
  // out. For a submission, `exists` is the answer when the job's key turns
  // out to exist (the commit also requires its absence); else null.
  Result<ChangeResult, Problem> commitWithRetry(const std::string& jobName, const Problem* exists,
                                                const PlanFunction& plan);
  Problem contention(const std::string& jobName) const;
  void backOff(int attempt);

  Store& store_;
  ControlPlaneOptions options_;
  SnapshotCache* cache_;
  // One plan-and-commit at a time per agent: plans made side by side from
  // the same view would pick the same best-fit node and all but one would
  // lose the commit race. Agents still race each other; the Txn settles it.
  std::mutex planMutex_;
};

// A StoreError as the problem the API answers with.
Problem toProblem(const StoreError& error);

}  // namespace ozy
