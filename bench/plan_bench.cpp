// Planner benchmark: planning one 10,000-instance submission over 101 nodes,
// the shape of submit_bench's large job, with no I/O. It is the agent's own
// share of that submission beside etcd's Txn; submit_bench reports the ratio
// end to end.
//
// Run: build/bench/plan_bench  (or scripts/bench.sh)
#include <benchmark/benchmark.h>

#include <fmt/format.h>

#include "job/job_parser.h"
#include "scheduler/planner.h"

namespace ozy {
namespace {

ClusterSnapshot snapshotOf(std::uint32_t nodes) {
  ClusterSnapshot s;
  s.revision = 100;
  for (std::uint32_t i = 0; i < nodes; ++i) {
    NodeEntry e;
    e.name = fmt::format("sim-{:03}", i);
    e.live = true;
    e.record = NodeRecord{e.name, "127.0.0.1", "http://127.0.0.1:1", {kTiB, kTiB}, 0, {}};
    e.modRevision = 10 + i;
    s.nodes.push_back(std::move(e));
  }
  s.sharedPool.capacity = kTiB;
  return s;
}

void BM_PlanSubmit10kInstancesOver101Nodes(benchmark::State& state) {
  const ClusterSnapshot snapshot = snapshotOf(101);
  const Job job = *parseJob(
      "name: big\nnumInstances: 10000\ncontainers:\n  app:\n    image: busybox\n    memory: 64M\n");
  for (auto _ : state) {
    auto plan = planSubmit(snapshot, job, 0);
    if (!plan) state.SkipWithError("planning failed");
    benchmark::DoNotOptimize(plan);
  }
  state.SetItemsProcessed(state.iterations() * job.numInstances);
}
BENCHMARK(BM_PlanSubmit10kInstancesOver101Nodes)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace ozy

BENCHMARK_MAIN();
