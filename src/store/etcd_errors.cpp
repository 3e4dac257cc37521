// Mapping etcd's gRPC statuses to StoreError; see etcd_errors.h.
#include "store/etcd_errors.h"

#include <fmt/format.h>

#include <utility>

namespace ozy {
namespace {

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// etcd's own wording, from go.etcd.io/etcd/etcdserver/api/v3rpc/rpctypes.
StoreError::Code codeFor(const grpc::Status& status) {
  const std::string& message = status.error_message();
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE:
      return StoreError::kUnavailable;
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return StoreError::kDeadlineExceeded;
    case grpc::StatusCode::OUT_OF_RANGE:
      return contains(message, "compacted") ? StoreError::kCompacted : StoreError::kInvalidArgument;
    case grpc::StatusCode::INVALID_ARGUMENT:
      return contains(message, "too many operations") || contains(message, "too large")
                 ? StoreError::kTxnTooLarge
                 : StoreError::kInvalidArgument;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      // gRPC's own limit on etcd's side (--max-request-bytes plus overhead).
      return contains(message, "larger than max") ? StoreError::kTxnTooLarge : StoreError::kOther;
    case grpc::StatusCode::NOT_FOUND:
      return StoreError::kNotFound;
    default:
      return StoreError::kOther;
  }
}

std::string hintFor(StoreError::Code code, std::chrono::milliseconds timeout) {
  switch (code) {
    case StoreError::kUnavailable:
      return "Check that etcd runs and listens there, and that the client's TLS settings "
             "(CA, client certificate) match the server's.";
    case StoreError::kDeadlineExceeded:
      return fmt::format(
          "No answer within {} ms: etcd may be overloaded, cut off, or without a leader.",
          timeout.count());
    case StoreError::kCompacted:
      return "That history is gone: read the current state again and continue from there.";
    case StoreError::kTxnTooLarge:
      return "Split the transaction, or raise etcd's --max-txn-ops / --max-request-bytes.";
    default:
      return "";
  }
}

}  // namespace

StoreError storeErrorFromStatus(const grpc::Status& status, std::string_view endpointUrl,
                                std::string_view what, std::chrono::milliseconds timeout) {
  const StoreError::Code code = codeFor(status);
  std::string message = fmt::format("etcd {}: {} failed: {} ({})", endpointUrl, what,
                                    status.error_message(), toString(code));
  const std::string hint = hintFor(code, timeout);
  if (!hint.empty()) message += ". " + hint;
  return StoreError{code, std::move(message)};
}

StoreError combineFailures(std::vector<StoreError> failures, std::size_t endpointCount) {
  if (failures.size() == 1) return std::move(failures.front());
  StoreError combined{failures.back().code, ""};
  combined.message = fmt::format("{} of {} etcd endpoints failed:", failures.size(), endpointCount);
  for (const StoreError& failure : failures) combined.message += "\n  " + failure.message;
  return combined;
}

std::string quoteKey(std::string_view key) {
  constexpr std::size_t kMaxShown = 120;
  std::string out = "'";
  for (std::size_t i = 0; i < key.size() && i < kMaxShown; ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (c == '\'' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      out += fmt::format("\\x{:02x}", c);
    } else {
      out += static_cast<char>(c);
    }
  }
  out += '\'';
  if (key.size() > kMaxShown) out += fmt::format(" (+{} more bytes)", key.size() - kMaxShown);
  return out;
}

std::string leaseName(int64_t leaseId) {
  return fmt::format("lease {:x}", static_cast<uint64_t>(leaseId));
}

}  // namespace ozy
