// The agent's versioned HTTP API (docs/api.md): routes requests to the
// control plane and turns its answers into JSON, and its problems into RFC
// 7807 documents. This is the only place problems become HTTP.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "control/control_plane.h"
#include "http/message.h"
#include "api/instance_api.h"
#include "metrics/metrics.h"

namespace ozy {

struct ApiOptions {
  std::string nodeName;                    // answers /v1/health
  std::function<std::int64_t()> nowMs;     // for node ages
  // The capabilities this agent's node runs beyond the default set
  // (--allow-capability): a job adding any other is refused at submission.
  std::vector<std::string> allowedCapabilities;
  // Each node's pod subnet by the node's address ("10.244.3.0/24"), for the
  // node list; null or empty where nodes have none (--pod-network host).
  std::function<std::map<std::string, std::string>()> podSubnets;
  // Served at GET /metrics, and told of submissions; null: no /metrics.
  metrics::Metrics* metrics = nullptr;
  // An instance's logs and exec; null: those routes answer 404.
  api::InstanceApi* instances = nullptr;
};

// The handler for every route; wrap it in http::requireBearerToken() when a
// token is configured.
http::Handler makeApiHandler(ControlPlane& control, ApiOptions options);

// GET /metrics's answer: the Prometheus text exposition. Also what the
// agent's separate --metrics listener serves.
http::Response metricsResponse(const metrics::Metrics& metrics);

}  // namespace ozy
