// Bearer-token check and token file loading.
#include "http/auth.h"

#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <system_error>

#include "http/http_problems.h"
#include "http/problem_response.h"

namespace ozy::http {

namespace {

using Digest = std::array<unsigned char, 32>;

// A token file larger than this is not a token file.
constexpr std::size_t kMaxTokenFileSize = 4096;

Digest sha256(std::string_view data) {
  Digest digest{};
  unsigned int length = 0;
  // EVP_Digest only fails on allocation failure; a zero digest then matches
  // nothing a client can send, so failing closed needs no extra branch.
  EVP_Digest(data.data(), data.size(), digest.data(), &length, EVP_sha256(), nullptr);
  return digest;
}

// The credential of an "Authorization: Bearer <token>" header (RFC 6750
// section 2.1; the scheme name is case-insensitive).
std::optional<std::string_view> bearerCredential(const Headers& headers) {
  const auto value = headers.get("Authorization");
  constexpr std::string_view kScheme = "Bearer ";
  if (!value || value->size() <= kScheme.size() ||
      !equalsIgnoringCase(value->substr(0, kScheme.size()), kScheme)) {
    return std::nullopt;
  }
  return trimWhitespace(value->substr(kScheme.size()));
}

// The detail says what to send, never what was expected or received.
Response unauthorized(std::string detail, std::string challenge) {
  Response response = problemResponse(makeProblem(problems::kUnauthorized, std::move(detail)));
  response.headers.set("WWW-Authenticate", std::move(challenge));
  return response;
}

bool isSingleToken(std::string_view token) {
  for (const char c : token) {
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

Result<std::string, std::string> readSmallFile(const std::filesystem::path& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) {
    return fail(fmt::format("cannot read token file {}: {}", path.string(),
                            std::error_code(errno, std::generic_category()).message()));
  }
  std::string text(kMaxTokenFileSize + 1, '\0');
  text.resize(std::fread(text.data(), 1, text.size(), file));
  const int readError = std::ferror(file) != 0 ? errno : 0;
  std::fclose(file);
  if (readError != 0) {
    return fail(fmt::format("cannot read token file {}: {}", path.string(),
                            std::error_code(readError, std::generic_category()).message()));
  }
  if (text.size() > kMaxTokenFileSize) {
    return fail(fmt::format("token file {} is larger than {} bytes; it must hold one token",
                            path.string(), kMaxTokenFileSize));
  }
  return text;
}

std::string permissionWarning(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::perms perms = fs::status(path, ec).permissions();
  const auto shared = perms & (fs::perms::group_all | fs::perms::others_all);
  if (ec || shared == fs::perms::none) return {};
  return fmt::format(
      "token file {} can be accessed by other users (mode {:03o}); restrict it "
      "with: chmod 600 {}",
      path.string(), static_cast<unsigned>(perms) & 0777u, path.string());
}

}  // namespace

BearerToken::BearerToken(const std::string& token)
    : admitNobody_(token.empty()), expected_(sha256(token)) {}

std::optional<Response> BearerToken::check(const Request& request) const {
  const auto credential = bearerCredential(request.headers);
  if (!credential) {
    return unauthorized(
        "This API needs a bearer token: send the header \"Authorization: Bearer <token>\" (the "
        "ozy command reads it from $OZY_TOKEN, $OZY_TOKEN_FILE or /var/lib/ozy/token).",
        "Bearer realm=\"ozy\"");
  }
  const Digest given = sha256(*credential);
  if (CRYPTO_memcmp(given.data(), expected_.data(), given.size()) != 0 || admitNobody_) {
    return unauthorized("The bearer token was not accepted.",
                        "Bearer realm=\"ozy\", error=\"invalid_token\"");
  }
  return std::nullopt;
}

Result<TokenFile, std::string> readTokenFile(const std::filesystem::path& path) {
  auto text = readSmallFile(path);
  if (!text) return fail(std::move(text).error());
  const std::string_view token = trimWhitespace(*text);
  if (token.empty()) {
    return fail(fmt::format("token file {} is empty; write the API token into it", path.string()));
  }
  if (!isSingleToken(token)) {
    return fail(
        fmt::format("token file {} must hold one token on one line, without spaces or "
                    "control characters",
                    path.string()));
  }
  return TokenFile{std::string(token), permissionWarning(path)};
}

Result<GeneratedToken, std::string> loadOrCreateTokenFile(const std::filesystem::path& path) {
  std::array<unsigned char, 32> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    return fail(std::string("cannot make an API token: the system has no random numbers to give"));
  }
  std::string token;
  for (const unsigned char byte : random) token += fmt::format("{:02x}", byte);
  auto existing = [&]() -> Result<GeneratedToken, std::string> {
    auto file = readTokenFile(path);
    if (!file) return fail(std::move(file).error());
    if (!file->warning.empty()) return fail(file->warning);
    return GeneratedToken{std::move(file->token), false};
  };
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::symlink_status(path, ec))) return existing();
  // Written whole to a private temporary file, made durable, then linked
  // into place: link() fails if the name exists, so two agents starting on
  // one data dir agree on one token, and a crash never leaves an empty file.
  const std::filesystem::path temporary =
      path.string() + fmt::format(".new-{}", static_cast<long>(::getpid()));
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    return fail(fmt::format("cannot create the API token file {}: {}", temporary.string(),
                            std::error_code(errno, std::generic_category()).message()));
  }
  const std::string text = token + "\n";
  bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  written = written && ::fsync(fd) == 0;
  const int writeError = errno;
  ::close(fd);
  const bool linked = written && ::link(temporary.c_str(), path.c_str()) == 0;
  const int linkError = errno;
  ::unlink(temporary.c_str());
  if (!written) {
    return fail(fmt::format("cannot write the API token file {}: {}", temporary.string(),
                            std::error_code(writeError, std::generic_category()).message()));
  }
  if (!linked && linkError == EEXIST) return existing();  // another agent was first
  if (!linked) {
    return fail(fmt::format("cannot create the API token file {}: {}", path.string(),
                            std::error_code(linkError, std::generic_category()).message()));
  }
  if (const int dir = ::open(path.parent_path().empty() ? "." : path.parent_path().c_str(),
                             O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return GeneratedToken{std::move(token), true};
}

}  // namespace ozy::http
