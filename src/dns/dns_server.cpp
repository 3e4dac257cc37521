#include "dns/dns_server.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "dns/resolver.h"
#include "dns/skydns.h"

namespace ozy::dns {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// How long poll() waits: the longest stop() waits for the serving thread.
constexpr int kPollTimeoutMs = 100;
// A UDP datagram is at most this large; so is a DNS message over TCP.
constexpr std::size_t kMaxMessage = 65535;
// Datagrams read in a row before TCP gets its turn.
constexpr int kUdpBurst = 64;
// TCP bounds (RFC 7766 asks for idle timeouts and a cap on connections).
constexpr std::size_t kMaxTcpConnections = 64;
constexpr auto kTcpIdleTimeout = 10s;

std::string errnoText() {
  return std::strerror(errno);
}

}  // namespace

// A client's TCP connection: DNS messages with a two-byte length prefix
// (RFC 1035 section 4.2.2), possibly several in a row.
struct DnsServer::TcpConnection {
  SocketFd fd;
  std::vector<std::uint8_t> in;   // received, not yet answered
  std::vector<std::uint8_t> out;  // responses not yet sent
  std::size_t sent = 0;           // bytes of `out` already sent
  bool peerDone = false;          // the client sent everything it will send
  Clock::time_point deadline;
};

DnsServer::DnsServer(const DnsServerConfig& config, Store& store)
    : config_(config), prefix_(domainPrefix(config.domain)), store_(store) {
  resolve_ = [this](const Question& question) {
    std::lock_guard lock(tableMutex_);
    return resolve(table_, config_.domain, question);
  };
}

Result<std::unique_ptr<DnsServer>, std::string> DnsServer::start(const DnsServerConfig& config,
                                                                 Store& store) {
  if (!isDomain(config.domain)) {
    return fail(fmt::format(
        "\"{}\" is not a cluster domain (lowercase DNS labels separated by dots, e.g. ozy.local)",
        config.domain));
  }
  auto sockets = bindSockets(config.address, config.port);
  if (!sockets) return fail(std::move(sockets).error());
  std::unique_ptr<DnsServer> server(new DnsServer(config, store));
  server->udp_ = std::move(sockets->udp);
  server->tcp_ = std::move(sockets->tcp);
  server->port_ = sockets->port;
  auto records = server->resync();
  if (!records) {
    return fail(fmt::format("cannot read the records under {} from etcd: {}", server->prefix_,
                            records.error().message));
  }
  server->maintainer_ = std::thread([raw = server.get()] { raw->maintain(); });
  server->server_ = std::thread([raw = server.get()] { raw->serve(); });
  spdlog::info("DNS: answering for {} on {} port {} (UDP and TCP); records read from etcd: {}",
               config.domain, config.address, server->port_, *records);
  return server;
}

DnsServer::~DnsServer() {
  stop();
}

void DnsServer::stop() {
  std::lock_guard stopLock(stopMutex_);
  if (stopped_) return;
  stopped_ = true;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (maintainer_.joinable()) maintainer_.join();
  if (server_.joinable()) server_.join();
  watch_.reset();
  udp_ = SocketFd();
  tcp_ = SocketFd();
}

// Reads every record and watches from just after the read, so nothing in
// between is missed. Returns how many records the table holds.
Result<std::size_t, StoreError> DnsServer::resync() {
  // The old watch (ended, or about to be replaced) goes first, so none of
  // its events lands on the fresh table.
  watch_.reset();
  auto read = store_.getPrefix(prefix_);
  if (!read) return fail(std::move(read).error());
  std::vector<std::string> refused;
  std::size_t count = 0;
  {
    std::lock_guard lock(tableMutex_);
    refused = table_.replaceAll(read->kvs);
    count = table_.size();
  }
  for (const auto& reason : refused) {
    spdlog::warn("DNS: not serving a record: {}; rewrite or delete the key", reason);
  }
  auto onEvents = [this](std::vector<WatchEvent> events, std::int64_t) { applyEvents(events); };
  auto onError = [this](const StoreError& error) {
    spdlog::warn("DNS: the watch on {} ended ({}); reading the records again", prefix_,
                 error.message);
    {
      std::lock_guard lock(mutex_);
      needResync_ = true;
    }
    wake_.notify_all();
  };
  watch_ = store_.watch(prefix_, read->revision + 1, onEvents, onError);
  return count;
}

void DnsServer::applyEvents(const std::vector<WatchEvent>& events) {
  std::vector<std::string> refused;
  {
    std::lock_guard lock(tableMutex_);
    for (const WatchEvent& event : events) {
      if (event.type == WatchEvent::kDelete) {
        table_.remove(event.kv.key);
      } else if (auto stored = table_.put(event.kv.key, event.kv.value); !stored) {
        refused.push_back(stored.error());
      }
    }
  }
  for (const auto& reason : refused) {
    spdlog::warn("DNS: not serving a record: {}; rewrite or delete the key", reason);
  }
}

