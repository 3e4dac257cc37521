// The server's book of open connections: it bounds how many there are, in
// all and per client address, and carries the stop protocol (close idle ones,
// wait for busy ones, then close whatever is left). Internal to src/http; no
// Boost types, so the rules can be read without the I/O around them.
//
// At a bound, the connection that has waited longest for a request is closed
// to make room: idle and trickling connections cost an attacker nothing to
// open, and refusing newcomers instead would let a few hundred of them lock
// every client out. Only when every connection is busy does the bound refuse
// (per address) or pause accepting (in all).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace ozy::http {

// What the registry may ask of a connection. Both calls may come from any
// thread; implementations hop onto the connection's own strand.
class Connection {
 public:
  virtual ~Connection() = default;
  // Closes the connection unless a request is in flight. A busy connection
  // sees ConnectionRegistry::stopping() after its response and closes then.
  virtual void closeIfIdle() = 0;
  virtual void closeNow() = 0;
};

class ConnectionRegistry {
 public:
  ConnectionRegistry(std::size_t maxConnections, std::size_t maxPerAddress)
      : max_(maxConnections), maxPerAddress_(maxPerAddress) {}

  // Registers a new connection from `address`, idle, closing the
  // longest-idle one (of that address, or of all) when a bound is reached.
  // False once stopping, or at a bound where every connection is busy (the
  // caller drops it).
  bool add(const std::shared_ptr<Connection>& connection, const std::string& address);
  // Idle: waiting for (or still reading) a request's header. Such a
  // connection may be closed to make room for a new one.
  void setIdle(const Connection* connection, bool idle);
  // Called from the connection's destructor.
  void remove(const Connection* connection);

  // True when there is room for one more connection, or an idle one that
  // add() may close for it. Otherwise false, and `resume` is called once,
  // from the thread that closes a connection or finds one idle, when there
  // is room again (never after stopping began).
  bool hasRoomOrNotify(std::function<void()> resume);

  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  // Stops: idle connections close at once, busy ones after their response;
  // those still open after `grace` are closed. Returns when all are closed or
  // have been told to close now.
  void closeAll(std::chrono::milliseconds grace);

 private:
  struct Entry {
    std::weak_ptr<Connection> connection;
    std::string address;
    bool idle = true;
    std::uint64_t idleSince = 0;  // a sequence number: lower is longer ago
  };
  using Snapshot = std::vector<std::weak_ptr<Connection>>;
  Snapshot snapshotLocked() const;
  // The longest-idle connection (of `address`, or of any when null), taken
  // out of the running for eviction; null when none is idle.
  std::shared_ptr<Connection> takeLongestIdleLocked(const std::string* address);

  const std::size_t max_;
  const std::size_t maxPerAddress_;
  std::uint64_t sequence_ = 0;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::condition_variable allClosed_;
  std::unordered_map<const Connection*, Entry> connections_;
  std::unordered_map<std::string, std::size_t> perAddress_;
  std::function<void()> resume_;
};

}  // namespace ozy::http
