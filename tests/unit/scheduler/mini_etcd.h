// Test support for the planner's tests: a small in-memory model of etcd's
// Txn (compares on version, create and mod revision) to apply plans to, so
// a scenario reads like the cluster's history, and builders for what such a
// scenario needs (nodes, jobs).
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "job/job_parser.h"
#include "scheduler/ingress_claims.h"
#include "scheduler/keys.h"
#include "scheduler/planner.h"
#include "scheduler/records.h"

namespace ozy::testing_support {

// Just enough of etcd: keys with revisions, and an all-or-nothing Txn.
class MiniEtcd {
 public:
  struct Entry {
    std::string value;
    std::int64_t createRevision = 0;
    std::int64_t modRevision = 0;
    std::int64_t version = 0;
  };

  void put(const std::string& key, std::string value) {
    ++revision_;
    Entry& e = data_[key];
    if (e.version == 0) e.createRevision = revision_;
    e.value = std::move(value);
    e.modRevision = revision_;
    ++e.version;
  }
  void remove(const std::string& key) {
    ++revision_;
    data_.erase(key);
  }

  bool commit(const CommitPlan& plan) {
    for (const auto& c : plan.compares) {
      const auto it = data_.find(c.key);
      const Entry none;
      const Entry& e = it == data_.end() ? none : it->second;
      std::int64_t actual = 0;
      switch (c.target) {
        case KeyCompare::Target::kVersion:
          actual = e.version;
          break;
        case KeyCompare::Target::kCreateRevision:
          actual = e.createRevision;
          break;
        case KeyCompare::Target::kModRevision:
          actual = e.modRevision;
          break;
      }
      if (actual != c.equals) return false;
    }
    ++revision_;  // one Txn is one revision
    for (const auto& p : plan.puts) {
      Entry& e = data_[p.key];
      if (e.version == 0) e.createRevision = revision_;
      e.value = p.value;
      e.modRevision = revision_;
      ++e.version;
    }
    for (const auto& k : plan.deletes) data_.erase(k);
    for (const auto& prefix : plan.deletePrefixes) {
      std::erase_if(data_, [&](const auto& kv) { return kv.first.starts_with(prefix); });
    }
    return true;
  }

  // What an agent reads before planning.
  ClusterSnapshot snapshot() const {
    ClusterSnapshot s;
    s.revision = revision_;
    std::map<std::string, NodeEntry> nodes;
    for (const auto& [key, e] : data_) {
      if (auto name = keys::nameUnder(key, keys::kNodes); !name.empty()) {
        NodeEntry& n = nodes[std::string(name)];
        n.name = name;
        n.live = true;
        n.record = *decodeNode(e.value);
        n.modRevision = e.modRevision;
      } else if (auto node = keys::nameUnder(key, keys::kUsage); !node.empty()) {
        NodeEntry& n = nodes[std::string(node)];
        n.name = node;
        n.usage = *decodeUsage(e.value);
        n.usageModRevision = e.modRevision;
      } else if (auto drained = keys::nameUnder(key, keys::kDrain); !drained.empty()) {
        NodeEntry& n = nodes[std::string(drained)];
        n.name = drained;
        n.drainModRevision = e.modRevision;
      } else if (key == keys::kSharedPool) {
        s.sharedPool = *decodeSharedPool(e.value);
        s.sharedPoolModRevision = e.modRevision;
      }
    }
    for (auto& [name, n] : nodes) s.nodes.push_back(std::move(n));
    return s;
  }

  JobEntry job(const std::string& name) const {
    JobEntry j;
    const Entry& e = data_.at(keys::job(name));
    j.record = *decodeJob(e.value);
    j.modRevision = e.modRevision;
    for (const auto& node : j.record.nodes) {
      auto groups = decodeAssignments(data_.at(keys::assignment(node, name)).value);
      for (auto& a : *groups) j.assignments.emplace_back(node, std::move(a));
    }
    return j;
  }

  // The job's versions and deployment, as the control plane reads them
  // with the job.
  std::vector<VersionEntry> versions(const std::string& job) const {
    std::vector<VersionEntry> out;
    const std::string prefix = keys::versionsOf(job);
    for (const auto& [key, e] : data_) {
      if (!key.starts_with(prefix)) continue;
      auto record = decodeVersion(e.value);
      EXPECT_TRUE(record.ok()) << key << ": " << (record.ok() ? "" : record.error());
      if (record.ok()) out.push_back(VersionEntry{*record, e.modRevision});
    }
    return out;
  }
  std::optional<DeploymentEntry> deployment(const std::string& job) const {
    auto it = data_.find(keys::deployment(job));
    if (it == data_.end()) return std::nullopt;
    auto record = decodeDeployment(it->second.value);
    EXPECT_TRUE(record.ok()) << it->first << ": " << (record.ok() ? "" : record.error());
    if (!record.ok()) return std::nullopt;
    return DeploymentEntry{*record, it->second.modRevision};
  }
  std::optional<VersionRecord> version(const std::string& job, std::uint64_t n) const {
    auto it = data_.find(keys::version(job, n));
    if (it == data_.end()) return std::nullopt;
    auto record = decodeVersion(it->second.value);
    EXPECT_TRUE(record.ok()) << it->first << ": " << (record.ok() ? "" : record.error());
    if (!record.ok()) return std::nullopt;
    return *record;
  }

  UsageRecord usage(const std::string& node) const {
    auto it = data_.find(keys::usage(node));
    return it == data_.end() ? UsageRecord{} : *decodeUsage(it->second.value);
  }
  bool has(const std::string& key) const { return data_.contains(key); }
  std::string value(const std::string& key) const {
    auto it = data_.find(key);
    return it == data_.end() ? std::string() : it->second.value;
  }
  std::int64_t modRevision(const std::string& key) const {
    auto it = data_.find(key);
    return it == data_.end() ? 0 : it->second.modRevision;
  }
  // What the control plane reads before it claims or releases.
  std::vector<ClaimHolder> claims(const IngressClaims& wanted) const {
    std::vector<ClaimHolder> out;
    for (const auto& key : claimKeys(wanted)) {
      if (auto it = data_.find(key); it != data_.end()) {
        out.push_back({key, it->second.value, it->second.modRevision});
      }
    }
    return out;
  }

 private:
  std::map<std::string, Entry> data_;
  std::int64_t revision_ = 1;
};

inline void addNode(MiniEtcd& etcd, const std::string& name, Bytes memory,
                    Bytes disk = 100 * kGiB) {
  etcd.put(keys::node(name), encode(NodeRecord{name, "10.0.0.1", "http://x", {memory, disk}, 0, {}}));
}

inline Job job(const std::string& yaml) {
  auto parsed = parseJob(yaml);
  EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error().errors[0].toString());
  return *parsed;
}

// "web": `instances` of one container holding `memory`, no host port.
inline Job plainJob(std::uint32_t instances, const std::string& memory) {
  return job("name: web\nnumInstances: " + std::to_string(instances) +
             "\ncontainers:\n  app:\n    image: x\n    memory: " + memory + "\n");
}

inline bool hasCompare(const CommitPlan& plan, const std::string& key, KeyCompare::Target target,
                       std::int64_t equals) {
  return std::any_of(plan.compares.begin(), plan.compares.end(), [&](const KeyCompare& c) {
    return c.key == key && c.target == target && c.equals == equals;
  });
}

}  // namespace ozy::testing_support
