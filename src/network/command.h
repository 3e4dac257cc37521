// Runs a system tool (ip, iptables) to its end and captures what it says:
// the network set-up's one way into the kernel's tables, so tests and logs
// see the exact command.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace ozy {

struct CommandResult {
  int exitCode = 0;
  std::string out;
  std::string err;
};

// `argv[0]` is looked up on PATH (and /usr/sbin, /sbin, where Debian keeps
// ip and iptables). Fails only when the command cannot be started.
Result<CommandResult, std::string> runCommand(const std::vector<std::string>& argv);

// "ip route replace 10.244.3.0/24 via 10.0.0.5", for messages.
std::string commandText(const std::vector<std::string>& argv);

}  // namespace ozy
