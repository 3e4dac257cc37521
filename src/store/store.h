// Store: the narrow interface through which the rest of Ozymandias reads and
// writes cluster state.
//
// It is shaped after etcd v3 (keys, revisions, leases, transactions, watches)
// because etcd is what backs it in production (EtcdStore, etcd_store.h), but it
// names only what the project uses, so tests can substitute a fake. Every call
// returns its expected failures as a StoreError value; none throws.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"

namespace ozy {

struct KeyValue {
  std::string key;
  std::string value;           // empty when read with keysOnly
  int64_t createRevision = 0;  // revision that created the key (0: absent)
  int64_t modRevision = 0;     // revision of the last change to the key
  int64_t version = 0;         // number of changes since creation (1 after create)
  int64_t lease = 0;           // lease the key is attached to, 0 for none

  bool operator==(const KeyValue&) const = default;
};

struct StoreError {
  enum Code {
    kUnavailable,       // no endpoint could be reached (or TLS was refused)
    kDeadlineExceeded,  // the call did not complete within the configured timeout
    kCompacted,         // the revision asked for has been compacted away: re-read everything
    kTxnTooLarge,       // too many operations in a txn, or the request is over etcd's size limit
    kInvalidArgument,   // the request itself is wrong (bad configuration, empty key, ...)
    kNotFound,          // the lease does not exist (expired or revoked)
    kOther,
  };
  Code code = kOther;
  std::string message;  // says which endpoint, what failed and, where possible, what to do
};

// The name of a code as written in logs and tests, e.g. "unavailable".
const char* toString(StoreError::Code code);

// Stands in for "no value" in Result<Done, StoreError>.
using Done = std::monostate;

// Keys found by a read, and the store revision the read was served at. That
// revision is what a later Txn compares against and a watch resumes after.
struct RangeResult {
  std::vector<KeyValue> kvs;
  int64_t revision = 0;
};

struct DeleteResult {
  int64_t deleted = 0;  // how many keys were removed
  int64_t revision = 0;
};

// One guard of a transaction: compares one field of one key with a constant.
// A missing key has version, createRevision, modRevision and lease 0.
struct Compare {
  enum Target { kVersion, kCreateRevision, kModRevision, kValue, kLease };
  enum Op { kEqual, kNotEqual, kGreater, kLess };
  std::string key;
  Target target = kModRevision;
  Op op = kEqual;
  int64_t number = 0;  // for every target but kValue
  std::string value;   // for kValue
  // When set, `key` is a prefix and the compare holds only if it holds for
  // every key under it; with no key under it, it is judged as for one missing
  // key (etcd's range compare). So createRevision == 0 with `prefix` means
  // "no key starts with `key`" (see noKeyUnder).
  bool prefix = false;

  static Compare version(std::string key, Op op, int64_t version);
  static Compare createRevision(std::string key, Op op, int64_t revision);
  static Compare modRevision(std::string key, Op op, int64_t revision);
  static Compare lease(std::string key, Op op, int64_t lease);
  static Compare valueIs(std::string key, Op op, std::string value);
  // Holds while no key starts with `prefix`: the guard of a write that is only
  // right while a whole prefix is empty, against keys created after the read.
  static Compare noKeyUnder(std::string prefix);
};

// One operation inside a transaction.
struct TxnOp {
  enum Kind { kPut, kRemove, kRemovePrefix, kGet, kGetPrefix };
  Kind kind = kGet;
  std::string key;  // the key, or the prefix for the *Prefix kinds
  std::string value;
  int64_t lease = 0;

  static TxnOp put(std::string key, std::string value, int64_t lease = 0);
  static TxnOp remove(std::string key);
  static TxnOp removePrefix(std::string prefix);
  static TxnOp get(std::string key);
  static TxnOp getPrefix(std::string prefix);
};

// If every compare holds, `success` runs, otherwise `failure`; atomically.
// etcd bounds the number of operations (--max-txn-ops, 128 by default) and
// the request size (--max-request-bytes, 1.5 MiB): past them a txn fails with
// kTxnTooLarge. Get ops inside a txn are not paged.
struct Txn {
  std::vector<Compare> compares;
  std::vector<TxnOp> success;
  std::vector<TxnOp> failure;
};

struct TxnResult {
  bool succeeded = false;  // whether the compares held (and `success` ran)
  int64_t revision = 0;    // store revision after the txn
  // One entry per kGet / kGetPrefix op of the branch that ran, in op order.
  std::vector<std::vector<KeyValue>> gets;
};

struct Lease {
  int64_t id = 0;
  int64_t ttlSeconds = 0;  // as granted; etcd may raise a too-small TTL
};

struct WatchEvent {
  enum Type { kPut, kDelete };
  Type type = kPut;
  KeyValue kv;  // for a delete: the key, with modRevision the deletion's revision
};

// A running watch. stop() ends it and waits until no callback is running any
// more; the destructor stops it too. Calling stop() or destroying the handle
// from inside a callback is allowed (it then returns without waiting).
class Watch {
 public:
  virtual ~Watch() = default;
  virtual void stop() = 0;
};

// Events of one store revision range, in revision order, and the revision they
// bring the watcher up to (pass revision + 1 to a new watch to continue).
using WatchEventsFn = std::function<void(std::vector<WatchEvent> events, int64_t revision)>;
// Called at most once, when the watch ends on its own (e.g. kCompacted).
using WatchErrorFn = std::function<void(const StoreError& error)>;

class Store {
 public:
  virtual ~Store() = default;

  // The key's current value, as a RangeResult of zero or one kvs.
  virtual Result<RangeResult, StoreError> get(const std::string& key) = 0;
  // Every key starting with `prefix` (all keys for ""), in key order, read at a
  // single revision however many there are (in pages, by EtcdStore). Fails
  // with kCompacted if that revision is compacted away mid-read: read again.
  virtual Result<RangeResult, StoreError> getPrefix(const std::string& prefix,
                                                    bool keysOnly = false) = 0;

  // Returns the revision of the write.
  virtual Result<int64_t, StoreError> put(const std::string& key, const std::string& value,
                                          int64_t lease = 0) = 0;
  virtual Result<DeleteResult, StoreError> remove(const std::string& key) = 0;
  virtual Result<DeleteResult, StoreError> removePrefix(const std::string& prefix) = 0;

  virtual Result<TxnResult, StoreError> txn(const Txn& txn) = 0;

  virtual Result<Lease, StoreError> grantLease(int64_t ttlSeconds) = 0;
  // Refreshes the lease once and returns its TTL in seconds; kNotFound when it
  // has expired or been revoked.
  virtual Result<int64_t, StoreError> keepAliveOnce(int64_t leaseId) = 0;
  virtual Result<Done, StoreError> revokeLease(int64_t leaseId) = 0;
  // Seconds the lease has left; kNotFound when it has expired or been revoked.
  virtual Result<int64_t, StoreError> leaseTimeToLive(int64_t leaseId) = 0;

  // Watches every key under `prefix` from `startRevision` (0: from now on).
  // Callbacks run on the watch's own thread, one at a time, and must not
  // throw (that would end the process). Lost connections
  // are retried without end (with back-off) and resume after the last revision
  // delivered, so no event is lost or repeated; the watch ends only by stop()
  // or a terminal error reported through onError, such as kCompacted when
  // startRevision (or the point to resume from) has been compacted away: the
  // caller then re-reads everything and starts a new watch.
  virtual std::unique_ptr<Watch> watch(const std::string& prefix, int64_t startRevision,
                                       WatchEventsFn onEvents, WatchErrorFn onError) = 0;
};

}  // namespace ozy
