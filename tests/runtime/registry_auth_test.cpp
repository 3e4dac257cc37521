// podman's auth.json as `ozy agent --registry-auth` reads it: every key's
// login, its server address the key's host, and errors that name the key
// but never a secret.
#include "runtime/registry_auth.h"

#include <gtest/gtest.h>

#include "common/base64.h"

namespace ozy::runtime {
namespace {

TEST(RegistryAuthFile, ReadsEveryLogin) {
  const std::string text = R"({"auths": {
    "127.0.0.1:5000": {"auth": ")" + base64Encode("alice:pa:ss") + R"("},
    "registry.example.com/team": {"auth": ")" + base64Encode("bob:x") + R"("}}})";
  auto auths = parseRegistryAuthFile(text);
  ASSERT_TRUE(auths.ok()) << auths.error();
  ASSERT_EQ(auths->size(), 2u);
  const RegistryAuth& local = auths->at("127.0.0.1:5000");
  EXPECT_EQ(local.username, "alice");
  EXPECT_EQ(local.password, "pa:ss");  // only the first colon separates
  EXPECT_EQ(local.serverAddress, "127.0.0.1:5000");
  EXPECT_EQ(auths->at("registry.example.com/team").serverAddress, "registry.example.com");
}

TEST(RegistryAuthFile, RefusesWhatIsNotAnAuthFileWithoutShowingSecrets) {
  EXPECT_FALSE(parseRegistryAuthFile("not json").ok());
  EXPECT_FALSE(parseRegistryAuthFile(R"({"credHelpers": {}})").ok());
  auto noAuth = parseRegistryAuthFile(R"({"auths": {"r:5000": {"identitytoken": "t"}}})");
  ASSERT_FALSE(noAuth.ok());
  EXPECT_NE(noAuth.error().find("r:5000"), std::string::npos);
  const std::string secret = base64Encode("no-colon-secret");
  auto bad = parseRegistryAuthFile(R"({"auths": {"r:5000": {"auth": ")" + secret + R"("}}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().find(secret), std::string::npos);
  EXPECT_EQ(bad.error().find("no-colon-secret"), std::string::npos);
}

TEST(Base64, RoundTripsAndTakesBothAlphabets) {
  for (std::string text : {"", "a", "ab", "abc", "abcd", "\xff\xfe\xfd?>"}) {
    EXPECT_EQ(base64Decode(base64Encode(text)), text);
    EXPECT_EQ(base64Decode(base64Encode(text, true)), text);
  }
  EXPECT_EQ(base64Encode("\xfb\xff", true), "-_8=");
  EXPECT_FALSE(base64Decode("a!b=").has_value());
}

}  // namespace
}  // namespace ozy::runtime
