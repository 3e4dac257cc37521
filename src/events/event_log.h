// EventLog: the writer of jobs' event logs, one per agent (I/O edge).
//
// record() queues an event and returns at once; a background thread writes
// the queue to etcd in batches, several events in one Txn (at most
// batchSize puts, under etcd's --max-txn-ops), each event under its own
// key (keys::event: time, this node, a serial of this writer), so nodes
// never coordinate and a retried batch rewrites the same keys instead of
// adding duplicates. When etcd is away the queue fills up to queueLimit and
// then loses its oldest events (counted in stats().dropped), so record()
// never blocks and memory stays bounded. Failures are logged, throttled;
// nothing throws.
//
// Retention, in a cluster without a master, bounded without anyone's
// bookkeeping (docs/internals.md#event-log):
// - By age: every event is written under a lease of its writer, one lease
//   per time bucket (maxAge / 6), granted with a TTL of maxAge + one bucket
//   and never kept alive. etcd deletes each bucket's events on its own once
//   they are between maxAge and maxAge + a bucket old, whether the writer
//   still runs or not, and at most ~7 leases per writer are alive at once.
//   So nothing a writer leaves, even under a stopped job's prefix, lives
//   longer than that.
// - By count: after every pruneEvery events written to a job, the writer
//   reads that job's keys (keys only) and deletes the oldest beyond
//   maxPerJob, in Txns under the ops limit. Deletes are idempotent, so
//   writers pruning one job at once do no harm. Between prunes a job can
//   hold more: up to maxPerJob + (pruneEvery - 1) per writer writing to it.
// - A stopped job: each batch's Txn requires every job it writes to to
//   exist (the job key's create revision is not 0). Events of a job that is
//   gone are dropped (stats().orphaned), so a lagging writer does not
//   refill the prefix deleted with the job. (A job stopped and submitted
//   again before such a batch lands gets the old job's last events; their
//   lease takes them like any others.)
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/result.h"
#include "events/event.h"
#include "store/store.h"

namespace ozy {

struct EventLogOptions {
  // This writer's node: in every key it writes (their uniqueness), and the
  // node of an event recorded without one. A host name.
  std::string node{};
  // Count retention per job (see above for the slack).
  std::size_t maxPerJob = 200;
  // Age retention: an event lives at least this long, and at most this plus
  // a sixth of it. At least 2 s (etcd's leases count whole seconds).
  std::chrono::seconds maxAge{3600};
  // Events waiting to be written; the oldest go past this.
  std::size_t queueLimit = 1000;
  // Events per Txn: at most etcd's --max-txn-ops (128 by default), and
  // maxTxnOps below.
  std::size_t batchSize = 64;
  // etcd's --max-txn-ops: the bound of each pruning Txn's deletes too.
  std::size_t maxTxnOps = 128;
  // Events written to a job between two count checks of it.
  std::size_t pruneEvery = 20;
  // Retries of a failed write wait this long, doubling up to the maximum.
  std::chrono::milliseconds retryBackoff{200};
  std::chrono::milliseconds retryBackoffMax{5000};
  // How long stop() keeps writing what is queued before it gives up on it.
  std::chrono::milliseconds stopDeadline{2000};
  // Wall clock in ms since the epoch: an event's time when it has none, and
  // the age of queued events (empty: the system clock).
  std::function<std::int64_t()> nowMs{};
  // Tells this writer's keys from those of an earlier or later writer on
  // the same node (0: drawn at random). Tests set it.
  std::uint32_t incarnation = 0;
};

// What the writer did since it started.
struct EventLogStats {
  std::uint64_t recorded = 0;      // given to record() and queued
  std::uint64_t written = 0;       // in etcd
  std::uint64_t dropped = 0;       // lost to a full queue (the oldest queued went)
  std::uint64_t expired = 0;       // older than maxAge before etcd took them
  std::uint64_t orphaned = 0;      // their job was gone when they were written
  std::uint64_t refused = 0;       // bad job or node names, or recorded after stop()
  std::uint64_t unwritten = 0;     // still queued when stop()'s deadline passed
  std::uint64_t failedWrites = 0;  // Txns that failed (their events were retried)
  std::uint64_t pruned = 0;        // deletes sent by count retention (some may find
                                   // another writer was first)
  bool operator==(const EventLogStats&) const = default;
};

class EventLog {
 public:
  // Checks the options (every problem in one message) and starts the
  // writer thread. Does not contact etcd: an unreachable etcd only delays
  // the writes.
  static Result<std::unique_ptr<EventLog>, std::string> start(Store& store,
                                                              EventLogOptions options);
  ~EventLog();
  EventLog(const EventLog&) = delete;
  EventLog& operator=(const EventLog&) = delete;

  // Queues the event and returns at once, from any thread. An event with
  // atMs 0 happened now; one without a node happened on this one; its
  // message is cut to kMaxEventMessageBytes. Events whose job is no job
  // name, or whose node or fromNode is no host name, are refused (counted,
  // logged): they would not read back. After stop(), events are refused too.
  void record(Event event);

  // Waits until the writer has nothing left (every event recorded so far is
  // written or lost), or `timeout` passes; true in the first case. For
  // tests and tools: under a steady stream of events it may not return
  // true.
  bool flush(std::chrono::milliseconds timeout);

  // Writes what is queued for up to options.stopDeadline (plus the store
  // call under way, which has its own deadline), counts the rest as
  // unwritten, and ends the thread. Safe to call twice.
  void stop();

  EventLogStats stats() const;

 private:
  struct Pending {
    std::string key;
    Event event;
  };
  EventLog(Store& store, EventLogOptions options);
  void run();
  // Writes batch_ once: true when it is done with it (written, or dropped
  // as expired or orphaned), false when the write failed and is to be
  // retried after a back-off.
  bool writeBatch();
  Result<std::int64_t, StoreError> bucketLease();
  void countWrites(const std::vector<Pending>& written);
  // Deletes the job's oldest events beyond maxPerJob; false if etcd failed.
  bool prune(const std::string& job);
  std::int64_t nowMs() const;
  // Logs a warning, at most one per interval, saying how many it held back.
  void warn(const std::string& message);

  Store& store_;
  const EventLogOptions options_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;  // the writer: work, or stopping
  std::condition_variable idle_;  // flush(): something finished
  std::deque<Pending> queue_;
  std::size_t inFlight_ = 0;  // the batch's size while the writer holds it
  std::uint32_t incarnation_ = 0;
  std::uint32_t counter_ = 0;  // with incarnation_, the serial of each key
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stopBy_{};
  EventLogStats stats_;

  // The writer thread's own state.
  std::vector<Pending> batch_;
  std::int64_t lease_ = 0;
  std::chrono::steady_clock::time_point leaseRenewAt_{};
  std::map<std::string, std::size_t> writesSincePrune_;

  std::mutex warnMutex_;
  std::chrono::steady_clock::time_point nextWarning_{};
  std::size_t unwarned_ = 0;

  std::mutex stopMutex_;  // held by stop() throughout, so a second caller waits too
  std::thread writer_;
};

}  // namespace ozy
