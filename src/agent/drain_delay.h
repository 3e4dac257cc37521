// The drain delay: a pod that may be serving is withdrawn before it stops.
//
// A proxy (the ingress, a DNS client) sends requests to every instance whose
// status says healthy. Stopping a pod in the moment its instance leaves the
// node would have it refuse the requests already on their way, an error per
// scale-down. So such an instance is first withdrawn (its DNS record
// deleted, its status rewritten `stopping`), keeps its pod for the node's
// drain delay, and only then gets SIGTERM.
//
// Pure: NodeSupervisor knows the facts, keeps the withdrawal times and does
// the writes; this decides.
#pragma once

#include <cstdint>
#include <optional>

#include "reconcile/reconciler.h"

namespace ozy {

// Why the reconciler removes a pod, as far as draining goes.
enum class RemovalCause {
  kStray,     // not a pod this agent made: nothing of it was ever published
  kRepair,    // a duplicate or broken pod: its instance serves from its own pod, or not at all
  kLeaving,   // its instance is no longer assigned here (scale-down, stop, drain)
  kReplaced,  // its instance stays, in a pod of the job's new spec
};
RemovalCause removalCause(const Action& removal, bool stillWanted);

struct RemovalFacts {
  RemovalCause cause = RemovalCause::kStray;
  bool running = false;  // a container of the pod runs
  // The node last told the cluster the instance is healthy (its status, or
  // a DNS record): someone may be sending it requests.
  bool published = false;
};

enum class RemovalStep {
  kNow,       // nothing to wait for: stop and remove the pod in this pass
  kWithdraw,  // withdraw the instance now; the pod goes at `notBeforeMs`
  kWait,      // withdrawn already; the pod goes at `notBeforeMs`
};
struct RemovalPlan {
  RemovalStep step = RemovalStep::kNow;
  std::int64_t notBeforeMs = 0;
  bool operator==(const RemovalPlan&) const = default;
};

// `withdrawnAtMs`: when the instance was withdrawn, if it was (by an earlier
// pass, or by a handover). A delay of 0 turns waiting off.
RemovalPlan planRemoval(const RemovalFacts& facts, std::optional<std::int64_t> withdrawnAtMs,
                        std::int64_t nowMs, std::int64_t drainDelayMs);

}  // namespace ozy
