// `ozy node ...`: the cluster's nodes through any agent's API.
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

std::string size(const json& bytes) { return formatSizeApprox(bytes.get<Bytes>()); }

std::string age(std::int64_t seconds) {
  if (seconds < 120) return fmt::format("{}s", seconds);
  if (seconds < 7200) return fmt::format("{}m", seconds / 60);
  if (seconds < 172800) return fmt::format("{}h", seconds / 3600);
  return fmt::format("{}d", seconds / 86400);
}

}  // namespace

void addNodeCommands(CLI::App& app, Action& action) {
  auto o = std::make_shared<ApiCallOptions>();

  auto* node = app.add_subcommand("node", "Inspect the cluster's nodes");
  node->require_subcommand(1);
  auto* nodeList = node->add_subcommand("list", "List live nodes with capacity, use and age");
  addApiOptions(nodeList, *o);
  nodeList->callback([o, &action] {
    action = [o] {
      return call(*o, "GET", "/v1/nodes", "", [](const json& nodes) {
        Table table({"NODE", "ADDRESS", "MEMORY", "DISK", "INSTANCES", "AGE"});
        for (const auto& n : nodes) {
          table.add({n.value("name", ""), n.value("address", ""),
                     size(n["used"]["memory"]) + "/" + size(n["capacity"]["memory"]),
                     size(n["used"]["disk"]) + "/" + size(n["capacity"]["disk"]),
                     std::to_string(n.value("instances", 0)), age(n.value("ageSeconds", 0))});
        }
        table.print(std::cout);
      });
    };
  });
}

}  // namespace ozy
