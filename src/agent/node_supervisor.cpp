#include "agent/node_supervisor.h"

#include <algorithm>
#include <atomic>
#include <charconv>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "agent/health_probe.h"
#include "dns/skydns.h"
#include "events/event_log.h"
#include "job/capabilities.h"
#include "job/job_parser.h"
#include "job/units.h"
#include "metrics/metrics.h"
#include "scheduler/keys.h"

namespace ozy {
namespace {

std::string containerName(const std::string& pod, const std::string& container) {
  return pod + "." + container;
}

template <typename T>
bool parseNumber(const std::string& text, T& out, int base = 10) {
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out, base);
  return ec == std::errc() && ptr == text.data() + text.size() && !text.empty();
}

std::string label(const runtime::Labels& labels, const char* key) {
  auto it = labels.find(key);
  return it == labels.end() ? std::string() : it->second;
}

ContainerState fromRuntime(runtime::ContainerStatus status) {
  switch (status) {
    case runtime::ContainerStatus::kCreated:
      return ContainerState::kCreated;
    case runtime::ContainerStatus::kRunning:
    case runtime::ContainerStatus::kPaused:
    case runtime::ContainerStatus::kStopping:
      return ContainerState::kRunning;
    case runtime::ContainerStatus::kExited:
      return ContainerState::kExited;
    case runtime::ContainerStatus::kUnknown:
      break;
  }
  return ContainerState::kUnknown;
}

// The port a DNS SRV record gives: the first container port the job names
// (published or not; pods reach each other at the pod's own address).
std::uint16_t servicePort(const Job& job) {
  for (const auto& c : job.containers) {
    if (!c.ports.empty()) return c.ports.front().containerPort;
  }
  for (const auto& c : job.containers) {
    if (c.healthcheck && c.healthcheck->port != 0) return c.healthcheck->port;
  }
  return 0;
}

// Stops (SIGTERM, then SIGKILL after `grace`) and removes `pods`, several at
// a time: a container that ignores SIGTERM holds its pod for the whole grace
// period, and twenty of those in a row would hold the node for minutes.
// Returns, per pod, whether it is gone.
std::vector<bool> stopAndRemove(runtime::ContainerRuntime& runtime, const std::vector<std::string>& pods,
                                std::chrono::seconds grace) {
  constexpr std::size_t kParallel = 8;
  std::vector<char> gone(pods.size(), 0);
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    for (std::size_t i = next++; i < pods.size(); i = next++) {
      if (auto stopped = runtime.stopPod(pods[i], grace); !stopped) {
        spdlog::warn("pod {}: {}", pods[i], stopped.error().message);
      }
      auto removed = runtime.removePod(pods[i], true);
      if (removed || removed.error().code == runtime::RuntimeError::Code::kNotFound) {
        gone[i] = 1;
      } else {
        spdlog::error("pod {}: {}", pods[i], removed.error().message);
      }
    }
  };
  std::vector<std::thread> threads;
  for (std::size_t t = 1; t < std::min(kParallel, pods.size()); ++t) threads.emplace_back(worker);
  worker();
  for (auto& t : threads) t.join();
  return {gone.begin(), gone.end()};
}

// Whether `pod` was made from version `version` of its job's spec.
bool ofVersion(const runtime::PodSummary& pod, std::uint64_t version) {
  return label(pod.labels, kLabelSpec) == fmt::format("{:x}", version);
}

}  // namespace

NodeSupervisor::NodeSupervisor(Store& store, runtime::ContainerRuntime& runtime,
                               SupervisorConfig config)
    : store_(store),
      runtime_(runtime),
      config_(std::move(config)),
      desired_(store, config_.node),
      volumes_(config_.localVolumeRoot, config_.sharedVolumeRoot, config_.idMap) {}

Result<std::unique_ptr<NodeSupervisor>, std::string> NodeSupervisor::start(
    Store& store, runtime::ContainerRuntime& runtime, SupervisorConfig config, bool adopt) {
  if (auto ping = runtime.ping(); !ping) return fail(ping.error().message);
  std::unique_ptr<NodeSupervisor> s(new NodeSupervisor(store, runtime, std::move(config)));
  s->health_ = std::make_unique<HealthMonitor>(
      [&runtime, metrics = s->config_.metrics](const CheckTarget& t) {
        const auto started = std::chrono::steady_clock::now();
        ProbeResult result = runProbe(t, runtime);
        if (metrics) {
          const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
          metrics->healthChecked(t.job, toString(t.check.type), result.ok, took.count());
        }
        return result;
      },
      [raw = s.get()] { raw->poke(); });
  s->puller_ = std::make_unique<ImagePuller>(
      runtime, ImagePullerConfig{.parallel = s->config_.parallelPulls,
                                 .maxWaiting = 256,
                                 .onDone = [raw = s.get()] { raw->poke(); },
                                 .steadyMs = s->config_.steadyMs});
  if (s->config_.imageGcGrace.count() > 0) {
    s->collector_ = std::make_unique<ImageCollector>(s->config_.imageRecord, s->config_.imageGcGrace,
                                                     s->config_.nowMs());
  }
  auto pods = runtime.listPods(s->managedLabels());
  if (!pods) return fail(pods.error().message);
  if (!adopt) {
    // The lease is gone: the cluster may have placed these instances
    // elsewhere already. Start from nothing.
    std::vector<std::string> names;
    for (const auto& pod : *pods) {
      spdlog::info("removing pod {} left by an earlier run of this node", pod.name);
      names.push_back(pod.name);
    }
    const auto gone = stopAndRemove(runtime, names, s->config_.stopGrace);
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (!gone[i]) return fail(fmt::format("cannot remove pod {} (see the log above)", names[i]));
    }
    // Their local volumes stay: an instance that is still (or again)
    // assigned here gets its data back; the others' are swept later.
  } else {
    auto desired = s->desired_.read();
    if (!desired) return fail(desired.error().message);
    s->seedFromStatus(*desired);
    spdlog::info("adopting {} running pod(s)", pods->size());
  }
  // Only a cue to run a pass, which reads the assignments itself. Not
  // required to read at once: the pass thread keeps what it last had while
  // etcd is away.
  auto follower = PrefixFollower::start(
      store,
      {.prefixes = {keys::assignmentsOf(s->config_.node)},
       .name = "this node's assignments",
       .requireFirstRead = false},
      {.onSnapshot = [raw = s.get()](std::vector<KeyValue>, std::int64_t) { raw->poke(); },
       .onEvents = [raw = s.get()](std::vector<WatchEvent>, std::int64_t) { raw->poke(); },
       .onWatchEnded = {}});
  if (!follower) return fail(follower.error().message);
  s->follower_ = std::move(follower).value();
  s->thread_ = std::thread([raw = s.get()] { raw->loop(); });
  s->guard_ = std::make_unique<CutOffGuard>(
      runtime, CutOffGuardConfig{s->config_.node, s->managedLabels(), s->config_.cutOffGrace,
                                 s->config_.cutOff, [raw = s.get()] { raw->poke(); },
                                 s->config_.steadyMs});
  return s;
}

NodeSupervisor::~NodeSupervisor() { stop(); }

