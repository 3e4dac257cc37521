// Sizes and durations as job and cluster files write them: what parses, to
// what value, what is refused and why, and how values are written back.
#include "job/units.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace ozy {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr Bytes kMaxBytes = std::numeric_limits<Bytes>::max();

// ---- parseSize ------------------------------------------------------------

struct SizeCase {
  std::string_view text;
  Bytes bytes;
};

TEST(ParseSize, AcceptsBinaryUnitsInAnyCaseAndSpelling) {
  const SizeCase cases[] = {
      {"0", 0},
      {"512", 512},
      {"512B", 512},
      {"512b", 512},
      {"1K", kKiB},
      {"1k", kKiB},
      {"1KB", kKiB},
      {"1kb", kKiB},
      {"1Ki", kKiB},
      {"1KiB", kKiB},
      {"1kib", kKiB},
      {"100M", 100 * kMiB},
      {"100MiB", 100 * kMiB},
      {"2G", 2147483648},
      {"2g", 2147483648},
      {"2gb", 2147483648},
      {"2Gi", 2147483648},
      {"2GiB", 2147483648},
      {"1T", kTiB},
      {"1tb", kTiB},
      {"007M", 7 * kMiB},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto parsed = parseSize(c.text);
    ASSERT_TRUE(parsed.ok()) << parsed.error();
    EXPECT_EQ(*parsed, c.bytes);
  }
}

TEST(ParseSize, IgnoresSurroundingSpaceAndSpaceBeforeTheUnit) {
  EXPECT_EQ(parseSize("  2G  ").value(), 2 * kGiB);
  EXPECT_EQ(parseSize("2 G").value(), 2 * kGiB);
  EXPECT_EQ(parseSize("\t512M\n").value(), 512 * kMiB);
}

TEST(ParseSize, ParsesFractionsExactlyThenRoundsDownToWholeBytes) {
  const SizeCase cases[] = {
      {"1.5G", 1610612736},  // exactly 1.5 * 2^30
      {"0.5K", 512},
      {"0.25M", 262144},
      {"1.25M", 1310720},
      {"2.75T", 3023656976384},
      {"0.1K", 102},   // 102.4 rounds down
      {"0.001K", 1},   // 1.024 rounds down
      {"0.0001K", 0},  // 0.1024 rounds down to nothing
      {"1.5", 1},      // a fraction of a byte does not count
      {"1.999999999999G", 2147483647},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto parsed = parseSize(c.text);
    ASSERT_TRUE(parsed.ok()) << parsed.error();
    EXPECT_EQ(*parsed, c.bytes);
  }
}

TEST(ParseSize, RefusesTextThatIsNotASizeAndSaysWhy) {
  const std::string_view cases[] = {
      "",      " ",   "G",    "-1",     "+1",    "1X",    "2GG",   "2 Gigs",
      "1.G",   ".5G", "1,5G", "1.5.5G", "1e3",   "0x10",  "1 0M",  "2M B",
      "2Mi B", "1iB", "ten",  "1KK",    "2GiBs", "1.-5G", "1_000",
  };
  for (auto text : cases) {
    SCOPED_TRACE(text);
    auto parsed = parseSize(text);
    ASSERT_FALSE(parsed.ok()) << "parsed as " << *parsed;
    EXPECT_THAT(parsed.error(), HasSubstr("is not a size"));
  }
}

TEST(ParseSize, QuotesTheRejectedTextAndGivesAnExample) {
  auto parsed = parseSize("2X");
  ASSERT_FALSE(parsed.ok());
  EXPECT_THAT(parsed.error(), HasSubstr("\"2X\" is not a size"));
  EXPECT_THAT(parsed.error(), HasSubstr("512M"));
}

TEST(ParseSize, AcceptsTheLargestByteCount) {
  EXPECT_EQ(parseSize("18446744073709551615").value(), kMaxBytes);
  EXPECT_EQ(parseSize("16777215T").value(), 16777215 * kTiB);
  EXPECT_EQ(parseSize("18446744073709551615.9").value(), kMaxBytes);
}

TEST(ParseSize, RefusesSizesThatOverflowSixtyFourBits) {
  const std::string_view cases[] = {
      "18446744073709551616",           // 2^64
      "99999999999999999999999999999",  // overflows while reading digits
      "16777216T",                      // 2^24 * 2^40 = 2^64
      "17179869184G",                   // 2^34 * 2^30 = 2^64
      "99999999999999999999K",
  };
  for (auto text : cases) {
    SCOPED_TRACE(text);
    auto parsed = parseSize(text);
    ASSERT_FALSE(parsed.ok()) << "parsed as " << *parsed;
    EXPECT_THAT(parsed.error(), HasSubstr("is too large a size"));
  }
}

// ---- formatSize -----------------------------------------------------------

TEST(FormatSize, WritesTheShortestExactForm) {
  const struct {
    Bytes bytes;
    std::string_view text;
  } cases[] = {
      {0, "0"},           {1, "1"},     {1000, "1000"},         {1024, "1K"},
      {1536, "1536"},     {kMiB, "1M"}, {100 * kMiB, "100M"},   {1610612736, "1536M"},
      {2147483648, "2G"}, {kTiB, "1T"}, {1024 * kTiB, "1024T"}, {kMaxBytes, "18446744073709551615"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.bytes);
    EXPECT_EQ(formatSize(c.bytes), c.text);
  }
}

TEST(FormatSize, ReadsBackAsTheSameNumberOfBytes) {
  const Bytes cases[] = {0,
                         1,
                         1000,
                         1023,
                         1024,
                         1536,
                         kMiB + 1,
                         6 * kMiB,
                         1610612736,
                         3 * kGiB + 7,
                         16 * kTiB,
                         kMaxBytes,
                         kMaxBytes - kTiB};
  for (Bytes bytes : cases) {
    SCOPED_TRACE(bytes);
    auto parsed = parseSize(formatSize(bytes));
    ASSERT_TRUE(parsed.ok()) << parsed.error();
    EXPECT_EQ(*parsed, bytes);
  }
}

