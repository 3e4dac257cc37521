#include "ingress/access_log.h"

#include <fmt/format.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace ozy::ingress {

Result<std::shared_ptr<AccessLog>, std::string> AccessLog::open(const std::string& path, std::uint32_t every) {
  try {
    spdlog::sink_ptr sink;
    if (path == "-") {
      sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
    } else {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path);
    }
    auto logger = std::make_shared<spdlog::logger>("ingress-access", std::move(sink));
    // ISO time in UTC, then the fields: one line a request, easy to grep and cut.
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %v", spdlog::pattern_time_type::utc);
    logger->flush_on(spdlog::level::info);
    return std::shared_ptr<AccessLog>(new AccessLog(std::move(logger), every));
  } catch (const std::exception& e) {
    return fail(fmt::format("cannot open the access log {}: {}", path, e.what()));
  }
}

AccessLog::AccessLog(std::shared_ptr<spdlog::logger> logger, std::uint32_t every)
    : logger_(std::move(logger)), every_(every) {}

AccessLog::~AccessLog() = default;

void AccessLog::write(const AccessEntry& e) {
  // The target is the client's; {:?} would be nicer but fmt 9 lacks it, so
  // only printable ASCII reaches the log (the ingress refuses control bytes).
  const std::string upstream =
      e.upstream.empty() ? "-" : fmt::format("{}/{}@{}", e.job, e.instance, e.upstream);
  // A request refused before its request line was read has no method or
  // target; "-" keeps the fields countable.
  const auto orDash = [](std::string_view text) { return text.empty() ? std::string_view("-") : text; };
  logger_->info("{} {} {} {} {} {} {:.3f}ms {}", e.client, orDash(e.method), orDash(e.host), orDash(e.target),
                e.status, upstream, static_cast<double>(e.duration.count()) / 1000.0, e.bytes);
}

}  // namespace ozy::ingress
