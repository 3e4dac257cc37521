// `ozy network init|show`: the cluster's pod network in etcd
// (docs/network.md). These talk to etcd itself, not to an agent's API: the
// network is set up once, before the first agent joins it.
#include <iostream>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "agent/agent.h"
#include "cli/commands.h"
#include "cli/exit_codes.h"
#include "cli/table.h"
#include "network/network_config.h"
#include "network/subnet_lease.h"

namespace ozy {
namespace {

struct NetworkOptions {
  AgentConfig etcd;  // only its etcd fields
  std::string network;
  std::optional<int> subnetLen;
  std::string subnetMin;
  std::string subnetMax;
  std::string backend{kHostGwBackend};
};

void addEtcdOptions(CLI::App* command, AgentConfig& c) {
  command->add_option("--etcd", c.etcd, "etcd client URLs")->delimiter(',')->capture_default_str();
  command->add_option("--etcd-ca", c.etcdCa, "CA certificate of etcd's servers");
  command->add_option("--etcd-cert", c.etcdCert, "Client certificate for etcd");
  command->add_option("--etcd-key", c.etcdKey, "Client key for etcd");
  command->add_flag("--insecure-etcd", c.insecureEtcd, "Speak plain HTTP to an etcd beyond loopback");
}

int networkError(const NetworkError& error) {
  std::cerr << "error: " << error.message << '\n';
  for (const FieldError& e : error.errors) std::cerr << "  " << e.toString() << '\n';
  switch (error.code) {
    case NetworkError::kInvalidConfig:
      return exit_code::kInvalidInput;
    case NetworkError::kConfigInUse:
    case NetworkError::kNotInitialised:
      return exit_code::kConflict;
    default:
      return exit_code::kUnavailable;
  }
}

int init(const NetworkOptions& o) {
  nlohmann::json config = {{"Network", o.network}, {"Backend", {{"Type", o.backend}}}};
  if (o.subnetLen) config["SubnetLen"] = *o.subnetLen;
  if (!o.subnetMin.empty()) config["SubnetMin"] = o.subnetMin;
  if (!o.subnetMax.empty()) config["SubnetMax"] = o.subnetMax;
  auto decoded = decodeNetworkConfig(config.dump());
  if (!decoded) {
    std::cerr << "error: not a pod network this agent can run:\n";
    for (const FieldError& e : decoded.error()) std::cerr << "  " << e.toString() << '\n';
    return exit_code::kInvalidInput;
  }
  auto store = connectEtcd(o.etcd);
  if (!store) {
    std::cerr << "error: " << store.error() << '\n';
    return exit_code::kUnavailable;
  }
  auto written = initNetwork(**store, *decoded);
  if (!written) return networkError(written.error());
  std::cout << fmt::format("pod network {}: {}\n", describe(*decoded),
                           *written == InitOutcome::kWritten ? "written" : "already so, unchanged");
  return exit_code::kOk;
}

int show(const NetworkOptions& o) {
  auto store = connectEtcd(o.etcd);
  if (!store) {
    std::cerr << "error: " << store.error() << '\n';
    return exit_code::kUnavailable;
  }
  auto config = readNetworkConfig(**store);
  if (!config) return networkError(config.error());
  auto listing = listSubnetLeases(**store);
  if (!listing) return networkError(listing.error());
  std::cout << fmt::format("pod network {}\n", describe(*config));
  Table table({"SUBNET", "NODE ADDRESS", "BACKEND"});
  for (const SubnetLease& l : listing->table.leases) {
    table.add({l.subnet.toString(), l.publicIp.toString(), l.backendType});
  }
  table.print(std::cout);
  for (const SkippedSubnet& s : listing->table.skipped) {
    std::cout << fmt::format("unreadable: {}: {}\n", s.key, s.reason);
  }
  return exit_code::kOk;
}

}  // namespace

void addNetworkCommands(CLI::App& app, Action& action) {
  auto o = std::make_shared<NetworkOptions>();
  auto* network = app.add_subcommand("network", "Set up and show the cluster's pod network (in etcd)");
  network->require_subcommand(1);

  auto* initCommand = network->add_subcommand(
      "init", "Write the pod network's config; refused if nodes hold subnets of another one");
  initCommand->add_option("--network", o->network, "The cluster's pod network, e.g. 10.244.0.0/16")->required();
  initCommand->add_option("--subnet-len", o->subnetLen, "Prefix length of each node's subnet (default 24)");
  initCommand->add_option("--subnet-min", o->subnetMin, "First subnet nodes may lease (an address)");
  initCommand->add_option("--subnet-max", o->subnetMax, "Last subnet nodes may lease (an address)");
  initCommand->add_option("--backend", o->backend, "How nodes reach each other's subnets")->capture_default_str();
  addEtcdOptions(initCommand, o->etcd);
  initCommand->callback([o, &action] { action = [o] { return init(*o); }; });

  auto* showCommand = network->add_subcommand("show", "Show the pod network and each node's subnet");
  addEtcdOptions(showCommand, o->etcd);
  showCommand->callback([o, &action] { action = [o] { return show(*o); }; });
}

}  // namespace ozy
