// A throw-away CA and a server certificate for 127.0.0.1, made with the
// openssl command line in a directory the test owns.
#pragma once

#include <filesystem>
#include <string>

#include "common/result.h"

namespace ozy::http::testing {

struct TestCertificates {
  std::filesystem::path caCertificate;
  std::filesystem::path serverCertificate;  // SAN IP:127.0.0.1, signed by the CA
  std::filesystem::path serverKey;
  std::filesystem::path otherKey;  // a key that belongs to no certificate
};

// The error carries openssl's output.
Result<TestCertificates, std::string> makeTestCertificates(const std::filesystem::path& dir);

}  // namespace ozy::http::testing
