// Store types <-> etcd protobuf messages; see etcd_convert.h.
#include "store/etcd_convert.h"

namespace ozy {
namespace {

using etcdserverpb::RequestOp;

etcdserverpb::Compare::CompareResult toProto(Compare::Op op) {
  switch (op) {
    case Compare::kEqual:
      return etcdserverpb::Compare::EQUAL;
    case Compare::kNotEqual:
      return etcdserverpb::Compare::NOT_EQUAL;
    case Compare::kGreater:
      return etcdserverpb::Compare::GREATER;
    case Compare::kLess:
      return etcdserverpb::Compare::LESS;
  }
  return etcdserverpb::Compare::EQUAL;
}

etcdserverpb::Compare toProto(const Compare& compare) {
  etcdserverpb::Compare out;
  if (compare.prefix) {
    KeyRange keys = prefixRange(compare.key);
    out.set_key(std::move(keys.key));
    out.set_range_end(std::move(keys.rangeEnd));
  } else {
    out.set_key(compare.key);
  }
  out.set_result(toProto(compare.op));
  switch (compare.target) {
    case Compare::kVersion:
      out.set_target(etcdserverpb::Compare::VERSION);
      out.set_version(compare.number);
      break;
    case Compare::kCreateRevision:
      out.set_target(etcdserverpb::Compare::CREATE);
      out.set_create_revision(compare.number);
      break;
    case Compare::kModRevision:
      out.set_target(etcdserverpb::Compare::MOD);
      out.set_mod_revision(compare.number);
      break;
    case Compare::kValue:
      out.set_target(etcdserverpb::Compare::VALUE);
      out.set_value(compare.value);
      break;
    case Compare::kLease:
      out.set_target(etcdserverpb::Compare::LEASE);
      out.set_lease(compare.number);
      break;
  }
  return out;
}

void setRange(etcdserverpb::RangeRequest* range, std::string_view prefix) {
  KeyRange keys = prefixRange(prefix);
  range->set_key(std::move(keys.key));
  range->set_range_end(std::move(keys.rangeEnd));
}

Result<RequestOp, StoreError> toProto(const TxnOp& op) {
  RequestOp out;
  switch (op.kind) {
    case TxnOp::kPut: {
      auto* put = out.mutable_request_put();
      put->set_key(op.key);
      put->set_value(op.value);
      put->set_lease(op.lease);
      break;
    }
    case TxnOp::kRemove:
      out.mutable_request_delete_range()->set_key(op.key);
      break;
    case TxnOp::kRemovePrefix: {
      if (op.key.empty()) return fail(emptyPrefixRemoval());
      KeyRange keys = prefixRange(op.key);
      auto* remove = out.mutable_request_delete_range();
      remove->set_key(std::move(keys.key));
      remove->set_range_end(std::move(keys.rangeEnd));
      break;
    }
    case TxnOp::kGet:
      out.mutable_request_range()->set_key(op.key);
      break;
    case TxnOp::kGetPrefix:
      setRange(out.mutable_request_range(), op.key);
      break;
  }
  return out;
}

Result<Done, StoreError> appendOps(const std::vector<TxnOp>& ops,
                                   google::protobuf::RepeatedPtrField<RequestOp>* out) {
  for (const TxnOp& op : ops) {
    auto request = toProto(op);
    if (!request) return fail(std::move(request).error());
    *out->Add() = std::move(request).value();
  }
  return Done{};
}

}  // namespace

KeyRange prefixRange(std::string_view prefix) {
  // etcd rejects an empty key; "\0" up to "\0" means every key.
  if (prefix.empty()) return {std::string(1, '\0'), std::string(1, '\0')};
  // The end is the prefix with its last byte below 0xff incremented and what
  // follows it dropped; a prefix of only 0xff bytes has no end ("\0": to the
  // last key).
  std::string end(prefix);
  while (!end.empty()) {
    const auto last = static_cast<unsigned char>(end.back());
    if (last < 0xff) {
      end.back() = static_cast<char>(last + 1);
      return {std::string(prefix), std::move(end)};
    }
    end.pop_back();
  }
  return {std::string(prefix), std::string(1, '\0')};
}

KeyValue fromProto(const mvccpb::KeyValue& kv) {
  return KeyValue{kv.key(),          kv.value(),   kv.create_revision(),
                  kv.mod_revision(), kv.version(), kv.lease()};
}

WatchEvent fromProto(const mvccpb::Event& event) {
  WatchEvent out;
  out.type = event.type() == mvccpb::Event::DELETE ? WatchEvent::kDelete : WatchEvent::kPut;
  out.kv = fromProto(event.kv());
  return out;
}

Result<etcdserverpb::TxnRequest, StoreError> toProto(const Txn& txn) {
  etcdserverpb::TxnRequest out;
  for (const Compare& compare : txn.compares) *out.add_compare() = toProto(compare);
  if (auto ok = appendOps(txn.success, out.mutable_success()); !ok)
    return fail(std::move(ok).error());
  if (auto ok = appendOps(txn.failure, out.mutable_failure()); !ok)
    return fail(std::move(ok).error());
  return out;
}

TxnResult fromProto(const etcdserverpb::TxnResponse& response) {
  TxnResult out;
  out.succeeded = response.succeeded();
  out.revision = response.header().revision();
  for (const etcdserverpb::ResponseOp& op : response.responses()) {
    if (!op.has_response_range()) continue;
    std::vector<KeyValue>& kvs = out.gets.emplace_back();
    for (const mvccpb::KeyValue& kv : op.response_range().kvs()) kvs.push_back(fromProto(kv));
  }
  return out;
}

StoreError emptyPrefixRemoval() {
  return StoreError{StoreError::kInvalidArgument,
                    "refusing to remove the prefix '' (every key in etcd); name a prefix"};
}

}  // namespace ozy
