#include "events/event.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "job/job_parser.h"
#include "scheduler/keys.h"

namespace ozy {
namespace {

using nlohmann::json;

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kEllipsis = "\xE2\x80\xA6";     // U+2026

// The length of the well-formed UTF-8 sequence starting at text[at], or 0
// if there is none there (a stray continuation byte, a truncated sequence,
// an overlong form, a surrogate, a code point past U+10FFFF).
std::size_t sequenceLength(std::string_view text, std::size_t at) {
  const auto lead = static_cast<unsigned char>(text[at]);
  if (lead < 0x80) return 1;
  std::size_t length = 0;
  std::uint32_t code = 0;
  if ((lead & 0xE0) == 0xC0) {
    length = 2;
    code = lead & 0x1F;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3;
    code = lead & 0x0F;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4;
    code = lead & 0x07;
  } else {
    return 0;
  }
  if (at + length > text.size()) return 0;
  for (std::size_t k = 1; k < length; ++k) {
    const auto next = static_cast<unsigned char>(text[at + k]);
    if ((next & 0xC0) != 0x80) return 0;
    code = (code << 6) | (next & 0x3F);
  }
  constexpr std::uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
  if (code < kSmallest[length] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return 0;
  return length;
}

// Field readers for decodeEvent: each throws a message naming the field,
// which decodeEvent turns into its error.
const json* optionalField(const json& j, const char* name) {
  const auto it = j.find(name);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

const json& field(const json& j, const char* name) {
  const json* value = optionalField(j, name);
  if (value == nullptr) throw std::invalid_argument(fmt::format("\"{}\" is missing", name));
  return *value;
}

// An integer in [low, high]. nlohmann's get<> converts floats and wraps
// out-of-range numbers silently, so the kind and range are checked first.
std::int64_t integer(const json& value, const char* name, std::int64_t low, std::int64_t high) {
  bool inRange = false;
  std::int64_t n = 0;
  if (value.is_number_unsigned()) {
    const auto u = value.get<std::uint64_t>();
    inRange = u <= static_cast<std::uint64_t>(high);
    n = inRange ? static_cast<std::int64_t>(u) : 0;
    inRange = inRange && n >= low;
  } else if (value.is_number_integer()) {
    n = value.get<std::int64_t>();
    inRange = n >= low && n <= high;
  } else {
    throw std::invalid_argument(fmt::format("\"{}\" is not an integer", name));
  }
  if (!inRange) {
    throw std::invalid_argument(fmt::format("\"{}\" is out of range [{}, {}]", name, low, high));
  }
  return n;
}

std::string text(const json& value, const char* name, std::size_t maxBytes) {
  if (!value.is_string()) throw std::invalid_argument(fmt::format("\"{}\" is not a string", name));
  const auto& s = value.get_ref<const std::string&>();
  if (s.size() > maxBytes) {
    throw std::invalid_argument(
        fmt::format("\"{}\" is {} bytes, over the bound of {}", name, s.size(), maxBytes));
  }
  return s;
}

// A node name as stored: a host name, or empty (none).
std::string nodeName(const json& value, const char* name) {
  std::string node = text(value, name, 253);
  if (!node.empty() && !isHostName(node)) {
    throw std::invalid_argument(fmt::format("\"{}\" is not a host name", name));
  }
  return node;
}

}  // namespace

std::string_view toString(EventKind kind) {
  switch (kind) {
    case EventKind::kPlaced:
      return "placed";
    case EventKind::kPending:
      return "pending";
    case EventKind::kReplaced:
      return "replaced";
    case EventKind::kRemoved:
      return "removed";
    case EventKind::kPodCreated:
      return "pod-created";
    case EventKind::kStarted:
      return "started";
    case EventKind::kHealthy:
      return "healthy";
    case EventKind::kUnhealthy:
      return "unhealthy";
    case EventKind::kRestarted:
      return "restarted";
    case EventKind::kOomKilled:
      return "oom-killed";
    case EventKind::kFailed:
      return "failed";
    case EventKind::kDeployment:
      return "deployment";
    case EventKind::kDrained:
      return "drained";
  }
  return "placed";
}

std::optional<EventKind> parseEventKind(std::string_view word) {
  for (EventKind kind : kEventKinds) {
    if (toString(kind) == word) return kind;
  }
  return std::nullopt;
}

std::string cutUtf8(std::string_view input, std::size_t maxBytes) {
  std::string out;
  out.reserve(std::min(input.size(), maxBytes));
  // The longest prefix of `out` that still leaves room for the ellipsis.
  std::size_t cutAt = 0;
  for (std::size_t at = 0; at < input.size();) {
    const std::size_t length = sequenceLength(input, at);
    const std::string_view piece = length == 0 ? kReplacement : input.substr(at, length);
    at += length == 0 ? 1 : length;
    if (out.size() + piece.size() > maxBytes) {
      out.resize(cutAt);
      if (maxBytes >= kEllipsis.size()) out += kEllipsis;
      return out;
    }
    out += piece;
    if (out.size() + kEllipsis.size() <= maxBytes) cutAt = out.size();
  }
  return out;
}

nlohmann::ordered_json toJson(const Event& e) {
  nlohmann::ordered_json out;
  out["atMs"] = e.atMs;
  out["job"] = e.job;
  if (e.instance) out["instance"] = *e.instance;
  out["node"] = e.node;
  out["kind"] = toString(e.kind);
  out["message"] = cutUtf8(e.message, kMaxEventMessageBytes);
  if (e.exitCode) out["exitCode"] = *e.exitCode;
  if (e.version) out["version"] = *e.version;
  if (!e.fromNode.empty()) out["fromNode"] = e.fromNode;
  return out;
}

std::string encode(const Event& e) {
  // Names come validated, but a value that is no UTF-8 must not make
  // dump() throw: it is replaced, and decodeEvent then refuses the name.
  return toJson(e).dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<Event, std::string> decodeEvent(std::string_view input) {
  if (input.size() > kMaxEventBytes) {
    return fail(fmt::format("stored event is unreadable: {} bytes, over the bound of {}",
                            input.size(), kMaxEventBytes));
  }
  // Without exceptions: a parse error (including text that is no UTF-8)
  // yields a discarded value.
  const json j = json::parse(input, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return fail(std::string("stored event is unreadable: not a JSON object"));
  }
  try {
    Event e;
    e.atMs = integer(field(j, "atMs"), "atMs", 0, keys::kMaxEventMs);
    e.job = text(field(j, "job"), "job", 63);
    if (!isDnsLabel(e.job)) throw std::invalid_argument("\"job\" is not a job name");
    if (const json* v = optionalField(j, "instance")) {
      e.instance = static_cast<std::uint32_t>(
          integer(*v, "instance", 0, std::numeric_limits<std::uint32_t>::max()));
    }
    e.node = nodeName(field(j, "node"), "node");
    const std::string word = text(field(j, "kind"), "kind", 32);
    const auto kind = parseEventKind(word);
    if (!kind) throw std::invalid_argument(fmt::format("unknown kind \"{}\"", word));
    e.kind = *kind;
    e.message = text(field(j, "message"), "message", kMaxEventMessageBytes);
    if (const json* v = optionalField(j, "exitCode")) {
      e.exitCode = static_cast<int>(integer(*v, "exitCode", std::numeric_limits<int>::min(),
                                            std::numeric_limits<int>::max()));
    }
    if (const json* v = optionalField(j, "version")) {
      // Job versions are unsigned 64-bit numbers, beyond integer()'s range.
      if (!v->is_number_unsigned())
        throw std::invalid_argument("\"version\" is not a version number");
      e.version = v->get<std::uint64_t>();
    }
    if (const json* v = optionalField(j, "fromNode")) e.fromNode = nodeName(*v, "fromNode");
    return e;
  } catch (const std::exception& error) {
    return fail(fmt::format("stored event is unreadable: {}", error.what()));
  }
}

}  // namespace ozy
