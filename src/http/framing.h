// Request framing rules shared by everything that reads HTTP/1.1 requests
// with Beast (the API server, the ingress). DESIGN.md: request smuggling
// hides in framing that two parsers read differently. Beast already refuses
// conflicting Content-Length values and some Content-Length/Transfer-Encoding
// orders; this closes the rest.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <boost/beast/http/message.hpp>
#include <string>

namespace ozy::http {

// Why the request's framing is refused (for a 400 that closes the
// connection), or empty when it is sound: more than one Content-Length, one
// that is not a plain decimal number, Content-Length together with
// Transfer-Encoding, or a transfer coding other than a single "chunked".
std::string framingProblem(const boost::beast::http::request_header<>& header);

}  // namespace ozy::http
