#include "cli/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

namespace ozy {

Result<std::string, InputFileError> readInputFile(const std::string& path, std::size_t maxBytes) {
  const bool stdinInput = path == "-";
  const int fd = stdinInput ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return fail(InputFileError{false, fmt::format("cannot open {}: {}", path, std::strerror(errno))});
  }
  struct Closer {
    int fd;
    bool owned;
    ~Closer() {
      if (owned) ::close(fd);
    }
  } closer{fd, !stdinInput};

  struct stat info {};
  if (::fstat(fd, &info) == 0) {
    if (S_ISDIR(info.st_mode)) {
      return fail(InputFileError{false, fmt::format("{} is a directory, not a file", path)});
    }
    if (S_ISREG(info.st_mode) && static_cast<std::size_t>(info.st_size) > maxBytes) {
      return fail(InputFileError{
          true, fmt::format("{} is {} bytes; at most {} are accepted", path, info.st_size, maxBytes)});
    }
  }
  std::string text;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      return fail(InputFileError{false, fmt::format("cannot read {}: {}", path, std::strerror(errno))});
    }
    if (n == 0) break;
    text.append(buffer, static_cast<std::size_t>(n));
    if (text.size() > maxBytes) {
      return fail(InputFileError{
          true, fmt::format("{} is larger than the {} bytes accepted", path, maxBytes)});
    }
  }
  return text;
}

}  // namespace ozy
