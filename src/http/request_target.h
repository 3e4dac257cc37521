// Splitting a request target ("/v1/jobs?state=pending&x=a%20b") into its
// path and decoded query parameters. Pure functions: the server uses them on
// every request, routers use percentDecode() on path segments.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "http/message.h"

namespace ozy::http {

struct RequestTarget {
  std::string path;  // still percent-encoded
  std::vector<QueryParameter> query;
};

// Decodes %XX escapes. With plusIsSpace (query strings, as HTML forms encode
// them) '+' becomes ' '. A '%' not followed by two hex digits is an error,
// not left as is: two layers reading it differently is how filters are evaded.
Result<std::string, std::string> percentDecode(std::string_view text, bool plusIsSpace = false);

// Escapes every byte but RFC 3986's unreserved ones (letters, digits,
// "-._~"), so the text is safe in a path segment or a query value.
std::string percentEncode(std::string_view text);

// Accepts origin-form targets only ("/path?query"); the error says why not.
Result<RequestTarget, std::string> parseRequestTarget(std::string_view target);

}  // namespace ozy::http
