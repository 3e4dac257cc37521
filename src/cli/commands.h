// The `ozy` subcommands; each registers itself on the CLI11 app and returns
// an exit code from exit_codes.h when run.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace ozy {

// Set by a subcommand's callback: what main() runs once parsing succeeded.
using Action = std::function<int()>;

void addJobCommands(CLI::App& app, Action& action);
void addPlanCommand(CLI::App& app, Action& action);
// node ... (addNodeCommands), job run|plan|status|scale|stop (after
// addJobCommands), agent.
void addClusterCommands(CLI::App& app, Action& action);
void addNodeCommands(CLI::App& app, Action& action);
void addNetworkCommands(CLI::App& app, Action& action);
// job history|promote|revert (deploy_commands.cpp), after addClusterCommands.
void addDeployCommands(CLI::App& app, Action& action);
// job logs|exec (instance_commands.cpp), after addJobCommands.
void addInstanceCommands(CLI::App& app, Action& action);
// status (status_command.cpp).
void addStatusCommand(CLI::App& app, Action& action);

}  // namespace ozy
