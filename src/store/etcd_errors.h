// Turning gRPC statuses from etcd into StoreErrors a sysadmin can act on.
//
// etcd reports most of its errors as a gRPC code plus a fixed message
// ("etcdserver: too many operations in txn request"); which StoreError::Code
// applies sometimes depends on that message, so the mapping lives in one place.
#pragma once

#include <grpcpp/support/status.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace ozy {

StoreError storeErrorFromStatus(const grpc::Status& status, std::string_view endpointUrl,
                                std::string_view what, std::chrono::milliseconds timeout);

// One error for a call that failed on one or more endpoints: the last
// failure's code, and every endpoint's reason in the message.
StoreError combineFailures(std::vector<StoreError> failures, std::size_t endpointCount);

// A key as quoted in messages: printable, escaped, cut short when long.
std::string quoteKey(std::string_view key);

// A lease ID as etcdctl prints it (hex), so messages match the operator's tools.
std::string leaseName(int64_t leaseId);

}  // namespace ozy
