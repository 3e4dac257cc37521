// TcpConnection: one client's DNS-over-TCP connection, non-blocking: DNS
// messages with a two-byte length prefix (RFC 1035 section 4.2.2), several
// in a row if the client likes (RFC 7766), and the deadline by which the
// connection is closed. The caller polls, answers and closes (tcp_listener.h);
// the time is passed in.
//
// Deadlines measure the client, not the bytes: progress does not extend
// them, so a client that trickles a byte at a time cannot hold a
// connection. A query must arrive whole within readTimeout of its first
// byte, the responses queued must all be taken within writeTimeout of being
// queued, and a connection with nothing under way is closed after
// idleTimeout.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "dns/client_address.h"
#include "dns/sockets.h"

namespace ozy::dns {

struct TcpLimits {
  // RFC 7766 section 6.2.2 asks servers to bound connections; 64 descriptors
  // are cheap, and a node's pods rarely hold more than a few at once.
  std::size_t maxConnections = 64;
  // One client cannot take every connection: the cap that made a client
  // holding 64 silent connections lock every other one out.
  std::size_t maxConnectionsPerClient = 8;
  // The deadlines above. A query or its response takes one round trip to
  // arrive or go, so a few seconds suit even a slow link.
  std::chrono::milliseconds idleTimeout{10000};
  std::chrono::milliseconds readTimeout{5000};
  std::chrono::milliseconds writeTimeout{5000};
};

class TcpConnection {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  // `fd` non-blocking, accepted at `now`.
  TcpConnection(SocketFd fd, ClientAddress peer, const TcpLimits& limits, TimePoint now);

  int fd() const { return fd_.get(); }
  const ClientAddress& peer() const { return peer_; }
  // What to poll for: POLLOUT while responses wait, else POLLIN. Reading
  // waits for the responses to go, so a client that does not read cannot
  // make the server buffer without bound.
  short pollEvents() const;

  // Reads what the socket has; false when the connection is to be closed
  // (a socket error).
  bool receive(TimePoint now);
  // The next complete query received, unless enough responses wait to be
  // sent already (then after they went).
  std::optional<std::vector<std::uint8_t>> nextQuery(TimePoint now);
  void queueResponse(std::span<const std::uint8_t> response, TimePoint now);
  // Sends what the socket takes of the queued responses; false when the
  // connection is to be closed (a socket error, the client gone).
  bool send(TimePoint now);

  // Takes nothing more from the client: the connection is finished once the
  // responses queued are sent.
  void closeAfterSending();

  // The client sent all it will (closed its side, or closeAfterSending())
  // and has every response.
  bool finished() const;
  TimePoint deadline() const;
  // When the client last sent or took something: the connection quiet the
  // longest makes room for a new one.
  TimePoint lastActive() const { return lastActive_; }

 private:
  bool hasCompleteQuery() const;

  SocketFd fd_;
  ClientAddress peer_;
  TcpLimits limits_;
  std::vector<std::uint8_t> in_;   // received, not yet answered
  std::vector<std::uint8_t> out_;  // responses not yet sent
  std::size_t sent_ = 0;           // bytes of out_ already sent
  bool peerDone_ = false;          // nothing more is read
  TimePoint idleSince_;            // nothing under way since
  TimePoint inSince_;              // in_ holds bytes of a query since
  TimePoint outSince_;             // out_ holds responses since
  TimePoint lastActive_;
};

}  // namespace ozy::dns
