// The verdict of a health check from its stream of results: healthy after
// `healthy_threshold` successes in a row, unhealthy after
// `unhealthy_threshold` failures in a row. A new container starts with no
// verdict ("starting"); its dependents wait until it is healthy. Pure.
#pragma once

#include <string>

namespace ozy {

enum class HealthVerdict { kStarting, kHealthy, kUnhealthy };

class HealthTracker {
 public:
  HealthTracker(int healthyThreshold, int unhealthyThreshold);

  // Adds one result; returns true when the verdict changed.
  bool record(bool success, std::string detail = {});

  HealthVerdict verdict() const { return verdict_; }
  // What the last failure said ("HTTP 503", "connection refused"), for status.
  const std::string& lastFailure() const { return lastFailure_; }

 private:
  int healthyThreshold_;
  int unhealthyThreshold_;
  int successes_ = 0;  // in a row
  int failures_ = 0;   // in a row
  HealthVerdict verdict_ = HealthVerdict::kStarting;
  std::string lastFailure_;
};

}  // namespace ozy
