// The agent's private directories: its data dir (lease, token, podman's
// socket, local volumes) and the shared volumes' root.
//
// What a container leaves in a volume (a setuid binary, a device node) and
// the API token must be out of other host users' reach, so these directories
// are the agent's alone: made mode 0700 when missing, and the agent refuses
// to start on one that another user owns or may enter.
#pragma once

#include <filesystem>
#include <string>

#include "common/result.h"

namespace ozy {

// Creates `dir` (and missing parents) if needed, then checks it: a directory,
// owned by this process's user, with no permission bits for group or others.
// `what` names it in errors ("data dir"); they say how to fix it.
Result<bool, std::string> ensurePrivateDir(const std::filesystem::path& dir, std::string_view what);

}  // namespace ozy
