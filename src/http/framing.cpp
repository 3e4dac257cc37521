#include "http/framing.h"

#include <boost/beast/core/string.hpp>

namespace ozy::http {

namespace bhttp = boost::beast::http;

std::string framingProblem(const bhttp::request_header<>& header) {
  const auto lengths = header.count(bhttp::field::content_length);
  const auto codings = header.count(bhttp::field::transfer_encoding);
  if (lengths > 1) return "the request has more than one Content-Length field";
  if (lengths == 1 && codings > 0) {
    return "the request has both Content-Length and Transfer-Encoding";
  }
  if (lengths == 1) {
    const auto value = header[bhttp::field::content_length];
    if (value.empty() || value.find_first_not_of("0123456789") != boost::beast::string_view::npos) {
      return "Content-Length must be a single decimal number";
    }
  }
  if (codings > 1 ||
      (codings == 1 && !boost::beast::iequals(header[bhttp::field::transfer_encoding], "chunked"))) {
    return "the only transfer coding accepted is \"chunked\"";
  }
  return {};
}

}  // namespace ozy::http
