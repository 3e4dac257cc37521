// Re-places the instances of nodes that died, and pending instances, from
// any agent: DESIGN's failure model without a leader.
//
// Every agent runs a Replacer. It looks at its state cache every interval:
// a node that is gone (no live registration) but still holds instances in
// its usage record is work. So that thousands of agents do not all race for
// the same work, the live nodes are ranked per piece of work by rendezvous
// hashing: the first acts at once, the second and third only if the work is
// still there `fallbackDelay` (twice that for the third) after they first
// saw it, so a dead or slow first does not strand it; the others never act.
// Pending instances are one piece of work too, looked at every
// `pendingInterval` by its first-ranked node.
//
// Acting is ControlPlane::jobsToReplace() then replace() for each job; the
// commits are guarded, so two agents acting at once cannot both move an
// instance, and the loser's re-plan finds nothing left to do.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "control/control_plane.h"

namespace ozy {

// Where `node` stands among `liveNodes` for `work` (0: it acts first);
// liveNodes.size() when it is not among them. The same on every agent that
// sees the same live nodes.
std::size_t rankFor(std::string_view work, std::string_view node,
                    const std::vector<std::string>& liveNodes);

struct ReplacerConfig {
  std::string node;  // this agent's node
  std::chrono::milliseconds interval{std::chrono::seconds(1)};
  std::chrono::milliseconds fallbackDelay{std::chrono::seconds(5)};
  std::chrono::milliseconds pendingInterval{std::chrono::seconds(10)};
  // The cluster as the agent's state cache sees it; nothing while it is
  // being rebuilt.
  std::function<std::optional<ClusterSnapshot>()> view;
};

class Replacer {
 public:
  Replacer(ControlPlane& control, ReplacerConfig config);
  ~Replacer();
  Replacer(const Replacer&) = delete;
  Replacer& operator=(const Replacer&) = delete;

  void start();
  // Ends the loop; waits for a replace() in progress to finish.
  void stop();

 private:
  using Clock = std::chrono::steady_clock;
  void loop();
  // Whether this node should act now on what `view` shows.
  bool dueNow(const ClusterSnapshot& view, Clock::time_point now);
  void act();

  ControlPlane& control_;
  ReplacerConfig config_;
  std::map<std::string, Clock::time_point> goneSince_;  // gone nodes with instances
  Clock::time_point lastPendingLook_{};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ozy
