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

Result<std::shared_ptr<const Job>, StoreError> DesiredState::readSpec(const std::string& job,
                                                                     std::uint64_t version) {
  // The version's own record; a job stored before versions existed has
  // none, and its record's spec is version 1.
  Txn txn;
  txn.success = {TxnOp::get(keys::version(job, version)), TxnOp::get(keys::job(job))};
  auto got = store_.txn(txn);
  if (!got) return fail(std::move(got).error());
  if (!got->gets.at(0).empty()) {
    const KeyValue& kv = got->gets.at(0).front();
    auto record = decodeVersion(kv.value);
    if (!record) return fail(StoreError{StoreError::kOther, kv.key + ": " + record.error()});
    if (record->spec.name != job || record->version != version) {
      return fail(StoreError{StoreError::kOther,
                             fmt::format("{} holds version {} of job \"{}\"", kv.key,
                                         record->version, record->spec.name)});
    }
    return std::make_shared<const Job>(std::move(record->spec));
  }
  if (got->gets.at(1).empty()) return std::shared_ptr<const Job>{};  // the job is being stopped
  const KeyValue& kv = got->gets.at(1).front();
  auto record = decodeJob(kv.value);
  if (!record) return fail(StoreError{StoreError::kOther, kv.key + ": " + record.error()});
  if (record->spec.name != job) {
    return fail(StoreError{StoreError::kOther,
                           fmt::format("{} holds job \"{}\"", kv.key, record->spec.name)});
  }
  if (record->specVersion != version) {
    // Never a reason to stop the instances: keep what was read before.
    return fail(StoreError{StoreError::kOther,
                           fmt::format("job \"{}\" has no record of version {}", job, version)});
  }
  return std::make_shared<const Job>(std::move(record->spec));
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
    auto groups = decodeAssignments(kv.value);
    if (!groups) return fail(StoreError{StoreError::kOther, kv.key + ": " + groups.error()});
    const std::string job(keys::nameUnder(kv.key, prefix));
    for (const Assignment& a : *groups) {
      if (a.job != job) {
        return fail(StoreError{StoreError::kOther,
                               fmt::format("{} names job \"{}\", which is not its key's", kv.key,
                                           a.job)});
      }
      // A version's spec never changes: cached per assignment incarnation
      // (a job stopped and submitted again gets a new key) and version.
      const CacheKey key{a.job, kv.createRevision, a.version};
      seen.insert(key);
      auto cached = specs_.find(key);
      if (cached == specs_.end()) {
        auto spec = readSpec(a.job, a.version);
        if (!spec) return fail(std::move(spec).error());
        if (!*spec) break;  // the job is being stopped
        const std::uint64_t hash = specHash(**spec);
        cached = specs_.emplace(key, Spec{std::move(spec).value(), hash}).first;
      }
      for (std::uint32_t id : a.instances) {
        out.push_back(
            DesiredInstance{a.job, id, cached->second.hash, cached->second.job, a.version});
      }
    }
  }
  std::erase_if(specs_, [&](const auto& entry) { return !seen.contains(entry.first); });
  revision_ = range->revision;
  return out;
}

}  // namespace ozy
