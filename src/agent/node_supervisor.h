// NodeSupervisor: makes this node's pods match what etcd assigns to it, and
// tells the cluster how they are doing.
//
// One thread runs passes. A pass reads the desired instances (DesiredState),
// lists the pods this agent manages (by label), asks the pure reconciler what
// to do, does it through the ContainerRuntime, then publishes each instance's
// status (/ozy/status/<job>/<id>) and, for healthy instances, its DNS record
// (SkyDNS format, dns/skydns.h), both under the node's lease. A pass runs when
// the node's assignments change (a PrefixFollower on them), when a health verdict
// changes, when a restart back-off ends, right after a pass that acted, and
// every `resyncInterval` (which repairs drift: a pod removed by hand comes
// back, a stray managed pod goes). A pod that may be serving is withdrawn
// before it stops, and stops `drainDelay` later (agent/drain_delay.h).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/cut_off_guard.h"
#include "agent/desired_state.h"
#include "agent/drain_delay.h"
#include "agent/health_monitor.h"
#include "agent/image_collector.h"
#include "agent/image_puller.h"
#include "agent/pod_images.h"
#include "agent/pod_policy.h"
#include "agent/volumes.h"
#include "common/result.h"
#include "reconcile/reconciler.h"
#include "runtime/runtime.h"
#include "scheduler/records.h"
#include "store/prefix_follower.h"
#include "store/store.h"

namespace ozy::metrics {
class Metrics;
}

namespace ozy {

class EventLog;

// The ids of every pod's user namespace: container uid and gid 0 to 65535
// are host ids from 2147483647, the start of the range scripts/setup.sh
// gives podman's "containers" user in /etc/subuid and /etc/subgid. One map
// for every pod of every node, not podman's userns=auto (a fresh range per
// pod): shared volumes hold files of instances on many pods and nodes, and
// each must find them owned by its own ids.
inline constexpr runtime::IdMap kPodIds{2147483647, 65536};

struct SupervisorConfig {
  std::string node;
  std::string address;  // where pods publish ports that name no host IP
  std::filesystem::path localVolumeRoot;
  std::filesystem::path sharedVolumeRoot;
  std::chrono::seconds stopGrace{10};  // SIGTERM to SIGKILL when stopping a container
  // SIGTERM to SIGKILL when the node is cut off from etcd: short, so every
  // container is dead before the lease can expire (agent.cpp derives it
  // from the TTL).
  std::chrono::seconds cutOffGrace{1};
  // How long a local volume with no instance on this node is kept (its
  // instance may come back: same job, same id) before it is deleted.
  std::chrono::milliseconds volumeGrace{3'600'000};
  // How long an image no instance on this node needs is kept before it is
  // removed; 0: never (the default). `imageRecord` is where the node keeps
  // what its instances ran (ImageCollector).
  std::chrono::milliseconds imageGcGrace{0};
  std::filesystem::path imageRecord;
  // An instance moved to another node (a drain) keeps running here until it
  // is healthy there, for at most this long.
  std::chrono::milliseconds handoverTimeout{120'000};
  // An instance whose pod is to stop while it may be serving (it leaves the
  // node, or a new spec replaces its pod) is withdrawn first (DNS record
  // deleted, status `stopping`) and its pod stopped this long after, so
  // requests already sent to it finish. 0: stopped at once.
  std::chrono::milliseconds drainDelay{2000};
  std::chrono::milliseconds resyncInterval{5000};
  std::string domain = "ozy.local";   // cluster DNS domain; empty: publish no records
  std::vector<std::string> podDns;    // nameservers for pods; empty: the engine's default
  std::string podNetwork;             // the engine network pods join; empty: the engine's default
  RestartBackoff backoff;
  // How pods are confined (docs/operations.md#security).
  runtime::IdMap idMap = kPodIds;  // size 0: no user namespace
  PodPolicy policy;                // what the node refuses to run
  std::int64_t pidsLimit = 1024;   // per container; 0: none
  std::uint64_t logMaxSize = 10 * 1024 * 1024;  // bytes per container log; 0: none
  // Where images come from: credentials and registries without TLS.
  RegistrySettings registries;
  std::size_t parallelPulls = 3;  // image pulls at once on this node
  std::function<std::int64_t()> lease;  // the node's current lease
  // True while the node may have lost its lease without hearing of it
  // (NodeRegistration::cutOff): its instances are stopped until it clears.
  std::function<bool()> cutOff;
  std::function<std::int64_t()> nowMs;     // wall clock: when a status's state began
  std::function<std::int64_t()> steadyMs;  // monotonic: restart back-off, pass timing
  // Restarts, OOM kills and health checks; null: not measured.
  metrics::Metrics* metrics = nullptr;
  // Where the node records what happened to its instances (pod created,
  // each change of state, restarts with their exit code); null: nowhere.
  EventLog* events = nullptr;
};

// The labels that mark a pod as this agent's.
inline constexpr const char* kLabelManagedBy = "ozy.managed-by";
inline constexpr const char* kManagedByValue = "ozymandias";
inline constexpr const char* kLabelNode = "ozy.node";
inline constexpr const char* kLabelJob = "ozy.job";
inline constexpr const char* kLabelInstance = "ozy.instance";
inline constexpr const char* kLabelSpec = "ozy.spec";

class NodeSupervisor {
 public:
  // With `adopt` (the node's lease survived a quick restart) running pods are
  // kept and their last reported restarts and health carried over; without
  // it every pod this node manages is removed first (the cluster may run its
  // instances elsewhere by now). Local volumes stay either way: they go when
  // etcd says their instance left the node, or after `volumeGrace` unused.
  static Result<std::unique_ptr<NodeSupervisor>, std::string> start(
      Store& store, runtime::ContainerRuntime& runtime, SupervisorConfig config, bool adopt);
  ~NodeSupervisor();
  NodeSupervisor(const NodeSupervisor&) = delete;
  NodeSupervisor& operator=(const NodeSupervisor&) = delete;

