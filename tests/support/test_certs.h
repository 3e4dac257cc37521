// Throw-away TLS material for tests: a CA, a server certificate for
// 127.0.0.1 and a client certificate, made with the openssl command.
#pragma once

#include <string>

#include "common/result.h"

namespace ozy::testing_support {

struct TestCerts {
  std::string caCert;
  std::string caKey;
  std::string serverCert;  // SAN IP:127.0.0.1, usable as server and client
  std::string serverKey;
  std::string clientCert;  // CN ozy-test-client, extendedKeyUsage clientAuth
  std::string clientKey;
};

// Writes the files into `dir` (which must exist); the error quotes openssl's
// output.
Result<TestCerts, std::string> makeTestCerts(const std::string& dir);

}  // namespace ozy::testing_support
