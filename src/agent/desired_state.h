// What etcd assigns to this node, as the reconciler's DesiredInstances: the
// node's assignments (/ozy/assignments/<node>/) and the job specs they name.
//
// Each instance runs its own version's spec (/ozy/versions/<job>/<n>): two
// versions run side by side during a rolling deploy. Specs are cached per
// assignment incarnation (job, the assignment key's create revision, the
// version), so a steady node reads one prefix per pass and no job record. A job stopped and submitted again under
// the same name gets a new assignment key, hence a fresh read.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "common/result.h"
#include "reconcile/reconciler.h"
#include "store/store.h"

namespace ozy {

// Identifies a spec's content (containers and everything in them, not the
// instance count nor the ingress): pods carry it as a label, and a pod whose
// label differs from its job's current spec is made again.
std::uint64_t specHash(const Job& job);

class DesiredState {
 public:
  DesiredState(Store& store, std::string node) : store_(store), node_(std::move(node)) {}

  // Reads the node's assignments. An unreachable etcd is an error, and so is
  // a record that cannot be read: the caller then keeps what it last had.
  Result<std::vector<DesiredInstance>, StoreError> read();
  // The store revision of the last successful read.
  std::int64_t revision() const { return revision_; }

 private:
  using CacheKey = std::tuple<std::string, std::int64_t, std::uint64_t>;
  Store& store_;
  std::string node_;
  std::int64_t revision_ = 0;
  struct Spec {
    std::shared_ptr<const Job> job;
    std::uint64_t hash = 0;
  };
  std::map<CacheKey, Spec> specs_;

  // A version's spec; null when the job is gone (being stopped).
  Result<std::shared_ptr<const Job>, StoreError> readSpec(const std::string& job,
                                                          std::uint64_t version);
};

}  // namespace ozy
