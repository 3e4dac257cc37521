// Test certificates through the openssl CLI (EC P-256 keys: quick to make).
#include "support/certificates.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ozy::http::testing {

namespace {

// The CA's own config, so no system openssl.cnf defaults creep in.
constexpr const char* kConfig = R"([req]
distinguished_name = dn
prompt = no
x509_extensions = ca
[dn]
CN = Ozy test CA
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
)";

constexpr const char* kServerExtensions = R"(subjectAltName = IP:127.0.0.1
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
)";

bool writeFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return static_cast<bool>(out);
}

std::string readFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

Result<TestCertificates, std::string> makeTestCertificates(const std::filesystem::path& dir) {
  if (!writeFile(dir / "openssl.cnf", kConfig) ||
      !writeFile(dir / "server.ext", kServerExtensions)) {
    return fail(std::string("cannot write openssl configuration into ") + dir.string());
  }
  const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string script =
      "cd '" + dir.string() +
      "' && {"
      " openssl req -x509 " +
      key +
      " -config openssl.cnf -keyout ca.key -out ca.crt -days 2 &&"
      " openssl req -new " +
      key +
      " -config openssl.cnf -subj /CN=127.0.0.1"
      "   -keyout server.key -out server.csr &&"
      " openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial"
      "   -out server.crt -days 2 -extfile server.ext &&"
      " openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:prime256v1 -out other.key;"
      " } > openssl.log 2>&1";
  if (std::system(script.c_str()) != 0) {
    return fail("openssl failed:\n" + readFile(dir / "openssl.log"));
  }
  return TestCertificates{dir / "ca.crt", dir / "server.crt", dir / "server.key",
                          dir / "other.key"};
}

}  // namespace ozy::http::testing
