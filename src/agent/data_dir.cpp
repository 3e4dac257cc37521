#include "agent/data_dir.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>

#include <fmt/format.h>

namespace ozy {

Result<bool, std::string> ensurePrivateDir(const std::filesystem::path& dir, std::string_view what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(dir, ec))) {
    if (!dir.parent_path().empty()) fs::create_directories(dir.parent_path(), ec);
    // mkdir with 0700 directly: no moment in which the directory is open.
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return fail(fmt::format("cannot create the {} {}: {}", what, dir.string(),
                              std::error_code(errno, std::generic_category()).message()));
    }
  }
  struct stat info {};
  // lstat: a symlink planted where the directory should be is refused, not followed.
  if (::lstat(dir.c_str(), &info) != 0) {
    return fail(fmt::format("cannot read the {} {}: {}", what, dir.string(),
                            std::error_code(errno, std::generic_category()).message()));
  }
  if (!S_ISDIR(info.st_mode)) {
    return fail(fmt::format("the {} {} is not a directory (a symlink or a file is there); "
                            "remove it or choose another path",
                            what, dir.string()));
  }
  if (info.st_uid != ::geteuid()) {
    return fail(fmt::format("the {} {} belongs to uid {}, not to the agent's user (uid {}); "
                            "another user could change what the agent keeps there. "
                            "Fix: chown {} {}",
                            what, dir.string(), info.st_uid, ::geteuid(), ::geteuid(), dir.string()));
  }
  if ((info.st_mode & 077) != 0) {
    return fail(fmt::format("the {} {} is open to other users (mode {:04o}): they could read the "
                            "API token or run what containers leave in volumes. Fix: chmod 700 {}",
                            what, dir.string(), info.st_mode & 07777, dir.string()));
  }
  return true;
}

}  // namespace ozy
