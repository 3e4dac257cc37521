#include "network/node_network.h"

#include <spdlog/spdlog.h>

#include <fmt/format.h>

namespace ozy {

NodeNetwork::NodeNetwork(Store& store, NetworkConfig network, NodeNetworkConfig config,
                         std::unique_ptr<RouteTable> routes)
    : store_(store),
      network_(std::move(network)),
      config_(std::move(config)),
      routes_(std::move(routes)),
      backend_(std::make_unique<HostGwBackend>(*routes_, network_.network, config_.publicIp)),
      leaser_(store, SubnetLeaserOptions{.publicIp = config_.publicIp,
                                         .ttlSeconds = config_.subnetTtlSeconds,
                                         .maxAttempts = 16,
                                         .seed = config_.seed}) {}

Result<std::unique_ptr<NodeNetwork>, std::string> NodeNetwork::start(Store& store, const NetworkConfig& network,
                                                                     NodeNetworkConfig config,
                                                                     std::unique_ptr<RouteTable> routes) {
  if (network.backendType != kHostGwBackend) {
    return fail(fmt::format("the pod network's backend is {}; this agent has only host-gw", network.backendType));
  }
  std::unique_ptr<NodeNetwork> n(new NodeNetwork(store, network, std::move(config), std::move(routes)));
  auto claimed = n->leaser_.claim();
  if (!claimed) return fail("cannot lease a pod subnet: " + claimed.error().message);
  n->subnet_ = claimed->subnet;
  if (auto installed = installPodNetwork({network.network, n->subnet_, n->config_.cniConfigDir}); !installed) {
    return fail("cannot set up the pod network: " + installed.error());
  }
  spdlog::info("pod network {}: this node has subnet {} (bridge {}, {} backend)", network.network.toString(),
               n->subnet_.toString(), bridgeName(n->subnet_), network.backendType);
  n->renewDue_ = std::chrono::steady_clock::now() + std::chrono::seconds(std::max<std::int64_t>(1, n->config_.subnetTtlSeconds / 3));
  n->reconcile();  // routes before the first pod
  // Only a cue to look: reconcile() reads every subnet itself. Not required
  // to read at once, so a blip of etcd here does not fail the agent.
  auto follower = PrefixFollower::start(
      store,
      {.prefixes = {std::string(flannel::kSubnetsPrefix)},
       .name = "pod network: the subnets",
       .requireFirstRead = false},
      {.onSnapshot = [raw = n.get()](std::vector<KeyValue>, std::int64_t) { raw->poke(); },
       .onEvents = [raw = n.get()](std::vector<WatchEvent>, std::int64_t) { raw->poke(); },
       .onWatchEnded = {}});
  if (!follower) return fail("cannot watch the pod subnets: " + follower.error().message);
  n->follower_ = std::move(follower).value();
  n->thread_ = std::thread([raw = n.get()] { raw->loop(); });
  return n;
}

NodeNetwork::~NodeNetwork() { stop(); }

void NodeNetwork::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (follower_) follower_->stop();
}

Result<Done, NetworkError> NodeNetwork::release() { return leaser_.release(); }

Ipv4Cidr NodeNetwork::subnet() const {
  std::lock_guard lock(mutex_);
  return subnet_;
}

void NodeNetwork::poke() {
  {
    std::lock_guard lock(mutex_);
    poked_ = true;
  }
  wake_.notify_all();
}

void NodeNetwork::reconcile() {
  // Everything from a fresh read: the watch only says when to look.
  auto listing = listSubnetLeases(store_);
  if (!listing) {
    if (listing.error().message != lastError_) spdlog::warn("pod network: {}", listing.error().message);
    lastError_ = listing.error().message;
    return;
  }
  for (const auto& skipped : listing->table.skipped) {
    spdlog::debug("pod network: {} skipped: {}", skipped.key, skipped.reason);
  }
  auto applied = backend_->apply(listing->table.leases);
  std::string error;
  if (!applied) {
    error = fmt::format("{}", fmt::join(applied.error(), "; "));
  } else {
    for (const Route& r : applied->replace) {
      spdlog::info("pod network: route {} via {}", r.subnet.toString(), r.via.toString());
    }
    for (const Ipv4Cidr& s : applied->remove) spdlog::info("pod network: no route to {} any more", s.toString());
  }
  if (!error.empty() && error != lastError_) spdlog::warn("pod network: {}", error);
  lastError_ = error;
}

void NodeNetwork::loop() {
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto resyncAt = std::chrono::steady_clock::now() + config_.resync;
    wake_.wait_until(lock, std::min(resyncAt, renewDue_), [&] { return stopping_ || poked_; });
    if (stopping_) break;
    poked_ = false;
    lock.unlock();
    if (std::chrono::steady_clock::now() >= renewDue_) {
      auto renewed = leaser_.renew();
      if (!renewed && renewed.error().code == NetworkError::kLeaseLost) {
        spdlog::warn("pod network: {}; leasing a subnet again", renewed.error().message);
        auto claimed = leaser_.claim();
        if (claimed && claimed->subnet != subnet()) {
          spdlog::error("pod network: this node's subnet is now {} (was {}); pods made before keep their "
                        "old addresses until they are made again",
                        claimed->subnet.toString(), subnet().toString());
          if (auto installed = installPodNetwork({network_.network, claimed->subnet, config_.cniConfigDir});
              !installed) {
            spdlog::error("pod network: {}", installed.error());
          }
          std::lock_guard inner(mutex_);
          subnet_ = claimed->subnet;
        } else if (!claimed) {
          spdlog::error("pod network: {}", claimed.error().message);
        }
      } else if (!renewed) {
        spdlog::warn("pod network: cannot renew the subnet lease: {}", renewed.error().message);
      }
      // Soon again after a failure; else a third of the TTL.
      const auto next = renewed ? std::chrono::seconds(std::max<std::int64_t>(1, config_.subnetTtlSeconds / 3))
                                : std::chrono::seconds(std::min<std::int64_t>(30, std::max<std::int64_t>(1, config_.subnetTtlSeconds / 10)));
      renewDue_ = std::chrono::steady_clock::now() + next;
    }
    reconcile();
    lock.lock();
  }
}

}  // namespace ozy
