// InstanceApi: an instance's logs and exec, through any agent's API
// (docs/api.md#logs-and-exec).
//
// The agent that takes the request finds the instance's node in etcd. If it
// is this node, it reads the container's log (streamed, chunked) or runs the
// command through its own container engine; otherwise it relays the request
// to that node's agent (its API URL from the node's registration), with the
// cluster's token, and relays the answer back. A relayed request carries
// X-Ozy-Relayed-By and is never relayed again: a node that no longer runs
// the instance says so (instance-not-running).
//
// Exec runs only where the node's operator allows it (--allow-exec), and
// every exec is logged with who asked. Logs need only the API's token, like
// everything else the API shows.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "control/control_plane.h"
#include "http/client.h"
#include "http/message.h"
#include "runtime/runtime.h"

namespace ozy::api {

struct InstanceApiConfig {
  std::string node;                              // this agent's node
  // This node's container engine; null (or empty) while it runs nothing:
  // before it has started, or with --runtime none.
  std::function<runtime::ContainerRuntime*()> runtime;
  bool allowExec = false;
  // For relaying to other agents: the cluster's token, and the CA bundle
  // their TLS certificates are checked against (empty: the system's).
  std::string token;
  std::string peerCa;
  // Relayed requests: connecting and the answer's header (a log's body
  // then has no deadline), and a relayed exec's whole answer beyond its
  // command's own timeout.
  std::chrono::milliseconds relayTimeout{std::chrono::seconds(10)};
  std::function<std::int64_t()> nowMs;  // wall clock, for a log's `since`
  // This node's address (--address): a node whose API is on a loopback
  // address is relayed to only from its own host, so the token never goes
  // to a loopback port of another machine's choosing.
  std::string address;
  // Execs run or relayed at once; beyond them the answer is 503.
  std::size_t maxExecs = 2;
};

class InstanceApi {
 public:
  InstanceApi(ControlPlane& control, InstanceApiConfig config);

  // GET /v1/jobs/NAME/instances/ID/logs
  http::Response logs(const http::Request& req, const std::string& job, const std::string& id);
  // POST /v1/jobs/NAME/instances/ID/exec
  http::Response exec(const http::Request& req, const std::string& job, const std::string& id);

 private:
  struct Target;
  Result<Target, Problem> locate(const http::Request& req, const std::string& job, const std::string& id,
                                 const std::string& container);
  http::Response relay(const http::Request& req, const Target& target, bool stream);

  ControlPlane& control_;
  InstanceApiConfig config_;
  std::atomic<std::size_t> execs_{0};
};

}  // namespace ozy::api
