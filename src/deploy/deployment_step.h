// The next step of a deployment, decided from where the job stands (pure).
//
// Level-triggered, like the node's reconciler: every look takes the job's
// instances as they are (by version, on which node, with what their nodes
// report) and the deployment record, and says what to do now: wait, or
// write (place a batch of the new version, remove old instances, pause for
// promotion, succeed, fail). Nothing is remembered between looks but the
// record, so whichever agent looks next, after any crash, decides the same.
// docs/operations.md#deployments tells the rules in prose.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "scheduler/records.h"

namespace ozy {

struct DeploymentView {
  const JobRecord& job;
  // The job's groups: node -> one version's instances there.
  const std::vector<std::pair<std::string, Assignment>>& assignments;
  const DeploymentRecord& deployment;
  // What nodes report, by instance id (any node; the step trusts only the
  // report of the node the instance is assigned to).
  const std::map<std::uint32_t, InstanceStatus>& statuses;
  std::int64_t nowMs = 0;
};

// Why a deployment writes, as data (the message says it for people).
enum class StepKind {
  kWait,     // nothing to write: a batch is not healthy yet, old pods are stopping
  kAdvance,  // place and/or remove instances, or record a new message
  kPause,    // the canaries are healthy: wait for `ozy job promote`
  kSucceed,  // every instance runs the new version
  kFail,     // a deadline passed
};

struct DeploymentStep {
  StepKind kind = StepKind::kWait;
  // New instances of the deployment's version to place now, all or nothing;
  // their ids go in the record's batch.
  std::uint32_t place = 0;
  bool placeCanaries = false;
  // Old instances to remove (withdrawn, drained, stopped by their nodes).
  std::vector<std::uint32_t> remove;
  // The record after the step (without the new batch's ids: the planner
  // picks them). Equal to the input for kWait.
  DeploymentRecord next;
  // With kFail: revert to the last version whose deployment succeeded
  // (when the policy says so and there is one; the caller knows).
  bool revert = false;
  // When to look again at the latest, for a wait that ends by time
  // (min_healthy_time, a deadline); 0: at the next regular look.
  std::int64_t lookAgainAtMs = 0;
};

DeploymentStep decideStep(const DeploymentView& view);

}  // namespace ozy
