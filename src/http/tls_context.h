// TLS contexts for the server and the client: OpenSSL through Boost.Asio,
// TLS 1.2 and later only. Internal to src/http (it includes Boost headers).
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <filesystem>
#include <memory>
#include <string>

#include "common/result.h"

namespace ozy::http {

using TlsContextPtr = std::shared_ptr<boost::asio::ssl::context>;

// Loads a PEM certificate chain and the matching private key. Errors name the
// file and what is wrong with it.
Result<TlsContextPtr, std::string> makeServerTlsContext(const std::filesystem::path& certificate,
                                                        const std::filesystem::path& privateKey);

// Verifies servers against the PEM CA bundle in caFile, or the system's trust
// store when caFile is empty; verifyServer=false turns verification off.
Result<TlsContextPtr, std::string> makeClientTlsContext(const std::filesystem::path& caFile,
                                                        bool verifyServer);

// Asks the server for `host` (SNI) and checks the certificate names it: a DNS
// name or, for an IP literal, an IP address SAN. Call before the handshake.
// Returns false when OpenSSL refuses the host.
bool expectServerName(SSL* ssl, const std::string& host);

// Why the peer's certificate was not accepted, e.g. "self-signed certificate
// in certificate chain"; empty when verification passed or did not run.
std::string verificationFailure(SSL* ssl);

}  // namespace ozy::http
