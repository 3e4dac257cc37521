#include "agent/drain_delay.h"

namespace ozy {

RemovalCause removalCause(const Action& removal, bool stillWanted) {
  if (removal.job.empty()) return RemovalCause::kStray;
  if (!stillWanted) return RemovalCause::kLeaving;
  return replacesWithNewSpec(removal) ? RemovalCause::kReplaced : RemovalCause::kRepair;
}

RemovalPlan planRemoval(const RemovalFacts& facts, std::optional<std::int64_t> withdrawnAtMs,
                        std::int64_t nowMs, std::int64_t drainDelayMs) {
  const bool mayServe =
      facts.cause == RemovalCause::kLeaving || facts.cause == RemovalCause::kReplaced;
  // A pod with nothing running answers no request: waiting gains nothing.
  if (!mayServe || !facts.running || drainDelayMs <= 0) return {RemovalStep::kNow, nowMs};
  if (withdrawnAtMs) {
    const std::int64_t due = *withdrawnAtMs + drainDelayMs;
    return due <= nowMs ? RemovalPlan{RemovalStep::kNow, nowMs}
                        : RemovalPlan{RemovalStep::kWait, due};
  }
  // Nobody was told to send it anything.
  if (!facts.published) return {RemovalStep::kNow, nowMs};
  return {RemovalStep::kWithdraw, nowMs + drainDelayMs};
}

}  // namespace ozy
