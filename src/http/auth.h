// Bearer-token authentication for the agent's API: the check that admits
// only requests carrying the configured token, and the token file (read, or
// made on an agent's first start).
#pragma once

#include <array>
#include <filesystem>
#include <optional>
#include <string>

#include "common/result.h"
#include "http/message.h"

namespace ozy::http {

// Every request must carry "Authorization: Bearer <token>"; check() answers
// others with a 401 problem and WWW-Authenticate: Bearer. Tokens are compared
// as SHA-256 digests in constant time, so neither the content nor the length
// of the token leaks through timing. An empty token admits nobody (it fails
// closed).
class BearerToken {
 public:
  explicit BearerToken(const std::string& token);
  // Nullopt when the request carries the token; the 401 response otherwise.
  std::optional<Response> check(const Request& request) const;

 private:
  bool admitNobody_;
  std::array<unsigned char, 32> expected_;
};

struct TokenFile {
  std::string token;
  // Non-empty when the file's permissions let group or others at it; the
  // token still works, but the caller should log this.
  std::string warning;
};

// Reads a token file: surrounding whitespace (the trailing newline editors
// add) is trimmed; an empty file, a missing one, or text that is not a single
// token is an error naming the file and the fix.
Result<TokenFile, std::string> readTokenFile(const std::filesystem::path& path);

// The agent's own token when the operator gives none: read from `path` if it
// exists, else made there (256 random bits, hex, mode 0600, created
// exclusively so two agents sharing a data dir cannot race to different
// tokens). `created` says which.
struct GeneratedToken {
  std::string token;
  bool created = false;
};
Result<GeneratedToken, std::string> loadOrCreateTokenFile(const std::filesystem::path& path);

}  // namespace ozy::http
