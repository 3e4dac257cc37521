// Endpoint URLs and gRPC channels for EtcdStore; see etcd_endpoints.h.
#include "store/etcd_endpoints.h"

#include <fmt/format.h>
#include <grpcpp/completion_queue.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <utility>

namespace ozy {
namespace {

StoreError badConfig(std::string message) {
  return StoreError{StoreError::kInvalidArgument, std::move(message)};
}

bool validPort(std::string_view port) {
  if (port.empty() || port.size() > 5) return false;
  int value = 0;
  for (char c : port) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  return value >= 1 && value <= 65535;
}

Result<std::string, StoreError> readFile(const std::string& path, std::string_view role) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return fail(badConfig(
        fmt::format("cannot read the etcd {} '{}': {}", role, path, std::strerror(errno))));
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().empty()) {
    return fail(badConfig(fmt::format("the etcd {} '{}' is empty", role, path)));
  }
  return text.str();
}

Result<std::shared_ptr<grpc::ChannelCredentials>, StoreError> tlsCredentials(
    const EtcdConfig& config) {
  if (config.certFile.empty() != config.keyFile.empty()) {
    return fail(badConfig("a client certificate needs both certFile and keyFile; only one is set"));
  }
  grpc::SslCredentialsOptions options;
  if (!config.caFile.empty()) {
    auto ca = readFile(config.caFile, "CA file");
    if (!ca) return fail(std::move(ca).error());
    options.pem_root_certs = std::move(ca).value();
  }
  if (!config.certFile.empty()) {
    auto cert = readFile(config.certFile, "client certificate");
    if (!cert) return fail(std::move(cert).error());
    auto key = readFile(config.keyFile, "client key");
    if (!key) return fail(std::move(key).error());
    options.pem_cert_chain = std::move(cert).value();
    options.pem_private_key = std::move(key).value();
  }
  return grpc::SslCredentials(options);
}

// Channel settings chosen for a store that must notice lost connections and
// come back quickly once etcd does.
grpc::ChannelArguments channelArguments() {
  grpc::ChannelArguments args;
  // Large prefixes come back in pages, but a single page of big values may
  // exceed gRPC's 4 MiB default.
  args.SetMaxReceiveMessageSize(-1);
  // Pings find a dead peer under a quiet watch stream. etcd refuses pings more
  // often than every 5 s (--grpc-keepalive-min-time) and without open calls.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // gRPC's default reconnect back-off grows to two minutes; an etcd member
  // restarts in seconds.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  // This is also the timeout of one connection attempt (gRPC's default is
  // 20 s): a member that swallows packets turns "unavailable" after it, and
  // calls fail over, instead of every call waiting out its deadline.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 2000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 2000);
  return args;
}

std::unique_ptr<EtcdEndpoint> connect(const EtcdEndpointUrl& url,
                                      const std::shared_ptr<grpc::ChannelCredentials>& creds) {
  auto ep = std::make_unique<EtcdEndpoint>();
  ep->url = url.url;
  ep->channel = grpc::CreateCustomChannel(url.target, creds, channelArguments());
  ep->kv = etcdserverpb::KV::NewStub(ep->channel);
  ep->lease = etcdserverpb::Lease::NewStub(ep->channel);
  ep->watch = etcdserverpb::Watch::NewStub(ep->channel);
  return ep;
}

}  // namespace

// Keeps connection attempts moving. gRPC C++ learns the outcome of a
// connection attempt only while some thread polls the channel. Calls do that
// while they wait, but in TRANSIENT_FAILURE calls fail at once without
// waiting, and then only gRPC's backup poller (every 5 s) notices that a
// reconnect succeeded, or that it timed out (so the next one never starts in
// time). Watching every channel's state from one thread of our own keeps them
// polled, so a restarted etcd is seen again within milliseconds.
class ConnectivityPoller {
 public:
  explicit ConnectivityPoller(const std::vector<std::unique_ptr<EtcdEndpoint>>& endpoints) {
    for (const auto& ep : endpoints) channels_.push_back(ep->channel);
    thread_ = std::thread([this] { run(); });
  }
  ~ConnectivityPoller() {
    stopping_ = true;
    thread_.join();
  }

