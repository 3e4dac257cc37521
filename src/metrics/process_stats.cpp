#include "metrics/process_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace ozy::metrics {

namespace {

// Fields of /proc/self/stat after the command name (which may hold spaces
// and parentheses, so the parse starts after its last ')').
struct ProcStat {
  double userTicks = 0;
  double systemTicks = 0;
  double startTicks = 0;  // since boot
  double virtualBytes = 0;
  double residentPages = 0;
};

std::optional<ProcStat> readProcStat() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return std::nullopt;
  const auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(line.substr(close + 1));
  // Field 3 (state) is the first after the name; utime is 14, stime 15,
  // starttime 22, vsize 23, rss 24 (proc(5)).
  std::vector<std::string> f;
  for (std::string word; fields >> word && f.size() < 22;) f.push_back(word);
  if (f.size() < 22) return std::nullopt;
  try {
    ProcStat s;
    s.userTicks = std::stod(f[14 - 3]);
    s.systemTicks = std::stod(f[15 - 3]);
    s.startTicks = std::stod(f[22 - 3]);
    s.virtualBytes = std::stod(f[23 - 3]);
    s.residentPages = std::stod(f[24 - 3]);
    return s;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

std::optional<double> bootTimeSeconds() {
  std::ifstream in("/proc/stat");
  for (std::string key; in >> key;) {
    if (key == "btime") {
      double value = 0;
      if (in >> value) return value;
      return std::nullopt;
    }
    in.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
  }
  return std::nullopt;
}

std::optional<double> openFds() {
  std::error_code ec;
  double count = 0;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end;
       it.increment(ec)) {
    ++count;
  }
  if (ec) return std::nullopt;
  return count;
}

}  // namespace

Collector processCollector() {
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(sysconf(_SC_PAGESIZE));
  const std::optional<double> boot = bootTimeSeconds();
  return [ticks, page, boot](Scrape& scrape) {
    if (auto s = readProcStat(); s && ticks > 0) {
      scrape.counter("process_cpu_seconds_total",
                     "User and system CPU time the agent has spent, in seconds", {},
                     (s->userTicks + s->systemTicks) / ticks);
      scrape.gauge("process_resident_memory_bytes", "The agent's resident memory", {},
                   s->residentPages * page);
      scrape.gauge("process_virtual_memory_bytes", "The agent's virtual memory", {},
                   s->virtualBytes);
      if (boot) {
        scrape.gauge("process_start_time_seconds",
                     "When the agent started, in seconds since the Unix epoch", {},
                     *boot + s->startTicks / ticks);
      }
    }
    if (auto fds = openFds()) {
      // The directory's own descriptor, open while it is read, is not the agent's.
      scrape.gauge("process_open_fds", "File descriptors the agent holds open", {}, *fds - 1);
    }
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY) {
      scrape.gauge("process_max_fds", "The agent's limit on open file descriptors", {},
                   static_cast<double>(limit.rlim_cur));
    }
  };
}

}  // namespace ozy::metrics
