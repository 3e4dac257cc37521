// Cluster-wide claims of what every node's ingress serves: a host name or a
// TCP port belongs to one job at a time (keys::kIngressHosts, kIngressTcp).
// Which claims a job makes, and the compares and writes that take them in
// the commit creating the job or give them back in the one stopping it.
//
// Pure: what etcd holds under the claim keys is read by the caller and comes
// in as ClaimHolders. The compares make the commit lose if any of it changed
// meanwhile, so of two jobs claiming one host at once exactly one commits;
// the other re-reads, finds the host held, and is refused.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "job/job.h"
#include "problem/problem.h"
#include "scheduler/planner.h"
#include "scheduler/records.h"

namespace ozy {

// The claims of `job`'s ingresses, Ingress::defaultHost resolved as
// <job>.<domain>. No default host when `domain` is empty (the cluster then
// has no names of its own to serve).
IngressClaims ingressClaimsOf(const Job& job, std::string_view domain);

// The keys of `claims`: hosts, then ports, each in order.
std::vector<std::string> claimKeys(const IngressClaims& claims);

// What etcd holds under a claim key.
struct ClaimHolder {
  std::string key;
  std::string job;  // the value: the job holding the claim
  std::int64_t modRevision = 0;
};

// `plan` (planSubmit's, for a new job) taking `claims` as well: each claim
// key must still be absent (compared create_revision 0, then written), or
// already hold this job's name (compared unchanged; left over from a job of
// the same name whose key was deleted by hand). The claims are recorded in
// the plan's job record. `held`: what etcd holds for the claim keys, absent
// keys missing. ingress-host-taken or ingress-port-taken when another job
// holds one; nothing is written then.
Result<CommitPlan, Problem> withClaims(CommitPlan plan, const IngressClaims& claims,
                                       const std::vector<ClaimHolder>& held);

// `plan` (planStop's) giving back the claims of `held` that `job` holds, each
// deleted with a compare that it is unchanged.
void releaseClaims(CommitPlan& plan, const std::string& job, const std::vector<ClaimHolder>& held);

}  // namespace ozy
