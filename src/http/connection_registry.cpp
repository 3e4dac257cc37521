// Connection bookkeeping, the accept back-pressure and the stop protocol.
#include "http/connection_registry.h"

#include <utility>
#include <vector>

namespace ozy::http {

bool ConnectionRegistry::add(const std::shared_ptr<Connection>& connection) {
  std::lock_guard lock(mutex_);
  if (stopping()) return false;
  connections_.emplace(connection.get(), connection);
  return true;
}

void ConnectionRegistry::remove(const Connection* connection) {
  std::function<void()> resume;
  {
    std::lock_guard lock(mutex_);
    connections_.erase(connection);
    if (connections_.size() < max_) resume = std::exchange(resume_, nullptr);
    if (connections_.empty()) allClosed_.notify_all();
  }
  // Outside the lock: resume re-enters hasRoomOrNotify() on another strand.
  if (resume) resume();
}

bool ConnectionRegistry::hasRoomOrNotify(std::function<void()> resume) {
  std::lock_guard lock(mutex_);
  if (connections_.size() < max_) return true;
  if (!stopping()) resume_ = std::move(resume);
  return false;
}

ConnectionRegistry::Snapshot ConnectionRegistry::snapshotLocked() const {
  Snapshot snapshot;
  snapshot.reserve(connections_.size());
  for (const auto& entry : connections_) snapshot.push_back(entry.second);
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
