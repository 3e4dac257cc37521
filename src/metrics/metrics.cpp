#include "metrics/metrics.h"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <limits>
#include <map>
#include <mutex>

namespace ozy::metrics {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

prometheus::Labels toPrometheus(
    std::initializer_list<std::pair<const std::string, std::string>> labels) {
  return prometheus::Labels(labels);
}

// Gathers the collectors' samples into families, by name, in the order the
// names first appear.
class CollectingScrape final : public Scrape {
 public:
  void gauge(std::string_view name, std::string_view help, Labels labels, double value) override {
    ClientMetric& m = add(name, help, MetricType::Gauge, std::move(labels));
    m.gauge.value = value;
  }
  void counter(std::string_view name, std::string_view help, Labels labels, double value) override {
    ClientMetric& m = add(name, help, MetricType::Counter, std::move(labels));
    m.counter.value = value;
  }
  void histogram(std::string_view name, std::string_view help, Labels labels,
                 const std::vector<double>& bounds, const std::vector<std::uint64_t>& bucketCounts,
                 double sum) override {
    ClientMetric& m = add(name, help, MetricType::Histogram, std::move(labels));
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < bounds.size(); ++i) {
      cumulative += i < bucketCounts.size() ? bucketCounts[i] : 0;
      m.histogram.bucket.push_back({cumulative, bounds[i]});
    }
    if (bucketCounts.size() > bounds.size()) cumulative += bucketCounts[bounds.size()];
    m.histogram.bucket.push_back({cumulative, std::numeric_limits<double>::infinity()});
    m.histogram.sample_count = cumulative;
    m.histogram.sample_sum = sum;
  }

  std::vector<MetricFamily> take() { return std::move(families_); }

 private:
  ClientMetric& add(std::string_view name, std::string_view help, MetricType type, Labels labels) {
    auto [it, added] = index_.try_emplace(std::string(name), families_.size());
    if (added) families_.push_back(MetricFamily{std::string(name), std::string(help), type, {}});
    MetricFamily& family = families_[it->second];
    ClientMetric& m = family.metric.emplace_back();
    for (auto& [key, value] : labels) m.label.push_back({std::move(key), std::move(value)});
    return m;
  }

  std::map<std::string, std::size_t, std::less<>> index_;
  std::vector<MetricFamily> families_;
};

std::string_view toString(CommitResult result) {
  switch (result) {
    case CommitResult::kCommitted:
      return "committed";
    case CommitResult::kConflict:
      return "conflict";
    case CommitResult::kFailed:
      return "failed";
  }
  return "failed";
}

std::string_view toString(LeaseRenewal result) {
  switch (result) {
    case LeaseRenewal::kRenewed:
      return "renewed";
    case LeaseRenewal::kFailed:
      return "failed";
    case LeaseRenewal::kLost:
      return "lost";
  }
  return "failed";
}

}  // namespace