 private:
  // How long one state watch lasts; also how long stopping can take.
  static constexpr std::chrono::milliseconds kWatchPeriod{200};

  void arm(std::size_t index) {
    grpc::Channel& channel = *channels_[index];
    channel.NotifyOnStateChange(channel.GetState(false),
                                std::chrono::system_clock::now() + kWatchPeriod, &queue_,
                                reinterpret_cast<void*>(index));
  }

  void run() {
    for (std::size_t i = 0; i < channels_.size(); ++i) arm(i);
    std::size_t pending = channels_.size();
    if (pending == 0) queue_.Shutdown();
    void* tag = nullptr;
    bool changed = false;
    while (queue_.Next(&tag, &changed)) {
      if (!stopping_) {
        arm(reinterpret_cast<std::size_t>(tag));
      } else if (--pending == 0) {
        queue_.Shutdown();  // Next() returns false once drained
      }
    }
  }

  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  grpc::CompletionQueue queue_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

EtcdChannels::EtcdChannels(std::vector<std::unique_ptr<EtcdEndpoint>> endpoints,
                           std::chrono::milliseconds timeout)
    : endpoints_(std::move(endpoints)),
      timeout_(timeout),
      poller_(std::make_unique<ConnectivityPoller>(endpoints_)) {}

EtcdChannels::~EtcdChannels() = default;

Result<EtcdEndpointUrl, StoreError> parseEndpointUrl(const std::string& url) {
  EtcdEndpointUrl out{url, "", false};
  std::string_view rest = url;
  if (rest.starts_with("https://")) {
    out.tls = true;
    rest.remove_prefix(8);
  } else if (rest.starts_with("http://")) {
    rest.remove_prefix(7);
  } else {
    return fail(badConfig(fmt::format(
        "etcd endpoint '{}' must start with http:// or https:// (e.g. http://127.0.0.1:2379)",
        url)));
  }
  if (rest.ends_with('/')) rest.remove_suffix(1);
  // The port follows the last ':' that comes after any IPv6 literal's ']'.
  const std::size_t colon = rest.rfind(':');
  const std::size_t bracket = rest.rfind(']');
  const bool hasPort =
      colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket);
  if (!hasPort || colon == 0 || !validPort(rest.substr(colon + 1)) ||
      rest.find('/') != std::string_view::npos) {
    return fail(badConfig(fmt::format(
        "etcd endpoint '{}' must look like scheme://host:port with a port from 1 to 65535 "
        "(etcd's client port is usually 2379)",
        url)));
  }
  out.target = std::string(rest);
  return out;
}

Result<std::shared_ptr<EtcdChannels>, StoreError> EtcdChannels::create(const EtcdConfig& config) {
  if (config.endpoints.empty()) return fail(badConfig("no etcd endpoints are configured"));
  if (config.timeout.count() <= 0) {
    return fail(badConfig("the etcd call timeout must be positive"));
  }
  std::vector<EtcdEndpointUrl> urls;
  bool anyTls = false;
  for (const std::string& endpoint : config.endpoints) {
    auto url = parseEndpointUrl(endpoint);
    if (!url) return fail(std::move(url).error());
    anyTls = anyTls || url->tls;
    urls.push_back(std::move(url).value());
  }
  const bool tlsFiles =
      !config.caFile.empty() || !config.certFile.empty() || !config.keyFile.empty();
  if (tlsFiles && !anyTls) {
    return fail(
        badConfig("TLS files are configured but every etcd endpoint is http://; "
                  "use https:// endpoints or drop the TLS files"));
  }
  std::shared_ptr<grpc::ChannelCredentials> secure;
  if (anyTls) {
    auto creds = tlsCredentials(config);
    if (!creds) return fail(std::move(creds).error());
    secure = std::move(creds).value();
  }
  std::vector<std::unique_ptr<EtcdEndpoint>> endpoints;
  for (const EtcdEndpointUrl& url : urls) {
    endpoints.push_back(connect(url, url.tls ? secure : grpc::InsecureChannelCredentials()));
  }
  return std::shared_ptr<EtcdChannels>(new EtcdChannels(std::move(endpoints), config.timeout));
}

}  // namespace ozy
