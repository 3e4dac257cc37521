// Test support: GoogleTest prints jobs and their parts in the job file's own
// syntax, so a failed comparison shows what differs instead of raw bytes.
#pragma once

#include <ostream>

#include "job/job.h"
#include "job/job_format.h"

namespace ozy {

inline void PrintTo(const Job& job, std::ostream* out) {
  *out << "\n" << toYaml(job);
}

inline void PrintTo(const Container& container, std::ostream* out) {
  Job job;
  job.name = "(container)";
  job.containers.push_back(container);
  *out << "\n" << toYaml(job);
}

inline void PrintTo(const PortMapping& port, std::ostream* out) {
  *out << '"' << toString(port) << '"';
}

inline void PrintTo(const EnvVar& var, std::ostream* out) {
  *out << var.name << '=' << var.value;
}

inline void PrintTo(const Volume& volume, std::ostream* out) {
  *out << toString(volume.type) << ' ' << volume.path << ' ' << formatSize(volume.space);
}

inline void PrintTo(const UpdatePolicy& update, std::ostream* out) {
  *out << "max_parallel " << update.maxParallel << " min_healthy_time "
       << formatDuration(update.minHealthyTime) << " healthy_deadline "
       << formatDuration(update.healthyDeadline) << " progress_deadline "
       << formatDuration(update.progressDeadline) << " auto_revert " << update.autoRevert
       << " canary " << update.canary << " strategy " << toString(update.strategy);
}

inline void PrintTo(const HealthCheck& check, std::ostream* out) {
  *out << toString(check.type) << " port " << check.port << " path " << check.path << " timeout "
       << formatDuration(check.timeout) << " interval " << formatDuration(check.interval)
       << " thresholds " << check.healthyThreshold << '/' << check.unhealthyThreshold;
}

}  // namespace ozy
