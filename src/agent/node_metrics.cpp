#include "agent/node_metrics.h"

#include <string>
#include <vector>

#include "agent/node_supervisor.h"
#include "ingress/ingress.h"
#include "store/etcd_store.h"

namespace ozy {

metrics::Collector nodeCollector(NodeFigures figures) {
  return [f = std::move(figures)](metrics::Scrape& scrape) {
    scrape.gauge("ozy_node_capacity_bytes", "What this node offers to instances, by resource",
                 {{"resource", "memory"}}, static_cast<double>(f.capacity.memory));
    scrape.gauge("ozy_node_capacity_bytes", "What this node offers to instances, by resource",
                 {{"resource", "disk"}}, static_cast<double>(f.capacity.disk));
    if (auto view = f.view ? f.view() : std::nullopt) {
      if (const NodeEntry* entry = view->find(f.node)) {
        scrape.gauge("ozy_node_allocated_bytes",
                     "What placement has allocated of this node's capacity, by resource",
                     {{"resource", "memory"}}, static_cast<double>(entry->usage.used.memory));
        scrape.gauge("ozy_node_allocated_bytes",
                     "What placement has allocated of this node's capacity, by resource",
                     {{"resource", "disk"}}, static_cast<double>(entry->usage.used.disk));
        scrape.gauge("ozy_node_assigned_instances", "Instances etcd assigns to this node", {},
                     static_cast<double>(entry->usage.instances));
      }
    }
    if (f.supervisor) {
      for (const auto& [key, count] : f.supervisor->instanceCounts()) {
        scrape.gauge("ozy_instances",
                     "Instances on this node, by job and state as the node reports them",
                     {{"job_name", key.first}, {"state", key.second}}, static_cast<double>(count));
      }
    }
    if (f.ingress) {
      for (const auto& c : f.ingress->requestCounts()) {
        scrape.counter(
            "ozy_ingress_requests_total",
            "Requests this node's ingress answered, by job (empty: no job's host) and status code",
            {{"job_name", c.job}, {"code", std::to_string(c.status)}}, static_cast<double>(c.count));
      }
      const std::vector<double> bounds(ingress::kRequestDurationBounds.begin(),
                                       ingress::kRequestDurationBounds.end());
      for (const auto& d : f.ingress->requestDurations()) {
        scrape.histogram("ozy_ingress_request_duration_seconds",
                         "Time this node's ingress took to answer a request, from its first byte "
                         "to the answer's "
                         "last, by job",
                         {{"job_name", d.job}}, bounds,
                         std::vector<std::uint64_t>(d.bucketCounts.begin(), d.bucketCounts.end()),
                         d.sumSeconds);
      }
    }
    if (f.store) {
      scrape.counter(
          "ozy_watch_resyncs_total",
          "Watches on etcd that ended on their own (compacted), each followed by a full re-read",
          {}, static_cast<double>(f.store->watchesEnded()));
    }
  };
}

}  // namespace ozy
