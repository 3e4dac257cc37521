// The handler pool: a condition variable over a bounded deque.
#include "http/worker_pool.h"

#include <utility>

namespace ozy::http {

WorkerPool::WorkerPool(int threads, std::size_t queueLimit) : queueLimit_(queueLimit) {
  threads_.reserve(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

WorkerPool::~WorkerPool() { stop(); }

bool WorkerPool::trySubmit(std::function<void()> job) {
  std::lock_guard lock(mutex_);
  if (stopping_) return false;
  // A job that an idle thread takes at once never counts against the queue.
  const std::size_t waiting = queue_.size() >= idle_ ? queue_.size() - idle_ : 0;
  if (waiting >= queueLimit_) return false;
  queue_.push_back(std::move(job));
  wake_.notify_one();
  return true;
}

void WorkerPool::run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      ++idle_;
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      --idle_;
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    job();
  }
}

void WorkerPool::stop() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    dropped.swap(queue_);
    wake_.notify_all();
  }
  // Destroyed outside the lock: a job's captures may run destructors that
  // take locks of their own.
  dropped.clear();
  for (auto& thread : threads_) thread.join();
  threads_.clear();
}

}  // namespace ozy::http
