// Parsing of http:// and https:// base URLs.
#include "http/url.h"

#include <fmt/format.h>

#include <charconv>
#include <optional>

#include "http/message.h"

namespace ozy::http {

namespace {

Result<std::uint16_t, std::string> parsePort(std::string_view text, std::string_view url) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value == 0 ||
      value > 65535) {
    return fail(fmt::format("\"{}\" has an invalid port \"{}\" (expected 1-65535)", url, text));
  }
  return static_cast<std::uint16_t>(value);
}

bool isHostName(std::string_view host) {
  for (const char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.';
    if (!ok) return false;
  }
  return !host.empty();
}

// Splits "host", "host:port", "[v6]" or "[v6]:port".
Result<BaseUrl, std::string> parseAuthority(std::string_view authority, std::string_view url,
                                            bool tls) {
  BaseUrl out{tls, "", static_cast<std::uint16_t>(tls ? 443 : 80)};
  std::optional<std::string_view> portText;  // present after a ':'
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos)
      return fail(fmt::format("\"{}\" has an unclosed \"[\"", url));
    out.host = std::string(authority.substr(1, close - 1));
    const auto rest = authority.substr(close + 1);
    if (!rest.empty() && rest.front() != ':')
      return fail(fmt::format("\"{}\" is not a base URL", url));
    if (!rest.empty()) portText = rest.substr(1);
    if (out.host.find_first_not_of("0123456789abcdefABCDEF:.") != std::string::npos ||
        out.host.empty()) {
      return fail(fmt::format("\"{}\" has an invalid IPv6 address", url));
    }
  } else {
    const auto colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) portText = authority.substr(colon + 1);
    if (!isHostName(out.host))
      return fail(fmt::format("\"{}\" has an invalid host \"{}\"", url, out.host));
  }
  if (portText) {
    auto port = parsePort(*portText, url);
    if (!port) return fail(std::move(port).error());
    out.port = *port;
  }
  return out;
}

}  // namespace

std::string BaseUrl::authority() const {
  return host.find(':') != std::string::npos ? fmt::format("[{}]:{}", host, port)
                                             : fmt::format("{}:{}", host, port);
}

std::string BaseUrl::toString() const {
  return fmt::format("{}://{}", tls ? "https" : "http", authority());
}

Result<BaseUrl, std::string> parseBaseUrl(std::string_view url) {
  const auto separator = url.find("://");
  if (separator == std::string_view::npos) {
    return fail(
        fmt::format("\"{}\" is not a URL; expected http://host:port or https://host:port", url));
  }
  const std::string_view scheme = url.substr(0, separator);
  const bool tls = equalsIgnoringCase(scheme, "https");
  if (!tls && !equalsIgnoringCase(scheme, "http")) {
    return fail(fmt::format("\"{}\" has the scheme \"{}\"; expected http or https", url, scheme));
  }
  std::string_view authority = url.substr(separator + 3);
  if (!authority.empty() && authority.back() == '/') authority.remove_suffix(1);
  if (authority.find_first_of("/?#@") != std::string_view::npos) {
    return fail(
        fmt::format("\"{}\" must be only a scheme, host and port (no path, query or user)", url));
  }
  return parseAuthority(authority, url, tls);
}

}  // namespace ozy::http