// ---- formatSizeApprox -----------------------------------------------------

struct ApproxCase {
  Bytes bytes;
  std::string_view text;
};

TEST(FormatSizeApprox, WritesOneDecimalOnlyWhereNeeded) {
  const ApproxCase cases[] = {
      {0, "0B"},
      {512, "512B"},
      {1023, "1023B"},
      {1024, "1K"},
      {1536, "1.5K"},
      {300 * kMiB, "300M"},
      {1610612736, "1.5G"},
      {12 * kGiB, "12G"},
      {kTiB + kTiB / 2, "1.5T"},
      {kGiB + kGiB / 20, "1G"},  // 1.05G: tenths round down, and ".0" is dropped
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.bytes);
    EXPECT_EQ(formatSizeApprox(c.bytes), c.text);
  }
}

// "Only 9.99G free" must never read as "10G free": the tenths are rounded
// down from the exact value, whatever the unit.
TEST(FormatSizeApprox, NeverRoundsUp) {
  const ApproxCase cases[] = {
      {10 * kGiB - 1, "9.9G"}, {kMiB - 1, "1023.9K"},   {1000 * kKiB + 1, "1000K"},
      {2 * kGiB - 1, "1.9G"},  {10 * kMiB - 1, "9.9M"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.bytes);
    EXPECT_EQ(formatSizeApprox(c.bytes), c.text);
  }
}

// ---- parseDuration --------------------------------------------------------

struct DurationCase {
  std::string_view text;
  Millis duration;
};

TEST(ParseDuration, ReadsABareNumberAsSeconds) {
  EXPECT_EQ(parseDuration("30").value(), 30s);
  EXPECT_EQ(parseDuration("0").value(), 0s);
  EXPECT_EQ(parseDuration(" 60 ").value(), 60s);
}

TEST(ParseDuration, AcceptsUnitsAndCombinations) {
  const DurationCase cases[] = {
      {"30s", 30s},
      {"500ms", 500ms},
      {"2m", 2min},
      {"1h", 1h},
      {"1m30s", 90s},
      {"1s500ms", 1500ms},
      {"1h2m3s4ms", 1h + 2min + 3s + 4ms},
      {" 30s ", 30s},
      {"0s", 0s},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    auto parsed = parseDuration(c.text);
    ASSERT_TRUE(parsed.ok()) << parsed.error();
    EXPECT_EQ(*parsed, c.duration);
  }
}

TEST(ParseDuration, RefusesTextThatIsNotADurationAndSaysWhy) {
  // Units are lowercase, as in Go and docker-compose ("30S" is refused).
  const std::string_view cases[] = {
      "",   " ",     "s",    "ms",   "-1s", "1.5s", "30S", "30 s",  "1d",
      "1w", "30sec", "1m30", "m30s", "1M",  "1H",   "abc", "30s30", "0x10",
  };
  for (auto text : cases) {
    SCOPED_TRACE(text);
    auto parsed = parseDuration(text);
    ASSERT_FALSE(parsed.ok()) << "parsed as " << parsed->count() << "ms";
    EXPECT_THAT(parsed.error(), HasSubstr("is not a duration"));
  }
  EXPECT_THAT(parseDuration("1d").error(), HasSubstr("\"1d\" is not a duration"));
}

TEST(ParseDuration, AcceptsUpToOneYear) {
  const Millis year = 365 * 24h;
  EXPECT_EQ(parseDuration("31536000").value(), year);
  EXPECT_EQ(parseDuration("8760h").value(), year);
  EXPECT_EQ(parseDuration("525600m").value(), year);
}

TEST(ParseDuration, RefusesMoreThanAYearWithoutOverflowing) {
  const std::string_view cases[] = {
      "31536001",
      "8761h",
      "8760h1ms",
      "1000000000000",
      "999999999999h",
      "9999999999999ms",
      "99999999999999999999999",
      "999999999999h999999999999h",
  };
  for (auto text : cases) {
    SCOPED_TRACE(text);
    auto parsed = parseDuration(text);
    ASSERT_FALSE(parsed.ok()) << "parsed as " << parsed->count() << "ms";
    EXPECT_THAT(parsed.error(), HasSubstr("is too long a duration"));
  }
}

// ---- formatDuration -------------------------------------------------------

TEST(FormatDuration, WritesTheLargestUnitsFirstAndSkipsZeroParts) {
  const struct {
    Millis duration;
    std::string_view text;
  } cases[] = {
      {0ms, "0s"},          {500ms, "500ms"},
      {1s, "1s"},           {30s, "30s"},
      {60s, "1m"},          {90s, "1m30s"},
      {1500ms, "1s500ms"},  {1h, "1h"},
      {1h + 3s, "1h3s"},    {1h + 2min + 3s + 4ms, "1h2m3s4ms"},
      {365 * 24h, "8760h"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.text);
    EXPECT_EQ(formatDuration(c.duration), c.text);
  }
}

TEST(FormatDuration, ReadsBackAsTheSameDuration) {
  const Millis cases[] = {0ms, 1ms, 999ms, 1s, 61s, 3599999ms, 1h, 25h + 1ms, 365 * 24h};
  for (Millis d : cases) {
    SCOPED_TRACE(d.count());
    auto parsed = parseDuration(formatDuration(d));
    ASSERT_TRUE(parsed.ok()) << parsed.error();
    EXPECT_EQ(*parsed, d);
  }
}

}  // namespace
}  // namespace ozy
