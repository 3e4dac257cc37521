// Re-places the instances of nodes that died or are drained, and pending
// instances, from any agent: DESIGN's failure model without a leader.
//
// Every agent runs a Replacer. It looks at its state cache every interval:
// a node that is gone (no live registration) or drained but still holds
// instances in its usage record is work. So that thousands of agents do not all race for
// the same work, the live nodes are ranked per piece of work by rendezvous
// hashing: the first acts at once, the second and third only if the work is
// still there `fallbackDelay` (twice that for the third) after they first
// saw it, so a dead or slow first does not strand it; the others never act.
// Pending instances are one piece of work too, looked at every
// `pendingInterval` by its first-ranked node (see dueWork for the others).
//
// Acting is ControlPlane::jobsToReplace() for the work due, then replace()
// for each job found; the
// commits are guarded, so two agents acting at once cannot both move an
// instance, and the loser's re-plan finds nothing left to do.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "control/control_plane.h"

namespace ozy::metrics {
class Metrics;
}

namespace ozy {

// Where `node` stands among `liveNodes` for `work` (0: it acts first);
// liveNodes.size() when it is not among them. The same on every agent that
// sees the same live nodes.
std::size_t rankFor(std::string_view work, std::string_view node,
                    const std::vector<std::string>& liveNodes);

// What an agent should re-place now.
struct ReplacementWork {
  // Gone or drained nodes whose instances it should move.
  std::set<std::string> nodesToVacate;
  bool pending = false;  // whether to try pending instances
  bool any() const { return pending || !nodesToVacate.empty(); }
};

// What an agent remembers between looks.
struct ReplacementMemory {
  using Clock = std::chrono::steady_clock;
  struct Vacating {
    Clock::time_point since;  // first seen with instances to move
    // For a live drained node, the last time this agent took its work and
    // how many instances it held then.
    std::optional<Clock::time_point> lastLook;
    std::uint32_t instancesAtLastLook = 0;
  };
  std::map<std::string, Vacating> vacating;  // gone or drained nodes with instances
  Clock::time_point lastPendingLook{};
};

struct ReplacerConfig;

// The work `config.node` is due for, given the cluster as `view` shows it
// at `now` (pure apart from updating `memory`). Ranks 1 and 2 take a gone
// or drained node's work after 1 and 2 times fallbackDelay, and pending
// instances after 6 and 11 times pendingInterval, in case those ranked
// before them cannot (dead, stuck, or an older agent without a Replacer).
// A live drained node whose instances found no room keeps them, so its
// work stays: it is taken again only once its instance count changed (a
// round under --max-txn-ops moved some) or after pendingInterval, as
// pending instances are, not every interval.
ReplacementWork dueWork(const ClusterSnapshot& view, const ReplacerConfig& config,
                        ReplacementMemory& memory, ReplacementMemory::Clock::time_point now);

struct ReplacerConfig {
  std::string node;  // this agent's node
  std::chrono::milliseconds interval{std::chrono::seconds(1)};
  std::chrono::milliseconds fallbackDelay{std::chrono::seconds(5)};
  std::chrono::milliseconds pendingInterval{std::chrono::seconds(10)};
  // The cluster as the agent's state cache sees it; nothing while it is
  // being rebuilt.
  std::function<std::optional<ClusterSnapshot>()> view;
  metrics::Metrics* metrics = nullptr;  // instances re-placed; null: not counted
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
  void loop();
  void act(const ReplacementWork& work);

  ControlPlane& control_;
  ReplacerConfig config_;
  ReplacementMemory memory_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ozy
