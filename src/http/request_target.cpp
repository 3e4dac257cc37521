// Request target parsing: path, query parameters and percent-decoding.
#include "http/request_target.h"

#include <cctype>

#include <fmt/format.h>

namespace ozy::http {

namespace {

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Result<std::vector<QueryParameter>, std::string> parseQuery(std::string_view query) {
  std::vector<QueryParameter> parameters;
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;  // "a=1&&b=2"
    const std::size_t eq = pair.find('=');
    auto name = percentDecode(pair.substr(0, eq), true);
    if (!name) return fail(std::move(name).error());
    auto value = percentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1), true);
    if (!value) return fail(std::move(value).error());
    parameters.push_back({std::move(name).value(), std::move(value).value()});
  }
  return parameters;
}

}  // namespace

Result<std::string, std::string> percentDecode(std::string_view text, bool plusIsSpace) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      const int high = i + 2 < text.size() ? hexValue(text[i + 1]) : -1;
      const int low = high >= 0 ? hexValue(text[i + 2]) : -1;
      if (high < 0 || low < 0) {
        return fail(fmt::format("invalid percent-encoding at \"{}\"", text.substr(i, 3)));
      }
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out.push_back(plusIsSpace && c == '+' ? ' ' : c);
    }
  }
  return out;
}

Result<RequestTarget, std::string> parseRequestTarget(std::string_view target) {
  if (target.empty() || target.front() != '/') {
    return fail(std::string("the request target must be a path starting with \"/\""));
  }
  const std::size_t question = target.find('?');
  RequestTarget out;
  out.path = std::string(target.substr(0, question));
  if (question != std::string_view::npos) {
    auto query = parseQuery(target.substr(question + 1));
    if (!query) return fail(std::move(query).error());
    out.query = std::move(query).value();
  }
  return out;
}

std::string percentEncode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

}  // namespace ozy::http
