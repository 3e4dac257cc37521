// Flags read from a file: `ozy agent --config FILE`, for the systemd unit's
// /etc/ozy/agent.toml.
//
// CLI11 (2.1, Debian 12's) reads config files only for the top-level app,
// never for a subcommand's own --config, so this applies one itself, after
// the command line is parsed: each `flag = value` (TOML or INI, as CLI11's
// formatter reads them; arrays for repeatable flags) sets the flag of that
// name unless the command line gave it. An unknown name is an error, with a
// suggestion: a misspelt setting must not be dropped without a word.
#pragma once

#include <string>

#include <CLI/CLI.hpp>

#include "common/result.h"

namespace ozy {

// Applies `path` to `command`'s options; the error names the file, the
// setting and what is wrong.
Result<std::monostate, std::string> applyConfigFile(CLI::App& command, const std::string& path);

}  // namespace ozy