  // Ends the passes, the cut-off guard, the watch and the health checks. Pods keep
  // running: an agent restart is not a node leaving (`ozy node drain` is),
  // and the next agent adopts them.
  void stop();

  // Runs a pass soon (for tests and for the watch).
  void poke();

  // This node's instances by job and state (its word, e.g. "healthy"), as
  // its last pass reported them; for the metrics. Thread-safe.
  std::map<std::pair<std::string, std::string>, std::size_t> instanceCounts() const;

 private:
  NodeSupervisor(Store& store, runtime::ContainerRuntime& runtime, SupervisorConfig config);

  struct ContainerTrack {
    std::uint32_t restarts = 0;
    std::int64_t lastStartMs = 0;
    std::string startFailure;  // why the last start failed; empty if it did not
  };
  static constexpr std::int64_t kRetryMs = 1000;  // after a failed start or removal
  struct CreateFailure {
    std::uint32_t count = 0;
    std::int64_t notBeforeMs = 0;
    std::string reason;
  };
  struct Published {
    std::string value;
    std::int64_t lease = 0;
  };
  using InstanceKey = std::pair<std::string, std::uint32_t>;
  using PodsByName = std::map<std::string, const runtime::PodSummary*>;

  void loop();
  // One pass; returns when the next one is due at the latest.
  std::int64_t pass();
  runtime::Labels managedLabels() const;
  // "ozy-<job>-<id>.<node>": podman's names are per host, and several nodes
  // may share one host (and its podman storage). Containers are named
  // "<pod>.<container>".
  std::string podNameOnNode(const std::string& job, std::uint32_t id) const;
  std::vector<ObservedPod> observe(const std::vector<runtime::PodSummary>& pods,
                                   const std::vector<DesiredInstance>& desired);
  std::string checkKey(const runtime::PodSummary& pod, const std::string& container) const;
  // Each returns false if it failed (logged; retried on a later pass).
  bool createPod(const DesiredInstance& want);
  // createPod() for each of `keys`, a few at a time side by side; whether
  // each was made.
  std::vector<bool> createPods(const std::vector<InstanceKey>& keys,
                               const std::map<InstanceKey, const DesiredInstance*>& wanted);
  // Records a pod that could not be made: the instance is failed with
  // `reason` and tried again after the restart back-off. Returns false.
  bool createFailed(const InstanceKey& key, const std::string& pod, const std::string& reason);
  // Removes the pods of `removals` (several at a time), with what goes with
  // each: DNS record first, then the pod, local volumes, status last.
  // Returns how many are gone.
  std::size_t removePods(const std::vector<Action>& removals,
                         const std::map<InstanceKey, const DesiredInstance*>& wanted);
  // Of the pods about to go, keeps those whose instance moved to another
  // node and is not healthy there yet; returns the rest. Sets `due` to when
  // to look again.
  std::vector<Action> afterHandover(std::vector<Action> removals,
                                    const std::map<InstanceKey, const DesiredInstance*>& wanted,
                                    const PodsByName& pods, std::int64_t& due);
  // Before publish() (which then reports them `stopping` and deletes their
  // DNS records): withdraws the serving instances whose pod a new spec
  // replaces.
  void withdrawReplaced(const std::vector<Action>& actions, const PodsByName& pods,
                        const std::map<InstanceKey, const DesiredInstance*>& wanted);
  // Of the pods about to go, keeps those that may be serving until the drain
  // delay since their withdrawal has passed (withdrawing the leaving ones
  // first), and drops the creation of their new pod from `actions`; returns
  // the rest. Sets `due` to when the first delay ends.
  std::vector<Action> afterDrainDelay(std::vector<Action> removals, std::vector<Action>& actions,
                                      const PodsByName& pods,
                                      const std::map<InstanceKey, const DesiredInstance*>& wanted,
                                      std::int64_t& due);
  RemovalFacts removalFacts(const Action& removal, bool stillWanted, const PodsByName& pods) const;
  // The status this node last wrote for the instance, if it holds one.
  std::optional<InstanceStatus> writtenStatus(const InstanceKey& key) const;
  // What a withdrawn instance reports: its last status, `stopping`, since now.
  InstanceStatus stoppingStatus(const InstanceKey& key, std::string reason) const;
  // Forgets the withdrawals of instances whose pod no longer goes (wanted
  // again, or held for a new spec's images).
  void forgetCancelledWithdrawals(const std::vector<Action>& actions);
  // Of the pods about to be replaced by a new version of their job, keeps
  // those that still serve until the new version's images are on the node
  // (dropping their removal and creation from `actions`), so a pull is never
  // part of an instance's downtime. A failed pull keeps the old pod too, and
  // is tried again after the restart back-off.
  void holdForNewImages(std::vector<Action>& actions, const std::vector<ObservedPod>& observed,
                        const std::map<InstanceKey, const DesiredInstance*>& wanted,
                        std::int64_t start, std::int64_t& due);
  // The node that etcd now assigns the instance to, if not this one.
  Result<std::optional<std::string>, StoreError> movedTo(const std::string& job, std::uint32_t id);
  bool startContainer(const Action& action, bool restart, const std::string& podId,
                      const std::map<InstanceKey, const DesiredInstance*>& wanted);
  // Counts a restart in the metrics and records it in the job's events,
  // with its exit code and whether the OOM killer ended the container (the
  // engine is asked before the restart wipes its state).
  void countRestart(const Action& action, const std::string& name,
                    const std::map<InstanceKey, const DesiredInstance*>& wanted);
  void forgetLeftovers();
  // Stops and removes every managed pod, without touching etcd (it is out
  // of reach): the node has been cut off. Volumes stay.
  void standDown();
  // podman does not answer: withdraw every DNS record, report every
  // instance's state as unknown.
  void engineDown(const std::string& why);
  InstanceStatus statusOf(const DesiredInstance& d, const runtime::PodSummary* summary,
                          const std::vector<Action>& actions);
  void publish(const std::vector<DesiredInstance>& desired,
               const std::vector<runtime::PodSummary>& pods, const std::vector<Action>& actions);
  void putIfChanged(std::map<std::string, Published>& cache, const std::string& key,
                    const std::string& value);
  // Puts `key` under this node's lease only if it is absent or already this
  // node's: after a partition another node may hold the instance, and its
  // record must win. False if not written (logged when it failed).
  bool putOwned(const std::string& key, const std::string& value, std::int64_t lease);
  // Deletes local volumes whose instance has not been on this node for
  // volumeGrace.
  void sweepVolumes(const std::vector<runtime::PodSummary>& pods);
  void removeOwned(std::map<std::string, Published>& cache, const std::string& key);
  // Tells the collector which images the assigned instances need, and
  // removes a few of those no instance has needed for imageGcGrace.
  void collectImages(const std::set<std::string>& needed);
  void seedFromStatus(const std::vector<DesiredInstance>& desired);
  // Keeps what instanceCounts() answers, from the states just reported.
  void noteStates(const std::vector<DesiredInstance>& desired);
  // An instance's new state, in its job's events.
  void recordState(const DesiredInstance& d, const InstanceStatus& status);
  mutable std::mutex countsMutex_;
  std::map<std::pair<std::string, std::string>, std::size_t> stateCounts_;
  // For back-off and scheduling: immune to the wall clock being set.
  std::int64_t now() const { return config_.steadyMs(); }

