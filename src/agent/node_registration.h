// Keeps this node registered in etcd: its record under /ozy/nodes/<name>,
// attached to a lease that a background thread renews. When the lease is
// lost (expired while etcd was out of reach) the node registers afresh with
// a new lease. stop() ends the renewals and, on a clean shutdown, revokes
// the lease so the node leaves the cluster at once instead of after its TTL.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"
#include "scheduler/records.h"
#include "store/store.h"

namespace ozy::metrics {
class Metrics;
}

namespace ozy {

struct RegistrationOptions {
  std::chrono::seconds ttl{10};
  // Where the lease id is kept, so an agent restarted within its TTL finds its
  // lease still alive and keeps it (its instances keep running). Empty: none.
  std::filesystem::path leaseFile;
  metrics::Metrics* metrics = nullptr;  // renewals and their times; null: not measured
};

class NodeRegistration {
 public:
  // Registers (or re-attaches to a live lease of a previous run) and starts
  // renewing. Fails when etcd is unreachable, or when another live agent
  // holds the node's name.
  static Result<std::unique_ptr<NodeRegistration>, std::string> start(Store& store,
                                                                     NodeRecord record,
                                                                     RegistrationOptions options);
  ~NodeRegistration();

  // Stops renewing; with `revoke`, also revokes the lease (a clean leave).
  void stop(bool revoke);

  std::int64_t lease() const { return lease_.load(); }
  // True when the previous run's lease was still alive at start.
  bool resumed() const { return resumed_; }
  // True once three quarters of the TTL have passed, on this machine's
  // steady clock, since the last renewal etcd confirmed: the lease may be
  // gone (and the node's instances placed elsewhere) without this node
  // having heard. Its instances must stop until a renewal succeeds again.
  bool cutOff() const;

 private:
  NodeRegistration(Store& store, NodeRecord record, RegistrationOptions options);
  Result<bool, std::string> registerNode(std::int64_t lease);
  Result<std::int64_t, std::string> acquireLease();
  void renewLoop();

  Store& store_;
  NodeRecord record_;
  RegistrationOptions options_;
  static std::int64_t steadyMs();

  std::atomic<std::int64_t> lease_{0};
  std::atomic<std::int64_t> lastRenewedMs_{0};  // steady clock
  bool resumed_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace ozy
