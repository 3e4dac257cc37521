// Test support: GoogleTest prints the deployment enums by name, so a failed
// comparison says "wait" and "advance" instead of their bytes.
#pragma once

#include <ostream>

#include "deploy/deployment_step.h"
#include "deploy/spec_change.h"
#include "scheduler/records.h"

namespace ozy {

inline void PrintTo(StepKind kind, std::ostream* out) {
  static constexpr const char* kNames[] = {"wait", "advance", "pause", "succeed", "fail"};
  *out << kNames[static_cast<int>(kind)];
}

inline void PrintTo(SpecChange change, std::ostream* out) {
  static constexpr const char* kNames[] = {"unchanged", "scale", "in place", "new pods"};
  *out << kNames[static_cast<int>(change)];
}

inline void PrintTo(DeploymentState state, std::ostream* out) { *out << toString(state); }

inline void PrintTo(DeploymentOutcome outcome, std::ostream* out) { *out << toString(outcome); }

}  // namespace ozy
