// The handler pool: a condition variable over a bounded deque.
#include "http/worker_pool.h"

#include <utility>

namespace ozy::http {

WorkerPool::WorkerPool(int threads, std::size_t queueLimit)
    : threadCount_(static_cast<std::size_t>(threads)), queueLimit_(queueLimit) {
  threads_.reserve(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

WorkerPool::~WorkerPool() { stop(); }

bool WorkerPool::trySubmit(std::function<void()> job) {
  std::lock_guard lock(mutex_);
  if (stopping_) return false;
  // A job that a free thread takes at once never counts against the queue,
  // so a limit of 0 admits a job only when a thread is free for it.
  if (running_ + queue_.size() >= threadCount_ + queueLimit_) return false;
  queue_.push_back(std::move(job));
  wake_.notify_one();
  return true;
}

void WorkerPool::run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    job();
    job = nullptr;  // its captures go before the thread counts as free
    std::lock_guard lock(mutex_);
    --running_;
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