  Store& store_;
  runtime::ContainerRuntime& runtime_;
  SupervisorConfig config_;
  DesiredState desired_;
  VolumeDirs volumes_;
  std::unique_ptr<HealthMonitor> health_;
  std::unique_ptr<ImagePuller> puller_;
  std::unique_ptr<ImageCollector> collector_;  // null unless imageGcGrace is set

  // Owned by the pass thread.
  std::vector<DesiredInstance> lastDesired_;
  std::map<std::string, ContainerTrack> tracks_;  // "<pod id>/<container>"
  std::map<InstanceKey, std::uint32_t> baseRestarts_;  // carried over on adoption
  std::set<InstanceKey> assumeHealthy_;                // likewise
  std::map<InstanceKey, CreateFailure> createFailures_;
  // Instances whose pod waits for its images: since when (the pulls they
  // take must be that recent), and what they wait for (their status).
  std::map<InstanceKey, std::int64_t> imagesAskedAt_;
  std::map<InstanceKey, std::string> pulling_;
  // Instances whose old pod keeps serving while the images of the job's new
  // version come (holdForNewImages): what they wait for, for their status.
  std::map<InstanceKey, std::string> prePulls_;
  // The last status of each instance's pod of the job's current version:
  // what a pod that keeps serving through a pre-pull reports.
  std::map<InstanceKey, InstanceStatus> lastServing_;
  std::map<std::string, runtime::PodNetwork> networks_;  // by pod id
  std::map<std::string, std::string> podIds_;            // pod name -> id, this pass
  std::map<std::string, Published> statusWritten_;       // by key
  std::map<std::string, Published> dnsWritten_;          // by key
  std::map<InstanceKey, std::pair<InstanceState, std::int64_t>> stateSince_;
  std::map<InstanceKey, std::int64_t> orphanSince_;  // local volumes without an instance here
  struct Handover {
    std::string node;  // where the instance runs now
    std::int64_t deadlineMs = 0;
  };
  std::map<InstanceKey, Handover> handovers_;
  // Instances withdrawn while their pod waits out the drain delay: since
  // when (steady clock), whether a new spec replaces the pod (the instance
  // stays), and the `stopping` status reported meanwhile (none after a
  // handover, which deletes the status).
  struct Withdrawal {
    std::int64_t atMs = 0;
    bool replaced = false;
    std::optional<InstanceStatus> status;
  };
  std::map<InstanceKey, Withdrawal> withdrawn_;
  std::unique_ptr<PrefixFollower> follower_;  // pokes on every change of the assignments
  bool stoodDown_ = false;

  std::mutex mutex_;
  // Guards createFailures_ and tracks_ while createPods() makes pods on
  // several threads (the pass's own thread waits for them meanwhile).
  std::mutex bookkeeping_;
  std::condition_variable wake_;
  bool poked_ = true;
  bool stopping_ = false;
  std::thread thread_;
  std::unique_ptr<CutOffGuard> guard_;  // started after the pass thread
};

}  // namespace ozy
