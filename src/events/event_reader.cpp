#include "events/event_reader.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <tuple>

#include "scheduler/keys.h"

namespace ozy {
namespace {

// The event a key holds, if both the key and the value are an event of `job`.
std::optional<LoggedEvent> decodeLogged(const KeyValue& kv, const std::string& job) {
  const auto key = keys::parseEvent(kv.key);
  if (!key || key->job != job) {
    spdlog::debug("event log of {}: skipping {}: not an event key", job, kv.key);
    return std::nullopt;
  }
  auto event = decodeEvent(kv.value);
  if (!event) {
    spdlog::debug("event log of {}: skipping {}: {}", job, kv.key, event.error());
    return std::nullopt;
  }
  if (event->job != job) {
    spdlog::debug("event log of {}: skipping {}: it names job {}", job, kv.key, event->job);
    return std::nullopt;
  }
  return LoggedEvent{kv.key, kv.createRevision, std::move(event).value()};
}

bool takenBefore(const LoggedEvent& a, const LoggedEvent& b) {
  return std::tie(a.revision, a.key) < std::tie(b.revision, b.key);
}

}  // namespace

Result<EventPage, StoreError> readEvents(Store& store, const std::string& job,
                                         const EventQuery& query) {
  auto read = store.getPrefix(keys::eventsOf(job));
  if (!read) return fail(std::move(read).error());
  EventPage page;
  page.revision = read->revision;
  for (const KeyValue& kv : read->kvs) {
    if (kv.createRevision <= query.afterRevision) continue;
    if (auto logged = decodeLogged(kv, job)) {
      page.events.push_back(std::move(*logged));
    } else {
      ++page.skipped;
    }
  }
  auto& events = page.events;
  if (query.afterRevision == 0) {
    // Key order, as read: keep the newest.
    if (query.limit != 0 && events.size() > query.limit) {
      events.erase(events.begin(), events.end() - static_cast<std::ptrdiff_t>(query.limit));
      page.more = true;
    }
    return page;
  }
  std::sort(events.begin(), events.end(), takenBefore);
  if (query.limit != 0 && events.size() > query.limit) {
    // Cut between two revisions, never inside one Txn's events: before the
    // Txn that straddles the limit, or after it if it is the first.
    std::size_t cut = query.limit;
    const std::int64_t straddling = events[cut - 1].revision;
    while (cut > 0 && events[cut - 1].revision == straddling) --cut;
    if (cut == 0) {
      while (cut < events.size() && events[cut].revision == straddling) ++cut;
    }
    if (cut < events.size()) {
      events.resize(cut);
      page.more = true;
      page.revision = events.back().revision;
    }
  }
  return page;
}

bool waitForEvents(Store& store, const std::string& job, std::int64_t afterRevision,
                   std::chrono::milliseconds timeout) {
  std::mutex mutex;
  std::condition_variable changed;
  bool seen = false;
  auto onEvents = [&](std::vector<WatchEvent> events, std::int64_t) {
    // Only a new key is a new event: deletions are retention at work, and
    // a put of an existing key is a writer's retry of a batch etcd took.
    const bool added = std::any_of(events.begin(), events.end(), [](const WatchEvent& e) {
      return e.type == WatchEvent::kPut && e.kv.version == 1;
    });
    if (!added) return;
    std::lock_guard lock(mutex);
    seen = true;
    changed.notify_all();
  };
  auto onError = [&](const StoreError&) {
    std::lock_guard lock(mutex);
    seen = true;  // cannot tell: let the caller read
    changed.notify_all();
  };
  auto watch = store.watch(keys::eventsOf(job), afterRevision + 1, onEvents, onError);
  if (!watch) return true;
  bool answer = false;
  {
    std::unique_lock lock(mutex);
    answer = changed.wait_for(lock, timeout, [&] { return seen; });
  }
  watch->stop();
  return answer;
}

EventFollower::EventFollower(std::string job, std::int64_t afterRevision, EventsFn onEvents)
    : job_(std::move(job)), onEvents_(std::move(onEvents)), delivered_(afterRevision) {}

Result<std::unique_ptr<EventFollower>, StoreError> EventFollower::start(Store& store,
                                                                        std::string job,
                                                                        std::int64_t afterRevision,
                                                                        EventsFn onEvents) {
  std::unique_ptr<EventFollower> self(
      new EventFollower(std::move(job), afterRevision, std::move(onEvents)));
  EventFollower* raw = self.get();
  PrefixFollowerOptions options;
  options.prefixes = {keys::eventsOf(raw->job_)};
  options.name = "the event log of " + raw->job_;
  options.requireFirstRead = true;
  PrefixFollowerCallbacks callbacks;
  callbacks.onSnapshot = [raw](std::vector<KeyValue> kvs, std::int64_t revision) {
    raw->onSnapshot(std::move(kvs), revision);
  };
  callbacks.onEvents = [raw](std::vector<WatchEvent> events, std::int64_t revision) {
    raw->onWatchEvents(std::move(events), revision);
  };
  auto follower = PrefixFollower::start(store, std::move(options), std::move(callbacks));
  if (!follower) return fail(std::move(follower).error());
  self->follower_ = std::move(follower).value();
  return self;
}

EventFollower::~EventFollower() {
  stop();
}

void EventFollower::stop() {
  if (follower_) follower_->stop();
}

void EventFollower::onSnapshot(std::vector<KeyValue> kvs, std::int64_t revision) {
  // The first read, or a re-read after the watch ended: what etcd took
  // since the last delivery, and nothing delivered before.
  std::vector<LoggedEvent> out;
  for (const KeyValue& kv : kvs) {
    if (kv.createRevision <= delivered_) continue;
    if (auto logged = decodeLogged(kv, job_)) {
      out.push_back(std::move(*logged));
    } else {
      skipped_.fetch_add(1);
    }
  }
  std::sort(out.begin(), out.end(), takenBefore);
  delivered_ = std::max(delivered_, revision);
  if (!out.empty()) onEvents_(std::move(out));
}

void EventFollower::onWatchEvents(std::vector<WatchEvent> events, std::int64_t revision) {
  std::vector<LoggedEvent> out;
  for (const WatchEvent& e : events) {
    // New keys only (see waitForEvents); none from before the last delivery.
    if (e.type != WatchEvent::kPut || e.kv.version != 1 || e.kv.createRevision <= delivered_) {
      continue;
    }
    if (auto logged = decodeLogged(e.kv, job_)) {
      out.push_back(std::move(*logged));
    } else {
      skipped_.fetch_add(1);
    }
  }
  std::stable_sort(out.begin(), out.end(), takenBefore);
  delivered_ = std::max(delivered_, revision);
  if (!out.empty()) onEvents_(std::move(out));
}

}  // namespace ozy
