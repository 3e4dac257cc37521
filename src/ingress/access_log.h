// AccessLog: a line per request (or per `every`-th request), off unless the
// agent is given a file (docs/ingress.md#access-log). Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/result.h"

namespace spdlog {
class logger;
}

namespace ozy::ingress {

struct AccessEntry {
  std::string_view client;
  std::string_view method;
  std::string_view host;
  std::string_view target;
  int status = 0;
  std::string_view job;       // empty: no job claims the host
  std::uint32_t instance = 0;
  std::string_view upstream;  // "10.88.1.5:8080"; empty: none was reached
  std::chrono::microseconds duration{0};
  std::uint64_t bytes = 0;    // of the response body sent
};

class AccessLog {
 public:
  // `path` "-" is standard output. `every` 1 logs each request; N logs one in N.
  static Result<std::shared_ptr<AccessLog>, std::string> open(const std::string& path, std::uint32_t every);
  ~AccessLog();
  // Whether this request is one to log: cheap, so the line is only built
  // for those.
  bool sample() { return every_ <= 1 || counter_.fetch_add(1, std::memory_order_relaxed) % every_ == 0; }
  void write(const AccessEntry& entry);

 private:
  AccessLog(std::shared_ptr<spdlog::logger> logger, std::uint32_t every);
  std::shared_ptr<spdlog::logger> logger_;
  const std::uint32_t every_;
  std::atomic<std::uint64_t> counter_{0};
};

}  // namespace ozy::ingress
