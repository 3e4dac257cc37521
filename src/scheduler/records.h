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

// /ozy/assignments/<node>/<job>: the node's instances of the job, with what
// each one holds (recorded at placement, so usage can be given back exactly
// even after the job's spec changes).
struct Assignment {
  std::string job;
  std::uint64_t jobVersion = 0;
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
  Job spec;
  std::uint64_t version = 1;        // bumps on every change of the spec or its scale
  std::vector<std::string> nodes;   // nodes holding assignments of this job, sorted
  std::vector<std::uint32_t> pending;  // instance ids waiting for room
  Bytes sharedSpace = 0;            // drawn from the shared pool
  std::int64_t createdAtMs = 0;
  // Absent in records written before ingress claims existed: such a job
  // holds none, even if its spec now reads as having an ingress.
  IngressClaims ingress;
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

std::string encode(const NodeRecord& record);
std::string encode(const UsageRecord& record);
std::string encode(const Assignment& record);
std::string encode(const JobRecord& record);
std::string encode(const SharedPoolRecord& record);
std::string encode(const InstanceStatus& record);
std::string encode(const DrainRecord& record);

Result<NodeRecord, std::string> decodeNode(std::string_view text);
Result<UsageRecord, std::string> decodeUsage(std::string_view text);
Result<Assignment, std::string> decodeAssignment(std::string_view text);
Result<JobRecord, std::string> decodeJob(std::string_view text);
Result<SharedPoolRecord, std::string> decodeSharedPool(std::string_view text);
Result<InstanceStatus, std::string> decodeInstanceStatus(std::string_view text);
Result<DrainRecord, std::string> decodeDrain(std::string_view text);

nlohmann::json toJson(const Resources& resources);

}  // namespace ozy