std::string NodeSupervisor::podNameOnNode(const std::string& job, std::uint32_t id) const {
  return podName(job, id) + "." + config_.node;
}

runtime::Labels NodeSupervisor::managedLabels() const {
  return {{kLabelManagedBy, kManagedByValue}, {kLabelNode, config_.node}};
}

void NodeSupervisor::seedFromStatus(const std::vector<DesiredInstance>& desired) {
  std::set<std::string> jobs;
  for (const auto& d : desired) jobs.insert(d.job);
  for (const auto& job : jobs) {
    auto range = store_.getPrefix(keys::statusOf(job));
    if (!range) continue;
    for (const auto& kv : range->kvs) {
      auto status = decodeInstanceStatus(kv.value);
      std::uint32_t id = 0;
      if (!status || status->node != config_.node ||
          !parseNumber(std::string(keys::nameUnder(kv.key, keys::statusOf(job))), id)) {
        continue;
      }
      baseRestarts_[{job, id}] = status->restarts;
      if (status->state == InstanceState::kHealthy) assumeHealthy_.insert({job, id});
      statusWritten_[kv.key] = Published{kv.value, kv.lease};
    }
    // The DNS records this node published, so those of instances that are
    // no longer healthy (or no longer here) are withdrawn.
    if (config_.domain.empty()) continue;
    auto records = store_.getPrefix(dns::jobPrefix(config_.domain, job));
    if (!records) continue;
    for (const auto& kv : records->kvs) {
      if (kv.lease == config_.lease()) dnsWritten_[kv.key] = Published{kv.value, kv.lease};
    }
  }
}

void NodeSupervisor::poke() {
  std::lock_guard lock(mutex_);
  poked_ = true;
  wake_.notify_all();
}

void NodeSupervisor::loop() {
  std::int64_t dueMs = 0;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      const auto wait = std::chrono::milliseconds(std::max<std::int64_t>(0, dueMs - now()));
      wake_.wait_for(lock, wait, [&] { return poked_ || stopping_; });
      if (stopping_) return;
      poked_ = false;
    }
    try {
      dueMs = pass();
    } catch (const std::exception& e) {
      // A bug, or a value nothing expected: log it and try again shortly
      // rather than take the node's instances down with the agent.
      spdlog::error("reconcile pass failed: {}", e.what());
      dueMs = now() + 1000;
    }
  }
}

std::int64_t NodeSupervisor::pass() {
  const std::int64_t start = now();
  std::int64_t due = start + config_.resyncInterval.count();
  if (config_.cutOff && config_.cutOff()) {
    // Before the lease is surely over, on this node's own clock: the
    // cluster may already count these instances as lost.
    if (!stoodDown_) standDown();
    return start + kRetryMs;
  }
  if (stoodDown_) {
    spdlog::info("etcd renewed this node's lease again: starting its instances again");
    stoodDown_ = false;
  }
  auto desired = desired_.read();
  const bool fresh = desired.ok();
  if (fresh) {
    lastDesired_ = std::move(desired).value();
  } else {
    // Keep running what was last assigned: an etcd outage is no reason to
    // stop instances. But tell the cluster nothing from a stale belief.
    spdlog::warn("cannot read this node's assignments: {}", desired.error().message);
  }
  auto pods = runtime_.listPods(managedLabels());
  if (!pods) {
    spdlog::warn("cannot list pods: {}", pods.error().message);
    if (fresh && pods.error().code == runtime::RuntimeError::Code::kUnavailable) {
      engineDown(pods.error().message);
    }
    return std::min(due, start + 1000);
  }
  std::vector<ObservedPod> observed = observe(*pods, lastDesired_);
  std::vector<Action> actions = reconcile(lastDesired_, observed, start, config_.backoff);
  std::map<InstanceKey, const DesiredInstance*> wanted;
  for (const auto& d : lastDesired_) wanted[{d.job, d.id}] = &d;
  holdForNewImages(actions, observed, wanted, start, due);
  PodsByName podByName;
  for (const auto& p : *pods) podByName[p.name] = &p;
  forgetCancelledWithdrawals(actions);
  // First tell the cluster what is: an instance that turned unhealthy loses
  // its DNS record now, not after this pass's restarts and removals; one
  // whose pod is about to be replaced is `stopping`.
  if (fresh) {
    withdrawReplaced(actions, podByName, wanted);
    publish(lastDesired_, *pods, actions);
  }

  bool acted = false;
  podIds_.clear();
  for (const auto& p : *pods) podIds_[p.name] = p.id;
  // Removals first (the reconciler lists them first), all at once.
  std::vector<Action> removals;
  for (const Action& action : actions) {
    if (action.kind == ActionKind::kRemovePod) removals.push_back(action);
  }
  if (fresh) {
    removals = afterHandover(std::move(removals), wanted, podByName, due);
  } else {
    // Without a fresh read nobody can tell whether a handover is done:
    // those pods wait for the next pass.
    std::erase_if(removals, [&](const Action& a) { return handovers_.contains({a.job, a.id}); });
  }
  removals = afterDrainDelay(std::move(removals), actions, podByName, wanted, due);
  if (!removals.empty()) {
    const std::size_t removed = removePods(removals, wanted);
    if (removed > 0) acted = true;
    if (removed < removals.size()) due = std::min(due, start + kRetryMs);
  }
  // New pods are made side by side, once the loop has seen them all: a
  // batch of a deployment (or a scale-up) is as quick as its slowest pod,
  // not the sum of them.
  std::vector<InstanceKey> creations;
  for (const Action& action : actions) {
    const InstanceKey key{action.job, action.id};
    switch (action.kind) {
      case ActionKind::kRemovePod:
        break;  // done above
      case ActionKind::kCreatePod: {
        // The guard may have found the node cut off since the pass began.
        if (config_.cutOff && config_.cutOff()) return start + kRetryMs;
        auto& failure = createFailures_[key];
        if (failure.notBeforeMs > start) {
          due = std::min(due, failure.notBeforeMs);
          break;
        }
        // The images first, pulled on the puller's threads: this pass goes on.
        const auto asked = imagesAskedAt_.try_emplace(key, start).first->second;
        const ImagesVerdict images =
            prepareImages(*wanted.at(key)->spec, runtime_, *puller_, config_.registries, asked);
        if (images.state == ImagesVerdict::State::kPulling) {
          // Shown at once by the next pass; the puller wakes the one after.
          if (pulling_.insert_or_assign(key, images.reason).second) due = start;
          break;
        }
        pulling_.erase(key);
        imagesAskedAt_.erase(key);
        if (images.state == ImagesVerdict::State::kFailed) {
          createFailed(key, action.pod, images.reason);
          due = std::min(due, createFailures_[key].notBeforeMs);
          break;
        }
        spdlog::info("pod {}: creating ({})", action.pod, action.reason);
        creations.push_back(key);  // made together after this loop
        break;
      }
      case ActionKind::kStartContainer:
      case ActionKind::kRestartContainer:
        if (config_.cutOff && config_.cutOff()) return start + kRetryMs;
        spdlog::info("container {} of pod {}: {} ({})", action.container, action.pod,
                     action.kind == ActionKind::kStartContainer ? "starting" : "restarting",
                     action.reason);
        if (startContainer(action, action.kind == ActionKind::kRestartContainer,
                           podIds_[action.pod], wanted)) {
          acted = true;
        } else {
          due = std::min(due, start + kRetryMs);
        }
        break;
      case ActionKind::kWait:
        due = std::min(due, action.notBeforeMs);
        break;
    }
  }
  if (!creations.empty()) {
    const std::vector<bool> made = createPods(creations, wanted);
    for (std::size_t i = 0; i < creations.size(); ++i) {
      if (made[i]) {
        createFailures_.erase(creations[i]);
        acted = true;
      } else {
        due = std::min(due, createFailures_[creations[i]].notBeforeMs);
      }
    }
  }
  for (auto it = createFailures_.begin(); it != createFailures_.end();) {
    it = wanted.contains(it->first) ? std::next(it) : createFailures_.erase(it);
  }
  std::erase_if(imagesAskedAt_, [&](const auto& entry) { return !wanted.contains(entry.first); });
  std::erase_if(pulling_, [&](const auto& entry) { return !wanted.contains(entry.first); });
  std::erase_if(lastServing_, [&](const auto& entry) { return !wanted.contains(entry.first); });
  std::set<std::string> images;
  for (const auto& d : lastDesired_) {
    for (const auto& c : d.spec->containers) images.insert(c.image);
  }
  puller_->retain(images);
  if (fresh) {
    forgetLeftovers();
    sweepVolumes(*pods);
    if (collector_) collectImages(images);
  }
  // After acting, look again at once: created containers wait to be started,
  // started ones for their health checks.
  return acted ? start : due;
}

