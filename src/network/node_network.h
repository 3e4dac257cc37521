// NodeNetwork: one node's part of the pod network, kept up while the agent
// runs (docs/network.md).
//
// At start it leases the node's subnet (SubnetLeaser: its own again after a
// restart), installs the node's pod network on it (pod_network.h) and routes
// every other node's subnet (the backend). Then a thread of its own keeps
// that true: a watch on the subnets prefix (a PrefixFollower) wakes it, so a
// node that joins or leaves is routed or unrouted within a moment; it also
// looks every `resync` in case a watch event was missed, and renews the
// subnet lease well within its TTL. A lease that was lost (etcd kept no word of the node
// for a whole TTL) is claimed again; if the subnet changes, the network is
// installed again on the new one and the log says that pods made earlier
// keep their old addresses until they are made again.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"
#include "network/ipv4.h"
#include "network/network_config.h"
#include "network/pod_network.h"
#include "network/routes.h"
#include "network/subnet_lease.h"
#include "store/prefix_follower.h"
#include "store/store.h"

namespace ozy {

struct NodeNetworkConfig {
  Ipv4Address publicIp;
  std::filesystem::path cniConfigDir = "/etc/cni/net.d";
  std::int64_t subnetTtlSeconds = 24 * 60 * 60;
  std::chrono::milliseconds resync{10'000};
  std::uint64_t seed = 0;  // for the subnet choice (SubnetLeaserOptions::seed)
};

class NodeNetwork {
 public:
  // Needs the network's config in etcd (read by the caller, who decides
  // whether to initialise it). Fails if no subnet can be leased or the
  // network cannot be installed; the error says why.
  static Result<std::unique_ptr<NodeNetwork>, std::string> start(Store& store, const NetworkConfig& network,
                                                                 NodeNetworkConfig config,
                                                                 std::unique_ptr<RouteTable> routes);
  ~NodeNetwork();
  NodeNetwork(const NodeNetwork&) = delete;
  NodeNetwork& operator=(const NodeNetwork&) = delete;

  // Ends the thread and the watch. Routes, rules and the subnet lease stay:
  // an agent restart is not a node leaving (release() is).
  void stop();
  // Gives the subnet back (a drained node being removed): the other nodes
  // drop their routes to it. Call after stop().
  Result<Done, NetworkError> release();

  Ipv4Cidr subnet() const;
  const NetworkConfig& network() const { return network_; }
  // The podman network pods join.
  std::string podmanNetwork() const { return kPodNetworkName; }
  // Wakes the loop (for tests).
  void poke();

 private:
  NodeNetwork(Store& store, NetworkConfig network, NodeNetworkConfig config, std::unique_ptr<RouteTable> routes);
  void loop();
  void reconcile();

  Store& store_;
  NetworkConfig network_;
  NodeNetworkConfig config_;
  std::unique_ptr<RouteTable> routes_;
  std::unique_ptr<NetworkBackend> backend_;
  SubnetLeaser leaser_;  // the loop's thread only, after start
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool poked_ = false;
  bool stopping_ = false;
  Ipv4Cidr subnet_;
  std::string lastError_;  // logged once until it changes
  std::unique_ptr<PrefixFollower> follower_;  // pokes on every change of the subnets
  std::chrono::steady_clock::time_point renewDue_;
  std::thread thread_;
};

}  // namespace ozy
