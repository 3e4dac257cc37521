// Strict, bounded reading of YAML documents written by people: job files and
// cluster descriptions.
//
// loadYaml() refuses oversized text, "billion laughs" alias bombs (counted in
// values and in bytes) and overlong lists before a tree is built; FieldReader
// walks the tree and collects every problem with the dotted path of the field
// ("containers.app.memory") instead of stopping at the first.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "common/result.h"
#include "job/units.h"
#include "problem/problem.h"

namespace ozy {

struct YamlLimits {
  std::size_t maxBytes = 1024 * 1024;  // a job file is a few KiB
  std::size_t maxNodes = 200'000;      // counted with every alias expanded
  std::size_t maxDepth = 64;
  // The text of every scalar, counted with every alias expanded: what the
  // readers end up copying out of the tree, since an alias of a long string
  // counts as one node but becomes a full copy in the job. Four times the
  // largest file lets anchors share blocks (one environment for every
  // container) and is still past what etcd stores by default (1.5 MiB per
  // request), so no job that could run is refused, while reading stays within
  // a few MiB whatever the file holds.
  std::size_t maxExpandedBytes = 4 * 1024 * 1024;
  // Direct entries of one list or mapping. The job model's longest list is an
  // environment of 4,096 variables, so this is never the limit a real job
  // meets; it refuses a huge list where it starts instead of after the tree
  // holding it is built and walked.
  std::size_t maxEntries = 10'000;
};

struct YamlLoadError {
  enum class Kind { kTooLarge, kInvalid };
  Kind kind;
  FieldError error;
};

// Exactly one YAML document, within the limits. An empty document is an error.
Result<YAML::Node, YamlLoadError> loadYaml(std::string_view text, const YamlLimits& limits = {});

std::string childPath(std::string_view parent, std::string_view key);
std::string indexPath(std::string_view parent, std::size_t index);

class FieldReader {
 public:
  explicit FieldReader(std::vector<FieldError>& errors) : errors_(errors) {}

  void error(const YAML::Node& at, std::string path, std::string message);

  // True if `node` is a mapping. Reports (and then ignores) keys that are not
  // strings, keys that repeat, and keys not in `known`, suggesting the closest.
  bool mapping(const YAML::Node& node, std::string_view path,
               std::span<const std::string_view> known);
  // A mapping whose keys are names chosen by the user (containers,
  // environment): checks only that keys are plain and unique.
  bool namedMapping(const YAML::Node& node, std::string_view path);
  bool sequence(const YAML::Node& node, std::string_view path);

  // The child `key` of a mapping, or an undefined node when absent or null
  // (an empty value is treated as not given).
  static YAML::Node field(const YAML::Node& map, std::string_view key);
  static bool present(const YAML::Node& node) { return node.IsDefined() && !node.IsNull(); }

  std::optional<std::string> string(const YAML::Node& node, std::string_view path);
  std::optional<std::int64_t> integer(const YAML::Node& node, std::string_view path,
                                      std::int64_t min, std::int64_t max);
  std::optional<Bytes> size(const YAML::Node& node, std::string_view path);
  std::optional<Millis> duration(const YAML::Node& node, std::string_view path);
  // YAML 1.2's booleans only (true, false, with a capital or in capitals):
  // "no" or "off" meaning false is YAML 1.1, a trap docker-compose users know.
  std::optional<bool> boolean(const YAML::Node& node, std::string_view path);
  static std::optional<bool> booleanValue(std::string_view text);
  // The index of the value in `choices`, suggesting the closest on a typo.
  std::optional<std::size_t> choice(const YAML::Node& node, std::string_view path,
                                    std::span<const std::string_view> choices);
  // A command: a list of strings, or one string split like a shell would
  // split it (quotes and backslashes, no expansion), of at most `maxWords`
  // words either way.
  std::optional<std::vector<std::string>> command(const YAML::Node& node, std::string_view path,
                                                  std::size_t maxWords);

  // A required field that is missing.
  void missing(const YAML::Node& parent, std::string_view path);

 private:
  bool checkMapping(const YAML::Node& node, std::string_view path,
                    std::span<const std::string_view> known, bool anyKey);

  std::vector<FieldError>& errors_;
};

// True for well-formed UTF-8 (no overlong forms, surrogates or code points
// past U+10FFFF). YAML text must be UTF-8; yaml-cpp does not check.
bool isValidUtf8(std::string_view text);

// Splits a command line the way a POSIX shell splits words (single and double
// quotes, backslash escapes), without any expansion. Fails on an unclosed quote.
Result<std::vector<std::string>, std::string> splitShellWords(std::string_view text);

}  // namespace ozy