const std::vector<double>& latencyBuckets() {
  static const std::vector<double> buckets{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                           0.25,  0.5,    1,     2.5,  5,     10};
  return buckets;
}

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();

  prometheus::Family<prometheus::Histogram>& submits =
      prometheus::BuildHistogram()
          .Name("ozy_submit_duration_seconds")
          .Help(
              "Job submissions through this agent's API, from request to answer, by the change "
              "made")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& commitSeconds =
      prometheus::BuildHistogram()
          .Name("ozy_commit_duration_seconds")
          .Help("Commit transactions of this agent's plans, by operation")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& commits =
      prometheus::BuildCounter()
          .Name("ozy_commits_total")
          .Help(
              "Commit transactions of this agent's plans, by operation and result (committed, "
              "conflict: another commit changed what the plan read, failed: etcd did not answer)")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& retries =
      prometheus::BuildCounter()
          .Name("ozy_commit_retries_total")
          .Help("Plans made again after their commit lost to another, by operation")
          .Register(*registry);
  prometheus::Counter& replacements =
      prometheus::BuildCounter()
          .Name("ozy_replaced_instances_total")
          .Help("Instances of dead nodes this agent placed on other nodes")
          .Register(*registry)
          .Add({});
  prometheus::Family<prometheus::Counter>& leaseRenewals =
      prometheus::BuildCounter()
          .Name("ozy_lease_renewals_total")
          .Help(
              "Renewals of this node's etcd lease, by result (renewed, failed: etcd did not "
              "answer, lost: the lease had expired)")
          .Register(*registry);
  prometheus::Histogram& leaseSeconds =
      prometheus::BuildHistogram()
          .Name("ozy_lease_renewal_duration_seconds")
          .Help("Time etcd took to answer a renewal of this node's lease")
          .Register(*registry)
          .Add({}, latencyBuckets());
  prometheus::Family<prometheus::Counter>& restarts =
      prometheus::BuildCounter()
          .Name("ozy_container_restarts_total")
          .Help(
              "Containers this node's agent restarted (exited or unhealthy), by job and container")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& oomKills =
      prometheus::BuildCounter()
          .Name("ozy_container_oom_kills_total")
          .Help("Containers on this node the kernel's OOM killer ended, by job and container")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& healthChecks =
      prometheus::BuildCounter()
          .Name("ozy_health_checks_total")
          .Help("Health checks of containers on this node, by job, check type and result")
          .Register(*registry);
  prometheus::Family<prometheus::Histogram>& healthSeconds =
      prometheus::BuildHistogram()
          .Name("ozy_health_check_duration_seconds")
          .Help("Time a health check of a container on this node took, by check type")
          .Register(*registry);
  prometheus::Family<prometheus::Counter>& dnsQueries =
      prometheus::BuildCounter()
          .Name("ozy_dns_queries_total")
          .Help("DNS questions this node's responder answered, by response code")
          .Register(*registry);

  mutable std::mutex collectorsMutex;
  std::vector<Collector> collectors;
};

Metrics::Metrics() : impl_(std::make_unique<Impl>()) {}
Metrics::~Metrics() = default;

std::string Metrics::exposition() const {
  std::vector<MetricFamily> families = impl_->registry->Collect();
  CollectingScrape scrape;
  {
    std::lock_guard lock(impl_->collectorsMutex);
    for (const auto& collect : impl_->collectors) collect(scrape);
  }
  for (auto& family : scrape.take()) families.push_back(std::move(family));
  return prometheus::TextSerializer().Serialize(families);
}

void Metrics::addCollector(Collector collector) {
  std::lock_guard lock(impl_->collectorsMutex);
  impl_->collectors.push_back(std::move(collector));
}

void Metrics::submitted(std::string_view result, double seconds) {
  impl_->submits.Add(toPrometheus({{"result", std::string(result)}}), latencyBuckets())
      .Observe(seconds);
}

void Metrics::committed(std::string_view operation, CommitResult result, double seconds) {
  impl_->commits
      .Add(toPrometheus(
          {{"operation", std::string(operation)}, {"result", std::string(toString(result))}}))
      .Increment();
  if (result != CommitResult::kFailed) {
    impl_->commitSeconds
        .Add(toPrometheus({{"operation", std::string(operation)}}), latencyBuckets())
        .Observe(seconds);
  }
}

void Metrics::retried(std::string_view operation) {
  impl_->retries.Add(toPrometheus({{"operation", std::string(operation)}})).Increment();
}

void Metrics::replaced(std::size_t instances) {
  impl_->replacements.Increment(static_cast<double>(instances));
}

void Metrics::leaseRenewed(LeaseRenewal result, double seconds) {
  impl_->leaseRenewals.Add(toPrometheus({{"result", std::string(toString(result))}})).Increment();
  if (result != LeaseRenewal::kFailed) impl_->leaseSeconds.Observe(seconds);
}

void Metrics::containerRestarted(std::string_view job, std::string_view container, bool oomKilled) {
  const auto labels =
      toPrometheus({{"job_name", std::string(job)}, {"container", std::string(container)}});
  impl_->restarts.Add(labels).Increment();
  if (oomKilled) impl_->oomKills.Add(labels).Increment();
}

void Metrics::healthChecked(std::string_view job, std::string_view check, bool passed,
                            double seconds) {
  impl_->healthChecks
      .Add(toPrometheus({{"job_name", std::string(job)},
                         {"check", std::string(check)},
                         {"result", passed ? "pass" : "fail"}}))
      .Increment();
  impl_->healthSeconds.Add(toPrometheus({{"check", std::string(check)}}), latencyBuckets())
      .Observe(seconds);
}

void Metrics::dnsAnswered(std::string_view result) {
  impl_->dnsQueries.Add(toPrometheus({{"result", std::string(result)}})).Increment();
}

}  // namespace ozy::metrics