std::string NodeSupervisor::checkKey(const runtime::PodSummary& pod,
                                     const std::string& container) const {
  const auto it = tracks_.find(pod.id + "/" + container);
  return fmt::format("{}/{}/{}", pod.id, container, it == tracks_.end() ? 0 : it->second.restarts);
}

std::vector<ObservedPod> NodeSupervisor::observe(const std::vector<runtime::PodSummary>& pods,
                                                 const std::vector<DesiredInstance>& desired) {
  std::map<InstanceKey, const DesiredInstance*> wanted;
  for (const auto& d : desired) wanted[{d.job, d.id}] = &d;
  std::vector<ObservedPod> out;
  std::vector<CheckTarget> targets;
  std::set<std::string> livePods;
  for (const runtime::PodSummary& pod : pods) {
    ObservedPod o;
    o.name = pod.name;
    o.job = label(pod.labels, kLabelJob);
    // Labels are anyone's to set: a job label that is not a DNS label must
    // never reach a path or a key.
    if (!isDnsLabel(o.job) || !parseNumber(label(pod.labels, kLabelInstance), o.id) ||
        !parseNumber(label(pod.labels, kLabelSpec), o.jobVersion, 16)) {
      o.job.clear();  // not one of ours after all: the reconciler removes it
    }
    livePods.insert(pod.id);
    auto want = wanted.find({o.job, o.id});
    const Job* spec = want == wanted.end() ? nullptr : want->second->spec.get();
    const std::string prefix = pod.name + ".";
    bool running = false;
    for (const runtime::ContainerSummary& c : pod.containers) {
      if (!c.name.starts_with(prefix)) continue;
      ObservedContainer oc;
      oc.name = c.name.substr(prefix.size());
      oc.state = fromRuntime(c.state);
      oc.exitCode = c.exitCode;
      const auto track = tracks_.find(pod.id + "/" + oc.name);
      if (track != tracks_.end()) {
        oc.restarts = track->second.restarts;
        oc.lastStartMs = track->second.lastStartMs;
      }
      const Container* declared = spec ? spec->findContainer(oc.name) : nullptr;
      running = running || oc.state == ContainerState::kRunning;
      if (declared && declared->healthcheck && oc.state == ContainerState::kRunning &&
          o.jobVersion == want->second->jobVersion) {
        CheckTarget target{checkKey(pod, oc.name), c.name, {}, *declared->healthcheck,
                           assumeHealthy_.contains({o.job, o.id}), o.job};
        auto net = networks_.find(pod.id);
        if (net == networks_.end() || net->second.ip.empty()) {
          if (auto inspected = runtime_.inspectPodNetwork(pod.id)) {
            net = networks_.insert_or_assign(pod.id, std::move(inspected).value()).first;
          }
        }
        if (net != networks_.end()) target.podIp = net->second.ip;
        // The address is part of what a check is: one made before the pod
        // had an address is replaced once it has one.
        if (target.podIp.empty()) target.key += "/no-address";
        targets.push_back(target);
        const auto view = health_->view(target.key);
        oc.ready = view ? view->verdict == HealthVerdict::kHealthy : target.startHealthy;
        oc.healthy = !view || view->verdict != HealthVerdict::kUnhealthy;
      }
      o.containers.push_back(std::move(oc));
    }
    if (!running) networks_.erase(pod.id);  // its address changes when it starts again
    out.push_back(std::move(o));
  }
  std::erase_if(networks_, [&](const auto& entry) { return !livePods.contains(entry.first); });
  std::erase_if(tracks_, [&](const auto& entry) {
    return !livePods.contains(entry.first.substr(0, entry.first.find('/')));
  });
  health_->setTargets(targets);
  assumeHealthy_.clear();  // only the first pass after adoption
  return out;
}

std::vector<bool> NodeSupervisor::createPods(const std::vector<InstanceKey>& keys,
                                             const std::map<InstanceKey, const DesiredInstance*>& wanted) {
  // At most kParallelCreations at once: podman serialises much of a pod's
  // making, and a node with a hundred new pods must not open a hundred
  // connections to it.
  constexpr std::size_t kParallelCreations = 4;
  std::vector<bool> made(keys.size(), false);
  if (keys.size() == 1) {
    made[0] = createPod(*wanted.at(keys[0]));
    return made;
  }
  std::atomic<std::size_t> next{0};
  auto work = [&] {
    for (std::size_t i = next++; i < keys.size(); i = next++) made[i] = createPod(*wanted.at(keys[i]));
  };
  std::vector<std::thread> workers;
  for (std::size_t t = 1; t < std::min(kParallelCreations, keys.size()); ++t) workers.emplace_back(work);
  work();
  for (auto& w : workers) w.join();
  return made;
}

