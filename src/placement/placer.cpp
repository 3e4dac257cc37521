#include "placement/placer.h"

#include <algorithm>

#include <fmt/format.h>

namespace ozy {
namespace {

Bytes saturatingSub(Bytes a, Bytes b) { return a > b ? a - b : 0; }

std::string joinPorts(const std::vector<HostPort>& ports) {
  std::string out;
  for (const auto& p : ports) out += fmt::format("{}{}", out.empty() ? "" : ", ", toString(p));
  return out;
}

}  // namespace

Placer::Placer(ClusterState cluster) : cluster_(std::move(cluster)) {
  use_.resize(cluster_.nodes.size());
  indexed_.resize(cluster_.nodes.size());
  stale_.assign(cluster_.nodes.size(), false);
  marks_.assign(cluster_.nodes.size(), 0);
  jobCount_.assign(cluster_.nodes.size(), 0);
  for (std::uint32_t i = 0; i < cluster_.nodes.size(); ++i) {
    const NodeState& n = cluster_.nodes[i];
    use_[i].free = {saturatingSub(n.capacity.memory, n.used.memory),
                    saturatingSub(n.capacity.disk, n.used.disk)};
    for (const auto& p : n.portsInUse) use_[i].ports.push_back(p.key());
    std::sort(use_[i].ports.begin(), use_[i].ports.end());
    indexed_[i] = use_[i].free.memory;
    use_[i].drained = n.drained;
    if (n.drained) {
      ++drained_;
    } else {
      byFreeMemory_.emplace(use_[i].free.memory, i);
    }
  }
}

bool Placer::fits(std::uint32_t node, const JobDemand& demand) const {
  const NodeUse& u = use_[node];
  if (u.drained) return false;
  if (u.free.memory < demand.perInstance.memory || u.free.disk < demand.perInstance.disk) {
    return false;
  }
  for (const auto& p : demand.hostPorts) {
    if (std::binary_search(u.ports.begin(), u.ports.end(), p.key())) return false;
  }
  return true;
}

Placer::Pick Placer::pick(const JobDemand& demand) const {
  // Best fit: walk nodes from the least free memory that is still enough.
  // The first feasible node without an instance of this job wins; if every
  // feasible node has one, say so, so the caller spreads by count instead.
  std::optional<std::uint32_t> fallback;
  for (auto it = byFreeMemory_.lower_bound({demand.perInstance.memory, 0});
       it != byFreeMemory_.end(); ++it) {
    const std::uint32_t node = it->second;
    if (!fits(node, demand)) continue;
    if (marks_[node] != stamp_) return Pick{node, false};
    if (!fallback) fallback = node;
  }
  return Pick{fallback, true};
}

std::optional<std::uint32_t> Placer::nextLeastLoaded(const JobDemand& demand) {
  while (nextCandidate_ < candidates_.size()) {
    const std::uint32_t node = candidates_[nextCandidate_++];
    if (fits(node, demand)) return node;
  }
  // One pass over the feasible nodes collects those holding the fewest
  // instances of the job, tightest first. Each takes one instance before the
  // next pass, so a 10,000-instance job on 100 nodes costs 100 passes, not a
  // scan per instance, and ends up evenly spread. The pass scans the nodes
  // themselves, not the free-memory index, which is left stale meanwhile:
  // keeping it current cost more than the whole placement.
  candidates_.clear();
  nextCandidate_ = 0;
  std::uint32_t fewest = UINT32_MAX;
  for (std::uint32_t node = 0; node < use_.size(); ++node) {
    if (!fits(node, demand)) continue;
    const std::uint32_t count = marks_[node] == stamp_ ? jobCount_[node] : 0;
    if (count < fewest) {
      fewest = count;
      candidates_.clear();
    }
    if (count == fewest) candidates_.push_back(node);
  }
  if (candidates_.empty()) return std::nullopt;
  std::sort(candidates_.begin(), candidates_.end(), [this](std::uint32_t a, std::uint32_t b) {
    return IndexEntry{use_[a].free.memory, a} < IndexEntry{use_[b].free.memory, b};
  });
  return candidates_[nextCandidate_++];
}

void Placer::reindex(std::uint32_t node) {
  if (use_[node].drained) return;  // not in the index
  if (!stale_[node]) {
    stale_[node] = true;
    staleNodes_.push_back(node);
  }
}

void Placer::refreshIndex() {
  for (const std::uint32_t node : staleNodes_) {
    // Reuse the set's node instead of allocating a new one.
    auto handle = byFreeMemory_.extract({indexed_[node], node});
    handle.value().first = indexed_[node] = use_[node].free.memory;
    byFreeMemory_.insert(std::move(handle));
    stale_[node] = false;
  }
  staleNodes_.clear();
}

void Placer::take(std::uint32_t node, const JobDemand& demand) {
  NodeUse& u = use_[node];
  u.free.memory -= demand.perInstance.memory;
  u.free.disk -= demand.perInstance.disk;
  for (const auto& p : demand.hostPorts) {
    u.ports.insert(std::upper_bound(u.ports.begin(), u.ports.end(), p.key()), p.key());
  }
  NodeState& n = cluster_.nodes[node];
  n.used.memory += demand.perInstance.memory;
  n.used.disk += demand.perInstance.disk;
  n.portsInUse.insert(n.portsInUse.end(), demand.hostPorts.begin(), demand.hostPorts.end());
  reindex(node);
}

void Placer::release(std::uint32_t node, const JobDemand& demand) {
  NodeUse& u = use_[node];
  NodeState& n = cluster_.nodes[node];
  n.used.memory = saturatingSub(n.used.memory, demand.perInstance.memory);
  n.used.disk = saturatingSub(n.used.disk, demand.perInstance.disk);
  u.free.memory = saturatingSub(n.capacity.memory, n.used.memory);
  u.free.disk = saturatingSub(n.capacity.disk, n.used.disk);
  for (const auto& p : demand.hostPorts) {
    if (auto it = std::lower_bound(u.ports.begin(), u.ports.end(), p.key());
        it != u.ports.end() && *it == p.key()) {
      u.ports.erase(it);
    }
    if (auto it = std::find(n.portsInUse.begin(), n.portsInUse.end(), p); it != n.portsInUse.end()) {
      n.portsInUse.erase(it);
    }
  }
  reindex(node);
  refreshIndex();
}

Result<PlacementOutcome, Problem> Placer::place(const PlacementRequest& request) {
  const JobDemand& demand = request.demand;
  const bool allOrNothing = request.mode == PlacementMode::kAllOrNothing;
  const Bytes sharedFree = saturatingSub(cluster_.sharedCapacity, cluster_.sharedUsed);
  // A job with no instances to place creates no shared volumes yet.
  const bool chargeShared =
      request.chargeSharedSpace && demand.sharedSpace > 0 && request.count > 0;
  if (chargeShared && demand.sharedSpace > sharedFree) {
    // Without its shared volumes no instance can run, in either mode.
    Problem problem = explain(request, 0);
    if (allOrNothing) return fail(std::move(problem));
    return PlacementOutcome{{}, request.count, std::move(problem)};
  }

  // Fresh stamp: no node is marked as holding this job, then mark the ones that do.
  if (++stamp_ == 0) {
    std::fill(marks_.begin(), marks_.end(), 0);
    stamp_ = 1;
  }
  auto mark = [&](std::uint32_t n) {
    if (marks_[n] != stamp_) {
      marks_[n] = stamp_;
      jobCount_[n] = 0;
    }
    ++jobCount_[n];
  };
  for (auto n : request.nodesWithJob) {
    if (n < marks_.size()) mark(n);
  }
  candidates_.clear();
  nextCandidate_ = 0;

  // Spread first: best fit among nodes without the job. When every feasible
  // node has one, spread by count: the least loaded nodes, best fit among them.
  PlacementOutcome outcome;
  outcome.nodes.reserve(request.count);
  bool byCount = false;
  for (std::uint32_t i = 0; i < request.count; ++i) {
    std::optional<std::uint32_t> node;
    if (!byCount) {
      refreshIndex();
      const Pick p = pick(demand);
      if (!p.node) break;
      if (p.holdsJob) {
        byCount = true;
      } else {
        node = p.node;
      }
    }
    if (byCount) node = nextLeastLoaded(demand);
    if (!node) break;
    take(*node, demand);
    mark(*node);
    outcome.nodes.push_back(*node);
  }
  refreshIndex();
  const auto placed = static_cast<std::uint32_t>(outcome.nodes.size());
  if (placed < request.count) {
    Problem problem = explain(request, placed);
    if (allOrNothing) {
      for (auto node : outcome.nodes) release(node, demand);
      return fail(std::move(problem));
    }
    outcome.pending = request.count - placed;
    outcome.why = std::move(problem);
  }
  if (chargeShared && placed > 0) cluster_.sharedUsed += demand.sharedSpace;
  return outcome;
}

std::string Placer::drainedNote() const {
  if (drained_ == 0) return "";
  // Name a few: enough to recognise an operator's drain, short enough to read.
  constexpr std::uint32_t kNamed = 5;
  std::string names;
  std::uint32_t named = 0;
  for (std::uint32_t i = 0; i < use_.size() && named < kNamed; ++i) {
    if (!use_[i].drained) continue;
    names += fmt::format("{}{}", named++ == 0 ? "" : ", ", cluster_.nodes[i].name);
  }
  if (drained_ == 1) return fmt::format(" ({} is drained)", names);
  return fmt::format(" ({} nodes are drained: {}{})", drained_, names,
                     drained_ > kNamed ? ", ..." : "");
}

// Why `request` could place only `placed` instances. Totals first (the whole
// cluster lacks memory), then host ports, then fragmentation (enough in total,
// but no single node has room for one more instance), named after the
// resource that turned away the most nodes. Drained nodes count for nothing
// (their free room cannot be allocated) and the detail names them.
Problem Placer::explain(const PlacementRequest& request, std::uint32_t placed) const {
  const JobDemand& d = request.demand;
  const Bytes sharedFree = saturatingSub(cluster_.sharedCapacity, cluster_.sharedUsed);
  nlohmann::json ext{{"job", d.job},
                     {"instances", request.count},
                     {"placeable", placed},
                     {"nodes", cluster_.nodes.size()}};
  if (drained_ > 0) ext["nodesDrained"] = drained_;
  const std::string note = drainedNote();
  // The note goes before a sentence's final period.
  auto noted = [&](std::string sentence) {
    if (!note.empty() && sentence.ends_with('.')) sentence.insert(sentence.size() - 1, note);
    return sentence;
  };
  const auto schedulable = static_cast<std::uint32_t>(use_.size()) - drained_;
  if (request.chargeSharedSpace && d.sharedSpace > sharedFree) {
    ext["required"] = d.sharedSpace;
    ext["available"] = sharedFree;
    return makeProblem(
        problems::kInsufficientSharedSpace,
        fmt::format("Job requires {} of shared volume space but only {} is free in the shared pool.",
                    formatSizeApprox(d.sharedSpace), formatSizeApprox(sharedFree)),
        std::move(ext));
  }

  // Free resources as they were before this request's placements, which an
  // all-or-nothing failure rolls back; for as-many-as-fit, what is left now
  // plus what the placed instances took.
  Bytes freeMemory = 0;
  Bytes freeDisk = 0;
  std::uint32_t lackMemory = 0;
  std::uint32_t lackDisk = 0;
  std::uint32_t portsTaken = 0;
  for (std::uint32_t i = 0; i < use_.size(); ++i) {
    const NodeUse& u = use_[i];
    if (u.drained) continue;
    freeMemory += u.free.memory;
    freeDisk += u.free.disk;
    lackMemory += u.free.memory < d.perInstance.memory ? 1 : 0;
    lackDisk += u.free.disk < d.perInstance.disk ? 1 : 0;
    bool taken = false;
    for (const auto& p : d.hostPorts) {
      taken = taken || std::binary_search(u.ports.begin(), u.ports.end(), p.key());
    }
    portsTaken += taken ? 1 : 0;
  }
  freeMemory = saturatingAdd(freeMemory, saturatingMul(d.perInstance.memory, placed));
  freeDisk = saturatingAdd(freeDisk, saturatingMul(d.perInstance.disk, placed));
  const Bytes needMemory = saturatingMul(d.perInstance.memory, request.count);
  const Bytes needDisk = saturatingMul(d.perInstance.disk, request.count);

  if (needMemory > freeMemory) {
    ext["required"] = needMemory;
    ext["available"] = freeMemory;
    return makeProblem(problems::kInsufficientMemory,
                       noted(fmt::format("Job requires {} of memory but only {} can be allocated.",
                                         formatSizeApprox(needMemory), formatSizeApprox(freeMemory))),
                       std::move(ext));
  }
  if (needDisk > freeDisk) {
    ext["required"] = needDisk;
    ext["available"] = freeDisk;
    return makeProblem(problems::kInsufficientDisk,
                       noted(fmt::format("Job requires {} of disk but only {} can be allocated.",
                                         formatSizeApprox(needDisk), formatSizeApprox(freeDisk))),
                       std::move(ext));
  }
  // Nodes that the placed instances took ports on had them free before.
  const std::uint32_t portsFree = schedulable - portsTaken + (d.hostPorts.empty() ? 0 : placed);
  if (!d.hostPorts.empty() && portsFree < request.count) {
    ext["hostPorts"] = nlohmann::json::array();
    for (const auto& p : d.hostPorts) ext["hostPorts"].push_back(toString(p));
    return makeProblem(
        problems::kInsufficientPorts,
        noted(fmt::format("Job publishes host port {} from each of {} instances, so it needs {} "
                          "nodes where that is free (neither used by instances nor reserved for "
                          "the node's own API, etcd or DNS), but only {} are.",
                          joinPorts(d.hostPorts), request.count, request.count, portsFree)),
        std::move(ext));
  }

  // Enough in total, but split over nodes so that no node fits one more.
  ext["nodesLackingMemory"] = lackMemory;
  ext["nodesLackingDisk"] = lackDisk;
  ext["nodesWithPortsTaken"] = portsTaken;
  const std::string fitted =
      fmt::format("only {} of {} instances fit", placed, request.count);
  if (lackDisk > lackMemory && lackDisk >= portsTaken) {
    return makeProblem(problems::kInsufficientDisk,
                       noted(fmt::format("Job requires {} of disk per instance; {}: no other node "
                                         "has that much disk free ({} of {} nodes have less).",
                                         formatSizeApprox(d.perInstance.disk), fitted, lackDisk,
                                         schedulable)),
                       std::move(ext));
  }
  if (portsTaken > lackMemory) {
    return makeProblem(
        problems::kInsufficientPorts,
        noted(fmt::format("Job publishes host port {}; {}: it is taken (by instances, or reserved "
                          "for a node's own API, etcd or DNS) on {} of {} nodes.",
                          joinPorts(d.hostPorts), fitted, portsTaken, schedulable)),
        std::move(ext));
  }
  return makeProblem(problems::kInsufficientMemory,
                     noted(fmt::format("Job requires {} of memory per instance; {}: no other node "
                                       "has that much memory free ({} of {} nodes have less).",
                                       formatSizeApprox(d.perInstance.memory), fitted, lackMemory,
                                       schedulable)),
                     std::move(ext));
}

}  // namespace ozy
