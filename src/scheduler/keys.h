// The etcd key layout (docs/internals.md explains it). Every key is built
// here and nowhere else; names reach these functions only after validation
// (job names are DNS labels, node names host names), so no name can contain
// '/' and address another key prefix.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ozy::keys {

inline constexpr std::string_view kRoot = "/ozy/";

// Node registrations, each under the node's lease: the key vanishes when the
// node stops renewing it.
inline constexpr std::string_view kNodes = "/ozy/nodes/";
// Per node: the sum of what its assignments use. Not under a lease. Every
// commit that changes a node's assignments compares this key's mod_revision
// and rewrites it: the fence that stops two schedulers overcommitting a node.
inline constexpr std::string_view kUsage = "/ozy/usage/";
// Job specs and their schedule summary.
inline constexpr std::string_view kJobs = "/ozy/jobs/";
// Per node per job: that node's instances of the job. A node watches
// kAssignments + node + "/" and nothing else.
inline constexpr std::string_view kAssignments = "/ozy/assignments/";
// Per instance: what the node running it reports (state, reason, restarts),
// under that node's lease, so a dead node's reports vanish with it.
inline constexpr std::string_view kStatus = "/ozy/status/";
// The cluster-wide shared volume pool: capacity and use (a fence like kUsage).
inline constexpr std::string_view kSharedPool = "/ozy/cluster/shared-pool";
// Per node: present while the node is drained (`ozy node drain`): it takes
// no new instances and its instances are moved to other nodes. Not under a
// lease, so it outlives the node's registration and restarts; only an
// undrain removes it. A commit that moves instances off a live drained node
// compares this key's mod_revision, so an undrain in between wins.
inline constexpr std::string_view kDrain = "/ozy/drain/";

// Cluster-wide claims of what every node's ingress serves, each holding the
// name of the job that has it (docs/ingress.md): a host name the HTTP
// ingress routes by, and a TCP port the ingress listens on. Not under a
// lease. The commit that creates a job requires each of its claims to be
// absent (or the job's already) and writes them; the one that stops it
// deletes them. Host names reach ingressHost() validated (parseIngressHost,
// or a job name under a checked cluster domain), so they hold no '/'.
inline constexpr std::string_view kIngressHosts = "/ozy/ingress/hosts/";
inline constexpr std::string_view kIngressTcp = "/ozy/ingress/tcp/";

// Per job: its versions (one key each, /ozy/versions/<job>/<n>) and its
// newest deployment. Not under a lease; written by the commits that change
// the job, deleted with it.
inline constexpr std::string_view kVersions = "/ozy/versions/";
inline constexpr std::string_view kDeployments = "/ozy/deployments/";

// Per job: its event log (src/events), one key per event,
// /ozy/events/<job>/<atMs>-<writer node>-<serial>. Every node writes events
// without coordinating with the others, so a key is unique by who wrote it:
// the writer's node name and a serial of its own (its incarnation and a
// counter). The time, zero-padded, comes first so that key order is time
// order (by the writers' clocks). Each key is under a lease of its writer
// (age retention, docs/internals.md#event-log), and deleted with the job.
inline constexpr std::string_view kEvents = "/ozy/events/";
// The widest time an event key holds: 13 digits of milliseconds (the year
// 2286). Times outside [0, this] are clamped so that every key has the
// same width and sorts by time.
inline constexpr std::int64_t kMaxEventMs = 9'999'999'999'999;

std::string node(std::string_view name);
std::string usage(std::string_view node);
std::string drain(std::string_view node);
std::string job(std::string_view name);
std::string assignment(std::string_view node, std::string_view job);
std::string assignmentsOf(std::string_view node);  // prefix, ends in '/'
std::string status(std::string_view job, std::uint32_t id);
std::string statusOf(std::string_view job);  // prefix, ends in '/'
std::string version(std::string_view job, std::uint64_t n);
std::string versionsOf(std::string_view job);  // prefix, ends in '/'
std::string deployment(std::string_view job);
std::string eventsOf(std::string_view job);  // prefix, ends in '/'
// `node` is the writer's (a host name), `serial` unique among its keys.
std::string event(std::string_view job, std::int64_t atMs, std::string_view node,
                  std::uint64_t serial);
std::string ingressHost(std::string_view host);
std::string ingressTcp(std::uint16_t port);

// The last path segment of a key under `prefix` ("/ozy/nodes/a" -> "a").
std::string_view nameUnder(std::string_view key, std::string_view prefix);

// The job and instance id of a status key; nullopt for any other key.
struct StatusKey {
  std::string_view job;
  std::uint32_t id = 0;
};
std::optional<StatusKey> parseStatus(std::string_view key);

// The parts of an event key; nullopt for any other key.
struct EventKey {
  std::string_view job{};
  std::int64_t atMs = 0;
  std::string_view node{};
  std::uint64_t serial = 0;
};
std::optional<EventKey> parseEvent(std::string_view key);

}  // namespace ozy::keys
