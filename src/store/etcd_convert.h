// Translating between the Store types and etcd's protobuf messages.
//
// Pure functions, kept apart from the RPC code so they can be unit-tested
// without an etcd.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "etcd/etcdserver/etcdserverpb/rpc.pb.h"
#include "etcd/mvcc/mvccpb/kv.pb.h"
#include "store/store.h"

namespace ozy {

// The range [key, rangeEnd) etcd uses for "every key starting with prefix".
struct KeyRange {
  std::string key;
  std::string rangeEnd;
};
KeyRange prefixRange(std::string_view prefix);

KeyValue fromProto(const mvccpb::KeyValue& kv);
WatchEvent fromProto(const mvccpb::Event& event);

// Fails with kInvalidArgument for ops etcd would misread, e.g. removing the
// prefix "" (which would delete every key in the cluster).
Result<etcdserverpb::TxnRequest, StoreError> toProto(const Txn& txn);
TxnResult fromProto(const etcdserverpb::TxnResponse& response);

// The refusal shared by removePrefix and TxnOp::removePrefix.
StoreError emptyPrefixRemoval();

}  // namespace ozy
