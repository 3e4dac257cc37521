// RFC 7807 problem documents as plain data.
//
// Every error a user can meet (an invalid job, a job that does not fit) is a
// Problem: the CLI prints it, and the API (later) sends it as
// application/problem+json. Each `type` is a slug whose URI points at a heading
// of docs/errors.md, which explains the cause and the fix.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ozy {

// Problem type URIs are relative references to the project's error
// documentation; an agent's API serves docs/errors.md at this path, so the
// reference resolves against whichever node answered.
inline constexpr std::string_view kProblemTypeBase = "/docs/errors.md#";

struct ProblemType {
  std::string_view slug;   // heading anchor in docs/errors.md
  std::string_view title;  // short, the same for every occurrence of the type
  int status;              // HTTP status the API answers with
};

// The catalogue. Keep docs/errors.md in step: a unit test checks that every
// slug here has a heading there.
namespace problems {
inline constexpr ProblemType kInvalidJob{"invalid-job", "Invalid job", 422};
inline constexpr ProblemType kJobFileTooLarge{"job-file-too-large", "Job file too large", 413};
inline constexpr ProblemType kInsufficientMemory{"insufficient-memory",
                                                 "Insufficient memory for job", 422};
inline constexpr ProblemType kInsufficientDisk{"insufficient-disk", "Insufficient disk for job",
                                               422};
inline constexpr ProblemType kInsufficientPorts{"insufficient-ports",
                                                "Insufficient host ports for job", 422};
inline constexpr ProblemType kInsufficientSharedSpace{
    "insufficient-shared-space", "Insufficient shared volume space for job", 422};
inline constexpr ProblemType kInvalidCluster{"invalid-cluster", "Invalid cluster description",
                                             422};
inline constexpr ProblemType kJobExists{"job-exists", "Job already exists", 409};
inline constexpr ProblemType kJobNotFound{"job-not-found", "No such job", 404};
inline constexpr ProblemType kInvalidJobName{"invalid-job-name", "Invalid job name", 400};
inline constexpr ProblemType kInvalidScale{"invalid-scale", "Invalid number of instances", 422};
inline constexpr ProblemType kStoreUnavailable{"store-unavailable", "Cluster state store unavailable",
                                               503};
inline constexpr ProblemType kScheduleContention{"schedule-contention",
                                                 "Schedule changed too often to commit", 503};
inline constexpr ProblemType kTransactionTooLarge{"transaction-too-large",
                                                  "Change too large for one transaction", 422};
inline constexpr ProblemType kCorruptState{"corrupt-state", "Unreadable cluster state", 500};
inline constexpr ProblemType kCapabilityNotAllowed{"capability-not-allowed",
                                                   "Capability not allowed", 403};
inline constexpr ProblemType kNodeNotFound{"node-not-found", "No such node", 404};
inline constexpr ProblemType kInvalidNodeName{"invalid-node-name", "Invalid node name", 400};
// Cluster-wide claims of what every node's ingress serves (docs/ingress.md).
inline constexpr ProblemType kIngressHostTaken{"ingress-host-taken",
                                               "Ingress host name taken", 409};
inline constexpr ProblemType kIngressPortTaken{"ingress-port-taken", "Ingress TCP port taken",
                                               409};
// Versions and deployments (docs/jobs.md#update).
inline constexpr ProblemType kVersionNotFound{"version-not-found", "No such job version", 404};
inline constexpr ProblemType kNotPromotable{"deployment-not-promotable",
                                            "Deployment cannot be promoted", 409};
// An instance's logs and exec (docs/api.md#logs-and-exec).
inline constexpr ProblemType kInstanceNotFound{"instance-not-found", "No such instance", 404};
inline constexpr ProblemType kContainerNotFound{"container-not-found", "No such container", 404};
inline constexpr ProblemType kInstanceNotRunning{"instance-not-running", "Instance not running", 409};
inline constexpr ProblemType kExecNotAllowed{"exec-not-allowed", "Exec not allowed", 403};
inline constexpr ProblemType kNodeUnreachable{"node-unreachable", "Node unreachable", 502};
inline constexpr ProblemType kExecTimeout{"exec-timeout", "Command timed out", 504};
// The pod network (src/network, docs/network.md).
inline constexpr ProblemType kInvalidNetworkConfig{"invalid-network-config",
                                                   "Invalid pod network config", 422};
inline constexpr ProblemType kNetworkConfigInUse{"network-config-in-use",
                                                 "Pod network config in use", 409};
inline constexpr ProblemType kNetworkNotInitialised{"network-not-initialised",
                                                    "Pod network not initialised", 409};

inline constexpr ProblemType kAll[] = {
    kInvalidJob,         kJobFileTooLarge,  kInsufficientMemory, kInsufficientDisk,
    kInsufficientPorts,  kInsufficientSharedSpace, kInvalidCluster, kJobExists,
    kJobNotFound,        kInvalidJobName,   kInvalidScale,       kStoreUnavailable,
    kScheduleContention, kTransactionTooLarge, kCorruptState, kCapabilityNotAllowed,
    kNodeNotFound, kInvalidNodeName, kInvalidNetworkConfig, kNetworkConfigInUse,
    kNetworkNotInitialised, kIngressHostTaken, kIngressPortTaken, kVersionNotFound,
    kNotPromotable, kInstanceNotFound, kContainerNotFound, kInstanceNotRunning, kExecNotAllowed,
    kNodeUnreachable, kExecTimeout};
}  // namespace problems

// One thing wrong with a field of an input document, e.g.
// {"containers.app.memory", "\"2X\" is not a size"}. Line and column are
// 1-based positions in the source text, 0 when unknown.
struct FieldError {
  std::string path;
  std::string message;
  int line = 0;
  int column = 0;

  std::string toString() const;  // "containers.app.memory: \"2X\" is not a size (line 12)"
};

struct Problem {
  ProblemType type;
  std::string detail;
  // Extension members such as "job" or "errors"; always a JSON object.
  nlohmann::json extensions = nlohmann::json::object();

  std::string typeUri() const;
  nlohmann::json toJson() const;
  // Serialised; bytes that are not UTF-8 (a user's key quoted in a message)
  // become U+FFFD instead of failing the whole document.
  std::string dump(int indent = -1) const;
};

Problem makeProblem(ProblemType type, std::string detail,
                    nlohmann::json extensions = nlohmann::json::object());

// A problem listing every field error, e.g. an invalid job; `errors` becomes
// an extension member with one {path, message, line, column} object each.
Problem makeFieldProblem(ProblemType type, std::string detail,
                         const std::vector<FieldError>& errors,
                         nlohmann::json extensions = nlohmann::json::object());

nlohmann::json toJson(const FieldError& error);

}  // namespace ozy
