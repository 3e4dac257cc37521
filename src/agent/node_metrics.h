// The node's metrics that are a state rather than a history, read at each
// scrape: its capacity and what placement has allocated of it, its
// instances by job and state, the ingress's requests, and the watches on
// etcd that ended (metrics/metrics.h has the counted ones).
#pragma once

#include <functional>
#include <optional>

#include "metrics/metrics.h"
#include "placement/cluster.h"
#include "scheduler/planner.h"

namespace ozy {

class NodeSupervisor;
class EtcdStore;
namespace ingress {
class Ingress;
}

struct NodeFigures {
  Resources capacity;
  // The cluster as the agent's state cache sees it (the node's usage key);
  // nothing while it is being rebuilt.
  std::function<std::optional<ClusterSnapshot>()> view;
  std::string node;
  // Each may be null (no runtime, no ingress). They must outlive the
  // Metrics they are added to, or at least its last scrape.
  const NodeSupervisor* supervisor = nullptr;
  const ingress::Ingress* ingress = nullptr;
  const EtcdStore* store = nullptr;
};

metrics::Collector nodeCollector(NodeFigures figures);

}  // namespace ozy
