// RouteTable: what every node's ingress serves, as plain data: for each host
// name and each TCP port, the job and container that claim it and the
// healthy instances that can take its traffic. Pure: built from the job
// records and instance statuses that route_follower.h reads from etcd.
//
// An instance is a backend while its status says healthy and names its
// pod's address; any other state (stopping included: a pod about to stop is
// withdrawn first, docs/ingress.md#draining) takes it out. A job serves a
// host or TCP port only if its record holds the claim (JobRecord::ingress,
// taken race-free when it was submitted): a spec alone claims nothing, so a
// record from before claims existed serves nothing new. Should two records
// claim one anyway (written by hand), the job created first keeps it, so
// every node decides alike.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "job/job.h"
#include "scheduler/records.h"

namespace ozy::ingress {

struct Backend {
  std::uint32_t instance = 0;
  std::string node;
  std::string address;  // the pod's IP address
  std::uint16_t port = 0;
  bool operator==(const Backend&) const = default;
};

// One container's ingress, and where its traffic can go now.
struct Route {
  std::string job;
  std::string container;
  std::vector<Backend> backends;  // healthy instances, by id
  bool operator==(const Route&) const = default;
};

// The job records the table is built from, by job name.
struct RouteJob {
  Job spec;
  std::int64_t createdAtMs = 0;
  IngressClaims claims;  // what the job holds; hosts and ports beyond it are not served
};
using InstanceKey = std::pair<std::string, std::uint32_t>;  // job, instance id

// Lets hosts_ be searched by string_view: no copy per request.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const { return std::hash<std::string_view>{}(text); }
};

class RouteTable {
 public:
  RouteTable() = default;
  // `versionPorts`, when given: per job and version, the port each
  // container with an ingress takes traffic on in that version. During a
  // rolling deploy an instance is sent traffic on its own version's port,
  // and an instance whose version has no ingress for the container none;
  // an instance of a version not listed gets the newest spec's port.
  using VersionPorts = std::map<std::string, std::map<std::uint64_t, std::map<std::string, std::uint16_t>>>;
  static RouteTable build(const std::map<std::string, RouteJob>& jobs,
                          const std::map<InstanceKey, InstanceStatus>& statuses,
                          std::string_view domain, const VersionPorts* versionPorts = nullptr);

  // `host` lowercase and without a port. Null: nobody claims it.
  const Route* http(std::string_view host) const;
  const Route* tcp(std::uint16_t port) const;

  // Routes are numbered 0..routeCount(): per-route state (a balancer's
  // cursor) can live in a vector beside the table.
  std::size_t routeCount() const { return routes_.size(); }
  std::size_t indexOf(const Route* route) const { return static_cast<std::size_t>(route - routes_.data()); }
  const std::vector<Route>& routes() const { return routes_; }
  // Ports of the TCP routes, ascending.
  std::vector<std::uint16_t> tcpPorts() const;
  // Host names served, ascending (for logs and `ozy` output).
  std::vector<std::string> hosts() const;

  bool operator==(const RouteTable&) const = default;

 private:
  std::vector<Route> routes_;
  std::unordered_map<std::string, std::size_t, StringHash, std::equal_to<>> hosts_;
  std::map<std::uint16_t, std::size_t> tcp_;
};

}  // namespace ozy::ingress
