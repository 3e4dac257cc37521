// The server's book of open connections: it bounds how many there are and
// carries the stop protocol (close idle ones, wait for busy ones, then close
// whatever is left). Internal to src/http; no Boost types, so the rules can be
// read without the I/O around them.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
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
  explicit ConnectionRegistry(std::size_t maxConnections) : max_(maxConnections) {}

  // Registers a new connection; false once stopping (the caller drops it).
  bool add(const std::shared_ptr<Connection>& connection);
  // Called from the connection's destructor.
  void remove(const Connection* connection);

  // True when there is room for one more connection. Otherwise false, and
  // `resume` is called once, from the thread that closes a connection, when
  // there is room again (never after stopping began).
  bool hasRoomOrNotify(std::function<void()> resume);

  bool stopping() const { return stopping_.load(std::memory_order_acquire); }

  // Stops: idle connections close at once, busy ones after their response;
  // those still open after `grace` are closed. Returns when all are closed or
  // have been told to close now.
  void closeAll(std::chrono::milliseconds grace);

 private:
  using Snapshot = std::vector<std::weak_ptr<Connection>>;
  Snapshot snapshotLocked() const;

  const std::size_t max_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::condition_variable allClosed_;
  std::unordered_map<const Connection*, std::weak_ptr<Connection>> connections_;
  std::function<void()> resume_;
};

}  // namespace ozy::http
