// EtcdStore: the Store interface over etcd v3's gRPC API (synchronous stubs).
//
// One gRPC channel per configured endpoint; a call goes to the endpoint that
// answered last and fails over to the next one when an endpoint is
// unreachable. Every call carries the configured deadline, so an unreachable
// etcd shows up as kUnavailable or kDeadlineExceeded, never as a hang.
// Calls fail fast while an endpoint is unreachable (no waiting for it to come
// back within the deadline): callers own their retry policy. All methods may
// be called from several threads at once.
#pragma once

#include <atomic>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "store/store.h"

namespace ozy {

class EtcdChannels;

struct EtcdConfig {
  // Client URLs of the cluster's members, tried in order:
  // "http://127.0.0.1:2379", "https://etcd1.example:2379", "https://[::1]:2379".
  std::vector<std::string> endpoints;
  // TLS, for https:// endpoints. caFile: the CA that signed the servers'
  // certificates (empty: the system's roots). certFile + keyFile: a client
  // certificate, for an etcd started with --client-cert-auth.
  std::string caFile;
  std::string certFile;
  std::string keyFile;
  // Deadline of every call (each page of a paged read is one call).
  std::chrono::milliseconds timeout{5000};
  // Keys fetched per call by getPrefix; the pages are read at one revision.
  int64_t pageSize = 1000;
};

class EtcdStore final : public Store {
 public:
  // Fails on a malformed endpoint URL or unreadable TLS files. Does not
  // contact etcd: an unreachable cluster is reported by the first call.
  static Result<std::unique_ptr<EtcdStore>, StoreError> create(EtcdConfig config);
  ~EtcdStore() override;

  Result<RangeResult, StoreError> get(const std::string& key) override;
  Result<RangeResult, StoreError> getPrefix(const std::string& prefix,
                                            bool keysOnly = false) override;
  Result<int64_t, StoreError> put(const std::string& key, const std::string& value,
                                  int64_t lease = 0) override;
  Result<DeleteResult, StoreError> remove(const std::string& key) override;
  Result<DeleteResult, StoreError> removePrefix(const std::string& prefix) override;
  Result<TxnResult, StoreError> txn(const Txn& txn) override;

  Result<Lease, StoreError> grantLease(int64_t ttlSeconds) override;
  Result<int64_t, StoreError> keepAliveOnce(int64_t leaseId) override;
  Result<Done, StoreError> revokeLease(int64_t leaseId) override;
  Result<int64_t, StoreError> leaseTimeToLive(int64_t leaseId) override;

  std::unique_ptr<Watch> watch(const std::string& prefix, int64_t startRevision,
                               WatchEventsFn onEvents, WatchErrorFn onError) override;

  // Discards history up to `revision` (what etcd's auto-compaction does).
  // Not part of Store: operators' tooling and tests use it.
  Result<Done, StoreError> compact(int64_t revision);

  // Watches that ended on their own (compacted away, or another terminal
  // error); each is followed by its user's full re-read (a resync).
  std::uint64_t watchesEnded() const;

 private:
  EtcdStore(std::shared_ptr<EtcdChannels> channels, int64_t pageSize);
  Result<RangeResult, StoreError> readPage(const std::string& from, const std::string& end,
                                           int64_t revision, bool keysOnly, bool* more);
  Result<DeleteResult, StoreError> removeRange(const std::string& key, const std::string& end);

  std::shared_ptr<EtcdChannels> channels_;  // shared with running watches
  int64_t pageSize_;
  // Shared with the watches' error callbacks, which may outlive the store.
  std::shared_ptr<std::atomic<std::uint64_t>> watchesEnded_ = std::make_shared<std::atomic<std::uint64_t>>(0);
};

}  // namespace ozy
