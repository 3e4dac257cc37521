// The values stored under the keys of keys.h, as plain structs with their
// JSON forms. Decoding is strict and returns an error naming the key's kind,
// because a value in etcd may have been written by another version or by hand.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "job/job.h"
#include "placement/cluster.h"

namespace ozy {

// /ozy/nodes/<node>: a live node, under its lease.
struct NodeRecord {
  std::string name;
  std::string address;  // where its instances publish ports
  std::string api;      // its API base URL, e.g. http://10.0.0.5:7700
  Resources capacity;
  std::int64_t startedAtMs = 0;
  // Host ports the node keeps for itself (its agent's API, a local etcd, its
  // DNS responder): placement counts them as taken. Sorted; absent in the
  // records of agents from before it existed.
  std::vector<HostPort> reservedPorts;
  bool operator==(const NodeRecord&) const = default;
};

// /ozy/usage/<node>: the sum over the node's assignments.
struct UsageRecord {
  Resources used;
  std::vector<HostPort> ports;  // sorted; a port appears once per instance publishing it
  std::uint32_t instances = 0;
  bool operator==(const UsageRecord&) const = default;
};

// The node's instances of one version of the job, with what each one holds
// (recorded at placement, so usage can be given back exactly even after the
// job's spec changes). The key /ozy/assignments/<node>/<job> holds one per
// version the node runs, oldest first (encodeAssignments): two during a
// rolling deploy, one otherwise, so a commit still touches one key per node.
struct Assignment {
  std::string job;
  std::uint64_t version = 1;  // the job version (JobRecord::specVersion) they run
  std::vector<std::uint32_t> instances;  // instance ids, sorted
  Resources perInstance;
  std::vector<HostPort> hostPorts;
  bool operator==(const Assignment&) const = default;
};

// The ingress claims a job holds (keys::kIngressHosts, keys::kIngressTcp),
// recorded when it takes them, so that stopping it gives back exactly those
// whatever the cluster domain is by then (as an Assignment records what its
// instances hold).
struct IngressClaims {
  std::vector<std::string> hosts;  // sorted, each once; the default host resolved
  std::vector<std::uint16_t> tcp;  // sorted, each once
  bool empty() const { return hosts.empty() && tcp.empty(); }
  bool operator==(const IngressClaims&) const = default;
};

// /ozy/jobs/<job>: the spec and a summary of its schedule.
struct JobRecord {
  Job spec;  // of the newest version, which new instances run
  std::uint64_t version = 1;        // bumps on every change of the record
  std::vector<std::string> nodes;   // nodes holding assignments of this job, sorted
  std::vector<std::uint32_t> pending;  // instance ids waiting for room
  Bytes sharedSpace = 0;            // drawn from the shared pool
  std::int64_t createdAtMs = 0;
  // Absent in records written before ingress claims existed: such a job
  // holds none, even if its spec now reads as having an ingress.
  IngressClaims ingress;
  // The job version users see (`ozy job history`): bumps when the spec
  // changes; /ozy/versions/<job>/<n> keeps each one's spec. Records written
  // before versions existed read as version 1.
  std::uint64_t specVersion = 1;
  bool operator==(const JobRecord&) const = default;
};

// /ozy/status/<job>/<id>: how the instance is doing on its node.
// kPulling: the node is pulling an image the instance needs (the reason
// names it). kUnknown: the node's container engine does not answer, so
// nobody can say. kStopping: the instance's pod is about to stop (its job
// no longer wants it here, or a new spec replaces it); it is withdrawn from
// DNS and the ingress, and finishes what it serves during the node's drain
// delay before it gets SIGTERM.
enum class InstanceState {
  kPending,
  kPulling,
  kStarting,
  kHealthy,
  kUnhealthy,
  kFailed,
  kUnknown,
  kStopping
};
std::string_view toString(InstanceState state);

struct InstanceStatus {
  std::string node;
  InstanceState state = InstanceState::kPending;
  std::string reason;          // why it is in that state, for people
  std::uint32_t restarts = 0;  // restarts the node has made of its containers
  std::string podIp;           // empty until the pod runs
  std::int64_t sinceMs = 0;    // when it entered the state
  // The job version the node runs it with; 0 in reports from before
  // versions existed.
  std::uint64_t version = 0;
  bool operator==(const InstanceStatus&) const = default;
};

// /ozy/cluster/shared-pool
struct SharedPoolRecord {
  Bytes capacity = 0;
  Bytes used = 0;
  bool operator==(const SharedPoolRecord&) const = default;
};

// /ozy/drain/<node>: the node is drained; when, and through which agent's
// API, for people reading `ozy node list`.
struct DrainRecord {
  std::int64_t sinceMs = 0;
  std::string by;  // the node whose API took the request
  bool operator==(const DrainRecord&) const = default;
};

// How a version's deployment ended, or that it is under way (kNone: the
// version needed no deployment, e.g. the first one, or an ingress change
// the running instances took in place).
enum class DeploymentOutcome { kNone, kRunning, kSucceeded, kFailed, kSuperseded };
std::string_view toString(DeploymentOutcome outcome);

// /ozy/versions/<job>/<n>: one version of the job, kept for history and
// reverts (the newest `versionsKept`, and every version instances still
// run), and read by the nodes running its instances. Immutable apart from
// `outcome`.
struct VersionRecord {
  std::uint64_t version = 1;
  Job spec;
  std::int64_t submittedAtMs = 0;
  // What changed from the version before, as short "path: old -> new" lines.
  std::vector<std::string> changes;
  DeploymentOutcome outcome = DeploymentOutcome::kNone;
  std::uint64_t revertOf = 0;  // the version this one brought back; 0: none
  bool operator==(const VersionRecord&) const = default;
};

// Where a deployment stands. kPaused: its canaries are healthy and it waits
// for `ozy job promote`.
enum class DeploymentState { kRunning, kPaused, kSucceeded, kFailed, kSuperseded };
std::string_view toString(DeploymentState state);

// /ozy/deployments/<job>: the job's newest deployment, driven one guarded
// step at a time by whichever agent is ranked first for it
// (docs/operations.md#deployments). Kept after it ends, until the next.
struct DeploymentRecord {
  std::uint64_t version = 0;      // the version it rolls out
  std::uint64_t fromVersion = 0;  // the newest version before it
  DeploymentState state = DeploymentState::kRunning;
  UpdatePolicy policy;            // the target version's update section
  std::int64_t startedAtMs = 0;
  std::int64_t updatedAtMs = 0;
  // It fails if no batch completes before this (progress_deadline after the
  // start or the last batch that completed).
  std::int64_t progressDeadlineMs = 0;
  // The batch placed and not yet healthy for min_healthy_time, and when.
  std::vector<std::uint32_t> batch;
  std::int64_t batchPlacedAtMs = 0;
  bool canaryBatch = false;    // the batch holds the canaries
  bool promoted = false;       // `ozy job promote` was given
  // Old instances it removed and whose pods may still hold host ports;
  // a job publishing host ports places its next batch once they are gone.
  std::vector<std::uint32_t> removing;
  std::uint32_t batchesDone = 0;
  // What it waits for now, or why it failed, for people.
  std::string message;
  // Set on the deployment of an automatic revert: the version that failed.
  std::uint64_t revertsFailed = 0;
  bool operator==(const DeploymentRecord&) const = default;

