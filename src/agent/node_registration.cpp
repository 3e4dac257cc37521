#include "agent/node_registration.h"

#include <fstream>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "metrics/metrics.h"
#include "scheduler/keys.h"

namespace ozy {

NodeRegistration::NodeRegistration(Store& store, NodeRecord record, RegistrationOptions options)
    : store_(store), record_(std::move(record)), options_(std::move(options)) {}

NodeRegistration::~NodeRegistration() { stop(false); }

std::int64_t NodeRegistration::steadyMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool NodeRegistration::cutOff() const {
  const auto ttlMs = std::chrono::duration_cast<std::chrono::milliseconds>(options_.ttl).count();
  return steadyMs() - lastRenewedMs_.load() > ttlMs * 3 / 4;
}

Result<std::int64_t, std::string> NodeRegistration::acquireLease() {
  // A lease of a previous run that is still alive means this agent crashed
  // and came back within the TTL: keep it, so the node never left.
  if (!options_.leaseFile.empty()) {
    // The file names the node too: a lease of another node (the data dir was
    // reused under a new --node) must not be taken over.
    std::ifstream in(options_.leaseFile);
    std::string node;
    std::int64_t previous = 0;
    if (in >> node >> previous && node == record_.name && previous != 0) {
      auto ttl = store_.leaseTimeToLive(previous);
      if (ttl && *ttl > 0) {
        resumed_ = true;
        return previous;
      }
    }
  }
  auto granted = store_.grantLease(options_.ttl.count());
  if (!granted) return fail(fmt::format("cannot take a lease in etcd: {}", granted.error().message));
  if (!options_.leaseFile.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(options_.leaseFile.parent_path(), ec);
    std::ofstream out(options_.leaseFile, std::ios::trunc);
    out << record_.name << ' ' << granted->id << '\n';
    if (!out) {
      spdlog::warn("cannot write the lease id to {}; a restart will register afresh",
                   options_.leaseFile.string());
    }
  }
  return granted->id;
}

Result<bool, std::string> NodeRegistration::registerNode(std::int64_t lease) {
  const std::string key = keys::node(record_.name);
  // The name is free, or already ours (same lease): claim it. Anything else
  // is another live agent using this node name.
  for (const Compare& claim : {Compare::version(key, Compare::kEqual, 0),
                               Compare::lease(key, Compare::kEqual, lease)}) {
    Txn txn;
    txn.compares = {claim};
    txn.success = {TxnOp::put(key, encode(record_), lease)};
    auto result = store_.txn(txn);
    if (!result) return fail(fmt::format("cannot register in etcd: {}", result.error().message));
    if (result->succeeded) return true;
  }
  return fail(fmt::format(
      "node name \"{}\" is already registered by another live agent; stop it, or give this one "
      "another --node name",
      record_.name));
}

Result<std::unique_ptr<NodeRegistration>, std::string> NodeRegistration::start(
    Store& store, NodeRecord record, RegistrationOptions options) {
  std::unique_ptr<NodeRegistration> self(
      new NodeRegistration(store, std::move(record), std::move(options)));
  const std::int64_t asked = steadyMs();
  auto lease = self->acquireLease();
  if (!lease) return fail(std::move(lease).error());
  auto registered = self->registerNode(*lease);
  if (!registered) return fail(std::move(registered).error());
  self->lease_ = *lease;
  self->lastRenewedMs_ = asked;
  if (self->resumed_) {
    // The old run's last renewal may be most of a TTL ago: renew at once.
    const std::int64_t sent = steadyMs();
    if (store.keepAliveOnce(*lease)) self->lastRenewedMs_ = sent;
  }
  self->thread_ = std::thread([raw = self.get()] { raw->renewLoop(); });
  return self;
}

void NodeRegistration::renewLoop() {
  // Renew at a third of the TTL, so two renewals can fail before the lease
  // runs out. After a failure, retry soon (every 200 ms): the node stands
  // down 3/4 of a TTL after its last confirmed renewal, so once etcd is back
  // a renewal must get through quickly.
  const auto period = std::max<std::chrono::milliseconds>(options_.ttl / 3, std::chrono::milliseconds(200));
  auto wait = period;
  std::unique_lock lock(mutex_);
  while (!wake_.wait_for(lock, wait, [this] { return stopping_; })) {
    lock.unlock();
    // Timed from the send: etcd renewed the lease at or after this moment.
    const std::int64_t sent = steadyMs();
    auto renewed = store_.keepAliveOnce(lease_.load());
    if (options_.metrics) {
      options_.metrics->leaseRenewed(renewed                                        ? metrics::LeaseRenewal::kRenewed
                                     : renewed.error().code == StoreError::kNotFound ? metrics::LeaseRenewal::kLost
                                                                                     : metrics::LeaseRenewal::kFailed,
                                     static_cast<double>(steadyMs() - sent) / 1000.0);
    }
    if (renewed) {
      lastRenewedMs_ = sent;
      wait = period;
    } else if (renewed.error().code == StoreError::kNotFound) {
      spdlog::warn("node {}: lease {} expired; registering again with a new lease", record_.name,
                   lease_.load());
      if (!options_.leaseFile.empty()) {
        std::error_code ignored;  // a stale file is only re-checked at start
        std::filesystem::remove(options_.leaseFile, ignored);
      }
      auto lease = acquireLease();
      auto registered = lease ? registerNode(*lease) : Result<bool, std::string>(fail(lease.error()));
      if (lease && registered) {
        lease_ = *lease;
        lastRenewedMs_ = sent;
        wait = period;
      } else {
        spdlog::warn("node {}: {}", record_.name, lease ? registered.error() : lease.error());
        wait = std::chrono::seconds(1);
      }
    } else {
      spdlog::warn("node {}: cannot renew lease {}: {}", record_.name, lease_.load(),
                   renewed.error().message);
      wait = std::min<std::chrono::milliseconds>(period, std::chrono::milliseconds(200));
    }
    lock.lock();
  }
}

void NodeRegistration::stop(bool revoke) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (revoke && lease_.load() != 0) {
    if (auto revoked = store_.revokeLease(lease_.load()); !revoked) {
      spdlog::warn("node {}: cannot revoke lease {}: {}; the node leaves when it expires",
                   record_.name, lease_.load(), revoked.error().message);
    }
    if (!options_.leaseFile.empty()) {
      std::error_code ec;
      std::filesystem::remove(options_.leaseFile, ec);
    }
    lease_ = 0;
  }
}

}  // namespace ozy
