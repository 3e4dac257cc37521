// LogThrottle: at most one log line per interval for an event that a client
// can cause at will (being rate limited, a refused connection), so that a
// flood of them does not become a flood of log lines. Pure: the caller says
// what time it is.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>

namespace ozy::dns {

class LogThrottle {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  explicit LogThrottle(std::chrono::steady_clock::duration interval) : interval_(interval) {}

  // An event at `now`: if it is to be logged, how many more went unlogged
  // since the last line; nullopt if it is to go unlogged.
  std::optional<std::size_t> event(TimePoint now) {
    if (logged_ && now < next_) {
      ++suppressed_;
      return std::nullopt;
    }
    logged_ = true;
    next_ = now + interval_;
    const std::size_t suppressed = suppressed_;
    suppressed_ = 0;
    return suppressed;
  }

 private:
  std::chrono::steady_clock::duration interval_;
  bool logged_ = false;
  TimePoint next_;
  std::size_t suppressed_ = 0;
};

// " (and 3 more since the last such line)" for a log line, or nothing.
inline std::string andUnlogged(std::size_t unlogged) {
  if (unlogged == 0) return "";
  return " (and " + std::to_string(unlogged) + " more since the last such line)";
}

}  // namespace ozy::dns
