#include "dns/tcp_connection.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

namespace ozy::dns {
namespace {

// Queries wait in the input while this much output is queued: one largest
// DNS message. A client sending a burst of queries for large answers gets
// them a few at a time, as it takes them.
constexpr std::size_t kMaxQueuedOutput = 65535 + 2;
constexpr std::size_t kReadChunk = 4096;

}  // namespace

TcpConnection::TcpConnection(SocketFd fd, ClientAddress peer, const TcpLimits& limits,
                             TimePoint now)
    : fd_(std::move(fd)),
      peer_(peer),
      limits_(limits),
      idleSince_(now),
      inSince_(now),
      outSince_(now),
      lastActive_(now) {}

short TcpConnection::pollEvents() const {
  if (!out_.empty()) return POLLOUT;
  return peerDone_ ? 0 : POLLIN;
}

bool TcpConnection::receive(TimePoint now) {
  std::uint8_t chunk[kReadChunk];
  const ssize_t n = ::recv(fd_.get(), chunk, sizeof chunk, 0);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  if (n == 0) {
    peerDone_ = true;
    return true;
  }
  if (in_.empty()) inSince_ = now;
  in_.insert(in_.end(), chunk, chunk + n);
  lastActive_ = now;
  return true;
}

bool TcpConnection::hasCompleteQuery() const {
  if (in_.size() < 2) return false;
  const std::size_t length = (std::size_t{in_[0]} << 8) | in_[1];
  return in_.size() - 2 >= length;
}

std::optional<std::vector<std::uint8_t>> TcpConnection::nextQuery(TimePoint now) {
  if (out_.size() - sent_ >= kMaxQueuedOutput || !hasCompleteQuery()) return std::nullopt;
  const std::size_t length = (std::size_t{in_[0]} << 8) | in_[1];
  std::vector<std::uint8_t> query(in_.begin() + 2, in_.begin() + 2 + static_cast<long>(length));
  in_.erase(in_.begin(), in_.begin() + 2 + static_cast<long>(length));
  // What is left is the start of the next query: its time runs from now.
  inSince_ = now;
  idleSince_ = now;
  return query;
}

void TcpConnection::queueResponse(std::span<const std::uint8_t> response, TimePoint now) {
  if (out_.empty()) outSince_ = now;
  out_.push_back(static_cast<std::uint8_t>(response.size() >> 8));
  out_.push_back(static_cast<std::uint8_t>(response.size() & 0xff));
  out_.insert(out_.end(), response.begin(), response.end());
}

bool TcpConnection::send(TimePoint now) {
  if (out_.empty()) return true;
  const ssize_t n = ::send(fd_.get(), out_.data() + sent_, out_.size() - sent_, MSG_NOSIGNAL);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
  sent_ += static_cast<std::size_t>(n);
  lastActive_ = now;
  if (sent_ == out_.size()) {
    out_.clear();
    sent_ = 0;
    idleSince_ = now;
  }
  return true;
}

void TcpConnection::closeAfterSending() {
  peerDone_ = true;
  in_.clear();
}

bool TcpConnection::finished() const {
  return peerDone_ && out_.empty() && !hasCompleteQuery();
}

TcpConnection::TimePoint TcpConnection::deadline() const {
  if (!out_.empty()) return outSince_ + limits_.writeTimeout;
  if (!in_.empty()) return inSince_ + limits_.readTimeout;
  return idleSince_ + limits_.idleTimeout;
}

}  // namespace ozy::dns
