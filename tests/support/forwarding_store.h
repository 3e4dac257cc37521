// ForwardingStore: a Store that passes every call to another one. Test
// decorators derive from it and override only what they watch or disturb
// (count Txns, run a competitor before a commit), so each stays a few lines.
// Header-only, like etcd_with_store.h.
#pragma once

#include <memory>
#include <string>

#include "store/store.h"

namespace ozy::testing_support {

class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(Store& inner) : inner_(inner) {}

  Result<RangeResult, StoreError> get(const std::string& key) override { return inner_.get(key); }
  Result<RangeResult, StoreError> getPrefix(const std::string& prefix, bool keysOnly) override {
    return inner_.getPrefix(prefix, keysOnly);
  }
  Result<int64_t, StoreError> put(const std::string& key, const std::string& value,
                                  int64_t lease) override {
    return inner_.put(key, value, lease);
  }
  Result<DeleteResult, StoreError> remove(const std::string& key) override {
    return inner_.remove(key);
  }
  Result<DeleteResult, StoreError> removePrefix(const std::string& prefix) override {
    return inner_.removePrefix(prefix);
  }
  Result<TxnResult, StoreError> txn(const Txn& txn) override { return inner_.txn(txn); }
  Result<Lease, StoreError> grantLease(int64_t ttlSeconds) override {
    return inner_.grantLease(ttlSeconds);
  }
  Result<int64_t, StoreError> keepAliveOnce(int64_t leaseId) override {
    return inner_.keepAliveOnce(leaseId);
  }
  Result<Done, StoreError> revokeLease(int64_t leaseId) override {
    return inner_.revokeLease(leaseId);
  }
  Result<int64_t, StoreError> leaseTimeToLive(int64_t leaseId) override {
    return inner_.leaseTimeToLive(leaseId);
  }
  std::unique_ptr<Watch> watch(const std::string& prefix, int64_t startRevision,
                               WatchEventsFn onEvents, WatchErrorFn onError) override {
    return inner_.watch(prefix, startRevision, std::move(onEvents), std::move(onError));
  }

 protected:
  Store& inner_;
};

}  // namespace ozy::testing_support
