#include "job/units.h"

#include <cctype>
#include <limits>

#include <fmt/format.h>

namespace ozy {
namespace {

bool isDigit(char c) { return c >= '0' && c <= '9'; }

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// Splits "1.5G" into the number 1.5 (as integer and fraction digits) and the unit.
struct Number {
  std::uint64_t whole = 0;
  std::string_view fraction;
  std::string_view unit;
  bool ok = false;
  bool overflow = false;
};

Number splitNumber(std::string_view text) {
  Number n;
  std::size_t i = 0;
  while (i < text.size() && isDigit(text[i])) {
    const auto digit = static_cast<std::uint64_t>(text[i] - '0');
    if (n.whole > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) n.overflow = true;
    n.whole = n.whole * 10 + digit;
    ++i;
  }
  if (i == 0) return n;
  if (i < text.size() && text[i] == '.') {
    const std::size_t start = ++i;
    while (i < text.size() && isDigit(text[i])) ++i;
    if (i == start) return n;
    n.fraction = text.substr(start, i - start);
  }
  while (i < text.size() && text[i] == ' ') ++i;
  n.unit = text.substr(i);
  n.ok = true;
  return n;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<Bytes, std::string> parseSize(std::string_view raw) {
  const std::string_view text = trim(raw);
  const std::string notSize =
      fmt::format("\"{}\" is not a size (use a number with K, M, G or T, e.g. 512M)", raw);
  const Number n = splitNumber(text);
  if (!n.ok) return fail(notSize);

  std::string unit;
  for (char c : n.unit) unit.push_back(lower(c));
  // Accept K, KB, Ki, KiB (all binary), and B or nothing for bytes.
  if (unit.size() >= 2 && unit.back() == 'b') unit.pop_back();
  if (unit.size() == 2 && unit.back() == 'i') unit.pop_back();
  Bytes multiplier = 0;
  if (unit.empty() || unit == "b") {
    multiplier = 1;
  } else if (unit == "k") {
    multiplier = kKiB;
  } else if (unit == "m") {
    multiplier = kMiB;
  } else if (unit == "g") {
    multiplier = kGiB;
  } else if (unit == "t") {
    multiplier = kTiB;
  } else {
    return fail(notSize);
  }

  const std::string tooLarge = fmt::format("\"{}\" is too large a size", raw);
  if (n.overflow || n.whole > std::numeric_limits<Bytes>::max() / multiplier) return fail(tooLarge);
  Bytes bytes = n.whole * multiplier;
  // Fraction digits: add floor(0.fraction * multiplier) exactly, in 128-bit
  // integers (18 digits keep the product below 2^100). Further digits are
  // below a byte for every unit and are dropped.
  const std::string_view digits = n.fraction.substr(0, 18);
  unsigned __int128 fraction = 0;
  unsigned __int128 scale = 1;
  for (char c : digits) {
    fraction = fraction * 10 + static_cast<unsigned>(c - '0');
    scale *= 10;
  }
  const auto add = static_cast<Bytes>(fraction * multiplier / scale);
  if (bytes > std::numeric_limits<Bytes>::max() - add) return fail(tooLarge);
  bytes += add;
  return bytes;
}

Bytes saturatingAdd(Bytes a, Bytes b) {
  return a > std::numeric_limits<Bytes>::max() - b ? std::numeric_limits<Bytes>::max() : a + b;
}

Bytes saturatingMul(Bytes a, std::uint64_t b) {
  if (a != 0 && b > std::numeric_limits<Bytes>::max() / a) return std::numeric_limits<Bytes>::max();
  return a * b;
}

std::string formatSize(Bytes bytes) {
  static constexpr struct {
    Bytes unit;
    char suffix;
  } kUnits[] = {{kTiB, 'T'}, {kGiB, 'G'}, {kMiB, 'M'}, {kKiB, 'K'}};
  if (bytes == 0) return "0";
  for (const auto& u : kUnits) {
    if (bytes % u.unit == 0) return fmt::format("{}{}", bytes / u.unit, u.suffix);
  }
  return fmt::format("{}", bytes);
}

std::string formatSizeApprox(Bytes bytes) {
  static constexpr struct {
    Bytes unit;
    char suffix;
  } kUnits[] = {{kTiB, 'T'}, {kGiB, 'G'}, {kMiB, 'M'}, {kKiB, 'K'}};
  for (const auto& u : kUnits) {
    if (bytes >= u.unit) {
      if (bytes % u.unit == 0) return fmt::format("{}{}", bytes / u.unit, u.suffix);
      // Tenths, rounded down so "only 9.99G free" never reads as "10G free".
      const Bytes tenths = bytes / u.unit * 10 + bytes % u.unit * 10 / u.unit;
      if (tenths % 10 == 0) return fmt::format("{}{}", tenths / 10, u.suffix);
      return fmt::format("{}.{}{}", tenths / 10, tenths % 10, u.suffix);
    }
  }
  return fmt::format("{}B", bytes);
}

Result<Millis, std::string> parseDuration(std::string_view raw) {
  const std::string_view text = trim(raw);
  const std::string notDuration = fmt::format(
      "\"{}\" is not a duration (use seconds, or a number with ms, s, m or h, e.g. 30s)", raw);
  if (text.empty()) return fail(notDuration);
  // A bare number means seconds, as in the reference job file.
  bool allDigits = true;
  for (char c : text) allDigits = allDigits && isDigit(c);
  std::int64_t total = 0;
  constexpr std::int64_t kMax = std::int64_t{365} * 24 * 3600 * 1000;  // one year
  const std::string tooLong = fmt::format("\"{}\" is too long a duration (at most a year)", raw);
  if (allDigits) {
    if (text.size() > 12) return fail(tooLong);
    for (char c : text) total = total * 10 + (c - '0');
    if (total > kMax / 1000) return fail(tooLong);
    return Millis(total * 1000);
  }
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t value = 0;
    const std::size_t start = i;
    while (i < text.size() && isDigit(text[i])) {
      if (i - start >= 12) return fail(tooLong);
      value = value * 10 + (text[i] - '0');
      ++i;
    }
    if (i == start) return fail(notDuration);
    std::int64_t unitMs = 0;
    if (text.substr(i, 2) == "ms") {
      unitMs = 1;
      i += 2;
    } else if (i < text.size() && text[i] == 's') {
      unitMs = 1000;
      ++i;
    } else if (i < text.size() && text[i] == 'm') {
      unitMs = 60 * 1000;
      ++i;
    } else if (i < text.size() && text[i] == 'h') {
      unitMs = 3600 * 1000;
      ++i;
    } else {
      return fail(notDuration);
    }
    if (value > kMax / unitMs) return fail(tooLong);
    total += value * unitMs;
    if (total > kMax) return fail(tooLong);
  }
  return Millis(total);
}

std::string formatDuration(Millis duration) {
  std::int64_t ms = duration.count();
  if (ms == 0) return "0s";
  std::string out;
  const std::int64_t h = ms / 3'600'000;
  ms %= 3'600'000;
  const std::int64_t m = ms / 60'000;
  ms %= 60'000;
  const std::int64_t s = ms / 1000;
  ms %= 1000;
  if (h) out += fmt::format("{}h", h);
  if (m) out += fmt::format("{}m", m);
  if (s) out += fmt::format("{}s", s);
  if (ms) out += fmt::format("{}ms", ms);
  return out;
}

}  // namespace ozy