bool NodeSupervisor::createPod(const DesiredInstance& want) {
  const Job& job = *want.spec;
  const std::string pod = podNameOnNode(want.job, want.id);
  const InstanceKey key{want.job, want.id};
  auto failed = [&](const std::string& reason) { return createFailed(key, pod, reason); };
  // Decided before anything is made: a refusal becomes the instance's
  // status (failed, naming the flag that would allow it), and is asked
  // again with the back-off of any failed creation.
  if (auto refused = refusal(job, config_.policy)) return failed(*refused);
  runtime::PodSpec spec;
  spec.name = pod;
  spec.idMap = config_.idMap;
  spec.labels = managedLabels();
  spec.labels[kLabelJob] = want.job;
  spec.labels[kLabelInstance] = std::to_string(want.id);
  spec.labels[kLabelSpec] = fmt::format("{:x}", want.jobVersion);
  spec.hostname = podHostname(want.job, want.id);  // without the node: hostnames are short
  spec.dnsServers = config_.podDns;
  spec.network = config_.podNetwork;
  for (const auto& c : job.containers) {
    for (const auto& p : c.ports) {
      spec.ports.push_back({p.hostIp.empty() ? config_.address : p.hostIp, p.hostPort,
                            p.containerPort, std::string(toString(p.protocol))});
    }
  }
  auto podId = runtime_.createPod(spec);
  if (!podId) return failed(podId.error().message);
  for (const auto& c : job.containers) {
    auto mounts = volumes_.prepare(want.job, want.id, c);
    if (!mounts) {
      (void)runtime_.removePod(*podId, true);
      return failed(mounts.error());
    }
    runtime::ContainerSpec cs;
    cs.name = containerName(pod, c.name);
    cs.pod = *podId;
    cs.image = c.image;
    cs.command = c.command;
    for (const auto& e : c.environment) cs.env[e.name] = e.value;
    cs.memoryLimit = c.memory;
    // The agent restarts containers itself, with back-off and health in mind.
    cs.restart = runtime::RestartPolicy::kNo;
    cs.mounts = std::move(mounts).value();
    cs.labels = {{kLabelManagedBy, kManagedByValue}, {"ozy.container", c.name}};
    cs.stopTimeout = config_.stopGrace;
    cs.noNewPrivileges = true;
    cs.capabilities = effectiveCapabilities(c);
    cs.pidsLimit = config_.pidsLimit;
    cs.logMaxSize = config_.logMaxSize;
    if (auto created = runtime_.createContainer(cs); !created) {
      (void)runtime_.removePod(*podId, true);
      std::string reason = created.error().message;
      if (created.error().code == runtime::RuntimeError::Code::kNotFound) {
        reason = fmt::format("image {} is not on this node ({})", c.image, reason);
      }
      return failed(reason);
    }
  }
  // Containers that depend on nothing start now rather than on the next
  // pass: what the reconciler would ask next anyway, one round trip sooner.
  // Their dependents wait for the next passes, as always.
  for (const auto& c : job.containers) {
    if (!c.dependsOn.empty()) continue;
    Action start{ActionKind::kStartContainer, pod, want.job, want.id, c.name, "not started yet", 0};
    (void)startContainer(start, false, *podId, {});  // a failure is seen, and retried, next pass
  }
  return true;
}

bool NodeSupervisor::createFailed(const InstanceKey& key, const std::string& pod, const std::string& reason) {
  // createPods() runs createPod() on several threads.
  std::lock_guard lock(bookkeeping_);
  CreateFailure& f = createFailures_[key];
  f.notBeforeMs = now() + restartDelay(f.count, config_.backoff).count();
  ++f.count;
  f.reason = reason;
  spdlog::error("pod {}: {}", pod, reason);
  return false;
}

void NodeSupervisor::holdForNewImages(std::vector<Action>& actions,
                                      const std::vector<ObservedPod>& observed,
                                      const std::map<InstanceKey, const DesiredInstance*>& wanted,
                                      std::int64_t start, std::int64_t& due) {
  std::map<std::string, const ObservedPod*> byName;
  for (const ObservedPod& pod : observed) byName[pod.name] = &pod;
  std::set<std::string> heldPods;
  std::set<InstanceKey> held;
  for (const Action& action : actions) {
    if (action.kind != ActionKind::kRemovePod || action.job.empty()) continue;
    const InstanceKey key{action.job, action.id};
    const auto want = wanted.find(key);
    const auto pod = byName.find(action.pod);
    if (want == wanted.end() || pod == byName.end() ||
        pod->second->jobVersion == want->second->jobVersion) {
      continue;
    }
    // A pod that no longer serves gains nothing from waiting.
    const auto& containers = pod->second->containers;
    if (containers.empty() || !std::all_of(containers.begin(), containers.end(), [](const auto& c) {
          return c.state == ContainerState::kRunning;
        })) {
      continue;
    }
    const std::string waits = "the job's new spec";
    const std::string serves = "the pod of its previous spec serves meanwhile";
    if (auto failure = createFailures_.find(key);
        failure != createFailures_.end() && failure->second.notBeforeMs > start) {
      heldPods.insert(action.pod);
      held.insert(key);
      prePulls_[key] = fmt::format("{} cannot start: {}; {}", waits, failure->second.reason, serves);
      due = std::min(due, failure->second.notBeforeMs);
      continue;
    }
    const auto asked = imagesAskedAt_.try_emplace(key, start).first->second;
    const ImagesVerdict images =
        prepareImages(*want->second->spec, runtime_, *puller_, config_.registries, asked);
    switch (images.state) {
      case ImagesVerdict::State::kReady:
        continue;  // replaced in this pass
      case ImagesVerdict::State::kPulling:
        if (prePulls_.insert_or_assign(key, fmt::format("{} is {}; {}", waits, images.reason, serves))
                .second) {
          due = start;  // shown at once; the puller wakes the pass after
        }
        break;
      case ImagesVerdict::State::kFailed:
        imagesAskedAt_.erase(key);  // the next try asks for a new pull
        createFailed(key, action.pod, images.reason);
        prePulls_[key] = fmt::format("{} cannot start: {}; {}", waits, images.reason, serves);
        due = std::min(due, createFailures_[key].notBeforeMs);
        break;
    }
    heldPods.insert(action.pod);
    held.insert(key);
  }
  std::erase_if(prePulls_, [&](const auto& entry) { return !held.contains(entry.first); });
  std::erase_if(actions, [&](const Action& a) {
    return (a.kind == ActionKind::kRemovePod && heldPods.contains(a.pod)) ||
           (a.kind == ActionKind::kCreatePod && held.contains({a.job, a.id}));
  });
}

void NodeSupervisor::collectImages(const std::set<std::string>& needed) {
  // A few per pass: a removal takes podman a moment, and passes run often.
  constexpr std::size_t kPerPass = 4;
  const std::int64_t now = config_.nowMs();
  collector_->needed(needed, now);
  const std::vector<std::string> due = collector_->due(now);
  for (std::size_t i = 0; i < due.size() && i < kPerPass; ++i) {
    const std::string& image = due[i];
    auto removed = runtime_.removeImage(image);
    if (removed || removed.error().code == runtime::RuntimeError::Code::kNotFound) {
      if (removed) {
        spdlog::info("removed image {}: no instance on this node has needed it for {}", image,
                     formatDuration(config_.imageGcGrace));
      }
      collector_->removed(image);
      continue;
    }
    spdlog::warn("cannot remove image {} ({}); trying again in {}", image, removed.error().message,
                 formatDuration(config_.imageGcGrace));
    collector_->keep(image, now);
  }
}

