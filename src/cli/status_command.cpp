// `ozy status`: the cluster at a glance through any agent's API: its nodes,
// its jobs with their instances healthy of wanted and any deployment under
// way (GET /v1/status).
#include <algorithm>
#include <chrono>
#include <iostream>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/api_call.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "job/units.h"

namespace ozy {
namespace {

using nlohmann::json;

std::string size(const json& bytes) { return bytes.is_number() ? formatSizeApprox(bytes.get<Bytes>()) : "-"; }

void show(const json& status) {
  const json& nodes = status.value("nodes", json::array());
  const json& jobs = status.value("jobs", json::array());
  std::size_t ready = 0;
  for (const auto& n : nodes) ready += n.value("state", "ready") == "ready";
  std::cout << fmt::format("{} nodes ({} ready), {} jobs; asked node {}\n\n", nodes.size(), ready, jobs.size(),
                           printable(status.value("node", "")));
  Table nodeTable({"NODE", "STATE", "MEMORY", "DISK", "INSTANCES"});
  for (const auto& n : nodes) {
    const json& used = n.value("used", json::object());
    const json& capacity = n.value("capacity", json::object());
    nodeTable.add({printable(n.value("name", "")), printable(n.value("state", "ready")),
                   size(used.value("memory", json())) + "/" + size(capacity.value("memory", json())),
                   size(used.value("disk", json())) + "/" + size(capacity.value("disk", json())),
                   std::to_string(n.value("instances", 0))});
  }
  nodeTable.print(std::cout);
  if (jobs.empty()) return;
  std::cout << '\n';
  Table jobTable({"JOB", "VERSION", "HEALTHY", "PENDING", "OTHER", "DEPLOYMENT"});
  for (const auto& j : jobs) {
    const json& states = j.value("instancesByState", json::object());
    std::uint64_t healthy = 0;
    std::string other;
    for (const auto& [state, count] : states.items()) {
      if (state == "healthy") {
        healthy = count.get<std::uint64_t>();
      } else {
        other += fmt::format("{}{} {}", other.empty() ? "" : ", ", count.get<std::uint64_t>(), printable(state));
      }
    }
    std::string deployment = "-";
    if (const json& d = j.value("deployment", json()); d.is_object()) {
      const std::string state = d.value("state", "");
      // Ended deployments are history (`ozy job history`); only one under
      // way or waiting is news here.
      if (state == "running" || state == "paused") {
        deployment = fmt::format("version {} {}", d.value("version", 0), printable(state));
        if (const std::string message = d.value("message", ""); !message.empty()) {
          deployment += ": " + printable(message).substr(0, 60);
        }
      }
    }
    jobTable.add({printable(j.value("name", "")), std::to_string(j.value("version", 0)),
                  fmt::format("{}/{}", healthy, j.value("numInstances", 0)), std::to_string(j.value("pending", 0)),
                  other.empty() ? "-" : other, deployment});
  }
  jobTable.print(std::cout);
  const json& events = status.value("events", json::array());
  if (events.empty()) return;
  std::cout << "\nrecent events (ozy job events NAME for more):\n";
  Table eventTable({"AGE", "JOB", "INSTANCE", "EVENT", "MESSAGE"});
  const std::int64_t now =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  for (const auto& e : events) {
    const json& instance = e.value("instance", json());
    const std::int64_t ageS = std::max<std::int64_t>(0, (now - e.value("atMs", now)) / 1000);
    eventTable.add({ageS < 120 ? fmt::format("{}s", ageS) : fmt::format("{}m", ageS / 60),
                    printable(e.value("job", "")),
                    instance.is_number() ? "#" + std::to_string(instance.get<std::uint32_t>()) : "-",
                    printable(e.value("kind", "")), printable(e.value("message", "")).substr(0, 80)});
  }
  eventTable.print(std::cout);
}

}  // namespace

void addStatusCommand(CLI::App& app, Action& action) {
  auto o = std::make_shared<ApiCallOptions>();
  auto* status = app.add_subcommand("status", "The cluster at a glance: nodes, jobs, deployments under way");
  addApiOptions(status, *o);
  status->callback([o, &action] { action = [o] { return call(*o, "GET", "/v1/status", "", show); }; });
}

}  // namespace ozy
