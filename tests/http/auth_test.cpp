// Bearer-token authentication: the check's verdicts, the same over real HTTP
// as the server's admission, and reading or making the token file.
#include "http/auth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include "support/temp_dir.h"
#include "support/test_server.h"

namespace ozy::http {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::TempDir;

constexpr const char* kToken = "correct-horse-battery-staple";

// The check in front of a handler that lets everyone in.
Handler guardedBy(const std::string& token) {
  auto check = std::make_shared<BearerToken>(token);
  return [check](const Request& request) {
    if (auto denied = check->check(request)) return *denied;
    return testing::textResponse(200, "in");
  };
}

Handler guarded() { return guardedBy(kToken); }

Request withAuthorization(std::string value) {
  Request request;
  request.method = "GET";
  request.path = "/v1/jobs";
  request.headers.add("Authorization", std::move(value));
  return request;
}

TEST(HttpBearerAuth, RejectsARequestWithoutATokenWith401AndAChallenge) {
  Request request;
  const Response response = guarded()(request);
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(response.contentType, "application/problem+json");
  EXPECT_THAT(std::string(response.headers.get("WWW-Authenticate").value_or("")),
              HasSubstr("Bearer"));
  EXPECT_THAT(response.body, HasSubstr("/docs/errors.md#unauthorized"));
}

TEST(HttpBearerAuth, RejectsAWrongTokenWithoutRevealingEitherToken) {
  const Response response = guarded()(withAuthorization("Bearer guessed-token"));
  EXPECT_EQ(response.status, 401);
  EXPECT_THAT(std::string(response.headers.get("WWW-Authenticate").value_or("")),
              HasSubstr("invalid_token"));
  EXPECT_THAT(response.body, Not(HasSubstr(kToken)));
  EXPECT_THAT(response.body, Not(HasSubstr("guessed-token")));
}

TEST(HttpBearerAuth, RejectsAPrefixOrExtensionOfTheRightToken) {
  EXPECT_EQ(guarded()(withAuthorization("Bearer correct-horse")).status, 401);
  EXPECT_EQ(guarded()(withAuthorization(std::string("Bearer ") + kToken + "x")).status, 401);
  EXPECT_EQ(guarded()(withAuthorization(std::string("Basic ") + kToken)).status, 401);
  EXPECT_EQ(guarded()(withAuthorization("Bearer ")).status, 401);
}

TEST(HttpBearerAuth, PassesTheRightTokenInAnySchemeCaseToTheWrappedHandler) {
  EXPECT_EQ(guarded()(withAuthorization(std::string("Bearer ") + kToken)).status, 200);
  EXPECT_EQ(guarded()(withAuthorization(std::string("bearer ") + kToken)).status, 200);
}

TEST(HttpBearerAuth, AnEmptyConfiguredTokenAdmitsNobody) {
  const Handler handler = guardedBy("");
  EXPECT_EQ(handler(withAuthorization("Bearer ")).status, 401);
  EXPECT_EQ(handler(withAuthorization("Bearer x")).status, 401);
}

TEST(HttpBearerAuth, GuardsARealServer) {
  auto serverConfig = testing::testServerConfig();
  auto check = std::make_shared<BearerToken>(kToken);
  serverConfig.admit = [check](const Request& head) { return check->check(head); };
  auto server = testing::startServer(serverConfig, [](const Request&) {
    return testing::textResponse(200, "in");
  });
  ASSERT_TRUE(server);
  auto config = testing::testClientConfig(*server);
  const auto anonymous = testing::clientFor(config);
  config.bearerToken = "wrong-token";
  const auto wrong = testing::clientFor(config);
  config.bearerToken = kToken;
  const auto right = testing::clientFor(config);

  const auto withoutToken = anonymous.send(testing::request("GET", "/v1/jobs"));
  const auto withWrongToken = wrong.send(testing::request("GET", "/v1/jobs"));
  const auto withRightToken = right.send(testing::request("GET", "/v1/jobs"));

  ASSERT_TRUE(withoutToken && withWrongToken && withRightToken);
  EXPECT_EQ(withoutToken->status, 401);
  EXPECT_TRUE(withoutToken->headers.get("WWW-Authenticate"));
  EXPECT_EQ(withWrongToken->status, 401);
  EXPECT_THAT(withWrongToken->body, Not(HasSubstr("wrong-token")));
  EXPECT_THAT(withWrongToken->body, Not(HasSubstr(kToken)));
  EXPECT_EQ(withRightToken->status, 200);
  EXPECT_EQ(withRightToken->body, "in");
}

void writeFile(const std::filesystem::path& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
}

TEST(HttpTokenFile, ReadsTheTokenWithoutItsTrailingNewline) {
  TempDir dir;
  writeFile(dir / "token", "s3cret-token\n", 0600);
  const auto token = readTokenFile(dir / "token");
  ASSERT_TRUE(token) << token.error();
  EXPECT_EQ(token->token, "s3cret-token");
  EXPECT_EQ(token->warning, "");
}

TEST(HttpTokenFile, RefusesAnEmptyFile) {
  TempDir dir;
  writeFile(dir / "token", "\n", 0600);
  const auto token = readTokenFile(dir / "token");
  ASSERT_FALSE(token);
  EXPECT_THAT(token.error(), HasSubstr("is empty"));
  EXPECT_THAT(token.error(), HasSubstr((dir / "token").string()));
}

TEST(HttpTokenFile, RefusesAMissingFileNamingIt) {
  TempDir dir;
  const auto token = readTokenFile(dir / "absent");
  ASSERT_FALSE(token);
  EXPECT_EQ(token.error(),
            "cannot read token file " + (dir / "absent").string() + ": No such file or directory");
}

TEST(HttpTokenFile, RefusesMoreThanOneToken) {
  TempDir dir;
  writeFile(dir / "token", "first\nsecond\n", 0600);
  const auto token = readTokenFile(dir / "token");
  ASSERT_FALSE(token);
  EXPECT_THAT(token.error(), HasSubstr("one token"));
}

TEST(HttpTokenFile, WarnsWhenOtherUsersCanReadIt) {
  TempDir dir;
  writeFile(dir / "token", "s3cret-token\n", 0644);
  const auto token = readTokenFile(dir / "token");
  ASSERT_TRUE(token) << token.error();
  EXPECT_EQ(token->token, "s3cret-token");
  EXPECT_THAT(token->warning, HasSubstr("mode 644"));
  EXPECT_THAT(token->warning, HasSubstr("chmod 600"));
  EXPECT_THAT(token->warning, Not(HasSubstr("s3cret-token")));
}

TEST(HttpTokenFile, MakesAPrivateRandomTokenOnceAndKeepsIt) {
  TempDir dir;
  const auto first = loadOrCreateTokenFile(dir / "token");
  ASSERT_TRUE(first) << first.error();
  EXPECT_TRUE(first->created);
  EXPECT_EQ(first->token.size(), 64u);
  EXPECT_EQ(first->token.find_first_not_of("0123456789abcdef"), std::string::npos);
  struct stat info {};
  ASSERT_EQ(::stat((dir / "token").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);

  const auto again = loadOrCreateTokenFile(dir / "token");
  ASSERT_TRUE(again) << again.error();
  EXPECT_FALSE(again->created);
  EXPECT_EQ(again->token, first->token);

  TempDir other;
  const auto elsewhere = loadOrCreateTokenFile(other / "token");
  ASSERT_TRUE(elsewhere);
  EXPECT_NE(elsewhere->token, first->token);
}

TEST(HttpTokenFile, RefusesItsOwnTokenFileOnceOthersCanReadIt) {
  TempDir dir;
  writeFile(dir / "token", "s3cret-token\n", 0644);
  const auto token = loadOrCreateTokenFile(dir / "token");
  ASSERT_FALSE(token);
  EXPECT_THAT(token.error(), HasSubstr("chmod 600"));
}

}  // namespace
}  // namespace ozy::http
