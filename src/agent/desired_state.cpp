#include "agent/desired_state.h"

#include <set>

#include <spdlog/spdlog.h>

#include "job/job_format.h"
#include "scheduler/keys.h"
#include "scheduler/records.h"

namespace ozy {

std::uint64_t specHash(const Job& job) {
  Job shape = job;
  shape.numInstances = 0;
  // FNV-1a over the canonical JSON: stable across runs and builds.
  std::uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : toJson(shape).dump()) {
    hash ^= c;
    hash *= 1099511628211ULL;
  }
  return hash;
}

Result<std::vector<DesiredInstance>, StoreError> DesiredState::read() {
  const std::string prefix = keys::assignmentsOf(node_);
  auto range = store_.getPrefix(prefix);
  if (!range) return fail(std::move(range).error());
  std::vector<DesiredInstance> out;
  std::set<CacheKey> seen;
  for (const KeyValue& kv : range->kvs) {
    auto assignment = decodeAssignment(kv.value);
    if (!assignment) {
      spdlog::error("{}: {}", kv.key, assignment.error());
      continue;
    }
    const CacheKey key{assignment->job, kv.createRevision, assignment->jobVersion};
    seen.insert(key);
    auto cached = specs_.find(key);
    if (cached == specs_.end()) {
      auto jobKv = store_.get(keys::job(assignment->job));
      if (!jobKv) return fail(std::move(jobKv).error());
      if (jobKv->kvs.empty()) continue;  // the job is being stopped
      auto record = decodeJob(jobKv->kvs.front().value);
      if (!record) {
        spdlog::error("{}: {}", keys::job(assignment->job), record.error());
        continue;
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
