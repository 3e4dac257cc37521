#include "ingress/route_table.h"

#include <algorithm>
#include <tuple>

namespace ozy::ingress {

namespace {

// Who keeps a host or port that several jobs claim: the job created first,
// then the lower name, so that every node's ingress agrees.
struct Claimant {
  std::int64_t createdAtMs = 0;
  std::string job;
  bool before(const Claimant& other) const {
    return std::tie(createdAtMs, job) < std::tie(other.createdAtMs, other.job);
  }
};

}  // namespace

RouteTable RouteTable::build(const std::map<std::string, RouteJob>& jobs,
                             const std::map<InstanceKey, InstanceStatus>& statuses,
                             std::string_view domain, const VersionPorts* versionPorts) {
  RouteTable table;
  std::unordered_map<std::string, Claimant> hostClaims;
  std::map<std::uint16_t, Claimant> tcpClaims;
  for (const auto& [name, job] : jobs) {
    const Claimant claimant{job.createdAtMs, name};
    for (const Container& container : job.spec.containers) {
      if (!container.ingress) continue;
      const Ingress& ingress = *container.ingress;
      Route route;
      route.job = name;
      route.container = container.name;
      const std::map<std::uint64_t, std::map<std::string, std::uint16_t>>* byVersion = nullptr;
      if (versionPorts) {
        if (auto found = versionPorts->find(name); found != versionPorts->end()) byVersion = &found->second;
      }
      // Statuses are ordered by job then id: this job's are one range.
      for (auto it = statuses.lower_bound({name, 0}); it != statuses.end() && it->first.first == name;
           ++it) {
        const InstanceStatus& status = it->second;
        if (status.state != InstanceState::kHealthy || status.podIp.empty()) continue;
        std::uint16_t port = ingress.port;
        if (byVersion) {
          if (auto v = byVersion->find(status.version); v != byVersion->end()) {
            auto c = v->second.find(container.name);
            if (c == v->second.end()) continue;  // that version serves nothing of it
            port = c->second;
          }
        }
        route.backends.push_back(Backend{it->first.second, status.node, status.podIp, port});
      }
      const std::size_t index = table.routes_.size();
      table.routes_.push_back(std::move(route));
      std::vector<std::string> hosts = ingress.hosts;
      if (ingress.defaultHost && !domain.empty()) hosts.push_back(defaultHostOf(name, domain));
      const auto& claimedHosts = job.claims.hosts;
      for (std::string& host : hosts) {
        if (!std::binary_search(claimedHosts.begin(), claimedHosts.end(), host)) continue;
        auto [claim, fresh] = hostClaims.try_emplace(host, claimant);
        if (!fresh && !claimant.before(claim->second)) continue;
        claim->second = claimant;
        table.hosts_[std::move(host)] = index;
      }
      const auto& claimedPorts = job.claims.tcp;
      if (ingress.tcp != 0 && std::binary_search(claimedPorts.begin(), claimedPorts.end(), ingress.tcp)) {
        auto [claim, fresh] = tcpClaims.try_emplace(ingress.tcp, claimant);
        if (!fresh && !claimant.before(claim->second)) continue;
        claim->second = claimant;
        table.tcp_[ingress.tcp] = index;
      }
    }
  }
  return table;
}

const Route* RouteTable::http(std::string_view host) const {
  const auto it = hosts_.find(host);
  return it == hosts_.end() ? nullptr : &routes_[it->second];
}

const Route* RouteTable::tcp(std::uint16_t port) const {
  const auto it = tcp_.find(port);
  return it == tcp_.end() ? nullptr : &routes_[it->second];
}

std::vector<std::uint16_t> RouteTable::tcpPorts() const {
  std::vector<std::uint16_t> ports;
  for (const auto& [port, index] : tcp_) ports.push_back(port);
  return ports;
}

std::vector<std::string> RouteTable::hosts() const {
  std::vector<std::string> names;
  for (const auto& [host, index] : hosts_) names.push_back(host);
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace ozy::ingress