std::size_t NodeSupervisor::removePods(const std::vector<Action>& removals,
                                      const std::map<InstanceKey, const DesiredInstance*>& wanted) {
  // Withdraw the DNS records before stopping anything, so clients stop coming.
  std::vector<std::string> names;
  for (const Action& action : removals) {
    spdlog::info("pod {}: removing ({})", action.pod, action.reason);
    names.push_back(action.pod);
    if (!config_.domain.empty() && !action.job.empty() && !wanted.contains({action.job, action.id})) {
      removeOwned(dnsWritten_, dns::instanceKey(config_.domain, action.job, action.id));
    }
  }
  const std::vector<bool> gone = stopAndRemove(runtime_, names, config_.stopGrace);
  std::size_t count = 0;
  for (std::size_t i = 0; i < removals.size(); ++i) {
    if (!gone[i]) continue;
    ++count;
    const Action& action = removals[i];
    if (action.job.empty()) continue;  // not a pod this agent made: no volumes to go
    const InstanceKey key{action.job, action.id};
    withdrawn_.erase(key);
    // A duplicate goes and the instance stays; a pod of an older spec goes
    // with its local volumes (a new spec starts from empty ones).
    const bool stillWanted = wanted.contains(key);
    if (!stillWanted || replacesWithNewSpec(action)) {
      if (auto removed = volumes_.removeLocal(action.job, action.id); !removed) {
        spdlog::error("pod {}: {}", action.pod, removed.error());
      }
    }
    if (stillWanted) {
      // The instance lives on in a new pod: its restarts so far still count.
      if (auto id = podIds_.find(action.pod); id != podIds_.end()) {
        for (const auto& [trackKey, track] : tracks_) {
          if (trackKey.starts_with(id->second + "/")) baseRestarts_[key] += track.restarts;
        }
      }
      continue;
    }
    // Last: a status that is gone means the instance is gone, volumes and all.
    removeOwned(statusWritten_, keys::status(action.job, action.id));
    stateSince_.erase(key);
    baseRestarts_.erase(key);
  }
  return count;
}

Result<std::optional<std::string>, StoreError> NodeSupervisor::movedTo(const std::string& job,
                                                                       std::uint32_t id) {
  auto record = store_.get(keys::job(job));
  if (!record) return fail(std::move(record).error());
  if (record->kvs.empty()) return std::optional<std::string>();  // stopped: nothing to hand over
  auto decoded = decodeJob(record->kvs.front().value);
  if (!decoded) return std::optional<std::string>();
  for (const std::string& node : decoded->nodes) {
    if (node == config_.node) continue;
    auto assignment = store_.get(keys::assignment(node, job));
    if (!assignment) return fail(std::move(assignment).error());
    if (assignment->kvs.empty()) continue;
    auto groups = decodeAssignments(assignment->kvs.front().value);
    if (!groups) continue;
    for (const Assignment& a : *groups) {
      if (std::binary_search(a.instances.begin(), a.instances.end(), id)) {
        return std::optional<std::string>(node);
      }
    }
  }
  return std::optional<std::string>();
}

std::vector<Action> NodeSupervisor::afterHandover(
    std::vector<Action> removals, const std::map<InstanceKey, const DesiredInstance*>& wanted,
    const PodsByName& pods, std::int64_t& due) {
  // A drain moves an instance by committing it to another node; stopping it
  // here at once would leave it running nowhere until the new pod is
  // healthy. So it is withdrawn first (DNS record and status, which frees
  // the keys for the new node), keeps serving what it already serves, and
  // stops once the other node reports it healthy, or after handoverTimeout,
  // and no sooner than the drain delay after the withdrawal (afterDrainDelay).
  constexpr std::int64_t kLookAgainMs = 500;
  std::vector<Action> goNow;
  std::set<InstanceKey> leaving;
  for (Action& action : removals) {
    const InstanceKey key{action.job, action.id};
    if (action.job.empty() || wanted.contains(key)) {
      goNow.push_back(std::move(action));
      continue;
    }
    leaving.insert(key);
    auto it = handovers_.find(key);
    if (it == handovers_.end()) {
      auto target = movedTo(action.job, action.id);
      if (!target) {
        // Moved or not, nobody can say: the pod stays until etcd answers.
        spdlog::warn("pod {}: cannot tell where its instance went: {}", action.pod,
                     target.error().message);
        due = std::min(due, now() + kLookAgainMs);
        continue;
      }
      if (!*target) {
        goNow.push_back(std::move(action));
        continue;
      }
      spdlog::info("pod {}: instance moved to node {}; stopping it once it is healthy there",
                   action.pod, **target);
      // Decided before the withdrawal below, which makes it look unpublished.
      if (planRemoval(removalFacts(action, false, pods), std::nullopt, now(),
                      config_.drainDelay.count())
              .step == RemovalStep::kWithdraw) {
        withdrawn_[key] = Withdrawal{now(), false, std::nullopt};
      }
      if (!config_.domain.empty()) removeOwned(dnsWritten_, dns::instanceKey(config_.domain, action.job, action.id));
      removeOwned(statusWritten_, keys::status(action.job, action.id));
      it = handovers_.emplace(key, Handover{**target, now() + config_.handoverTimeout.count()}).first;
    }
    auto status = store_.get(keys::status(action.job, action.id));
    std::optional<InstanceStatus> there;
    if (status && !status->kvs.empty()) {
      if (auto decoded = decodeInstanceStatus(status->kvs.front().value)) there = *decoded;
    }
    const bool healthyThere =
        there && there->node == it->second.node && there->state == InstanceState::kHealthy;
    if (healthyThere || now() >= it->second.deadlineMs) {
      if (!healthyThere) {
        spdlog::warn("pod {}: not healthy on node {} after {} s; stopping it here anyway", action.pod,
                     it->second.node, config_.handoverTimeout.count() / 1000);
      }
      handovers_.erase(it);
      goNow.push_back(std::move(action));
      continue;
    }
    due = std::min(due, now() + kLookAgainMs);
  }
  std::erase_if(handovers_, [&](const auto& entry) { return !leaving.contains(entry.first); });
  return goNow;
}

std::optional<InstanceStatus> NodeSupervisor::writtenStatus(const InstanceKey& key) const {
  const auto it = statusWritten_.find(keys::status(key.first, key.second));
  if (it == statusWritten_.end()) return std::nullopt;
  auto decoded = decodeInstanceStatus(it->second.value);
  if (!decoded) return std::nullopt;
  return std::move(decoded).value();
}

InstanceStatus NodeSupervisor::stoppingStatus(const InstanceKey& key, std::string reason) const {
  // Restarts and address as last reported: the pod is still the same one.
  InstanceStatus status = writtenStatus(key).value_or(InstanceStatus{});
  status.node = config_.node;
  status.state = InstanceState::kStopping;
  status.reason = std::move(reason);
  status.sinceMs = config_.nowMs();
  return status;
}

RemovalFacts NodeSupervisor::removalFacts(const Action& removal, bool stillWanted,
                                          const PodsByName& pods) const {
  RemovalFacts facts;
  facts.cause = removalCause(removal, stillWanted);
  if (const auto pod = pods.find(removal.pod); pod != pods.end()) {
    for (const auto& c : pod->second->containers) {
      facts.running = facts.running || fromRuntime(c.state) == ContainerState::kRunning;
    }
  }
  if (facts.cause == RemovalCause::kStray) return facts;
  if (!config_.domain.empty() &&
      dnsWritten_.contains(dns::instanceKey(config_.domain, removal.job, removal.id))) {
    facts.published = true;
  }
  // `stopping`: withdrawn by an earlier run of this agent, whose delay is lost.
  if (const auto status = writtenStatus({removal.job, removal.id})) {
    facts.published = facts.published || status->state == InstanceState::kHealthy ||
                      status->state == InstanceState::kStopping;
  }
  return facts;
}