void DnsServer::maintain() {
  std::unique_lock lock(mutex_);
  auto backoff = config_.resyncBackoff;
  while (true) {
    wake_.wait(lock, [this] { return stopping_ || needResync_; });
    if (stopping_) return;
    needResync_ = false;
    lock.unlock();
    auto records = resync();
    lock.lock();
    if (records) {
      spdlog::info("DNS: read the records under {} again: {}", prefix_, *records);
      backoff = config_.resyncBackoff;
      continue;
    }
    spdlog::warn(
        "DNS: cannot read the records under {} from etcd ({}); answering from the last ones read, "
        "retrying in {} ms",
        prefix_, records.error().message, backoff.count());
    wake_.wait_for(lock, backoff, [this] { return stopping_.load(); });
    backoff = std::min(backoff * 2, config_.resyncBackoffMax);
    needResync_ = true;
  }
}

void DnsServer::serve() {
  std::vector<std::uint8_t> buffer(kMaxMessage);
  std::vector<TcpConnection> connections;
  std::vector<pollfd> fds;
  while (!stopping_) {
    fds.clear();
    fds.push_back(pollfd{udp_.get(), POLLIN, 0});
    fds.push_back(pollfd{tcp_.get(), POLLIN, 0});
    for (const TcpConnection& c : connections) {
      // Reading waits until earlier responses are out: a client that does
      // not read cannot make the server buffer without bound.
      fds.push_back(pollfd{c.fd.get(), static_cast<short>(c.out.empty() ? POLLIN : POLLOUT), 0});
    }
    const int ready = ::poll(fds.data(), fds.size(), kPollTimeoutMs);
    if (ready < 0 && errno != EINTR) {
      spdlog::error("DNS: poll failed ({}); no longer answering", errnoText());
      return;
    }
    if (ready > 0) {
      if (fds[0].revents & POLLIN) answerUdp(buffer);
      // Connections accepted now are not in `fds` yet: their turn comes next round.
      const std::size_t polled = connections.size();
      if (fds[1].revents & POLLIN) acceptTcp(connections);
      for (std::size_t i = 0; i < polled; ++i) {
        if (fds[i + 2].revents != 0 && !serviceTcp(connections[i], fds[i + 2].revents)) {
          connections[i].fd = SocketFd();
        }
      }
    }
    const auto now = Clock::now();
    std::erase_if(connections,
                  [&](const TcpConnection& c) { return c.fd.get() < 0 || c.deadline < now; });
  }
}

void DnsServer::answerUdp(std::vector<std::uint8_t>& buffer) {
  for (int i = 0; i < kUdpBurst; ++i) {
    sockaddr_storage peer{};
    socklen_t peerLength = sizeof peer;
    const ssize_t got = ::recvfrom(udp_.get(), buffer.data(), buffer.size(), 0,
                                   reinterpret_cast<sockaddr*>(&peer), &peerLength);
    if (got < 0) return;  // EAGAIN: drained; anything else concerns one datagram only
    auto response =
        respond(std::span(buffer.data(), static_cast<std::size_t>(got)), Transport::kUdp, resolve_);
    if (!response) continue;
    // A full socket buffer drops the response: the client asks again.
    ::sendto(udp_.get(), response->data(), response->size(), 0,
             reinterpret_cast<const sockaddr*>(&peer), peerLength);
  }
}

void DnsServer::acceptTcp(std::vector<TcpConnection>& connections) {
  SocketFd fd(::accept4(tcp_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  if (fd.get() < 0) return;
  // Over the cap, the client is turned away at once (closing `fd`) rather
  // than left waiting in the backlog.
  if (connections.size() >= kMaxTcpConnections) return;
  TcpConnection connection;
  connection.fd = std::move(fd);
  connection.deadline = Clock::now() + kTcpIdleTimeout;
  connections.push_back(std::move(connection));
}

// Reads, answers and writes what the connection is ready for; false once it
// is to be closed.
bool DnsServer::serviceTcp(TcpConnection& c, short events) {
  if (events & (POLLERR | POLLNVAL)) return false;
  // Hung up with nothing left to read: no response can reach the client.
  if ((events & POLLHUP) && !(events & POLLIN)) return false;
  if (events & POLLOUT) {
    const ssize_t n =
        ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    c.sent += static_cast<std::size_t>(n);
    if (c.sent == c.out.size()) {
      c.out.clear();
      c.sent = 0;
    }
    c.deadline = Clock::now() + kTcpIdleTimeout;
  } else if (events & POLLIN) {
    std::uint8_t chunk[4096];
    const ssize_t n = ::recv(c.fd.get(), chunk, sizeof chunk, 0);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    if (n == 0) c.peerDone = true;
    c.in.insert(c.in.end(), chunk, chunk + n);
    c.deadline = Clock::now() + kTcpIdleTimeout;
    // Every complete message in the buffer gets its response.
    std::size_t used = 0;
    while (c.in.size() - used >= 2) {
      const std::size_t length = (std::size_t{c.in[used]} << 8) | c.in[used + 1];
      if (c.in.size() - used - 2 < length) break;
      auto response = respond(std::span(c.in.data() + used + 2, length), Transport::kTcp, resolve_);
      used += 2 + length;
      if (!response) continue;
      c.out.push_back(static_cast<std::uint8_t>(response->size() >> 8));
      c.out.push_back(static_cast<std::uint8_t>(response->size() & 0xff));
      c.out.insert(c.out.end(), response->begin(), response->end());
    }
    c.in.erase(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(used));
  }
  return !(c.peerDone && c.out.empty());
}

}  // namespace ozy::dns
