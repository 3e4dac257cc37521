#include "dns/tcp_listener.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace ozy::dns {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// How long poll() waits: the longest stop() waits for the thread, and how
// late past its deadline a connection may be closed.
constexpr int kPollTimeoutMs = 100;
// Connections accepted in a row before the others get their turn.
constexpr int kAcceptBurst = 16;
constexpr auto kAcceptPause = 100ms;
constexpr auto kLogInterval = 10s;

}  // namespace

TcpListener::TcpListener(int fd, const TcpLimits& limits, const RateLimit& limit,
                         std::uint64_t seed, Resolve resolve, std::function<void(Transport)> hook)
    : fd_(fd),
      limits_(limits),
      limit_(limit),
      limiter_(limit, seed),
      resolve_(std::move(resolve)),
      hook_(std::move(hook)),
      limitedLog_(kLogInterval),
      crowdedLog_(kLogInterval) {}

Result<Done, std::string> TcpListener::serve(const std::atomic<bool>& stopping) {
  std::vector<TcpConnection> connections;
  std::vector<pollfd> fds;
  while (!stopping) {
    if (hook_) hook_(Transport::kTcp);
    fds.clear();
    // A negative descriptor is one poll() skips.
    fds.push_back(pollfd{Clock::now() < acceptPausedUntil_ ? -1 : fd_, POLLIN, 0});
    for (const TcpConnection& c : connections) fds.push_back(pollfd{c.fd(), c.pollEvents(), 0});
    const int ready = ::poll(fds.data(), fds.size(), kPollTimeoutMs);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return fail(fmt::format("poll on the TCP sockets failed: {}", std::strerror(errno)));
    }
    const auto now = Clock::now();
    // Connections that go (an error, done, or past their deadline) are
    // closed as the ones that stay move over them.
    std::size_t kept = 0;
    for (std::size_t i = 0; i < connections.size(); ++i) {
      const short revents = fds[i + 1].revents;
      const bool open = (revents == 0 || service(connections[i], revents, now)) &&
                        connections[i].deadline() > now;
      if (open && kept != i) connections[kept] = std::move(connections[i]);
      if (open) ++kept;
    }
    connections.erase(connections.begin() + static_cast<std::ptrdiff_t>(kept), connections.end());
    if (fds[0].revents & POLLNVAL) {
      return fail(std::string("the listening TCP socket is no longer open"));
    }
    if (fds[0].revents & (POLLIN | POLLERR)) acceptWaiting(connections, now);
  }
  return Done{};
}

void TcpListener::acceptWaiting(std::vector<TcpConnection>& connections, TimePoint now) {
  for (int i = 0; i < kAcceptBurst; ++i) {
    sockaddr_storage peer{};
    socklen_t peerLength = sizeof peer;
    SocketFd fd(::accept4(fd_, reinterpret_cast<sockaddr*>(&peer), &peerLength,
                          SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (fd.get() < 0) {
      const int error = errno;
      if (error == EMFILE || error == ENFILE || error == ENOBUFS || error == ENOMEM) {
        acceptPausedUntil_ = now + kAcceptPause;
        if (auto unlogged = crowdedLog_.event(now)) {
          spdlog::warn("DNS: cannot accept a TCP connection: {}; pausing for {} ms{}",
                       std::strerror(error), kAcceptPause.count(), andUnlogged(*unlogged));
        }
      }
      return;  // EAGAIN: none left; anything else concerns that connection only
    }
    const ClientAddress client = clientAddressOf(peer);
    const auto theirs = std::count_if(connections.begin(), connections.end(),
                                      [&](const TcpConnection& c) { return c.peer() == client; });
    if (static_cast<std::size_t>(theirs) >= limits_.maxConnectionsPerClient) {
      if (auto unlogged = crowdedLog_.event(now)) {
        spdlog::warn(
            "DNS: {} has {} TCP connections open, the most one client may; closing its new "
            "one{}",
            toString(client), theirs, andUnlogged(*unlogged));
      }
      continue;  // closes `fd`
    }
    if (connections.size() >= limits_.maxConnections) {
      if (connections.empty()) continue;  // a cap of none: no TCP at all
      // The one quiet the longest makes room (RFC 7766 section 6.2.3 lets a
      // server close idle connections when it runs short): turning the new
      // one away instead would let whoever holds every slot keep them.
      auto quietest = std::min_element(connections.begin(), connections.end(),
                                       [](const TcpConnection& a, const TcpConnection& b) {
                                         return a.lastActive() < b.lastActive();
                                       });
      if (auto unlogged = crowdedLog_.event(now)) {
        spdlog::warn(
            "DNS: {} TCP connections open, the most allowed; closing the one from {} that was "
            "quiet the longest{}",
            connections.size(), toString(quietest->peer()), andUnlogged(*unlogged));
      }
      connections.erase(quietest);
    }
    connections.emplace_back(std::move(fd), client, limits_, now);
  }
}

bool TcpListener::service(TcpConnection& c, short revents, TimePoint now) {
  if (revents & (POLLERR | POLLNVAL)) return false;
  // POLLHUP counts as ready: the read or write then says what is left.
  const bool ok = (c.pollEvents() & POLLOUT) ? c.send(now) : c.receive(now);
  if (!ok) return false;
  answerReceived(c, now);
  return !c.finished();
}

// Answers every complete query received, as long as the client is within
// its rate limit. Over TCP the client's address is not forged, so a client
// over its limit is not answered truncated (it is the client asking too
// much) but disconnected once it has the answers it was given: that sheds
// its pending queries at once and frees its connection.
void TcpListener::answerReceived(TcpConnection& c, TimePoint now) {
  while (auto query = c.nextQuery(now)) {
    const Admission admission = limiter_.admit(c.peer(), now);
    if (admission.verdict != Verdict::kAnswer) {
      if (auto unlogged = limitedLog_.event(now)) {
        spdlog::warn(
            "DNS: {} asks more than {} queries a second over TCP (burst {}); closing its "
            "connection{}. Raise --dns-rate if that client is legitimate.",
            toString(c.peer()), limit_.queriesPerSecond, limit_.burst, andUnlogged(*unlogged));
      }
      c.closeAfterSending();
      return;
    }
    if (auto response = respond(*query, Transport::kTcp, resolve_)) {
      c.queueResponse(*response, now);
    }
  }
}

}  // namespace ozy::dns
