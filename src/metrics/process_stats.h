// The agent process's own figures, read from /proc at each scrape under the
// names every Prometheus client library uses (process_resident_memory_bytes,
// process_cpu_seconds_total, ...), so the usual dashboards work unchanged.
#pragma once

#include "metrics/metrics.h"

namespace ozy::metrics {

// Linux only; a figure /proc does not give is left out, never made up.
Collector processCollector();

}  // namespace ozy::metrics
