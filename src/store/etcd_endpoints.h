// The connections behind EtcdStore: endpoint URLs, one gRPC channel per
// endpoint, and the failover rule every call follows.
//
// Internal to src/store; the rest of the project sees only Store.
#pragma once

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "store/etcd_errors.h"
#include "store/etcd_store.h"
#include "store/store.h"

namespace ozy {

// A client URL split into what gRPC needs.
struct EtcdEndpointUrl {
  std::string url;     // as configured, for messages
  std::string target;  // "host:port" for gRPC
  bool tls = false;
};

// Accepts http://host:port and https://host:port (host may be [IPv6]), with
// an optional trailing "/".
Result<EtcdEndpointUrl, StoreError> parseEndpointUrl(const std::string& url);

struct EtcdEndpoint {
  std::string url;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<etcdserverpb::KV::Stub> kv;
  std::unique_ptr<etcdserverpb::Lease::Stub> lease;
  std::unique_ptr<etcdserverpb::Watch::Stub> watch;
};

// Whether a call may be sent again to another endpoint after it failed with
// "unavailable" on one.
enum class Resend {
  kAlways,       // reads and keep-alives: repeating them changes nothing
  kIfNeverSent,  // writes: only when the endpoint was not connected, so the
                 // request almost surely never reached a server
};

class ConnectivityPoller;

class EtcdChannels {
 public:
  static Result<std::shared_ptr<EtcdChannels>, StoreError> create(const EtcdConfig& config);
  ~EtcdChannels();

  std::size_t size() const { return endpoints_.size(); }
  EtcdEndpoint& endpoint(std::size_t index) { return *endpoints_[index]; }
  // The endpoint that answered last: where the next call goes first.
  std::size_t preferred() const { return preferred_.load(); }
  std::chrono::milliseconds timeout() const { return timeout_; }

  // Runs `rpc(endpoint, context)` with a deadline of timeout() for the whole
  // call, failing over between endpoints as `resend` allows. `what` names the
  // operation in error messages ("put '/jobs/web'").
  template <typename Rpc>
  Result<Done, StoreError> call(std::string_view what, Resend resend, const Rpc& rpc);

 private:
  EtcdChannels(std::vector<std::unique_ptr<EtcdEndpoint>> endpoints,
               std::chrono::milliseconds timeout);

  std::vector<std::unique_ptr<EtcdEndpoint>> endpoints_;
  std::chrono::milliseconds timeout_;
  std::atomic<std::size_t> preferred_{0};
  std::unique_ptr<ConnectivityPoller> poller_;
};

template <typename Rpc>
Result<Done, StoreError> EtcdChannels::call(std::string_view what, Resend resend, const Rpc& rpc) {
  const auto deadline = std::chrono::system_clock::now() + timeout_;
  const std::size_t first = preferred_.load();
  std::vector<StoreError> failures;
  for (std::size_t attempt = 0; attempt < endpoints_.size(); ++attempt) {
    const std::size_t index = (first + attempt) % endpoints_.size();
    EtcdEndpoint& ep = *endpoints_[index];
    const bool wasConnected = ep.channel->GetState(false) == GRPC_CHANNEL_READY;
    grpc::ClientContext context;
    context.set_deadline(deadline);
    const grpc::Status status = rpc(ep, context);
    if (status.ok()) {
      preferred_.store(index);
      return Done{};
    }
    failures.push_back(storeErrorFromStatus(status, ep.url, what, timeout_));
    const bool mayResend = resend == Resend::kAlways || !wasConnected;
    if (status.error_code() != grpc::StatusCode::UNAVAILABLE || !mayResend) break;
  }
  return fail(combineFailures(std::move(failures), endpoints_.size()));
}

}  // namespace ozy
