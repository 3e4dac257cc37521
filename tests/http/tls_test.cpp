// HTTPS end to end with a CA and server certificate made for the test: the
// client verifies the server against the CA file, refuses it without, and
// the server refuses certificate files that cannot work.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <memory>

#include "http/client.h"
#include "http/server.h"
#include "support/certificates.h"
#include "support/temp_dir.h"
#include "support/test_server.h"

namespace ozy::http {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;
using testing::TestCertificates;

class HttpTls : public ::testing::Test {
 protected:
  // One set of certificates for the suite: making them dominates the time.
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>();
    if (!dir_->ok()) return;
    auto made = testing::makeTestCertificates(dir_->path());
    if (made) {
      certificates_ = std::make_unique<TestCertificates>(std::move(made).value());
    } else {
      error_ = made.error();
    }
  }
  static void TearDownTestSuite() {
    certificates_.reset();
    dir_.reset();  // removes the keys too
  }

  void SetUp() override {
    ASSERT_TRUE(certificates_) << "cannot make test certificates: " << error_;
  }

  static const TestCertificates& certs() { return *certificates_; }

  static std::unique_ptr<HttpServer> startTlsServer() {
    auto config = testing::testServerConfig();
    config.tls = TlsFiles{certs().serverCertificate, certs().serverKey};
    return testing::startServer(
        config, [](const Request&) { return testing::textResponse(200, "secure"); });
  }

  static inline std::unique_ptr<TempDir> dir_;
  static inline std::unique_ptr<TestCertificates> certificates_;
  static inline std::string error_;
};

TEST_F(HttpTls, ServesAClientThatTrustsTheCa) {
  auto server = startTlsServer();
  ASSERT_TRUE(server);
  auto config = testing::testClientConfig(*server);
  config.caFile = certs().caCertificate;

  const auto response = testing::clientFor(config).send(testing::request("GET", "/v1/health"));

  ASSERT_TRUE(response) << response.error();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "secure");
}

TEST_F(HttpTls, ClientWithoutTheCaRefusesTheServer) {
  auto server = startTlsServer();
  ASSERT_TRUE(server);
  const auto config = testing::testClientConfig(*server);  // system trust store only

  const auto response = testing::clientFor(config).send(testing::request("GET", "/"));

  ASSERT_FALSE(response);
  EXPECT_THAT(response.error(), HasSubstr("TLS handshake with 127.0.0.1:"));
  EXPECT_THAT(response.error(), HasSubstr("certificate is not trusted"));
}

TEST_F(HttpTls, ClientRefusesACertificateIssuedForAnotherName) {
  auto server = startTlsServer();
  ASSERT_TRUE(server);
  auto config = testing::testClientConfig(*server);
  config.baseUrl = "https://localhost:" + std::to_string(server->port());
  config.caFile = certs().caCertificate;

  const auto response = testing::clientFor(config).send(testing::request("GET", "/"));

  ASSERT_FALSE(response);
  EXPECT_THAT(response.error(), HasSubstr("certificate is not trusted"));
}

TEST_F(HttpTls, PlainHttpToATlsServerGetsNoResponse) {
  auto server = startTlsServer();
  ASSERT_TRUE(server);
  auto config = testing::testClientConfig(*server);
  config.baseUrl = "http://127.0.0.1:" + std::to_string(server->port());
  config.deadline = std::chrono::seconds(2);

  EXPECT_FALSE(testing::clientFor(config).send(testing::request("GET", "/")));
}

TEST_F(HttpTls, ServerRefusesAKeyThatDoesNotBelongToItsCertificate) {
  auto config = testing::testServerConfig();
  config.tls = TlsFiles{certs().serverCertificate, certs().otherKey};

  const auto server = HttpServer::start(config, [](const Request&) { return Response{}; });

  ASSERT_FALSE(server);
  EXPECT_THAT(server.error(), HasSubstr("does not belong to certificate"));
}

TEST_F(HttpTls, ServerNamesAMissingCertificateFile) {
  auto config = testing::testServerConfig();
  config.tls = TlsFiles{dir_->path() / "missing.crt", certs().serverKey};

  const auto server = HttpServer::start(config, [](const Request&) { return Response{}; });

  ASSERT_FALSE(server);
  EXPECT_EQ(server.error(), "cannot read TLS certificate file " +
                                (dir_->path() / "missing.crt").string() +
                                ": No such file or directory");
}

TEST_F(HttpTls, ServerRefusesACertificateFileThatIsNotPem) {
  auto config = testing::testServerConfig();
  config.tls = TlsFiles{dir_->path() / "openssl.cnf", certs().serverKey};

  const auto server = HttpServer::start(config, [](const Request&) { return Response{}; });

  ASSERT_FALSE(server);
  EXPECT_THAT(server.error(), HasSubstr("is not a PEM certificate chain"));
}

}  // namespace
}  // namespace ozy::http
