#include "scheduler/ingress_claims.h"

#include <algorithm>

#include <fmt/format.h>

#include "job/job_parser.h"
#include "scheduler/keys.h"

namespace ozy {
namespace {

using Target = KeyCompare::Target;

const ClaimHolder* find(const std::vector<ClaimHolder>& held, const std::string& key) {
  const auto it =
      std::find_if(held.begin(), held.end(), [&](const ClaimHolder& h) { return h.key == key; });
  return it == held.end() ? nullptr : &*it;
}

bool namedExplicitly(const Job& job, const std::string& host) {
  return std::any_of(job.containers.begin(), job.containers.end(), [&](const Container& c) {
    return c.ingress &&
           std::find(c.ingress->hosts.begin(), c.ingress->hosts.end(), host) != c.ingress->hosts.end();
  });
}

struct Taken {
  std::string what;  // the host, or the port as text
  std::string by;
};

Problem hostTaken(const Job& job, const std::vector<Taken>& taken) {
  const Taken& first = taken.front();
  // The only way to meet one's own default host held: another job named it.
  const std::string which =
      namedExplicitly(job, first.what)
          ? fmt::format("Host {}", first.what)
          : fmt::format("Host {}, the default host of job \"{}\",", first.what, job.name);
  std::string detail = fmt::format(
      "{} is already served by job \"{}\"{}; nothing was submitted. Choose another host, or stop "
      "or change that job first.",
      which, first.by,
      taken.size() > 1 ? fmt::format(" (and {} more hosts are taken; see taken)", taken.size() - 1)
                       : "");
  nlohmann::json list = nlohmann::json::array();
  for (const auto& t : taken) list.push_back({{"host", t.what}, {"heldBy", t.by}});
  return makeProblem(problems::kIngressHostTaken, std::move(detail),
                     {{"job", job.name}, {"host", first.what}, {"heldBy", first.by},
                      {"taken", std::move(list)}});
}

}  // namespace

IngressClaims ingressClaimsOf(const Job& job, std::string_view domain) {
  IngressClaims claims;
  for (const auto& c : job.containers) {
    if (!c.ingress) continue;
    claims.hosts.insert(claims.hosts.end(), c.ingress->hosts.begin(), c.ingress->hosts.end());
    if (c.ingress->defaultHost && !domain.empty()) {
      // Past 253 characters (a domain near that long) no Host header can
      // name it: nothing to claim.
      if (auto host = defaultHostOf(job.name, domain); isHostName(host)) {
        claims.hosts.push_back(std::move(host));
      }
    }
    if (c.ingress->tcp != 0) claims.tcp.push_back(c.ingress->tcp);
  }
  // A job may also name its default host: one claim of it.
  std::sort(claims.hosts.begin(), claims.hosts.end());
  claims.hosts.erase(std::unique(claims.hosts.begin(), claims.hosts.end()), claims.hosts.end());
  std::sort(claims.tcp.begin(), claims.tcp.end());
  claims.tcp.erase(std::unique(claims.tcp.begin(), claims.tcp.end()), claims.tcp.end());
  return claims;
}

std::vector<std::string> claimKeys(const IngressClaims& claims) {
  std::vector<std::string> out;
  out.reserve(claims.hosts.size() + claims.tcp.size());
  for (const auto& host : claims.hosts) out.push_back(keys::ingressHost(host));
  for (auto port : claims.tcp) out.push_back(keys::ingressTcp(port));
  return out;
}

Result<CommitPlan, Problem> withClaims(CommitPlan plan, const IngressClaims& claims,
                                       const std::vector<ClaimHolder>& held) {
  const std::string& name = plan.job.spec.name;
  // Every taken host is named at once, so one refusal says all there is to fix.
  std::vector<Taken> hostsTaken;
  std::vector<Taken> portsTaken;
  auto claim = [&](const std::string& key, const std::string& what, std::vector<Taken>& taken) {
    const ClaimHolder* holder = find(held, key);
    if (!holder) {
      plan.compares.push_back({key, Target::kCreateRevision, 0});
      plan.puts.push_back({key, name});
    } else if (holder->job == name) {
      plan.compares.push_back({key, Target::kModRevision, holder->modRevision});
    } else {
      taken.push_back({what, holder->job});
    }
  };
  for (const auto& host : claims.hosts) claim(keys::ingressHost(host), host, hostsTaken);
  for (auto port : claims.tcp) claim(keys::ingressTcp(port), std::to_string(port), portsTaken);
  if (!hostsTaken.empty()) return fail(hostTaken(plan.job.spec, hostsTaken));
  if (!portsTaken.empty()) {
    const Taken& first = portsTaken.front();
    nlohmann::json list = nlohmann::json::array();
    for (const auto& t : portsTaken) list.push_back({{"port", std::stoi(t.what)}, {"heldBy", t.by}});
    return fail(makeProblem(
        problems::kIngressPortTaken,
        fmt::format("Ingress TCP port {} is already served by job \"{}\"{}; nothing was "
                    "submitted. Choose another port, or stop or change that job first.",
                    first.what, first.by,
                    portsTaken.size() > 1
                        ? fmt::format(" (and {} more ports are taken; see taken)",
                                      portsTaken.size() - 1)
                        : ""),
        {{"job", name}, {"port", std::stoi(first.what)}, {"heldBy", first.by},
         {"taken", std::move(list)}}));
  }
  plan.job.ingress = claims;
  // The record was encoded by the planner without its claims.
  const std::string jobKey = keys::job(name);
  for (auto& put : plan.puts) {
    if (put.key == jobKey) put.value = encode(plan.job);
  }
  return plan;
}

void releaseClaims(CommitPlan& plan, const std::string& job, const std::vector<ClaimHolder>& held) {
  for (const auto& h : held) {
    // Another job's claim (by a hand-made record) is not this job's to give.
    if (h.job != job) continue;
    plan.compares.push_back({h.key, Target::kModRevision, h.modRevision});
    plan.deletes.push_back(h.key);
  }
}

}  // namespace ozy
