// EtcdStore: key-value, transaction and lease calls over etcd's gRPC API.
// Watches live in etcd_watch.cpp; connections and failover in
// etcd_endpoints.cpp.
#include "store/etcd_store.h"

#include <fmt/format.h>

#include <utility>

#include "store/etcd_convert.h"
#include "store/etcd_endpoints.h"
#include "store/etcd_errors.h"
#include "store/etcd_watch.h"

namespace ozy {
namespace {

using grpc::ClientContext;
using grpc::Status;

StoreError leaseGone(int64_t leaseId) {
  return StoreError{
      StoreError::kNotFound,
      fmt::format("{} not found: it has expired or been revoked", leaseName(leaseId))};
}

}  // namespace

Result<std::unique_ptr<EtcdStore>, StoreError> EtcdStore::create(EtcdConfig config) {
  if (config.pageSize <= 0) {
    return fail(StoreError{StoreError::kInvalidArgument, "the etcd page size must be positive"});
  }
  auto channels = EtcdChannels::create(config);
  if (!channels) return fail(std::move(channels).error());
  return std::unique_ptr<EtcdStore>(new EtcdStore(std::move(channels).value(), config.pageSize));
}

EtcdStore::EtcdStore(std::shared_ptr<EtcdChannels> channels, int64_t pageSize)
    : channels_(std::move(channels)), pageSize_(pageSize) {}

EtcdStore::~EtcdStore() = default;

Result<RangeResult, StoreError> EtcdStore::get(const std::string& key) {
  etcdserverpb::RangeRequest request;
  request.set_key(key);
  etcdserverpb::RangeResponse response;
  auto done = channels_->call("get " + quoteKey(key), Resend::kAlways,
                              [&](EtcdEndpoint& ep, ClientContext& context) {
                                return ep.kv->Range(&context, request, &response);
                              });
  if (!done) return fail(std::move(done).error());
  RangeResult out;
  out.revision = response.header().revision();
  for (const auto& kv : response.kvs()) out.kvs.push_back(fromProto(kv));
  return out;
}

// One page of [from, end) at `revision` (0: the current one).
Result<RangeResult, StoreError> EtcdStore::readPage(const std::string& from, const std::string& end,
                                                    int64_t revision, bool keysOnly, bool* more) {
  etcdserverpb::RangeRequest request;
  request.set_key(from);
  request.set_range_end(end);
  request.set_limit(pageSize_);
  request.set_revision(revision);
  request.set_keys_only(keysOnly);
  etcdserverpb::RangeResponse response;
  auto done = channels_->call("read from " + quoteKey(from), Resend::kAlways,
                              [&](EtcdEndpoint& ep, ClientContext& context) {
                                return ep.kv->Range(&context, request, &response);
                              });
  if (!done) return fail(std::move(done).error());
  RangeResult out;
  out.revision = response.header().revision();
  for (const auto& kv : response.kvs()) out.kvs.push_back(fromProto(kv));
  *more = response.more() && !out.kvs.empty();
  return out;
}

Result<RangeResult, StoreError> EtcdStore::getPrefix(const std::string& prefix, bool keysOnly) {
  const KeyRange range = prefixRange(prefix);
  RangeResult all;
  std::string from = range.key;
  // Every page after the first is read at the first page's revision, so the
  // pages add up to one consistent snapshot. The loop ends because each page
  // starts after the last key of the one before.
  for (bool more = true; more;) {
    auto page = readPage(from, range.rangeEnd, all.revision, keysOnly, &more);
    if (!page) return fail(std::move(page).error());
    if (all.revision == 0) all.revision = page->revision;
    for (KeyValue& kv : page->kvs) all.kvs.push_back(std::move(kv));
    if (more) from = all.kvs.back().key + '\0';  // the smallest key after the last one
  }
  return all;
}

Result<int64_t, StoreError> EtcdStore::put(const std::string& key, const std::string& value,
                                           int64_t lease) {
  etcdserverpb::PutRequest request;
  request.set_key(key);
  request.set_value(value);
  request.set_lease(lease);
  etcdserverpb::PutResponse response;
  auto done = channels_->call("put " + quoteKey(key), Resend::kIfNeverSent,
                              [&](EtcdEndpoint& ep, ClientContext& context) {
                                return ep.kv->Put(&context, request, &response);
                              });
  if (!done) return fail(std::move(done).error());
  return response.header().revision();
}

Result<DeleteResult, StoreError> EtcdStore::removeRange(const std::string& key,
                                                        const std::string& end) {
  etcdserverpb::DeleteRangeRequest request;
  request.set_key(key);
  request.set_range_end(end);
  etcdserverpb::DeleteRangeResponse response;
  const std::string what = (end.empty() ? "remove " : "remove prefix ") + quoteKey(key);
  auto done =
      channels_->call(what, Resend::kIfNeverSent, [&](EtcdEndpoint& ep, ClientContext& context) {
        return ep.kv->DeleteRange(&context, request, &response);
      });
  if (!done) return fail(std::move(done).error());
  return DeleteResult{response.deleted(), response.header().revision()};
}

Result<DeleteResult, StoreError> EtcdStore::remove(const std::string& key) {
  return removeRange(key, "");
}

Result<DeleteResult, StoreError> EtcdStore::removePrefix(const std::string& prefix) {
  if (prefix.empty()) return fail(emptyPrefixRemoval());
  return removeRange(prefix, prefixRange(prefix).rangeEnd);
}

Result<TxnResult, StoreError> EtcdStore::txn(const Txn& txn) {
  auto request = toProto(txn);
  if (!request) return fail(std::move(request).error());
  etcdserverpb::TxnResponse response;
  const std::string what = fmt::format("txn ({} compares, {} + {} ops)", txn.compares.size(),
                                       txn.success.size(), txn.failure.size());
  auto done =
      channels_->call(what, Resend::kIfNeverSent, [&](EtcdEndpoint& ep, ClientContext& context) {
        return ep.kv->Txn(&context, *request, &response);
      });
  if (!done) return fail(std::move(done).error());
  return fromProto(response);
}

Result<Lease, StoreError> EtcdStore::grantLease(int64_t ttlSeconds) {
  etcdserverpb::LeaseGrantRequest request;
  request.set_ttl(ttlSeconds);
  etcdserverpb::LeaseGrantResponse response;
  auto done = channels_->call(fmt::format("grant a lease of {} s", ttlSeconds),
                              Resend::kIfNeverSent, [&](EtcdEndpoint& ep, ClientContext& context) {
                                return ep.lease->LeaseGrant(&context, request, &response);
                              });
  if (!done) return fail(std::move(done).error());
  if (!response.error().empty()) {
    return fail(StoreError{StoreError::kOther, fmt::format("etcd refused a lease of {} s: {}",
                                                           ttlSeconds, response.error())});
  }
  return Lease{response.id(), response.ttl()};
}

// Keep-alives are a bidirectional stream in etcd's API; a single refresh is one
// request and one response on a short-lived stream.
Result<int64_t, StoreError> EtcdStore::keepAliveOnce(int64_t leaseId) {
  etcdserverpb::LeaseKeepAliveRequest request;
  request.set_id(leaseId);
  etcdserverpb::LeaseKeepAliveResponse response;
  auto done = channels_->call(
      "keep " + leaseName(leaseId) + " alive", Resend::kAlways,
      [&](EtcdEndpoint& ep, ClientContext& context) {
        auto stream = ep.lease->LeaseKeepAlive(&context);
        const bool answered = stream->Write(request) && stream->Read(&response);
        stream->WritesDone();
        const Status status = stream->Finish();
        if (status.ok() && !answered) {
          return Status(grpc::StatusCode::UNAVAILABLE, "the keep-alive stream closed early");
        }
        return status;
      });
  if (!done) return fail(std::move(done).error());
  if (response.ttl() <= 0) return fail(leaseGone(leaseId));
  return response.ttl();
}

Result<Done, StoreError> EtcdStore::revokeLease(int64_t leaseId) {
  etcdserverpb::LeaseRevokeRequest request;
  request.set_id(leaseId);
  etcdserverpb::LeaseRevokeResponse response;
  auto done = channels_->call("revoke " + leaseName(leaseId), Resend::kAlways,
                              [&](EtcdEndpoint& ep, ClientContext& context) {
                                return ep.lease->LeaseRevoke(&context, request, &response);
                              });
  if (!done && done.error().code == StoreError::kNotFound) return fail(leaseGone(leaseId));
  return done;
}

Result<int64_t, StoreError> EtcdStore::leaseTimeToLive(int64_t leaseId) {
  etcdserverpb::LeaseTimeToLiveRequest request;
  request.set_id(leaseId);
  etcdserverpb::LeaseTimeToLiveResponse response;
  auto done = channels_->call("ask the time to live of " + leaseName(leaseId), Resend::kAlways,
                              [&](EtcdEndpoint& ep, ClientContext& context) {
                                return ep.lease->LeaseTimeToLive(&context, request, &response);
                              });
  if (!done) return fail(std::move(done).error());
  // etcd answers -1 for a lease it does not know.
  if (response.ttl() < 0) return fail(leaseGone(leaseId));
  return response.ttl();
}

std::unique_ptr<Watch> EtcdStore::watch(const std::string& prefix, int64_t startRevision,
                                        WatchEventsFn onEvents, WatchErrorFn onError) {
  // Counted here, where every watch of the process passes, rather than in
  // each of its users.
  auto counted = [ended = watchesEnded_, onError = std::move(onError)](const StoreError& error) {
    ended->fetch_add(1, std::memory_order_relaxed);
    if (onError) onError(error);
  };
  return EtcdWatch::start(channels_, prefix, startRevision, std::move(onEvents), std::move(counted));
}

std::uint64_t EtcdStore::watchesEnded() const { return watchesEnded_->load(std::memory_order_relaxed); }

Result<Done, StoreError> EtcdStore::compact(int64_t revision) {
  etcdserverpb::CompactionRequest request;
  request.set_revision(revision);
  // Wait until the history is really gone, so what follows sees it gone.
  request.set_physical(true);
  etcdserverpb::CompactionResponse response;
  return channels_->call(fmt::format("compact up to revision {}", revision), Resend::kAlways,
                         [&](EtcdEndpoint& ep, ClientContext& context) {
                           return ep.kv->Compact(&context, request, &response);
                         });
}

}  // namespace ozy