  bool active() const {
    return state == DeploymentState::kRunning || state == DeploymentState::kPaused;
  }
};

std::string encode(const NodeRecord& record);
std::string encode(const UsageRecord& record);
std::string encode(const std::vector<Assignment>& groups);  // one key's groups
std::string encode(const JobRecord& record);
std::string encode(const SharedPoolRecord& record);
std::string encode(const InstanceStatus& record);
std::string encode(const DrainRecord& record);
std::string encode(const VersionRecord& record);
std::string encode(const DeploymentRecord& record);
nlohmann::json toJson(const DeploymentRecord& record);
nlohmann::json toJson(const VersionRecord& record);

Result<NodeRecord, std::string> decodeNode(std::string_view text);
Result<UsageRecord, std::string> decodeUsage(std::string_view text);
// One key's groups, oldest version first. The single group of a key written
// before versions existed reads as version 1.
Result<std::vector<Assignment>, std::string> decodeAssignments(std::string_view text);
Result<JobRecord, std::string> decodeJob(std::string_view text);
Result<SharedPoolRecord, std::string> decodeSharedPool(std::string_view text);
Result<InstanceStatus, std::string> decodeInstanceStatus(std::string_view text);
Result<DrainRecord, std::string> decodeDrain(std::string_view text);
Result<VersionRecord, std::string> decodeVersion(std::string_view text);
Result<DeploymentRecord, std::string> decodeDeployment(std::string_view text);

nlohmann::json toJson(const Resources& resources);

}  // namespace ozy
