// `ozy job history|promote|revert`, and following a deployment as `ozy job
// run` does (docs/cli.md): versions and deployments through any agent's API.
#include <chrono>
#include <iostream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/api_call.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/table.h"
#include "job/job_parser.h"
#include "job/units.h"

namespace ozy {
namespace {

using nlohmann::json;

std::string when(std::int64_t ms) {
  if (ms <= 0) return "-";
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &utc);
  return text;
}

std::string progressLine(const json& d) {
  const json& p = d.value("progress", json::object());
  return fmt::format("version {} {}: {} of {} new placed, {} healthy, {} old left{}{}",
                     d.value("version", 0), printable(d.value("state", "?")), p.value("placed", 0),
                     p.value("wanted", 0), p.value("healthy", 0), p.value("old", 0),
                     d.value("message", "").empty() ? "" : " - ",
                     printable(d.value("message", "")));
}

bool validName(const std::string& name) {
  if (isDnsLabel(name)) return true;
  std::cerr << fmt::format("error: \"{}\" is not a job name (a DNS label: lowercase letters, "
                           "digits and '-')\n",
                           printable(name));
  return false;
}

}  // namespace

int followDeployment(const ApiCallOptions& o, const std::string& job, std::uint64_t version,
                     bool perNode) {
  std::int64_t index = 0;
  std::string last;
  int failures = 0;
  for (;;) {
    json d;
    const std::string path = fmt::format("/v1/jobs/{}/deployment{}", job,
                                         index > 0 ? fmt::format("?index={}&wait=30s", index) : "");
    const int code = fetch(o, "GET", path, "", d);
    if (code == exit_code::kUnavailable && ++failures <= 5) {
      // The agent may be restarting; the deployment goes on without us.
      std::this_thread::sleep_for(std::chrono::seconds(failures));
      continue;
    }
    if (code != exit_code::kOk) {
      if (code == exit_code::kUnavailable) {
        std::cerr << fmt::format("the deployment goes on without this command: `ozy job status {}` "
                                 "shows it\n",
                                 job);
      }
      return code;
    }
    failures = 0;
    const auto seen = d.value("index", std::int64_t{0});
    // An agent too busy to wait answers at once: no faster than a second then.
    if (index > 0 && seen <= index) std::this_thread::sleep_for(std::chrono::seconds(1));
    index = seen;
    const auto at = d.value("version", std::uint64_t{0});
    if (at != version) {
      // Another version took over: a revert of ours, or a newer update.
      if (d.value("revertsFailed", std::uint64_t{0}) == version) {
        std::cout << fmt::format("version {} failed; reverting as version {}: {}\n", version, at,
                                 printable(d.value("message", "")));
        return exit_code::kDeploymentFailed;
      }
      std::cout << fmt::format("version {} was superseded by version {}\n", version, at);
      return exit_code::kDeploymentFailed;
    }
    std::string line = progressLine(d);
    if (perNode) {
      for (const auto& n : d.value("nodes", json::array())) {
        line += fmt::format("\n  {}: {} new ({} healthy), {} old", printable(n.value("node", "")),
                            n.value("new", 0), n.value("healthy", 0), n.value("old", 0));
      }
    }
    if (line != last) {
      std::cout << line << '\n' << std::flush;
      last = line;
    }
    const std::string state = d.value("state", "");
    if (state == "succeeded") return exit_code::kOk;
    if (state == "failed" || state == "superseded") return exit_code::kDeploymentFailed;
    if (state == "paused") {
      std::cout << fmt::format("canaries are healthy: `ozy job promote {}` goes on\n", printable(job));
      return exit_code::kOk;
    }
  }
}

void addDeployCommands(CLI::App& app, Action& action) {
  CLI::App* job = app.get_subcommand("job");
  auto o = std::make_shared<ApiCallOptions>();
  auto name = std::make_shared<std::string>();

  auto* history = job->add_subcommand("history", "List a job's versions and how each deployment ended");
  history->add_option("NAME", *name, "Job name")->required();
  addApiOptions(history, *o);
  history->callback([o, name, &action] {
    action = [o, name] {
      if (!validName(*name)) return exit_code::kUsage;
      return call(*o, "GET", "/v1/jobs/" + *name + "/versions", "", [](const json& versions) {
        Table table({"VERSION", "SUBMITTED", "OUTCOME", "CHANGES"});
        for (const auto& v : versions) {
          std::string changes;
          for (const auto& c : v.value("changes", json::array())) {
            changes += (changes.empty() ? "" : "; ") + printable(c.get<std::string>());
          }
          if (v.value("revertOf", 0) != 0) {
            changes = fmt::format("revert to version {}{}{}", v.value("revertOf", 0),
                                  changes.empty() ? "" : ": ", changes);
          }
          table.add({std::to_string(v.value("version", 0)), when(v.value("submittedAtMs", std::int64_t{0})),
                     printable(v.value("outcome", "")), changes.empty() ? "-" : changes});
        }
        table.print(std::cout);
      });
    };
  });

  auto* promote = job->add_subcommand("promote", "Let a deployment waiting on its canaries go on");
  promote->add_option("NAME", *name, "Job name")->required();
  addApiOptions(promote, *o);
  promote->callback([o, name, &action] {
    action = [o, name] {
      if (!validName(*name)) return exit_code::kUsage;
      return call(*o, "POST", "/v1/jobs/" + *name + "/promote", "{}", [](const json& d) {
        std::cout << fmt::format("deployment of version {} promoted\n", d.value("version", 0));
      });
    };
  });

  auto version = std::make_shared<std::uint64_t>(0);
  auto detach = std::make_shared<bool>(false);
  auto* revert = job->add_subcommand("revert", "Run an earlier version of a job again, as a new version");
  revert->add_option("NAME", *name, "Job name")->required();
  revert->add_option("VERSION", *version, "The version to go back to")->required()->check(CLI::PositiveNumber);
  revert->add_flag("-d,--detach", *detach, "Return once the deployment has started");
  addApiOptions(revert, *o);
  revert->callback([o, name, version, detach, &action] {
    action = [o, name, version, detach] {
      if (!validName(*name)) return exit_code::kUsage;
      json answer;
      const int code = fetch(*o, "POST", "/v1/jobs/" + *name + "/revert",
                             json{{"version", *version}}.dump(), answer);
      if (code != exit_code::kOk) return code;
      if (o->json()) std::cout << answer.dump(2) << '\n';
      const std::string change = answer.value("change", "");
      if (!o->json()) {
        std::cout << fmt::format("job {}: version {} brings back version {} ({})\n", *name,
                                 answer.value("version", 0), *version, change);
      }
      if (change != "deploying" || *detach) return exit_code::kOk;
      return followDeployment(*o, *name, answer.value("version", std::uint64_t{0}), false);
    };
  });
}

}  // namespace ozy
