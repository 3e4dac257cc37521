#include "events/event_log.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>
#include <set>

#include "job/job_parser.h"
#include "scheduler/keys.h"

namespace ozy {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// One warning line per interval at most: an etcd outage fails every write
// until it ends, and a line per failure would bury the rest of the log.
constexpr auto kWarnEvery = 30s;
// Jobs whose writes since their last count check are remembered; past it
// the counts start again (a little more slack for a moment, no growth).
constexpr std::size_t kMaxTrackedJobs = 4096;
// Deletes per count check, in Txns of maxTxnOps: a job far over its bound
// (retention lowered, a writer with a broken clock) is brought back over a
// few checks rather than in one burst.
constexpr std::size_t kMaxPruneTxns = 8;

std::int64_t systemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A sixth of maxAge, in whole seconds (etcd's leases count seconds).
std::chrono::seconds bucketOf(std::chrono::seconds maxAge) {
  return std::max(std::chrono::seconds(1), maxAge / 6);
}

std::string checkOptions(const EventLogOptions& o) {
  std::vector<std::string> problems;
  if (!isHostName(o.node))
    problems.push_back(fmt::format("node \"{}\" is not a host name", o.node));
  if (o.maxPerJob == 0) problems.push_back("maxPerJob must be at least 1");
  if (o.maxAge < 2s || o.maxAge > std::chrono::hours(24 * 365)) {
    problems.push_back("maxAge must be between 2 s and a year");
  }
  if (o.queueLimit == 0) problems.push_back("queueLimit must be at least 1");
  if (o.maxTxnOps == 0) problems.push_back("maxTxnOps must be at least 1");
  if (o.batchSize == 0 || o.batchSize > o.maxTxnOps) {
    problems.push_back(fmt::format("batchSize must be between 1 and maxTxnOps ({})", o.maxTxnOps));
  }
  if (o.pruneEvery == 0) problems.push_back("pruneEvery must be at least 1");
  if (o.retryBackoff <= 0ms || o.retryBackoffMax < o.retryBackoff) {
    problems.push_back("retryBackoff must be positive and retryBackoffMax at least as long");
  }
  if (o.stopDeadline < 0ms) problems.push_back("stopDeadline must not be negative");
  std::string out;
  for (const auto& p : problems) out += (out.empty() ? "" : "; ") + p;
  return out;
}

}  // namespace

Result<std::unique_ptr<EventLog>, std::string> EventLog::start(Store& store,
                                                               EventLogOptions options) {
  if (auto problems = checkOptions(options); !problems.empty()) {
    return fail("event log: " + problems);
  }
  std::unique_ptr<EventLog> log(new EventLog(store, std::move(options)));
  log->writer_ = std::thread([raw = log.get()] { raw->run(); });
  return log;
}

EventLog::EventLog(Store& store, EventLogOptions options)
    : store_(store), options_(std::move(options)), incarnation_(options_.incarnation) {
  if (incarnation_ == 0) incarnation_ = std::random_device{}();
}

EventLog::~EventLog() {
  stop();
}

std::int64_t EventLog::nowMs() const {
  return options_.nowMs ? options_.nowMs() : systemNowMs();
}

void EventLog::record(Event event) {
  // Names are in the key and must decode again: refuse what would not.
  const bool named = isDnsLabel(event.job) && (event.node.empty() || isHostName(event.node)) &&
                     (event.fromNode.empty() || isHostName(event.fromNode));
  if (event.atMs <= 0) event.atMs = nowMs();
  event.atMs = std::min(event.atMs, keys::kMaxEventMs);
  if (event.node.empty()) event.node = options_.node;
  // Cut here, not only when encoding: the queue holds bounded events.
  event.message = cutUtf8(event.message, kMaxEventMessageBytes);
  std::size_t queued = 0;
  bool dropped = false;
  {
    std::lock_guard lock(mutex_);
    if (!named || stopping_) {
      ++stats_.refused;
    } else {
      const std::uint64_t serial = (std::uint64_t{incarnation_} << 32) | counter_++;
      Pending pending{keys::event(event.job, event.atMs, options_.node, serial), std::move(event)};
      if (queue_.size() >= options_.queueLimit) {
        queue_.pop_front();
        ++stats_.dropped;
        dropped = true;
      }
      queue_.push_back(std::move(pending));
      ++stats_.recorded;
      queued = queue_.size();
    }
  }
  if (!named) {
    warn(
        fmt::format("event log: refused an event of job \"{}\" (node \"{}\", from \"{}\"): "
                    "not a job or node name",
                    cutUtf8(event.job, 80), cutUtf8(event.node, 80), cutUtf8(event.fromNode, 80)));
    return;
  }
  if (queued == 0) return;  // stopping
  wake_.notify_one();
  if (dropped) {
    warn(
        fmt::format("event log: {} events wait for etcd, the most kept: the oldest are dropped "
                    "until etcd takes writes again",
                    queued));
  }
}

bool EventLog::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return idle_.wait_for(lock, timeout, [&] { return queue_.empty() && inFlight_ == 0; });
}

