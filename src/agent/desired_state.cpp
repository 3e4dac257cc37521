#include "agent/desired_state.h"

#include <set>

#include <fmt/format.h>

#include "common/fnv.h"
#include "job/job_format.h"
#include "scheduler/keys.h"
#include "scheduler/records.h"

namespace ozy {

std::uint64_t specHash(const Job& job) {
  Job shape = job;
  shape.numInstances = 0;
  // How a change rolls out is no part of the pod: changing `update` alone
  // replaces no instance, and a job that sets it hashes as one that does not.
  shape.update = UpdatePolicy{};
  // Over the canonical JSON: stable across runs and builds. Without the
  // ingress: what the ingress serves is routing, not the pod, so changing it
  // replaces no instance, and jobs stored before ingress existed (which now
  // read with a default one) keep the hash their pods carry.
  auto canonical = toJson(shape);
  for (auto& [name, container] : canonical["containers"].items()) container.erase("ingress");
  return fnv1a(canonical.dump());
}

Result<std::vector<DesiredInstance>, StoreError> DesiredState::read() {
  const std::string prefix = keys::assignmentsOf(node_);
  auto range = store_.getPrefix(prefix);
  if (!range) return fail(std::move(range).error());
  std::vector<DesiredInstance> out;
  std::set<CacheKey> seen;
  for (const KeyValue& kv : range->kvs) {
    // A record this agent cannot read fails the whole read: acting on the
    // rest would remove the unreadable job's running instances.
    auto assignment = decodeAssignment(kv.value);
    if (!assignment) return fail(StoreError{StoreError::kOther, kv.key + ": " + assignment.error()});
    const CacheKey key{assignment->job, kv.createRevision, assignment->jobVersion};
    seen.insert(key);
    auto cached = specs_.find(key);
    if (cached == specs_.end()) {
      auto jobKv = store_.get(keys::job(assignment->job));
      if (!jobKv) return fail(std::move(jobKv).error());
      if (jobKv->kvs.empty()) continue;  // the job is being stopped
      auto record = decodeJob(jobKv->kvs.front().value);
      if (!record) {
        return fail(StoreError{StoreError::kOther, keys::job(assignment->job) + ": " + record.error()});
      }
      if (record->spec.name != assignment->job || keys::nameUnder(kv.key, prefix) != assignment->job) {
        return fail(StoreError{StoreError::kOther,
                               fmt::format("{} names job \"{}\", which is not its key's", kv.key,
                                           assignment->job)});
      }
      const std::uint64_t hash = specHash(record->spec);
      cached = specs_.emplace(key, Spec{std::make_shared<const Job>(std::move(record->spec)), hash})
                   .first;
    }
    for (std::uint32_t id : assignment->instances) {
      out.push_back(DesiredInstance{assignment->job, id, cached->second.hash, cached->second.job});
    }
  }
  std::erase_if(specs_, [&](const auto& entry) { return !seen.contains(entry.first); });
  revision_ = range->revision;
  return out;
}

}  // namespace ozy
