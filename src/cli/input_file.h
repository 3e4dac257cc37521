// Reading a user's input file with a size cap, so a 100 MB (or endless)
// file is refused after at most cap+1 bytes rather than read whole.
#pragma once

#include <string>

#include "common/result.h"

namespace ozy {

struct InputFileError {
  bool tooLarge = false;
  std::string message;  // says what happened and what to do
};

// "-" reads standard input.
Result<std::string, InputFileError> readInputFile(const std::string& path, std::size_t maxBytes);

}  // namespace ozy
