// `ozy`: the command-line front of Ozymandias.
#include <iostream>

#include "cli/commands.h"
#include "cli/exit_codes.h"

int main(int argc, char** argv) {
  CLI::App app{"ozy: a decentralised container scheduler (job files, placement, cluster control)",
               "ozy"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("ozy 0.1.0"));
  ozy::Action action;
  ozy::addJobCommands(app, action);
  ozy::addPlanCommand(app, action);
  ozy::addClusterCommands(app, action);
  ozy::addDeployCommands(app, action);
  ozy::addInstanceCommands(app, action);
  ozy::addStatusCommand(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? ozy::exit_code::kOk : ozy::exit_code::kUsage;
  }
  try {
    return action ? action() : ozy::exit_code::kUsage;
  } catch (const std::exception& e) {
    // An answer of an unexpected shape (e.g. from something that is not an
    // agent) must not abort the process.
    std::cerr << "error: " << e.what() << '\n';
    return ozy::exit_code::kUnavailable;
  }
}