void NodeSupervisor::forgetCancelledWithdrawals(const std::vector<Action>& actions) {
  std::set<InstanceKey> going;
  for (const Action& a : actions) {
    if (a.kind == ActionKind::kRemovePod) going.insert({a.job, a.id});
  }
  // The next publish() reports such an instance as what its pod is again
  // (the health check of one that was leaving starts over).
  std::erase_if(withdrawn_, [&](const auto& entry) {
    return !going.contains(entry.first) && !handovers_.contains(entry.first);
  });
}

void NodeSupervisor::withdrawReplaced(const std::vector<Action>& actions, const PodsByName& pods,
                                      const std::map<InstanceKey, const DesiredInstance*>& wanted) {
  for (const Action& action : actions) {
    if (action.kind != ActionKind::kRemovePod) continue;
    const InstanceKey key{action.job, action.id};
    const RemovalFacts facts = removalFacts(action, wanted.contains(key), pods);
    if (facts.cause != RemovalCause::kReplaced || withdrawn_.contains(key)) continue;
    if (planRemoval(facts, std::nullopt, now(), config_.drainDelay.count()).step !=
        RemovalStep::kWithdraw) {
      continue;
    }
    const std::string delay = formatDuration(config_.drainDelay);
    spdlog::info("pod {}: withdrawn from DNS and the ingress; replacing it in {} ({})", action.pod,
                 delay, action.reason);
    withdrawn_[key] = Withdrawal{
        now(), true,
        stoppingStatus(
            key, fmt::format("its pod is being replaced by the job's new spec; withdrawn from "
                             "DNS and the ingress, it stops after the drain delay ({})",
                             delay))};
  }
}

std::vector<Action> NodeSupervisor::afterDrainDelay(
    std::vector<Action> removals, std::vector<Action>& actions, const PodsByName& pods,
    const std::map<InstanceKey, const DesiredInstance*>& wanted, std::int64_t& due) {
  const std::int64_t at = now();
  std::vector<Action> goNow;
  std::set<InstanceKey> held;
  for (Action& action : removals) {
    const InstanceKey key{action.job, action.id};
    const RemovalFacts facts = removalFacts(action, wanted.contains(key), pods);
    auto withdrawal = withdrawn_.find(key);
    const RemovalPlan plan = planRemoval(
        facts,
        withdrawal == withdrawn_.end() ? std::nullopt : std::optional(withdrawal->second.atMs), at,
        config_.drainDelay.count());
    if (plan.step == RemovalStep::kNow) {
      goNow.push_back(std::move(action));
      continue;
    }
    held.insert(key);
    if (plan.step == RemovalStep::kWithdraw) {
      // A replaced instance is withdrawn only where publish() says so, in a
      // pass that read etcd: until one does, its pod keeps serving.
      if (facts.cause == RemovalCause::kReplaced) continue;
      const std::string delay = formatDuration(config_.drainDelay);
      spdlog::info("pod {}: withdrawn from DNS and the ingress; stopping it in {} ({})", action.pod,
                   delay, action.reason);
      InstanceStatus stopping = stoppingStatus(
          key, fmt::format(
                   "withdrawn from DNS and the ingress; its pod stops after the drain delay ({})",
                   delay));
      stateSince_[key] = {stopping.state, stopping.sinceMs};
      withdrawal =
          withdrawn_.insert_or_assign(key, Withdrawal{at, false, std::move(stopping)}).first;
    }
    // On every pass of the delay, so a write that failed is made again: a
    // healthy status left behind would keep the ingress sending requests.
    if (facts.cause == RemovalCause::kLeaving && withdrawal->second.status) {
      if (!config_.domain.empty()) {
        const std::string dnsKey = dns::instanceKey(config_.domain, action.job, action.id);
        if (dnsWritten_.contains(dnsKey)) removeOwned(dnsWritten_, dnsKey);
      }
      putIfChanged(statusWritten_, keys::status(action.job, action.id),
                   encode(*withdrawal->second.status));
    }
    due = std::min(due, plan.notBeforeMs);
  }
  // A replaced pod's successor has its name: it is made once the old one is gone.
  std::erase_if(actions, [&](const Action& a) {
    return a.kind == ActionKind::kCreatePod && held.contains({a.job, a.id});
  });
  return goNow;
}

bool NodeSupervisor::startContainer(const Action& action, bool restart, const std::string& podId,
                                    const std::map<InstanceKey, const DesiredInstance*>& wanted) {
  const std::string name = containerName(action.pod, action.container);
  if (restart) {
    countRestart(action, name, wanted);
    if (auto stopped = runtime_.stopContainer(name, config_.stopGrace); !stopped) {
      spdlog::warn("container {}: {}", name, stopped.error().message);
    }
  }
  auto started = runtime_.startContainer(name);
  std::lock_guard lock(bookkeeping_);  // createPods() starts containers on several threads
  ContainerTrack& track = tracks_[podId + "/" + action.container];
  if (restart) ++track.restarts;
  track.lastStartMs = now();
  if (!started) {
    spdlog::error("container {}: {}", name, started.error().message);
    track.startFailure = started.error().message;
    return false;
  }
  track.startFailure.clear();
  return true;
}

void NodeSupervisor::countRestart(const Action& action, const std::string& name,
                                  const std::map<InstanceKey, const DesiredInstance*>& wanted) {
  if (!config_.metrics && !config_.events) return;
  bool oomKilled = false;
  std::optional<int> exitCode;
  if (auto state = runtime_.inspectContainer(name)) {
    // podman 4.3 with runc on cgroup v1 does not always notice the OOM
    // killer: SIGKILL's exit code under a memory limit is the hint.
    const auto want = wanted.find({action.job, action.id});
    const Container* declared = want == wanted.end() ? nullptr : want->second->spec->findContainer(action.container);
    oomKilled = state->oomKilled || (state->exitCode == 137 && declared && declared->memory > 0);
    if (state->status == runtime::ContainerStatus::kExited) exitCode = state->exitCode;
  }
  if (config_.metrics) config_.metrics->containerRestarted(action.job, action.container, oomKilled);
  if (config_.events) {
    Event e;
    e.atMs = config_.nowMs();
    e.job = action.job;
    e.instance = action.id;
    e.node = config_.node;
    e.kind = oomKilled ? EventKind::kOomKilled : EventKind::kRestarted;
    e.exitCode = exitCode;
    e.message = fmt::format("container {} {}: {}", action.container,
                            oomKilled ? "was killed for going over its memory limit, restarting" : "restarting",
                            action.reason);
    config_.events->record(std::move(e));
  }
}

void NodeSupervisor::recordState(const DesiredInstance& d, const InstanceStatus& status) {
  if (!config_.events) return;
  std::optional<EventKind> kind;
  switch (status.state) {
    case InstanceState::kStarting: kind = EventKind::kStarted; break;
    case InstanceState::kHealthy: kind = EventKind::kHealthy; break;
    case InstanceState::kUnhealthy: kind = EventKind::kUnhealthy; break;
    case InstanceState::kFailed: kind = EventKind::kFailed; break;
    case InstanceState::kStopping: kind = EventKind::kDrained; break;
    default: break;
  }
  if (!kind) return;
  Event e;
  e.atMs = config_.nowMs();
  e.job = d.job;
  e.instance = d.id;
  e.node = config_.node;
  e.kind = *kind;
  if (d.version != 0) e.version = d.version;
  e.message = status.reason.empty() ? std::string(toString(status.state)) : status.reason;
  config_.events->record(std::move(e));
}

