// Connection bookkeeping, eviction at the bounds, the accept back-pressure and
// the stop protocol.
#include "http/connection_registry.h"

#include <utility>
#include <vector>

namespace ozy::http {

std::shared_ptr<Connection> ConnectionRegistry::takeLongestIdleLocked(const std::string* address) {
  Entry* oldest = nullptr;
  for (auto& [key, entry] : connections_) {
    if (!entry.idle || (address != nullptr && entry.address != *address)) continue;
    if (oldest == nullptr || entry.idleSince < oldest->idleSince) oldest = &entry;
  }
  if (oldest == nullptr) return nullptr;
  oldest->idle = false;  // chosen once: it closes soon
  return oldest->connection.lock();
}

bool ConnectionRegistry::add(const std::shared_ptr<Connection>& connection,
                             const std::string& address) {
  std::shared_ptr<Connection> evicted;
  {
    std::lock_guard lock(mutex_);
    if (stopping()) return false;
    std::size_t& count = perAddress_[address];
    if (count >= maxPerAddress_) {
      evicted = takeLongestIdleLocked(&address);
      if (!evicted) {
        if (count == 0) perAddress_.erase(address);
        return false;
      }
    } else if (connections_.size() >= max_) {
      // Accepting went on because one was idle (hasRoomOrNotify). If every
      // one has turned busy since, the newcomer is turned away: the bound
      // holds.
      evicted = takeLongestIdleLocked(nullptr);
      if (!evicted) {
        if (count == 0) perAddress_.erase(address);
        return false;
      }
    }
    ++count;
    connections_.emplace(connection.get(), Entry{connection, address, true, ++sequence_});
  }
  // Outside the lock: dropping the last reference runs the destructor, which
  // calls remove().
  if (evicted) evicted->closeNow();
  return true;
}

void ConnectionRegistry::setIdle(const Connection* connection, bool idle) {
  std::function<void()> resume;
  {
    std::lock_guard lock(mutex_);
    const auto it = connections_.find(connection);
    if (it == connections_.end()) return;
    it->second.idle = idle;
    if (!idle) return;
    it->second.idleSince = ++sequence_;
    // Accepting paused because every connection was busy: this one may now
    // make room for a newcomer.
    resume = std::exchange(resume_, nullptr);
  }
  if (resume) resume();
}

void ConnectionRegistry::remove(const Connection* connection) {
  std::function<void()> resume;
  {
    std::lock_guard lock(mutex_);
    const auto it = connections_.find(connection);
    if (it != connections_.end()) {
      const auto count = perAddress_.find(it->second.address);
      if (count != perAddress_.end() && --count->second == 0) perAddress_.erase(count);
      connections_.erase(it);
    }
    if (connections_.size() < max_) resume = std::exchange(resume_, nullptr);
    if (connections_.empty()) allClosed_.notify_all();
  }
  // Outside the lock: resume re-enters hasRoomOrNotify() on another strand.
  if (resume) resume();
}

bool ConnectionRegistry::hasRoomOrNotify(std::function<void()> resume) {
  std::lock_guard lock(mutex_);
  if (connections_.size() < max_) return true;
  // Room is made when the newcomer arrives (add()), never ahead of it: a
  // connection closed for a client that never comes is lost for nothing.
  for (const auto& entry : connections_) {
    if (entry.second.idle) return true;
  }
  if (!stopping()) resume_ = std::move(resume);
  return false;
}

ConnectionRegistry::Snapshot ConnectionRegistry::snapshotLocked() const {
  Snapshot snapshot;
  snapshot.reserve(connections_.size());
  for (const auto& entry : connections_) snapshot.push_back(entry.second.connection);
  return snapshot;
}

void ConnectionRegistry::closeAll(std::chrono::milliseconds grace) {
  Snapshot open;
  {
    std::lock_guard lock(mutex_);
    stopping_.store(true, std::memory_order_release);
    resume_ = nullptr;
    open = snapshotLocked();
  }
  // Connections are asked outside the lock: dropping the last reference to
  // one runs its destructor, which calls remove().
  for (const auto& weak : open) {
    if (auto connection = weak.lock()) connection->closeIfIdle();
  }
  {
    std::unique_lock lock(mutex_);
    allClosed_.wait_for(lock, grace, [this] { return connections_.empty(); });
    open = snapshotLocked();
  }
  for (const auto& weak : open) {
    if (auto connection = weak.lock()) connection->closeNow();
  }
}

}  // namespace ozy::http
