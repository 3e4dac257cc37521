// The pod network in etcd, through the Store interface: its config and the
// nodes' subnet leases, in flannel's layout (flannel_layout.h,
// docs/network.md).
//
// Every write that depends on what was read is a Txn guarded by revisions,
// never by "I hold a lease" (DESIGN.md, lessons on leases):
//  - a claim compares the config key's mod_revision (the subnet belongs to the
//    config it was chosen from) and the subnet key: create_revision 0 for a
//    new one, mod_revision for a node taking back its own;
//  - a config change compares the config's mod_revision and that no key
//    exists under the subnets prefix, so a change and a claim cannot both win.
//
// Expected failures are NetworkError values; nothing here throws.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "common/result.h"
#include "network/flannel_layout.h"
#include "network/network_config.h"
#include "problem/problem.h"
#include "store/store.h"

namespace ozy {

struct NetworkError {
  enum Code {
    kNotInitialised,  // no config in etcd: the network was never set up
    kInvalidConfig,   // the config (given, or found in etcd) breaks the rules in `errors`
    kConfigInUse,     // a different config exists and nodes hold subnets of it
    kNoFreeSubnet,    // every subnet in range is leased
    kContention,      // lost the race for a subnet (or the config) on every attempt
    kLeaseLost,       // the node's subnet lease expired, or its key was deleted
    kStore,           // the store failed; `storeCode` says how
  };
  Code code = kStore;
  std::string message;             // says what happened and what to do
  std::vector<FieldError> errors;  // for kInvalidConfig
  StoreError storeError;           // for kStore: as the store reported it
};

const char* toString(NetworkError::Code code);

// The problem an API answers with for kInvalidConfig, kConfigInUse and
// kNotInitialised. nullopt for the rest: kStore is the store's problem (the
// API's toProblem(StoreError) of control_plane.h maps storeError), and the
// leaser's own errors (no free subnet, contention, a lost lease) are the
// agent's to log and retry, never an API answer.
std::optional<Problem> toProblem(const NetworkError& error);

enum class InitOutcome { kWritten, kUnchanged };

// Writes the config, or leaves an equal one alone (kUnchanged). Refuses with
// kConfigInUse to replace a different config while any subnet key exists:
// their nodes would hold subnets outside the new network. A config that is
// absent, or present and unreadable with no subnets leased, is replaced.
Result<InitOutcome, NetworkError> initNetwork(Store& store, const NetworkConfig& config);

// The config in etcd: kNotInitialised when there is none (an agent then
// refuses to start unless told to initialise it), kInvalidConfig when it is
// there but unusable (e.g. a flannel vxlan network).
Result<NetworkConfig, NetworkError> readNetworkConfig(Store& store);

// Every subnet key, decoded, and the revision read at (to watch from
// revision + 1): for `ozy node list` and the routes to other nodes.
struct SubnetListing {
  SubnetTable table;
  std::int64_t revision = 0;
};
Result<SubnetListing, NetworkError> listSubnetLeases(Store& store);

// One subnet key as read or watched, with its etcd lease and mod_revision.
Result<SubnetLease, SkippedSubnet> decodeSubnetLease(const KeyValue& kv);

struct SubnetLeaserOptions {
  Ipv4Address publicIp;  // the node's address, the routes' next hop
  // flannel's lease is 24 h; renew well within it (flannel renews an hour
  // before expiry). Tests use a few seconds.
  std::int64_t ttlSeconds = 24 * 60 * 60;
  // Claim attempts before kContention. A lost race means another node got a
  // subnet, so the cluster always progresses: attempts follow each other
  // without back-off, each re-reading what changed.
  int maxAttempts = 16;
  // Drives which free subnet is tried; mixed with publicIp, so nodes given the
  // same seed still try different subnets. Give each process its own (e.g.
  // from std::random_device) outside tests.
  std::uint64_t seed = 0;
};

// One node's subnet lease: claim it, renew it, release it. Owns one etcd
// lease, granted by the first claim. Not thread-safe: one thread (the agent's
// network loop) drives it. Holds no thread; nothing to stop.
class SubnetLeaser {
 public:
  SubnetLeaser(Store& store, SubnetLeaserOptions options);

  // The node's subnet under this leaser's etcd lease: its existing subnet if
  // a lease with its PublicIP exists (re-attached, same subnet), else the one
  // it held before if still free, else a free one. On success `attempts()`
  // says how many Txns it took.
  Result<SubnetLease, NetworkError> claim();

  // Refreshes the etcd lease and checks that the subnet key is still this
  // node's; returns the TTL in seconds. kLeaseLost when the lease expired or
  // the key is gone or someone else's: claim() again (it prefers the same
  // subnet).
  Result<std::int64_t, NetworkError> renew();

  // Deletes the subnet key (if it is still this node's) and revokes the etcd
  // lease: for a node that is drained and removed. Routes to it go when the
  // other nodes see the key deleted.
  Result<Done, NetworkError> release();

  // The subnet held since the last successful claim, if any.
  const std::optional<SubnetLease>& current() const { return current_; }
  // Txns the last claim() sent (1 in the common case; 0 if it already held
  // the subnet).
  int attempts() const { return attempts_; }

 private:
  Result<std::int64_t, NetworkError> ensureLease();

  Store& store_;
  SubnetLeaserOptions options_;
  std::mt19937_64 random_;
  std::int64_t leaseId_ = 0;
  std::optional<SubnetLease> current_;
  std::optional<Ipv4Cidr> previous_;  // preferred by the next claim
  int attempts_ = 0;
};

}  // namespace ozy
