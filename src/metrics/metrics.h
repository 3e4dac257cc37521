// Metrics: every figure an agent exports on GET /metrics, in one place, and
// their Prometheus text exposition (format 0.0.4).
//
// Components that count or time something take a `Metrics*` (null: not
// measured, as in most tests) and call the method named for what happened;
// the names, labels and buckets live here only, so docs/operations.md#metrics
// and the code cannot drift apart unnoticed (tests/metrics compares them).
// Values that are a state rather than a history (a node's capacity, its
// instances by state, the process's memory) are read at each scrape by
// collectors, so they are never stale and never need resetting.
//
// Label values come from job and container names (bounded by what the
// cluster runs) and from small fixed sets (results, check types, codes).
// Thread-safe: any thread may count while another scrapes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ozy::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

// What a collector reports at a scrape. Samples of one name must share a
// kind and help text; a name's samples may come from several calls.
class Scrape {
 public:
  virtual ~Scrape() = default;
  virtual void gauge(std::string_view name, std::string_view help, Labels labels, double value) = 0;
  // A count kept elsewhere that only grows (its name ends in _total).
  virtual void counter(std::string_view name, std::string_view help, Labels labels,
                       double value) = 0;
  // A distribution kept elsewhere: `bucketCounts[i]` observations fell at or
  // below `bounds[i]` and above the bound before (not cumulative); the last
  // entry, one more than the bounds, counts those above every bound.
  virtual void histogram(std::string_view name, std::string_view help, Labels labels,
                         const std::vector<double>& bounds,
                         const std::vector<std::uint64_t>& bucketCounts, double sum) = 0;
};
using Collector = std::function<void(Scrape&)>;

// The latency buckets, in seconds, of every duration histogram here: 1 ms
// to 10 s, the range of an etcd commit, a health check or a proxied request.
const std::vector<double>& latencyBuckets();

enum class CommitResult { kCommitted, kConflict, kFailed };
enum class LeaseRenewal { kRenewed, kFailed, kLost };

class Metrics {
 public:
  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // The Content-Type of exposition().
  static constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";
  // Every metric, collectors' included, in the text format.
  std::string exposition() const;
  // Runs at every scrape, on the scraping thread; must not block long.
  void addCollector(Collector collector);

  // The control plane.
  // A job submission through the API, from request to answer; `result` is
  // the change it made ("created", "updated", ...) or "refused".
  void submitted(std::string_view result, double seconds);
  // One commit Txn of a plan; `operation` names what it does ("submit",
  // "scale", "stop", "replace", "deploy-step", ...).
  void committed(std::string_view operation, CommitResult result, double seconds);
  // A plan made again after its commit lost to another.
  void retried(std::string_view operation);
  // Instances of dead nodes this agent placed elsewhere.
  void replaced(std::size_t instances);

  // The node.
  void leaseRenewed(LeaseRenewal result, double seconds);
  // The agent restarted a container; `oomKilled` when the kernel's OOM
  // killer had ended it.
  void containerRestarted(std::string_view job, std::string_view container, bool oomKilled);
  // One health check of a container; `check` is "http", "tcp" or "exec".
  void healthChecked(std::string_view job, std::string_view check, bool passed, double seconds);

  // DNS: one question answered, by its response code ("noerror",
  // "nxdomain", "refused", ...).
  void dnsAnswered(std::string_view result);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace ozy::metrics
