// The small pieces of the Store interface's value types; see store.h.
#include "store/store.h"

#include <utility>

namespace ozy {

const char* toString(StoreError::Code code) {
  switch (code) {
    case StoreError::kUnavailable:
      return "unavailable";
    case StoreError::kDeadlineExceeded:
      return "deadline exceeded";
    case StoreError::kCompacted:
      return "compacted";
    case StoreError::kTxnTooLarge:
      return "transaction too large";
    case StoreError::kInvalidArgument:
      return "invalid argument";
    case StoreError::kNotFound:
      return "not found";
    case StoreError::kOther:
      return "other";
  }
  return "unknown";
}

Compare Compare::version(std::string key, Op op, int64_t version) {
  return Compare{std::move(key), kVersion, op, version, {}, false};
}
Compare Compare::createRevision(std::string key, Op op, int64_t revision) {
  return Compare{std::move(key), kCreateRevision, op, revision, {}, false};
}
Compare Compare::modRevision(std::string key, Op op, int64_t revision) {
  return Compare{std::move(key), kModRevision, op, revision, {}, false};
}
Compare Compare::lease(std::string key, Op op, int64_t lease) {
  return Compare{std::move(key), kLease, op, lease, {}, false};
}
Compare Compare::valueIs(std::string key, Op op, std::string value) {
  return Compare{std::move(key), kValue, op, 0, std::move(value), false};
}
Compare Compare::noKeyUnder(std::string prefix) {
  return Compare{std::move(prefix), kCreateRevision, kEqual, 0, {}, true};
}

TxnOp TxnOp::put(std::string key, std::string value, int64_t lease) {
  return TxnOp{kPut, std::move(key), std::move(value), lease};
}
TxnOp TxnOp::remove(std::string key) {
  return TxnOp{kRemove, std::move(key), {}, 0};
}
TxnOp TxnOp::removePrefix(std::string prefix) {
  return TxnOp{kRemovePrefix, std::move(prefix), {}, 0};
}
TxnOp TxnOp::get(std::string key) {
  return TxnOp{kGet, std::move(key), {}, 0};
}
TxnOp TxnOp::getPrefix(std::string prefix) {
  return TxnOp{kGetPrefix, std::move(prefix), {}, 0};
}

}  // namespace ozy