void NodeSupervisor::putIfChanged(std::map<std::string, Published>& cache, const std::string& key,
                                  const std::string& value) {
  const std::int64_t lease = config_.lease();
  auto it = cache.find(key);
  if (it != cache.end() && it->second.value == value && it->second.lease == lease) return;
  if (!putOwned(key, value, lease)) {
    cache.erase(key);
    return;
  }
  cache[key] = Published{value, lease};
}

bool NodeSupervisor::putOwned(const std::string& key, const std::string& value, std::int64_t lease) {
  // The usual case, one round trip: the key is this node's already.
  Txn mine;
  mine.compares = {Compare::lease(key, Compare::kEqual, lease)};
  mine.success = {TxnOp::put(key, value, lease)};
  mine.failure = {TxnOp::get(key)};
  auto done = store_.txn(mine);
  if (done && done->succeeded) return true;
  if (done && !done->gets.empty() && !done->gets.front().empty()) {
    spdlog::debug("not writing {}: another node's lease holds it", key);
    return false;
  }
  if (done) {
    Txn absent;
    absent.compares = {Compare::version(key, Compare::kEqual, 0)};
    absent.success = {TxnOp::put(key, value, lease)};
    done = store_.txn(absent);
    if (done && done->succeeded) return true;
    if (done) return false;  // someone wrote it in between: theirs wins
  }
  spdlog::warn("cannot write {}: {}", key, done.error().message);
  return false;
}

void NodeSupervisor::removeOwned(std::map<std::string, Published>& cache, const std::string& key) {
  // Only if this node wrote it: the instance may already run elsewhere, and
  // that node's record must stay.
  Txn txn;
  txn.compares = {Compare::lease(key, Compare::kEqual, config_.lease())};
  txn.success = {TxnOp::remove(key)};
  if (auto done = store_.txn(txn); !done) {
    // Kept in the cache, so forgetLeftovers() tries again next pass.
    spdlog::warn("cannot delete {}: {}", key, done.error().message);
    return;
  }
  cache.erase(key);
}

void NodeSupervisor::forgetLeftovers() {
  // Status and DNS keys of instances that left this node without a pod to
  // remove (their creation kept failing, or the pod was removed by hand).
  std::set<std::string> statusKeys;
  std::set<std::string> dnsKeys;
  for (const auto& d : lastDesired_) {
    statusKeys.insert(keys::status(d.job, d.id));
    if (!config_.domain.empty()) dnsKeys.insert(dns::instanceKey(config_.domain, d.job, d.id));
  }
  // A leaving instance in its drain delay says `stopping` until its pod is gone.
  for (const auto& [key, withdrawal] : withdrawn_) {
    statusKeys.insert(keys::status(key.first, key.second));
  }
  std::vector<std::string> stale;
  for (const auto& [key, published] : statusWritten_) {
    if (!statusKeys.contains(key)) stale.push_back(key);
  }
  for (const auto& key : stale) removeOwned(statusWritten_, key);
  stale.clear();
  for (const auto& [key, published] : dnsWritten_) {
    if (!dnsKeys.contains(key)) stale.push_back(key);
  }
  for (const auto& key : stale) removeOwned(dnsWritten_, key);
}

// What an instance's pod says about it, container by container; the worst
// container decides (failed, then unhealthy, then starting).
InstanceStatus NodeSupervisor::statusOf(const DesiredInstance& d, const runtime::PodSummary* summary,
                                        const std::vector<Action>& actions) {
  const InstanceKey key{d.job, d.id};
  InstanceStatus status;
  status.node = config_.node;
  status.restarts = baseRestarts_.contains(key) ? baseRestarts_.at(key) : 0;
  status.version = d.version;
  if (!summary || !ofVersion(*summary, d.jobVersion)) {
    if (auto w = withdrawn_.find(key); w != withdrawn_.end() && w->second.replaced && summary) {
      return *w->second.status;  // the old pod finishes what it serves
    }
    if (auto held = prePulls_.find(key); held != prePulls_.end() && summary) {
      // The old pod keeps serving while the new version's images come.
      if (auto serving = lastServing_.find(key); serving != lastServing_.end()) {
        status = serving->second;
      } else {
        status.state = InstanceState::kPulling;  // nobody here saw it serve
      }
      status.reason = held->second;
      return status;
    }
    auto failure = createFailures_.find(key);
    if (auto pulling = pulling_.find(key); pulling != pulling_.end()) {
      status.state = InstanceState::kPulling;
      status.reason = pulling->second;
    } else if (failure != createFailures_.end() && failure->second.count > 0) {
      status.state = InstanceState::kFailed;
      status.reason = failure->second.reason;
    } else {
      status.state = InstanceState::kPending;
      status.reason = "creating the pod";
    }
    return status;
  }
  if (auto net = networks_.find(summary->id); net != networks_.end()) status.podIp = net->second.ip;
  status.state = InstanceState::kHealthy;
  auto worse = [&](InstanceState s, std::string reason) {
    static const std::map<InstanceState, int> rank{{InstanceState::kHealthy, 0},
                                                   {InstanceState::kStarting, 1},
                                                   {InstanceState::kUnhealthy, 2},
                                                   {InstanceState::kFailed, 3}};
    if (rank.at(s) > rank.at(status.state)) {
      status.state = s;
      status.reason = std::move(reason);
    }
  };
  for (const Container& c : d.spec->containers) {
    const std::string full = containerName(summary->name, c.name);
    auto it = std::find_if(summary->containers.begin(), summary->containers.end(),
                           [&](const auto& sc) { return sc.name == full; });
    const auto track = tracks_.find(summary->id + "/" + c.name);
    if (track != tracks_.end()) status.restarts += track->second.restarts;
    if (it == summary->containers.end()) {
      worse(InstanceState::kStarting, fmt::format("container {} is being created", c.name));
      continue;
    }
    const auto action = std::find_if(actions.begin(), actions.end(), [&](const Action& a) {
      return a.pod == summary->name && a.container == c.name;
    });
    switch (fromRuntime(it->state)) {
      case ContainerState::kCreated:
        if (track != tracks_.end() && !track->second.startFailure.empty()) {
          worse(InstanceState::kFailed,
                fmt::format("container {} cannot start: {}", c.name, track->second.startFailure));
        } else {
          worse(InstanceState::kStarting,
                fmt::format("container {} waits for {}", c.name,
                            c.dependsOn.empty() ? std::string("its start")
                                                : fmt::format("{}", fmt::join(c.dependsOn, ", "))));
        }
        break;
      case ContainerState::kExited:
        if (action != actions.end() && action->kind == ActionKind::kWait) {
          worse(InstanceState::kFailed, fmt::format("container {} {}", c.name, action->reason));
        } else if (action != actions.end()) {
          worse(InstanceState::kStarting, fmt::format("container {} {}", c.name, action->reason));
        } else {
          worse(InstanceState::kFailed, fmt::format("container {} exited with code {} (restart: {})",
                                                    c.name, it->exitCode, toString(c.restart)));
        }
        break;
      case ContainerState::kRunning:
        if (c.healthcheck) {
          const auto view = health_->view(checkKey(*summary, c.name));
          if (!view || view->verdict == HealthVerdict::kStarting) {
            worse(InstanceState::kStarting,
                  fmt::format("container {} waits for its first passing {} check", c.name,
                              toString(c.healthcheck->type)));
          } else if (view->verdict == HealthVerdict::kUnhealthy) {
            worse(InstanceState::kUnhealthy, fmt::format("container {}: {}", c.name, view->lastFailure));
          }
        }
        break;
      case ContainerState::kUnknown:
        worse(InstanceState::kStarting, fmt::format("container {} is in an unknown state", c.name));
        break;
    }
  }
  if (status.state == InstanceState::kHealthy && status.podIp.empty()) {
    if (auto net = runtime_.inspectPodNetwork(summary->id)) {
      status.podIp = net->ip;
      networks_[summary->id] = std::move(net).value();
    }
  }
  return status;
}

