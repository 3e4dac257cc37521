#include "dns/skydns.h"

#include <arpa/inet.h>

#include <algorithm>
#include <iterator>
#include <limits>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

namespace ozy::dns {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxLabel = 63;
constexpr std::size_t kMaxName = 253;
// RFC 2181 section 8: a TTL is an unsigned 31-bit number.
constexpr std::uint64_t kMaxTtl = std::numeric_limits<std::int32_t>::max();

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

bool isLabel(std::string_view label) {
  if (label.empty() || label.size() > kMaxLabel) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  return std::all_of(label.begin(), label.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// Reads one optional unsigned member, bounded by `max`; collects the problem
// if it is there but not a whole number in range.
template <typename T>
void readNumber(const json& object, const char* member, std::uint64_t max, T& out,
                std::vector<std::string>& problems) {
  auto it = object.find(member);
  if (it == object.end()) return;
  if (!it->is_number_unsigned() || it->get<std::uint64_t>() > max) {
    problems.push_back(
        fmt::format("\"{}\" must be a whole number from 0 to {}, not {}", member, max, it->dump()));
    return;
  }
  out = static_cast<T>(it->get<std::uint64_t>());
}

bool isAddress(const std::string& host) {
  unsigned char buffer[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buffer) == 1 ||
         inet_pton(AF_INET6, host.c_str(), buffer) == 1;
}

}  // namespace

bool isDomain(std::string_view domain) {
  if (domain.empty() || domain.size() > kMaxName) return false;
  const auto labels = split(domain, '.');
  return std::all_of(labels.begin(), labels.end(), isLabel);
}

std::string domainPrefix(std::string_view domain) {
  return keyOfName(domain).value_or(std::string(kSkydnsRoot)) + "/";
}

std::string jobPrefix(std::string_view domain, std::string_view job) {
  return fmt::format("{}{}/", domainPrefix(domain), job);
}

std::string instanceKey(std::string_view domain, std::string_view job, std::uint32_t id) {
  return fmt::format("{}{}/{}", domainPrefix(domain), job, id);
}

std::optional<std::string> keyOfName(std::string_view name) {
  if (name.ends_with('.')) name.remove_suffix(1);
  if (name.empty()) return std::nullopt;
  auto labels = split(name, '.');
  std::string key(kSkydnsRoot);
  for (auto it = labels.rbegin(); it != labels.rend(); ++it) {
    // A label holding '/' would address a different key than the name says.
    if (it->empty() || it->find('/') != std::string_view::npos) return std::nullopt;
    key += '/';
    std::transform(it->begin(), it->end(), std::back_inserter(key), lower);
  }
  return key;
}

std::string nameOfKey(std::string_view key) {
  if (!key.starts_with(kSkydnsRoot) || key.size() <= kSkydnsRoot.size() + 1 ||
      key[kSkydnsRoot.size()] != '/') {
    return "";
  }
  key.remove_prefix(kSkydnsRoot.size() + 1);
  auto segments = split(key, '/');
  std::reverse(segments.begin(), segments.end());
  return fmt::format("{}", fmt::join(segments, "."));
}

std::string encode(const SkyRecord& record) {
  return nlohmann::ordered_json{{"host", record.host},
                                {"port", record.port},
                                {"priority", record.priority},
                                {"weight", record.weight},
                                {"ttl", record.ttl}}
      .dump();
}

Result<SkyRecord, std::string> decodeSkyRecord(std::string_view text) {
  json value;
  try {
    value = json::parse(text);
  } catch (const json::parse_error& e) {
    return fail(fmt::format("DNS record is not JSON: {}", e.what()));
  }
  if (!value.is_object()) return fail(fmt::format("DNS record is not a JSON object: {}", text));

  SkyRecord record;
  std::vector<std::string> problems;
  auto host = value.find("host");
  if (host == value.end()) {
    problems.emplace_back("\"host\" is missing");
  } else if (!host->is_string() || !isAddress(host->get<std::string>())) {
    problems.push_back(
        fmt::format("\"host\" must be an IPv4 or IPv6 address, not {}", host->dump()));
  } else {
    record.host = host->get<std::string>();
  }
  // SRV carries priority, weight and port in 16 bits.
  readNumber(value, "port", std::numeric_limits<std::uint16_t>::max(), record.port, problems);
  readNumber(value, "priority", std::numeric_limits<std::uint16_t>::max(), record.priority,
             problems);
  readNumber(value, "weight", std::numeric_limits<std::uint16_t>::max(), record.weight, problems);
  readNumber(value, "ttl", kMaxTtl, record.ttl, problems);
  if (!problems.empty()) {
    return fail(fmt::format("DNS record is unusable: {}", fmt::join(problems, "; ")));
  }
  return record;
}

}  // namespace ozy::dns
