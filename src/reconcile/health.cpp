#include "reconcile/health.h"

#include <algorithm>

namespace ozy {

HealthTracker::HealthTracker(int healthyThreshold, int unhealthyThreshold)
    : healthyThreshold_(std::max(1, healthyThreshold)),
      unhealthyThreshold_(std::max(1, unhealthyThreshold)) {}

bool HealthTracker::record(bool success, std::string detail) {
  const HealthVerdict before = verdict_;
  if (success) {
    failures_ = 0;
    ++successes_;
    if (successes_ >= healthyThreshold_) verdict_ = HealthVerdict::kHealthy;
  } else {
    successes_ = 0;
    ++failures_;
    lastFailure_ = std::move(detail);
    // A container that never passes becomes unhealthy as well, so its
    // restart policy applies to it.
    if (failures_ >= unhealthyThreshold_) verdict_ = HealthVerdict::kUnhealthy;
  }
  return verdict_ != before;
}

}  // namespace ozy
