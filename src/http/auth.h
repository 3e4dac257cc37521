// Bearer-token authentication for the agent's API: a Handler wrapper that
// admits only requests carrying the configured token, and the token file.
#pragma once

#include <filesystem>
#include <string>

#include "common/result.h"
#include "http/message.h"

namespace ozy::http {

// Wraps `next` so that every request must carry "Authorization: Bearer
// <token>"; others get a 401 problem with WWW-Authenticate: Bearer. Tokens are
// compared as SHA-256 digests in constant time, so neither the content nor
// the length of the token leaks through timing. Wrap only when a token is
// configured: an empty token admits nobody (it fails closed).
Handler requireBearerToken(const std::string& token, Handler next);

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

}  // namespace ozy::http
