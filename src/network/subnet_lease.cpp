// The pod network's config and subnet leases in etcd; see subnet_lease.h.
#include "network/subnet_lease.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cctype>

#include "common/fnv.h"
#include "network/subnet_allocator.h"
#include "store/etcd_errors.h"

namespace ozy {
namespace {

// initNetwork re-reads after a lost race this many times: it only loses to a
// claim or another init, both rare at the moment a network is set up.
constexpr int kInitAttempts = 5;
// How many leases a kConfigInUse message names before "and N more".
constexpr std::size_t kLeasesNamed = 3;

const std::string kConfigKey(flannel::kConfigKey);
const std::string kSubnetsPrefix(flannel::kSubnetsPrefix);

NetworkError storeFailed(const char* what, StoreError error) {
  NetworkError out;
  out.code = NetworkError::kStore;
  out.message = fmt::format("cannot {} the pod network in etcd: {}", what, error.message);
  out.storeError = std::move(error);
  return out;
}

NetworkError networkError(NetworkError::Code code, std::string message) {
  NetworkError out;
  out.code = code;
  out.message = std::move(message);
  return out;
}

NetworkError notInitialised() {
  return networkError(NetworkError::kNotInitialised,
                      fmt::format("the pod network is not initialised: {} does not exist in "
                                  "etcd. Initialise it (an agent started with --pod-network "
                                  "auto writes the default) or write a flannel config there",
                                  flannel::kConfigKey));
}

NetworkError unusableConfig(std::vector<FieldError> errors) {
  NetworkError out;
  out.code = NetworkError::kInvalidConfig;
  out.message =
      fmt::format("the pod network config at {} is not usable: {}", flannel::kConfigKey,
                  errors.empty() ? std::string("unknown error") : errors.front().toString());
  if (errors.size() > 1) out.message += fmt::format(" (and {} more)", errors.size() - 1);
  out.errors = std::move(errors);
  return out;
}

// Everything under flannel's prefix, read at one revision.
struct NetworkState {
  std::optional<KeyValue> config;
  SubnetTable table;
  std::int64_t revision = 0;
};

SubnetTable tableOf(const std::vector<KeyValue>& kvs) {
  SubnetTable table;
  for (const KeyValue& kv : kvs) {
    if (!kv.key.starts_with(flannel::kSubnetsPrefix)) continue;
    auto lease = decodeSubnetLease(kv);
    if (lease) {
      table.leases.push_back(std::move(lease).value());
    } else {
      table.skipped.push_back(std::move(lease).error());
    }
  }
  return table;
}

Result<NetworkState, NetworkError> readState(Store& store) {
  auto read = store.getPrefix(std::string(flannel::kPrefix));
  if (!read) return fail(storeFailed("read", std::move(read).error()));
  NetworkState state;
  state.revision = read->revision;
  for (KeyValue& kv : read->kvs) {
    if (kv.key == kConfigKey) state.config = std::move(kv);
  }
  state.table = tableOf(read->kvs);
  return state;
}

std::string describeLeases(const SubnetTable& table) {
  std::vector<std::string> named;
  for (const SubnetLease& lease : table.leases) {
    if (named.size() == kLeasesNamed) break;
    named.push_back(fmt::format("{} by {}", lease.subnet.toString(), lease.publicIp.toString()));
  }
  for (const SkippedSubnet& skipped : table.skipped) {
    if (named.size() == kLeasesNamed) break;
    named.push_back(skipped.key + " (unreadable)");
  }
  const std::size_t total = table.leases.size() + table.skipped.size();
  std::string out = fmt::format("{} subnet key{} exist{} ({}", total, total == 1 ? "" : "s",
                                total == 1 ? "s" : "", fmt::join(named, ", "));
  if (total > named.size()) out += fmt::format(", and {} more", total - named.size());
  return out + ")";
}

NetworkError configInUse(const KeyValue& current, const SubnetTable& table,
                         const NetworkConfig& wanted) {
  auto decoded = decodeNetworkConfig(current.value);
  const std::string now = decoded ? "is " + describe(*decoded) : "in etcd is unreadable";
  return networkError(
      NetworkError::kConfigInUse,
      fmt::format("the pod network {} and {}; it cannot change to {} while nodes hold subnets "
                  "of it. Drain and remove those nodes first (their subnet keys then go), or "
                  "keep the current config",
                  now, describeLeases(table), describe(wanted)));
}

}  // namespace

const char* toString(NetworkError::Code code) {
  switch (code) {
    case NetworkError::kNotInitialised:
      return "not initialised";
    case NetworkError::kInvalidConfig:
      return "invalid config";
    case NetworkError::kConfigInUse:
      return "config in use";
    case NetworkError::kNoFreeSubnet:
      return "no free subnet";
    case NetworkError::kContention:
      return "contention";
    case NetworkError::kLeaseLost:
      return "lease lost";
    case NetworkError::kStore:
      return "store";
  }
  return "unknown";
}

std::optional<Problem> toProblem(const NetworkError& error) {
  std::string detail = error.message;
  if (!detail.empty()) detail[0] = static_cast<char>(std::toupper(detail[0]));
  detail += '.';
  switch (error.code) {
    case NetworkError::kInvalidConfig:
      return makeFieldProblem(problems::kInvalidNetworkConfig, std::move(detail), error.errors);
    case NetworkError::kConfigInUse:
      return makeProblem(problems::kNetworkConfigInUse, std::move(detail));
    case NetworkError::kNotInitialised:
      return makeProblem(problems::kNetworkNotInitialised, std::move(detail));
    default:
      return std::nullopt;
  }
}

Result<InitOutcome, NetworkError> initNetwork(Store& store, const NetworkConfig& config) {
  for (int attempt = 0; attempt < kInitAttempts; ++attempt) {
    auto state = readState(store);
    if (!state) return fail(std::move(state).error());
    Txn txn;
    if (state->config) {
      auto current = decodeNetworkConfig(state->config->value);
      if (current && *current == config) return InitOutcome::kUnchanged;
      const bool leased = !state->table.leases.empty() || !state->table.skipped.empty();
      if (leased) return fail(configInUse(*state->config, state->table, config));
      // Replacing a config is only right while no node holds a subnet of it,
      // including one that claims after this read.
      txn.compares.push_back(Compare::noKeyUnder(kSubnetsPrefix));
    }
    txn.compares.push_back(Compare::modRevision(kConfigKey, Compare::kEqual,
                                                state->config ? state->config->modRevision : 0));
    txn.success.push_back(TxnOp::put(kConfigKey, encode(config)));
    auto written = store.txn(txn);
    if (!written) return fail(storeFailed("write", std::move(written).error()));
    if (written->succeeded) return InitOutcome::kWritten;
  }
  return fail(networkError(
      NetworkError::kContention,
      fmt::format("the pod network config at {} kept changing while it was being written ({} "
                  "attempts): another agent is initialising it too; read it and try again",
                  flannel::kConfigKey, kInitAttempts)));
}

Result<NetworkConfig, NetworkError> readNetworkConfig(Store& store) {
  auto read = store.get(kConfigKey);
  if (!read) return fail(storeFailed("read", std::move(read).error()));
  if (read->kvs.empty()) return fail(notInitialised());
  auto config = decodeNetworkConfig(read->kvs.front().value);
  if (!config) return fail(unusableConfig(std::move(config).error()));
  return std::move(config).value();
}

Result<SubnetListing, NetworkError> listSubnetLeases(Store& store) {
  auto read = store.getPrefix(kSubnetsPrefix);
  if (!read) return fail(storeFailed("read", std::move(read).error()));
  return SubnetListing{tableOf(read->kvs), read->revision};
}

Result<SubnetLease, SkippedSubnet> decodeSubnetLease(const KeyValue& kv) {
  auto lease = decodeSubnetLease(kv.key, kv.value);
  if (!lease) return lease;
  lease->leaseId = kv.lease;
  lease->modRevision = kv.modRevision;
  return lease;
}

SubnetLeaser::SubnetLeaser(Store& store, SubnetLeaserOptions options)
    : store_(store),
      options_(std::move(options)),
      random_(options_.seed ^ fnv1a(options_.publicIp.toString())) {}

Result<std::int64_t, NetworkError> SubnetLeaser::ensureLease() {
  if (leaseId_ != 0) return leaseId_;
  auto lease = store_.grantLease(options_.ttlSeconds);
  if (!lease) return fail(storeFailed("lease a subnet of", std::move(lease).error()));
  leaseId_ = lease->id;
  return leaseId_;
}

Result<SubnetLease, NetworkError> SubnetLeaser::claim() {
  attempts_ = 0;
  const std::string node = options_.publicIp.toString();
  for (int attempt = 0; attempt < options_.maxAttempts; ++attempt) {
    auto state = readState(store_);
    if (!state) return fail(std::move(state).error());
    if (!state->config) return fail(notInitialised());
    auto config = decodeNetworkConfig(state->config->value);
    if (!config) return fail(unusableConfig(std::move(config).error()));

    auto choice =
        chooseSubnet(*config, state->table, SubnetRequest{options_.publicIp, previous_, random_()});
    if (!choice) {
      return fail(networkError(NetworkError::kNoFreeSubnet,
                               fmt::format("cannot lease a pod subnet for {}: {}. Nodes that are "
                                           "gone free theirs when their lease expires; drain and "
                                           "remove nodes, or start over with a larger network",
                                           node, choice.error())));
    }
    auto lease = ensureLease();
    if (!lease) return fail(std::move(lease).error());

    const std::string key = flannel::subnetKey(choice->subnet);
    SubnetLease held{choice->subnet, options_.publicIp, config->backendType, *lease, 0};
    const auto& existing = choice->existing;
    if (existing && existing->leaseId == *lease && existing->backendType == config->backendType) {
      held.modRevision = existing->modRevision;
      current_ = held;
      previous_ = held.subnet;
      return held;  // already this leaser's: nothing to write
    }

    Txn txn;
    txn.compares = {Compare::modRevision(kConfigKey, Compare::kEqual, state->config->modRevision),
                    existing ? Compare::modRevision(key, Compare::kEqual, existing->modRevision)
                             : Compare::createRevision(key, Compare::kEqual, 0)};
    txn.success = {
        TxnOp::put(key, encodeSubnetValue(options_.publicIp, config->backendType), *lease)};
    ++attempts_;
    auto committed = store_.txn(txn);
    if (!committed) {
      if (committed.error().code == StoreError::kNotFound) {
        leaseId_ = 0;  // the etcd lease ran out before it held anything: take a new one
        continue;
      }
      return fail(storeFailed("write", std::move(committed).error()));
    }
    if (committed->succeeded) {
      held.modRevision = committed->revision;
      current_ = held;
      previous_ = held.subnet;
      return held;
    }
    // Another node took the subnet, or the config changed: read again.
  }
  return fail(networkError(
      NetworkError::kContention,
      fmt::format("cannot lease a pod subnet for {}: another node claimed the chosen subnet "
                  "first on each of {} attempts; try again",
                  node, options_.maxAttempts)));
}

Result<std::int64_t, NetworkError> SubnetLeaser::renew() {
  if (!current_) {
    return fail(networkError(NetworkError::kLeaseLost,
                             "no pod subnet is held: claim one before renewing it"));
  }
  const std::string subnet = current_->subnet.toString();
  auto ttl = store_.keepAliveOnce(leaseId_);
  if (!ttl) {
    if (ttl.error().code != StoreError::kNotFound) {
      return fail(storeFailed("renew the subnet lease of", std::move(ttl).error()));
    }
    const std::string lease = leaseName(leaseId_);
    leaseId_ = 0;
    current_.reset();
    return fail(networkError(
        NetworkError::kLeaseLost,
        fmt::format("the etcd lease of pod subnet {} ({}) has expired, so its key is gone and "
                    "another node may hold the subnet: claim a subnet again",
                    subnet, lease)));
  }
  auto read = store_.get(flannel::subnetKey(current_->subnet));
  if (!read) return fail(storeFailed("read", std::move(read).error()));
  if (read->kvs.empty() || read->kvs.front().lease != leaseId_) {
    const std::string why = read->kvs.empty()
                                ? std::string("was deleted")
                                : "is now under " + leaseName(read->kvs.front().lease);
    current_.reset();
    return fail(networkError(NetworkError::kLeaseLost,
                             fmt::format("the key of pod subnet {} {}, though its etcd lease is "
                                         "alive: claim a subnet again",
                                         subnet, why)));
  }
  return *ttl;
}

Result<Done, NetworkError> SubnetLeaser::release() {
  if (current_) {
    Txn txn;
    const std::string key = flannel::subnetKey(current_->subnet);
    txn.compares = {Compare::lease(key, Compare::kEqual, leaseId_)};
    txn.success = {TxnOp::remove(key)};
    auto removed = store_.txn(txn);
    if (!removed) return fail(storeFailed("release a subnet of", std::move(removed).error()));
  }
  if (leaseId_ != 0) {
    auto revoked = store_.revokeLease(leaseId_);
    if (!revoked && revoked.error().code != StoreError::kNotFound) {
      return fail(storeFailed("release a subnet of", std::move(revoked).error()));
    }
  }
  leaseId_ = 0;
  current_.reset();
  previous_.reset();
  return Done{};
}

}  // namespace ozy
