#include "dns/udp_listener.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace ozy::dns {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// How long poll() waits: the longest stop() waits for the thread.
constexpr int kPollTimeoutMs = 100;
// A UDP datagram is at most this large.
constexpr std::size_t kMaxDatagram = 65535;
// Datagrams read in a row before the stop flag is looked at again.
constexpr int kDatagramBurst = 64;
constexpr auto kLimitedLogInterval = 10s;

}  // namespace

UdpListener::UdpListener(int fd, const RateLimit& limit, std::uint64_t seed, Resolve resolve,
                         std::function<void(Transport)> hook)
    : fd_(fd),
      limit_(limit),
      limiter_(limit, seed),
      resolve_(std::move(resolve)),
      hook_(std::move(hook)),
      limitedLog_(kLimitedLogInterval) {}

Result<Done, std::string> UdpListener::serve(const std::atomic<bool>& stopping) {
  std::vector<std::uint8_t> buffer(kMaxDatagram);
  while (!stopping) {
    if (hook_) hook_(Transport::kUdp);
    pollfd p{fd_, POLLIN, 0};
    const int ready = ::poll(&p, 1, kPollTimeoutMs);
    if (ready < 0) {
      if (errno == EINTR) continue;
      return fail(fmt::format("poll on the UDP socket failed: {}", std::strerror(errno)));
    }
    if (p.revents & POLLNVAL) return fail(std::string("the UDP socket is no longer open"));
    // POLLERR too: reading takes the pending error off the socket.
    if (p.revents & (POLLIN | POLLERR)) answerWaiting(buffer);
  }
  return Done{};
}

void UdpListener::answerWaiting(std::vector<std::uint8_t>& buffer) {
  for (int i = 0; i < kDatagramBurst; ++i) {
    sockaddr_storage peer{};
    socklen_t peerLength = sizeof peer;
    const ssize_t got = ::recvfrom(fd_, buffer.data(), buffer.size(), 0,
                                   reinterpret_cast<sockaddr*>(&peer), &peerLength);
    if (got < 0) return;  // EAGAIN: drained; anything else concerns one datagram only
    const std::span query(buffer.data(), static_cast<std::size_t>(got));
    const auto now = Clock::now();
    const ClientAddress client = clientAddressOf(peer);
    const Admission admission = limiter_.admit(client, now);
    if (admission.startsLimiting) {
      if (auto unlogged = limitedLog_.event(now)) {
        spdlog::warn(
            "DNS: {} asks more than {} queries a second over UDP (burst {}); dropping the "
            "excess{}. Raise --dns-rate if that client is legitimate.",
            toString(client), limit_.queriesPerSecond, limit_.burst, andUnlogged(*unlogged));
      }
    }
    std::optional<std::vector<std::uint8_t>> response;
    switch (admission.verdict) {
      case Verdict::kAnswer:
        response = respond(query, Transport::kUdp, resolve_);
        break;
      case Verdict::kTruncate:
        response = truncatedResponse(query);
        break;
      case Verdict::kDrop:
        break;
    }
    if (!response) continue;
    // A full socket buffer drops the response: the client asks again.
    ::sendto(fd_, response->data(), response->size(), 0, reinterpret_cast<const sockaddr*>(&peer),
             peerLength);
  }
}

}  // namespace ozy::dns
