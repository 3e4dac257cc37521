// Sizes ("2G", "100M") and durations ("30", "30s", "1m30s") as they appear in
// job and cluster files. Pure functions; the parsers report why text is not a
// size or duration so the caller can attach the field path.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace ozy {

using Bytes = std::uint64_t;
using Millis = std::chrono::milliseconds;

inline constexpr Bytes kKiB = 1024;
inline constexpr Bytes kMiB = 1024 * kKiB;
inline constexpr Bytes kGiB = 1024 * kMiB;
inline constexpr Bytes kTiB = 1024 * kGiB;

// Parses "512", "512B", "100K", "1.5G", "2Gi", "2GiB", "2gb" (units are binary:
// K = 1024). Fractions are allowed and rounded down to whole bytes.
Result<Bytes, std::string> parseSize(std::string_view text);

// The shortest exact form: 2147483648 -> "2G", 1610612736 -> "1536M", 1000 -> "1000".
std::string formatSize(Bytes bytes);

// A human approximation with one decimal where needed: "1.5G", "12G", "300M".
std::string formatSizeApprox(Bytes bytes);

// Arithmetic that stops at the largest size instead of wrapping around.
Bytes saturatingAdd(Bytes a, Bytes b);
Bytes saturatingMul(Bytes a, std::uint64_t b);

// Parses "30" (seconds), "30s", "500ms", "2m", "1h", "1m30s".
Result<Millis, std::string> parseDuration(std::string_view text);

// "30s", "1m30s", "500ms".
std::string formatDuration(Millis duration);

}  // namespace ozy
