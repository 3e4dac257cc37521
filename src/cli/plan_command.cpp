// `ozy plan`: offline capacity planning. Places jobs onto the nodes a cluster
// file describes, with the same engine the agents use, and prints where each
// instance lands and how full every node ends up.
#include <iostream>

#include <fmt/format.h>

#include "cli/cluster_file.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/input_file.h"
#include "cli/report.h"
#include "cli/table.h"
#include "job/yaml_reader.h"
#include "placement/placer.h"

namespace ozy {
namespace {

struct PlanOptions {
  std::string cluster;
  std::vector<std::string> jobs;
  std::string output = "text";
};

std::string percent(Bytes used, Bytes capacity) {
  if (capacity == 0) return "-";
  return fmt::format("{}%", used * 100 / capacity);
}

std::optional<ClusterState> loadCluster(const std::string& path, bool json) {
  auto text = readInputFile(path, YamlLimits{}.maxBytes);
  std::vector<FieldError> errors;
  if (!text) {
    errors.push_back(FieldError{"", text.error().message});
  } else if (auto cluster = parseClusterFile(*text)) {
    return std::move(cluster).value();
  } else {
    errors = cluster.error();
  }
  const std::string detail =
      errors.size() == 1 ? fmt::format("{}: {}", path, errors.front().toString())
                         : fmt::format("{} has {} problems; see errors", path, errors.size());
  printProblem(makeFieldProblem(problems::kInvalidCluster, detail, errors, {{"file", path}}), json);
  return std::nullopt;
}

int runPlan(const PlanOptions& options) {
  const bool json = options.output == "json";
  auto cluster = loadCluster(options.cluster, json);
  if (!cluster) return exit_code::kInvalidInput;
  std::vector<Job> jobs;
  for (const auto& path : options.jobs) {
    auto job = loadJobFile(path, json);
    if (!job) return exit_code::kInvalidInput;
    jobs.push_back(std::move(*job));
  }

  Placer placer(std::move(*cluster));
  nlohmann::json placed = nlohmann::json::array();
  nlohmann::json rejected = nlohmann::json::array();
  Table instances({"JOB", "INSTANCE", "NODE"});
  std::vector<std::size_t> instancesPerNode(placer.state().nodes.size(), 0);
  for (const auto& job : jobs) {
    PlacementRequest request{demandOf(job), job.numInstances, {}, true,
                             PlacementMode::kAllOrNothing};
    auto outcome = placer.place(request);
    if (!outcome) {
      if (!json) printProblem(outcome.error(), false);
      rejected.push_back(outcome.error().toJson());
      continue;
    }
    nlohmann::json entry{{"job", job.name}, {"instances", nlohmann::json::array()}};
    for (std::size_t i = 0; i < outcome->nodes.size(); ++i) {
      const auto node = outcome->nodes[i];
      const std::string& nodeName = placer.state().nodes[node].name;
      ++instancesPerNode[node];
      instances.add({job.name, std::to_string(i), nodeName});
      entry["instances"].push_back({{"index", i}, {"node", nodeName}});
    }
    placed.push_back(std::move(entry));
  }

  const ClusterState& state = placer.state();
  if (json) {
    nlohmann::json nodes = nlohmann::json::array();
    for (std::size_t i = 0; i < state.nodes.size(); ++i) {
      const NodeState& n = state.nodes[i];
      nlohmann::json ports = nlohmann::json::array();
      for (const auto& p : n.portsInUse) ports.push_back(toString(p));
      nodes.push_back({{"name", n.name},
                       {"memory", {{"capacity", n.capacity.memory}, {"used", n.used.memory}}},
                       {"disk", {{"capacity", n.capacity.disk}, {"used", n.used.disk}}},
                       {"portsInUse", std::move(ports)},
                       {"instances", instancesPerNode[i]}});
    }
    const nlohmann::json out{
        {"placed", std::move(placed)},
        {"rejected", rejected},
        {"nodes", std::move(nodes)},
        {"sharedSpace", {{"capacity", state.sharedCapacity}, {"used", state.sharedUsed}}}};
    std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  } else {
    instances.print(std::cout);
    std::cout << '\n';
    Table nodes({"NODE", "INSTANCES", "MEMORY", "", "DISK", "", "PORTS"});
    for (std::size_t i = 0; i < state.nodes.size(); ++i) {
      const NodeState& n = state.nodes[i];
      std::string ports;
      for (const auto& p : n.portsInUse) ports += fmt::format("{}{}", ports.empty() ? "" : ",", toString(p));
      nodes.add({n.name, std::to_string(instancesPerNode[i]),
                 fmt::format("{}/{}", formatSizeApprox(n.used.memory), formatSizeApprox(n.capacity.memory)),
                 percent(n.used.memory, n.capacity.memory),
                 fmt::format("{}/{}", formatSizeApprox(n.used.disk), formatSizeApprox(n.capacity.disk)),
                 percent(n.used.disk, n.capacity.disk), ports.empty() ? "-" : ports});
    }
    nodes.print(std::cout);
    if (state.sharedCapacity > 0 || state.sharedUsed > 0) {
      std::cout << fmt::format("\nshared pool: {}/{} used\n", formatSizeApprox(state.sharedUsed),
                               formatSizeApprox(state.sharedCapacity));
    }
  }
  return rejected.empty() ? exit_code::kOk : exit_code::kUnplaceable;
}

}  // namespace

void addPlanCommand(CLI::App& app, Action& action) {
  auto options = std::make_shared<PlanOptions>();
  auto* plan = app.add_subcommand(
      "plan", "Place jobs onto the nodes of a cluster file, offline; nothing is run");
  plan->add_option("--cluster", options->cluster, "Cluster file: nodes, capacity, current use")
      ->required();
  plan->add_option("JOB", options->jobs, "Job files, placed in the order given")->required();
  plan->add_option("-o,--output", options->output, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  plan->callback([options, &action] { action = [options] { return runPlan(*options); }; });
}

}  // namespace ozy
