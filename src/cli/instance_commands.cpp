// `ozy job logs`, `ozy job exec` and `ozy job events`: an instance's output
// and a command run in it, through any agent (which relays to the instance's
// node), and what happened to a job's instances.
#include <unistd.h>

#include <cerrno>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <iostream>
#include <memory>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/api_call.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "http/request_target.h"
#include "job/job_parser.h"

namespace ozy {
namespace {

using nlohmann::json;

struct LogsOptions {
  std::string job;
  std::string instance;  // empty: the job's first placed instance
  std::string container;
  std::int64_t tail = -1;  // -1: all
  std::string since;
  bool follow = false;
  bool stdoutOnly = false;
  bool stderrOnly = false;
  bool mark = false;
  bool timestamps = false;
};


bool checkJob(const std::string& name) {
  if (isDnsLabel(name)) return true;
  std::cerr << fmt::format("error: \"{}\" is not a job name (a DNS label)\n", printable(name));
  return false;
}

// The instance to read when none was named: the lowest id placed on a node.
int defaultInstance(const ApiCallOptions& api, const std::string& job, std::string& out) {
  json info;
  if (int code = fetch(api, "GET", "/v1/jobs/" + job, "", info); code != exit_code::kOk) return code;
  for (const auto& i : info.value("instances", json::array())) {
    if (i.contains("node") && i["node"].is_string()) {
      out = std::to_string(i.value("id", 0));
      std::cerr << fmt::format("instance {} of {} (on node {})\n", out, job, printable(i["node"].get<std::string>()));
      return exit_code::kOk;
    }
  }
  std::cerr << fmt::format("error: job {} has no placed instance\n", job);
  return exit_code::kConflict;
}

int runLogs(const ApiCallOptions& api, LogsOptions o) {
  if (!checkJob(o.job)) return exit_code::kUsage;
  if (o.stdoutOnly && o.stderrOnly) {
    std::cerr << "error: --stdout and --stderr exclude each other (neither: both streams)\n";
    return exit_code::kUsage;
  }
  if (o.instance.empty()) {
    if (int code = defaultInstance(api, o.job, o.instance); code != exit_code::kOk) return code;
  }
  std::string path = fmt::format("/v1/jobs/{}/instances/{}/logs?stream={}", o.job, http::percentEncode(o.instance),
                                 o.stdoutOnly ? "stdout" : o.stderrOnly ? "stderr" : "all");
  if (!o.container.empty()) path += "&container=" + http::percentEncode(o.container);
  if (o.tail >= 0) path += fmt::format("&tail={}", o.tail);
  if (!o.since.empty()) path += "&since=" + http::percentEncode(o.since);
  if (o.follow) path += "&follow=true";
  if (o.mark) path += "&mark=true";
  if (o.timestamps) path += "&timestamps=true";
  auto client = apiClient(api, std::chrono::seconds(30));
  if (!client) return exit_code::kUsage;
  int status = 0;
  std::string problemBody;
  http::StreamHandlers handlers;
  handlers.onHead = [&](int s, const http::Headers&) {
    status = s;
    return true;
  };
  handlers.onChunk = [&](std::string_view piece) {
    if (status >= 300) {
      problemBody.append(piece);
      return true;
    }
    // The container's own bytes, as it wrote them: a terminal shows them as
    // it would the container's. Written straight out, so -f keeps up.
    while (!piece.empty()) {
      const ssize_t n = ::write(STDOUT_FILENO, piece.data(), piece.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;  // stdout is gone (a closed pipe): stop reading
      piece.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  };
  auto done = client->stream(http::ClientRequest{"GET", path, {}, ""}, handlers);
  if (!done) {
    std::cerr << "error: " << done.error() << "\n  is an agent running there? Set --address or OZY_ADDR.\n";
    return exit_code::kUnavailable;
  }
  if (status >= 300) return exitCodeForProblem(status, problemBody, api.json());
  return exit_code::kOk;
}

struct ExecOptions {
  std::string job;
  std::string instance;
  std::string container;
  std::int64_t timeoutSeconds = 30;
  std::vector<std::string> command;
};

int runExec(const ApiCallOptions& api, const ExecOptions& o) {
  if (!checkJob(o.job)) return exit_code::kUsage;
  if (o.command.empty()) {
    std::cerr << "error: give the command after --, e.g. ozy job exec web 0 -- ls /\n";
    return exit_code::kUsage;
  }
  json body{{"command", o.command}, {"timeoutSeconds", o.timeoutSeconds}};
  if (!o.container.empty()) body["container"] = o.container;
  json answer;
  const int code = fetch(api, "POST", fmt::format("/v1/jobs/{}/instances/{}/exec", o.job, http::percentEncode(o.instance)),
                         body.dump(), answer);
  if (code != exit_code::kOk) return code;
  if (api.json()) {
    std::cout << answer.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
  } else {
    std::cout << answer.value("stdout", "") << std::flush;
    std::cerr << answer.value("stderr", "");
    if (answer.value("truncated", false)) std::cerr << "[ozy: the output was cut at 1 MiB per stream]\n";
  }
  // The command's own exit code is the CLI's, as with ssh and kubectl exec.
  return answer.value("exitCode", exit_code::kUnavailable);
}

struct EventsOptions {
  std::string job;
  std::size_t limit = 50;
  bool follow = false;
};

// "2026-12-01 21:40:03.512" in UTC, from milliseconds since the epoch.
std::string eventTime(std::int64_t ms) {
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm);
  return fmt::format("{}.{:03}", text, ms % 1000);
}

void printEvents(const json& events) {
  for (const auto& e : events) {
    const json& instance = e.value("instance", json());
    std::string line = fmt::format("{}  {:<9} {:<12} {:<12}", eventTime(e.value("atMs", std::int64_t{0})),
                                   instance.is_number() ? "#" + std::to_string(instance.get<std::uint32_t>()) : "-",
                                   printable(e.value("node", "")), printable(e.value("kind", "")));
    if (e.contains("exitCode")) line += fmt::format(" exit {}", e.value("exitCode", 0));
    line += "  " + printable(e.value("message", ""));
    std::cout << line << '\n';
  }
  std::cout << std::flush;
}

int runEvents(const ApiCallOptions& api, const EventsOptions& o) {
  if (!checkJob(o.job)) return exit_code::kUsage;
  json page;
  if (int code = fetch(api, "GET", fmt::format("/v1/jobs/{}/events?limit={}", o.job, o.limit), "", page);
      code != exit_code::kOk) {
    return code;
  }
  if (api.json() && !o.follow) {
    std::cout << page.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
    return exit_code::kOk;
  }
  if (api.json()) {
    for (const auto& e : page.value("events", json::array())) std::cout << e.dump() << '\n';
  } else {
    std::cout << "TIME (UTC)               INSTANCE  NODE         EVENT\n";
    printEvents(page.value("events", json::array()));
  }
  if (!o.follow) return exit_code::kOk;
  // Blocking reads from the revision the last answer was read at: every
  // event once, in the order etcd took them, until Ctrl-C.
  std::int64_t index = page.value("index", std::int64_t{0});
  for (int failures = 0;;) {
    json next;
    const int code =
        fetch(api, "GET", fmt::format("/v1/jobs/{}/events?index={}&wait=30s&limit=1000", o.job, index), "", next);
    if (code == exit_code::kConflict) return code;  // the job is gone
    if (code != exit_code::kOk) {
      if (++failures > 5) return code;
      std::this_thread::sleep_for(std::chrono::seconds(1));
      continue;
    }
    failures = 0;
    if (api.json()) {
      for (const auto& e : next.value("events", json::array())) std::cout << e.dump() << '\n';
      std::cout << std::flush;
    } else {
      printEvents(next.value("events", json::array()));
    }
    index = std::max(index, next.value("index", index));
  }
}

}  // namespace

void addInstanceCommands(CLI::App& app, Action& action) {
  CLI::App* job = app.get_subcommand("job");
  auto api = std::make_shared<ApiCallOptions>();

  auto logs = std::make_shared<LogsOptions>();
  auto* logsCmd = job->add_subcommand("logs", "Print an instance's container output (stdout and stderr)");
  logsCmd->add_option("NAME", logs->job, "Job name")->required();
  logsCmd->add_option("INSTANCE", logs->instance, "Instance id (default: the first placed)");
  logsCmd->add_option("-c,--container", logs->container, "Container (needed when the job has several)");
  logsCmd->add_option("--tail", logs->tail, "Only the last N lines")->check(CLI::Range(0, 1000000));
  logsCmd->add_option("--since", logs->since, "Only lines logged in the last DURATION, e.g. 10m");
  logsCmd->add_flag("-f,--follow", logs->follow, "Keep printing new output until Ctrl-C or the container stops");
  logsCmd->add_flag("--stdout", logs->stdoutOnly, "Only standard output");
  logsCmd->add_flag("--stderr", logs->stderrOnly, "Only standard error");
  logsCmd->add_flag("--mark", logs->mark, "Begin each line with the stream it came from (stdout: or stderr:)");
  logsCmd->add_flag("-t,--timestamps", logs->timestamps, "Begin each line with when it was logged");
  addApiOptions(logsCmd, *api);
  logsCmd->callback([api, logs, &action] { action = [api, logs] { return runLogs(*api, *logs); }; });

  auto events = std::make_shared<EventsOptions>();
  auto* eventsCmd = job->add_subcommand("events", "What happened to a job's instances, newest last");
  eventsCmd->add_option("NAME", events->job, "Job name")->required();
  eventsCmd->add_option("-n,--limit", events->limit, "How many of the newest to show")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  eventsCmd->add_flag("-f,--follow", events->follow, "Keep printing new events until Ctrl-C");
  addApiOptions(eventsCmd, *api);
  eventsCmd->callback([api, events, &action] { action = [api, events] { return runEvents(*api, *events); }; });

  auto exec = std::make_shared<ExecOptions>();
  auto* execCmd = job->add_subcommand("exec", "Run a command in an instance's container; its exit code is ozy's");
  execCmd->add_option("NAME", exec->job, "Job name")->required();
  execCmd->add_option("INSTANCE", exec->instance, "Instance id")->required();
  execCmd->add_option("-c,--container", exec->container, "Container (needed when the job has several)");
  execCmd->add_option("--timeout", exec->timeoutSeconds, "Seconds the command may run")
      ->check(CLI::Range(1, 300))
      ->capture_default_str();
  execCmd->add_option("COMMAND", exec->command, "The command and its arguments, after --")->required();
  addApiOptions(execCmd, *api);
  execCmd->callback([api, exec, &action] { action = [api, exec] { return runExec(*api, *exec); }; });
}

}  // namespace ozy
