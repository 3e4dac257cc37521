// TLS context construction with errors a sysadmin can act on.
#include "http/tls_context.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <cerrno>
#include <cstdio>
#include <system_error>

namespace ozy::http {

namespace ssl = boost::asio::ssl;

namespace {

// OpenSSL's own errors for a missing file are vague ("system lib"); checking
// first gives "No such file or directory" or "Permission denied" instead.
std::string unreadableReason(const std::filesystem::path& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return std::error_code(errno, std::generic_category()).message();
  std::fclose(file);
  return {};
}

Result<TlsContextPtr, std::string> restrictToModernTls(TlsContextPtr context) {
  context->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                       ssl::context::single_dh_use);
  if (SSL_CTX_set_min_proto_version(context->native_handle(), TLS1_2_VERSION) != 1) {
    return fail(std::string("this OpenSSL cannot restrict TLS to version 1.2 and later"));
  }
  return context;
}

}  // namespace

Result<TlsContextPtr, std::string> makeServerTlsContext(const std::filesystem::path& certificate,
                                                        const std::filesystem::path& privateKey) {
  for (const auto& [what, path] :
       {std::pair{"certificate", &certificate}, std::pair{"private key", &privateKey}}) {
    if (std::string reason = unreadableReason(*path); !reason.empty()) {
      return fail(fmt::format("cannot read TLS {} file {}: {}", what, path->string(), reason));
    }
  }
  auto context = restrictToModernTls(std::make_shared<ssl::context>(ssl::context::tls_server));
  if (!context) return context;
  boost::system::error_code ec;
  (*context)->use_certificate_chain_file(certificate.string(), ec);
  if (ec) {
    return fail(fmt::format("TLS certificate file {} is not a PEM certificate chain: {}",
                            certificate.string(), ec.message()));
  }
  (*context)->use_private_key_file(privateKey.string(), ssl::context::pem, ec);
  if (ERR_GET_LIB(ec.value()) == ERR_LIB_X509 &&
      ERR_GET_REASON(ec.value()) == X509_R_KEY_VALUES_MISMATCH) {
    return fail(fmt::format("TLS private key {} does not belong to certificate {}",
                            privateKey.string(), certificate.string()));
  }
  if (ec) {
    return fail(fmt::format("TLS private key file {} is not a PEM private key: {}",
                            privateKey.string(), ec.message()));
  }
  if (SSL_CTX_check_private_key((*context)->native_handle()) != 1) {
    return fail(fmt::format("TLS private key {} does not belong to certificate {}",
                            privateKey.string(), certificate.string()));
  }
  return context;
}

Result<TlsContextPtr, std::string> makeClientTlsContext(const std::filesystem::path& caFile,
                                                        bool verifyServer) {
  auto context = restrictToModernTls(std::make_shared<ssl::context>(ssl::context::tls_client));
  if (!context) return context;
  boost::system::error_code ec;
  if (!caFile.empty()) {
    if (std::string reason = unreadableReason(caFile); !reason.empty()) {
      return fail(fmt::format("cannot read CA file {}: {}", caFile.string(), reason));
    }
    (*context)->load_verify_file(caFile.string(), ec);
    if (ec) {
      return fail(
          fmt::format("CA file {} holds no PEM certificate: {}", caFile.string(), ec.message()));
    }
  } else {
    (*context)->set_default_verify_paths(ec);
    if (ec) return fail(fmt::format("cannot load the system's CA store: {}", ec.message()));
  }
  (*context)->set_verify_mode(verifyServer ? ssl::verify_peer : ssl::verify_none);
  return context;
}

bool expectServerName(SSL* ssl, const std::string& host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  if (!ec) {
    // RFC 6066 forbids IP literals in SNI; match the IP address SAN instead.
    return X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) == 1;
  }
  return SSL_set_tlsext_host_name(ssl, host.c_str()) == 1 && SSL_set1_host(ssl, host.c_str()) == 1;
}

std::string verificationFailure(SSL* ssl) {
  const long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return {};
  return X509_verify_cert_error_string(result);
}

}  // namespace ozy::http
