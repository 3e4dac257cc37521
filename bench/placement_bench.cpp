// Placement engine benchmark: 5,000 nodes, 150,000 instances in jobs of 1 to
// 50 instances with mixed sizes, placed one job after another as submissions
// would arrive.
//
// Reported per run:
//   placements/s    instances placed per second of engine time (one core)
//   nodes_used      nodes holding at least one instance
//   lower_bound     max over memory and disk of ceil(total demand / node capacity)
//   vs_lower_bound  nodes_used / lower_bound (1.0 is a perfect packing)
//
// Run: build/bench/placement_bench  (or scripts/bench.sh)
#include <benchmark/benchmark.h>

#include <random>

#include "placement/placer.h"

namespace ozy {
namespace {

constexpr std::uint32_t kNodes = 5000;
constexpr std::uint32_t kInstances = 150'000;

struct Workload {
  ClusterState cluster;
  std::vector<PlacementRequest> jobs;
  Resources totalDemand;
};

// Equal nodes (64G, 200G disk), or a mix of three sizes when `mixedNodes`.
Workload makeWorkload(bool mixedNodes, std::uint32_t instances, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  auto pick = [&](std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng);
  };
  Workload w;
  for (std::uint32_t i = 0; i < kNodes; ++i) {
    NodeState n;
    n.name = "node-" + std::to_string(i);
    n.capacity = {64 * kGiB, 200 * kGiB};
    if (mixedNodes) {
      static constexpr Resources kSizes[] = {
          {16 * kGiB, 100 * kGiB}, {64 * kGiB, 200 * kGiB}, {128 * kGiB, 400 * kGiB}};
      n.capacity = kSizes[pick(0, 2)];
    }
    n.portsInUse = {{22, Protocol::kTcp}};
    w.cluster.nodes.push_back(std::move(n));
  }
  w.cluster.sharedCapacity = 1024 * kTiB;

  static constexpr Bytes kMemory[] = {256 * kMiB, 512 * kMiB, 1 * kGiB, 2 * kGiB, 4 * kGiB};
  static constexpr Bytes kDisk[] = {0, 1 * kGiB, 5 * kGiB, 10 * kGiB};
  std::uint32_t remaining = instances;
  for (std::uint32_t j = 0; remaining > 0; ++j) {
    const auto count = static_cast<std::uint32_t>(std::min<std::uint64_t>(pick(1, 50), remaining));
    remaining -= count;
    PlacementRequest r;
    r.demand.job = "job-" + std::to_string(j);
    r.demand.perInstance = {kMemory[pick(0, 4)], kDisk[pick(0, 3)]};
    if (pick(1, 10) == 1) {
      r.demand.hostPorts = {{static_cast<std::uint16_t>(8000 + pick(0, 100)), Protocol::kTcp}};
    }
    r.demand.sharedSpace = pick(1, 4) == 1 ? 1 * kGiB : 0;
    r.count = count;
    w.totalDemand.memory += r.demand.perInstance.memory * count;
    w.totalDemand.disk += r.demand.perInstance.disk * count;
    w.jobs.push_back(std::move(r));
  }
  return w;
}

void runPlacement(benchmark::State& state, bool mixedNodes, std::uint32_t instances) {
  const Workload w = makeWorkload(mixedNodes, instances, 42);
  std::uint64_t placed = 0;
  std::uint64_t rejected = 0;
  std::uint32_t nodesUsed = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Placer placer(w.cluster);
    placed = 0;
    rejected = 0;
    state.ResumeTiming();
    for (const auto& job : w.jobs) {
      auto outcome = placer.place(job);
      if (outcome) {
        placed += outcome->nodes.size();
      } else {
        ++rejected;
      }
    }
    state.PauseTiming();
    nodesUsed = 0;
    for (const auto& n : placer.state().nodes) nodesUsed += n.used.memory > 0 ? 1 : 0;
    state.ResumeTiming();
  }
  state.counters["placements/s"] = benchmark::Counter(
      static_cast<double>(placed), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["placed"] = static_cast<double>(placed);
  state.counters["rejected_jobs"] = static_cast<double>(rejected);
  state.counters["nodes_used"] = nodesUsed;
  if (!mixedNodes) {
    const Resources cap = w.cluster.nodes.front().capacity;
    const auto lb = std::max((w.totalDemand.memory + cap.memory - 1) / cap.memory,
                             (w.totalDemand.disk + cap.disk - 1) / cap.disk);
    state.counters["lower_bound"] = static_cast<double>(lb);
    state.counters["vs_lower_bound"] = static_cast<double>(nodesUsed) / static_cast<double>(lb);
  }
}

// The workload: about 74% of the cluster's memory is asked for.
void BM_Place150kInstancesOnEqualNodes(benchmark::State& state) {
  runPlacement(state, false, kInstances);
}
void BM_Place150kInstancesOnMixedNodes(benchmark::State& state) {
  runPlacement(state, true, kInstances);
}
// A tight cluster: demand at about 97% of memory, where packing quality and
// the scan past full nodes both show.
void BM_Place195kInstancesOnEqualNodes(benchmark::State& state) {
  runPlacement(state, false, 195'000);
}

BENCHMARK(BM_Place150kInstancesOnEqualNodes)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_Place150kInstancesOnMixedNodes)->Unit(benchmark::kMillisecond)->MinTime(2.0);
BENCHMARK(BM_Place195kInstancesOnEqualNodes)->Unit(benchmark::kMillisecond)->MinTime(2.0);

}  // namespace
}  // namespace ozy

BENCHMARK_MAIN();
