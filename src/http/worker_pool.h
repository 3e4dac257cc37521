// WorkerPool: a fixed set of threads with a bounded queue, where the HTTP
// server runs its handlers and, in a pool of their own, the producers of
// streamed responses.
//
// Handlers may block (they call etcd with deadlines); running them on the
// I/O threads would let a few slow requests stall every connection, health
// checks included. A full queue is an answer, not a wait: the server replies
// 503 with Retry-After at once.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace ozy::http {

class WorkerPool {
 public:
  // `threads` run jobs; at most `queueLimit` more wait for one (0: a job is
  // taken only when a thread is free).
  WorkerPool(int threads, std::size_t queueLimit);
  ~WorkerPool();  // stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // False when every thread is busy and the queue is full, or once stopping;
  // the job is then not run (and destroyed by the caller's copy).
  bool trySubmit(std::function<void()> job);

  // Lets running jobs finish, destroys the queued ones unrun, joins the
  // threads. Idempotent; never call it from a job.
  void stop();

 private:
  void run();

  const std::size_t threadCount_;
  const std::size_t queueLimit_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  // Jobs taken and not yet done. Counted rather than idle threads: a thread
  // not yet waiting (just started, or just done with a job) is free all the
  // same, and a limit of 0 must not refuse a job for it.
  std::size_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace ozy::http