void NodeSupervisor::publish(const std::vector<DesiredInstance>& desired,
                             const std::vector<runtime::PodSummary>& pods,
                             const std::vector<Action>& actions) {
  std::map<std::string, const runtime::PodSummary*> podByName;
  for (const auto& p : pods) podByName[p.name] = &p;
  for (const DesiredInstance& d : desired) {
    const auto pod = podByName.find(podNameOnNode(d.job, d.id));
    const runtime::PodSummary* summary = pod == podByName.end() ? nullptr : pod->second;
    InstanceStatus status = statusOf(d, summary, actions);
    if (summary && ofVersion(*summary, d.jobVersion)) {
      lastServing_[{d.job, d.id}] = status;
    }
    auto& since = stateSince_[{d.job, d.id}];
    if (since.second == 0 || since.first != status.state) {
      since = {status.state, config_.nowMs()};
      recordState(d, status);
    }
    status.sinceMs = since.second;
    putIfChanged(statusWritten_, keys::status(d.job, d.id), encode(status));
    if (config_.domain.empty()) continue;
    const std::string dnsKey = dns::instanceKey(config_.domain, d.job, d.id);
    if (status.state == InstanceState::kHealthy && !status.podIp.empty()) {
      dns::SkyRecord record;
      record.host = status.podIp;
      record.port = servicePort(*d.spec);
      putIfChanged(dnsWritten_, dnsKey, dns::encode(record));
    } else if (dnsWritten_.contains(dnsKey)) {
      removeOwned(dnsWritten_, dnsKey);
    }
  }
  noteStates(desired);
}

void NodeSupervisor::noteStates(const std::vector<DesiredInstance>& desired) {
  std::map<std::pair<std::string, std::string>, std::size_t> counts;
  for (const DesiredInstance& d : desired) {
    const auto since = stateSince_.find({d.job, d.id});
    if (since != stateSince_.end()) ++counts[{d.job, std::string(toString(since->second.first))}];
  }
  std::lock_guard lock(countsMutex_);
  stateCounts_ = std::move(counts);
}

std::map<std::pair<std::string, std::string>, std::size_t> NodeSupervisor::instanceCounts() const {
  std::lock_guard lock(countsMutex_);
  return stateCounts_;
}

void NodeSupervisor::engineDown(const std::string& why) {
  // Nobody can say how the instances are: clients must not be sent to
  // them, and `ozy job status` says so. Once podman answers again, the
  // next pass reports what it finds.
  std::vector<std::string> records;
  for (const auto& [key, published] : dnsWritten_) records.push_back(key);
  for (const auto& key : records) removeOwned(dnsWritten_, key);
  for (const DesiredInstance& d : lastDesired_) {
    InstanceStatus status;
    status.node = config_.node;
    status.state = InstanceState::kUnknown;
    status.reason = "the node's container engine (podman) does not answer: " + why;
    status.restarts = baseRestarts_.contains({d.job, d.id}) ? baseRestarts_.at({d.job, d.id}) : 0;
    auto& since = stateSince_[{d.job, d.id}];
    if (since.second == 0 || since.first != status.state) since = {status.state, config_.nowMs()};
    status.sinceMs = since.second;
    putIfChanged(statusWritten_, keys::status(d.job, d.id), encode(status));
  }
  noteStates(lastDesired_);
}

void NodeSupervisor::standDown() {
  spdlog::warn("node {}: no lease renewal for most of its TTL; stopping every instance until "
               "etcd answers again",
               config_.node);
  stoodDown_ = true;
  auto pods = runtime_.listPods(managedLabels());
  if (!pods) {
    stoodDown_ = false;  // tried again next pass
    spdlog::error("cannot list pods to stop them: {}", pods.error().message);
    return;
  }
  std::vector<std::string> names;
  for (const auto& pod : *pods) names.push_back(pod.name);
  for (bool gone : stopAndRemove(runtime_, names, config_.stopGrace)) {
    if (!gone) stoodDown_ = false;  // tried again next pass
  }
  // Local volumes stay: the instances come back here if etcd still assigns
  // them to this node when it answers again.
  health_->setTargets({});
  // Statuses are written again once etcd answers. The DNS records stay known,
  // so those etcd still holds (the lease may have survived) are withdrawn
  // then, until the instances are healthy again.
  statusWritten_.clear();
  tracks_.clear();
  networks_.clear();
  createFailures_.clear();
  imagesAskedAt_.clear();
  pulling_.clear();
  prePulls_.clear();
  lastServing_.clear();
  baseRestarts_.clear();
  stateSince_.clear();
  withdrawn_.clear();  // the pods are gone: no delay left to wait
}

void NodeSupervisor::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable() && !guard_) return;
    stopping_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
  guard_.reset();
  if (puller_) puller_->stop();
  if (follower_) follower_->stop();
  if (health_) health_->stop();
}

void NodeSupervisor::sweepVolumes(const std::vector<runtime::PodSummary>& pods) {
  std::set<InstanceKey> here;
  for (const auto& d : lastDesired_) here.insert({d.job, d.id});
  for (const auto& pod : pods) {
    std::uint32_t id = 0;
    if (parseNumber(label(pod.labels, kLabelInstance), id)) here.insert({label(pod.labels, kLabelJob), id});
  }
  const std::int64_t at = now();
  std::set<InstanceKey> seen;
  for (const auto& key : volumes_.listLocal()) {
    seen.insert(key);
    if (here.contains(key)) {
      orphanSince_.erase(key);
      continue;
    }
    const auto [it, first] = orphanSince_.try_emplace(key, at);
    if (first || at - it->second < config_.volumeGrace.count()) continue;
    spdlog::info("deleting the local volumes of {} #{}: not on this node for {} s", key.first,
                 key.second, config_.volumeGrace.count() / 1000);
    if (auto removed = volumes_.removeLocal(key.first, key.second); !removed) {
      spdlog::error("{}", removed.error());
      continue;
    }
    orphanSince_.erase(it);
  }
  std::erase_if(orphanSince_, [&](const auto& entry) { return !seen.contains(entry.first); });
}

}  // namespace ozy
