// Reading a job's event log (I/O edge): a page of it, a wait for what comes
// next, and a follower that delivers new events as etcd takes them.
//
// Two orders, because writers lag: a node cut off from etcd writes its
// queued events when it is back, under their own (earlier) times. So
// - "the newest N" (query.afterRevision 0) is in key order, which is time
//   order (by the writers' clocks): what `ozy job events NAME` shows;
// - "what came after revision R" is in the order etcd took the events
//   (create revision, then key), so that a reader that passes each page's
//   `revision` to the next read (the API's ?index=, `ozy job events -f`)
//   sees every event once, late ones included.
// The log is bounded by its retention (events/event_log.h), so a read of
// all of one job's keys is small; it is paged by the store all the same.
// Records that do not decode are skipped and counted, never fatal.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/result.h"
#include "events/event.h"
#include "store/prefix_follower.h"
#include "store/store.h"

namespace ozy {

// One event as the log holds it.
struct LoggedEvent {
  std::string key{};
  std::int64_t revision = 0;  // when etcd took it (the key's create revision)
  Event event{};
  bool operator==(const LoggedEvent&) const = default;
};

struct EventQuery {
  // At most this many events (0: no bound). Without afterRevision: the
  // newest; with it: the first etcd took after it, whole Txns at a time
  // (a page holds all or none of the events written together, so it may
  // exceed the bound by one writer's batch, and `revision` stays exact).
  std::size_t limit = 100;
  // Only events etcd took after this store revision (0: all).
  std::int64_t afterRevision = 0;
};

struct EventPage {
  std::vector<LoggedEvent> events{};  // in the query's order (see above)
  // Pass it as afterRevision to read what comes after this page: the
  // revision the read was served at, or with more left, the create
  // revision of the last event in the page.
  std::int64_t revision = 0;
  bool more = false;        // events matched beyond the limit
  std::size_t skipped = 0;  // unreadable records left out
};

Result<EventPage, StoreError> readEvents(Store& store, const std::string& job,
                                         const EventQuery& query = {});

// Waits until etcd takes an event of the job after `afterRevision`, or
// `timeout` passes: what a blocking read waits on before readEvents. True
// when there may be something to read (a new event, or the watch could not
// tell, e.g. the revision was compacted away); false when the time ran out.
// Deletions (retention, a stopped job) do not wake it.
bool waitForEvents(Store& store, const std::string& job, std::int64_t afterRevision,
                   std::chrono::milliseconds timeout);

// Delivers the job's events as etcd takes them, from just after a revision
// (e.g. a readEvents page's), each once and in the order etcd took them.
// When its watch ends (a compaction took the revision it needed), it reads
// the log again and delivers only the events taken after the last one it
// delivered, so none repeats; events that came and went meanwhile (pruned,
// expired) are not seen. Built on PrefixFollower: its back-off, its stop().
class EventFollower {
 public:
  using EventsFn = std::function<void(std::vector<LoggedEvent> events)>;

  // Reads the log once before it returns (the events after `afterRevision`
  // are delivered then, on the caller's thread) and fails if that read
  // does. `onEvents` runs on one thread at a time, never after stop(); it
  // must not throw, nor call stop().
  static Result<std::unique_ptr<EventFollower>, StoreError> start(Store& store, std::string job,
                                                                  std::int64_t afterRevision,
                                                                  EventsFn onEvents);
  ~EventFollower();
  EventFollower(const EventFollower&) = delete;
  EventFollower& operator=(const EventFollower&) = delete;

  // Returns once no callback runs and none will. Safe to call twice.
  void stop();
  // Records it could not decode so far.
  std::size_t skipped() const { return skipped_.load(); }

 private:
  EventFollower(std::string job, std::int64_t afterRevision, EventsFn onEvents);
  void onSnapshot(std::vector<KeyValue> kvs, std::int64_t revision);
  void onWatchEvents(std::vector<WatchEvent> events, std::int64_t revision);

  const std::string job_;
  const EventsFn onEvents_;
  // The revision up to which everything was delivered. Touched only by the
  // follower's callbacks, which run one at a time.
  std::int64_t delivered_ = 0;
  std::atomic<std::size_t> skipped_{0};
  std::unique_ptr<PrefixFollower> follower_;
};

}  // namespace ozy
