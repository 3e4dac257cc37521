// `ozy node list|drain|undrain`: the cluster's nodes through any agent's API.
#include <iostream>
#include <memory>

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

std::string size(const json& bytes) { return formatSizeApprox(bytes.get<Bytes>()); }

std::string age(std::int64_t seconds) {
  if (seconds < 120) return fmt::format("{}s", seconds);
  if (seconds < 7200) return fmt::format("{}m", seconds / 60);
  if (seconds < 172800) return fmt::format("{}h", seconds / 3600);
  return fmt::format("{}d", seconds / 86400);
}

bool checkNodeName(const std::string& name) {
  if (isHostName(name)) return true;
  std::cerr << fmt::format("error: \"{}\" is not a node name (a host name: dot-separated "
                           "labels of lowercase letters, digits and '-')\n",
                           printable(name));
  return false;
}

// "node node-b: draining, 3 instances still to move".
void showDrain(const json& n) {
  const std::string state = n.value("state", "");
  std::cout << fmt::format("node {}: {}", printable(n.value("name", "")), printable(state));
  if (state == "draining") {
    std::cout << fmt::format(", {} instances still to move", n.value("instances", 0));
  }
  if (!n.value("live", true)) std::cout << " (not registered now)";
  if (!n.value("changed", true)) std::cout << " (no change)";
  std::cout << '\n';
}

}  // namespace

void addNodeCommands(CLI::App& app, Action& action) {
  auto o = std::make_shared<ApiCallOptions>();

  auto* node = app.add_subcommand("node", "Inspect and drain the cluster's nodes");
  node->require_subcommand(1);
  auto* nodeList = node->add_subcommand("list", "List live nodes with state, capacity, use and age");
  addApiOptions(nodeList, *o);
  nodeList->callback([o, &action] {
    action = [o] {
      return call(*o, "GET", "/v1/nodes", "", [](const json& nodes) {
        Table table({"NODE", "STATE", "ADDRESS", "POD SUBNET", "MEMORY", "DISK", "INSTANCES", "AGE"});
        for (const auto& n : nodes) {
          const auto subnet = n.find("podSubnet");
          table.add({n.value("name", ""), n.value("state", "ready"), n.value("address", ""),
                     subnet == n.end() || !subnet->is_string() ? "-" : subnet->get<std::string>(),
                     size(n["used"]["memory"]) + "/" + size(n["capacity"]["memory"]),
                     size(n["used"]["disk"]) + "/" + size(n["capacity"]["disk"]),
                     std::to_string(n.value("instances", 0)), age(n.value("ageSeconds", 0))});
        }
        table.print(std::cout);
      });
    };
  });

  auto name = std::make_shared<std::string>();
  for (const bool drain : {true, false}) {
    auto* cmd = drain ? node->add_subcommand("drain",
                                             "Take no new instances on a node and move its "
                                             "instances to other nodes")
                      : node->add_subcommand("undrain",
                                             "Let a drained node take new instances again");
    cmd->add_option("NAME", *name, "Node name")->required();
    addApiOptions(cmd, *o);
    cmd->callback([o, name, drain, &action] {
      action = [o, name, drain] {
        if (!checkNodeName(*name)) return exit_code::kUsage;
        return call(*o, "POST", fmt::format("/v1/nodes/{}/{}", *name, drain ? "drain" : "undrain"),
                    "", showDrain);
      };
    });
  }
}

}  // namespace ozy
