// Drives the cluster's deployments from any agent, like the Replacer drives
// re-placement: no leader, every step a guarded commit.
//
// Every agent follows /ozy/deployments/ and keeps the set of jobs whose
// deployment runs. Per job, the live nodes are ranked by rendezvous hashing
// (rankFor): the first looks every `interval`, and sooner when a step asks
// (a batch reaching min_healthy_time within the interval); the second every
// `fallbackEvery` intervals, so a first that died (until its lease
// expires) or is stuck does not stall the deployment; the others never.
// Two agents looking at once cannot both act: each step compares the job's
// and the deployment's mod_revision, so the loser re-plans and finds the
// step taken.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "control/control_plane.h"
#include "store/prefix_follower.h"

namespace ozy {

struct DeployerConfig {
  std::string node;  // this agent's node
  std::chrono::milliseconds interval{250};
  int fallbackEvery = 20;  // the second-ranked node's looks, in intervals
  // The cluster as the agent's state cache sees it; nothing while it is
  // being rebuilt.
  std::function<std::optional<ClusterSnapshot>()> view;
  std::function<std::int64_t()> nowMs;  // wall clock, as the records' times
};

class Deployer {
 public:
  Deployer(Store& store, ControlPlane& control, DeployerConfig config);
  ~Deployer();
  Deployer(const Deployer&) = delete;
  Deployer& operator=(const Deployer&) = delete;

  // Starts following the deployments (the first read is retried in the
  // background if etcd is away) and the loop.
  void start();
  // Ends the loop; waits for a step under way to finish.
  void stop();

 private:
  void loop();
  void took(const std::string& job, std::string_view value);

  Store& store_;
  ControlPlane& control_;
  DeployerConfig config_;
  std::unique_ptr<PrefixFollower> follower_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  // Jobs whose deployment runs, and when each wants its next look (0: at
  // the next interval).
  std::map<std::string, std::int64_t> active_;
  std::thread thread_;
};

}  // namespace ozy