void EventLog::stop() {
  std::lock_guard stopLock(stopMutex_);
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      stopping_ = true;
      stopBy_ = Clock::now() + options_.stopDeadline;
    }
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
}

EventLogStats EventLog::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void EventLog::warn(const std::string& message) {
  std::size_t heldBack = 0;
  {
    std::lock_guard lock(warnMutex_);
    const auto now = Clock::now();
    if (now < nextWarning_) {
      ++unwarned_;
      return;
    }
    nextWarning_ = now + kWarnEvery;
    heldBack = std::exchange(unwarned_, 0);
  }
  if (heldBack == 0) {
    spdlog::warn("{}", message);
  } else {
    spdlog::warn("{} (and {} more such warnings since the last)", message, heldBack);
  }
}

void EventLog::run() {
  std::unique_lock lock(mutex_);
  auto backoff = options_.retryBackoff;
  for (;;) {
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty() || !batch_.empty(); });
    if (stopping_ && (Clock::now() >= stopBy_ || (queue_.empty() && batch_.empty()))) break;
    while (batch_.size() < options_.batchSize && !queue_.empty()) {
      batch_.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
    inFlight_ = batch_.size();
    lock.unlock();
    const bool done = writeBatch();
    lock.lock();
    inFlight_ = batch_.size();
    idle_.notify_all();
    if (done) {
      backoff = options_.retryBackoff;
      continue;
    }
    // Back off before the retry; stop() shortens the wait to its deadline.
    const auto retryAt = Clock::now() + backoff;
    for (;;) {
      const auto until = stopping_ ? std::min(retryAt, stopBy_) : retryAt;
      if (Clock::now() >= until) break;
      wake_.wait_until(lock, until);
    }
    backoff = std::min(backoff * 2, options_.retryBackoffMax);
  }
  const std::size_t left = queue_.size() + batch_.size();
  stats_.unwritten += left;
  queue_.clear();
  batch_.clear();
  inFlight_ = 0;
  idle_.notify_all();
  lock.unlock();
  if (left > 0) {
    spdlog::warn("event log: stopped with {} events etcd did not take within {} ms; they are lost",
                 left, options_.stopDeadline.count());
  }
}

Result<std::int64_t, StoreError> EventLog::bucketLease() {
  const auto now = Clock::now();
  if (lease_ != 0 && now < leaseRenewAt_) return lease_;
  // Every event written under this lease until leaseRenewAt_ outlives
  // maxAge: the TTL counts from the grant, and is a bucket longer.
  const auto bucket = bucketOf(options_.maxAge);
  auto granted = store_.grantLease((options_.maxAge + bucket).count());
  if (!granted) return fail(std::move(granted).error());
  lease_ = granted->id;
  leaseRenewAt_ = now + bucket;
  return lease_;
}

