// The HTTP messages the application sees: Request, Response, the Handler
// between them, Headers (an ordered list with case-insensitive lookup), and
// the BodyWriter a streamed response writes its body to.
//
// These are plain data without any Boost type, so the API layer, its tests and
// the CLI can use them without including Beast; the server and the client
// translate to and from Beast's messages at the edge.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ozy::http {

// Header fields in arrival order. Names compare case-insensitively (RFC 9110
// section 5.1); repeated fields are kept as separate entries.
class Headers {
 public:
  using Field = std::pair<std::string, std::string>;

  Headers() = default;
  Headers(std::initializer_list<Field> fields) : fields_(fields) {}

  void add(std::string name, std::string value);
  // Replaces every field of that name with one.
  void set(std::string name, std::string value);
  // The first value of the field, if present.
  std::optional<std::string_view> get(std::string_view name) const;
  std::vector<std::string_view> getAll(std::string_view name) const;
  bool contains(std::string_view name) const { return get(name).has_value(); }

  auto begin() const { return fields_.begin(); }
  auto end() const { return fields_.end(); }
  std::size_t size() const { return fields_.size(); }
  bool empty() const { return fields_.empty(); }

 private:
  std::vector<Field> fields_;
};

bool equalsIgnoringCase(std::string_view a, std::string_view b);
// Without leading and trailing spaces, tabs, CRs and LFs.
std::string_view trimWhitespace(std::string_view text);

// RFC 9110 field syntax. Anything else must never reach the wire: a CR or LF
// in a value would let its author write headers of their own.
bool isValidFieldName(std::string_view name);    // a token: letters, digits, !#$%&'*+-.^_`|~
bool isValidFieldValue(std::string_view value);  // no CR, LF or NUL

struct QueryParameter {
  std::string name;
  std::string value;
};

struct Request {
  std::string method;  // as sent, e.g. "GET"
  // The target's path, still percent-encoded: decoding before routing would
  // turn "%2F" inside a segment into a separator. Routers split first and
  // decode each segment with percentDecode() (request_target.h).
  std::string path;
  std::vector<QueryParameter> query;  // decoded, in order; repeats kept
  Headers headers;
  std::string body;
  std::string remoteAddress;  // the peer's IP address, e.g. "127.0.0.1"
  unsigned short remotePort = 0;

  // The first query parameter of that name (names are case-sensitive).
  std::optional<std::string_view> queryParameter(std::string_view name) const;
};

// Where the producer of a streamed response (Response::stream) writes its
// body. The server implements it; one producer thread uses it at a time.
class BodyWriter {
 public:
  virtual ~BodyWriter() = default;
  // Sends one chunk and blocks until it is written; an empty chunk sends
  // nothing. Each write is bounded by the server's request timeout, so a
  // client that stops reading cannot hold the producer for longer. True when
  // the chunk was written; false once the client has gone, a write failed or
  // timed out, or the server is stopping: the producer should return then.
  virtual bool write(std::string_view chunk) = 0;
  // False once the stream is over for one of those reasons. A producer that
  // waits for data (a log follow with nothing new) asks this every so often,
  // so that it notices a client that left without having to write.
  virtual bool open() const = 0;
};

// Writes a streamed body, for as long as it needs: the whole stream has no
// deadline. It runs on a thread of the server's stream pool, after the
// status and header have been handed to the server, and may block waiting
// for data; but it must return soon after open() turns false or a write
// fails, because HttpServer::stop() waits for it. Returning ends the body;
// an exception cuts it short (the client sees an incomplete response).
using BodyProducer = std::function<void(BodyWriter& writer)>;

struct Response {
  int status = 200;
  std::string contentType;  // empty: no Content-Type header
  std::string body;
  // Extra fields. The server owns the framing and connection fields
  // (Content-Length, Transfer-Encoding, Connection, Keep-Alive, Server) and
  // drops those if a handler sets them.
  Headers headers;
  // When set, the body is streamed: the server sends the status and header,
  // then `stream` produces the body, chunked (HTTP/1.0: until the connection
  // closes); `body` is ignored. Never run for HEAD or for 204 and 304, which
  // carry no body. Headers that concern streams, such as
  // "Cache-Control: no-store", are the handler's to set.
  BodyProducer stream = nullptr;
};

// The application. It runs on the server's pool threads and may block
// briefly (calls with deadlines); an exception becomes a 500 problem.
using Handler = std::function<Response(const Request&)>;

}  // namespace ozy::http