bool EventLog::writeBatch() {
  // A retry may come long after the events happened: those past their age
  // are not worth writing (etcd would be asked to keep them longer than
  // any other).
  const std::int64_t oldest = nowMs() - std::chrono::milliseconds(options_.maxAge).count();
  const auto expired =
      std::erase_if(batch_, [&](const Pending& p) { return p.event.atMs < oldest; });
  if (expired > 0) {
    std::lock_guard lock(mutex_);
    stats_.expired += expired;
  }
  // A lease that etcd no longer knows (it expired while this writer could
  // not write, or was revoked) is replaced at once; a job that turned out
  // to be gone is left out at once; anything else waits for the back-off.
  for (int attempt = 0; attempt < 3 && !batch_.empty(); ++attempt) {
    auto lease = bucketLease();
    if (!lease) {
      warn("event log: cannot get a lease for events from etcd: " + lease.error().message);
      std::lock_guard lock(mutex_);
      ++stats_.failedWrites;
      return false;
    }
    std::vector<std::string> jobs;
    for (const auto& p : batch_) jobs.push_back(p.event.job);
    std::sort(jobs.begin(), jobs.end());
    jobs.erase(std::unique(jobs.begin(), jobs.end()), jobs.end());
    Txn txn;
    for (const auto& job : jobs) {
      txn.compares.push_back(Compare::createRevision(keys::job(job), Compare::kGreater, 0));
      txn.failure.push_back(TxnOp::get(keys::job(job)));
    }
    for (const auto& p : batch_) txn.success.push_back(TxnOp::put(p.key, encode(p.event), *lease));
    auto written = store_.txn(txn);
    if (!written) {
      {
        std::lock_guard lock(mutex_);
        ++stats_.failedWrites;
      }
      if (written.error().code == StoreError::kNotFound) {
        lease_ = 0;
        continue;
      }
      warn(fmt::format("event log: cannot write {} events to etcd (retrying): {}", batch_.size(),
                       written.error().message));
      return false;
    }
    if (!written->succeeded) {
      std::set<std::string> gone;
      for (std::size_t i = 0; i < jobs.size() && i < written->gets.size(); ++i) {
        if (written->gets[i].empty()) gone.insert(jobs[i]);
      }
      const auto orphaned =
          std::erase_if(batch_, [&](const Pending& p) { return gone.contains(p.event.job); });
      std::lock_guard lock(mutex_);
      stats_.orphaned += orphaned;
      continue;
    }
    {
      std::lock_guard lock(mutex_);
      stats_.written += batch_.size();
    }
    countWrites(batch_);
    batch_.clear();
    return true;
  }
  return batch_.empty();
}

void EventLog::countWrites(const std::vector<Pending>& written) {
  std::set<std::string> due;
  for (const auto& p : written) {
    if (writesSincePrune_.size() >= kMaxTrackedJobs && !writesSincePrune_.contains(p.event.job)) {
      writesSincePrune_.clear();
    }
    if (++writesSincePrune_[p.event.job] >= options_.pruneEvery) due.insert(p.event.job);
  }
  for (const auto& job : due) {
    // A failed check keeps the count, so the next write to the job tries again.
    if (prune(job)) writesSincePrune_.erase(job);
  }
}

bool EventLog::prune(const std::string& job) {
  auto read = store_.getPrefix(keys::eventsOf(job), /*keysOnly=*/true);
  if (!read) {
    warn(
        fmt::format("event log: cannot count the events of job {}: {}", job, read.error().message));
    return false;
  }
  const auto& kvs = read->kvs;
  if (kvs.size() <= options_.maxPerJob) return true;
  // Key order is time order: the first are the oldest.
  const std::size_t excess =
      std::min(kvs.size() - options_.maxPerJob, kMaxPruneTxns * options_.maxTxnOps);
  for (std::size_t from = 0; from < excess; from += options_.maxTxnOps) {
    Txn txn;
    for (std::size_t i = from; i < std::min(excess, from + options_.maxTxnOps); ++i) {
      txn.success.push_back(TxnOp::remove(kvs[i].key));
    }
    auto removed = store_.txn(txn);
    if (!removed) {
      warn(fmt::format("event log: cannot delete old events of job {}: {}", job,
                       removed.error().message));
      return false;
    }
    std::lock_guard lock(mutex_);
    stats_.pruned += txn.success.size();
  }
  return true;
}

}  // namespace ozy
