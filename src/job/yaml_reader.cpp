#include "job/yaml_reader.h"

#include <charconv>
#include <set>
#include <sstream>
#include <unordered_map>

#include <fmt/format.h>
#include <yaml-cpp/eventhandler.h>

#include "job/suggest.h"

namespace ozy {
namespace {

FieldError atMark(const YAML::Mark& mark, std::string path, std::string message) {
  FieldError e{std::move(path), std::move(message)};
  if (!mark.is_null()) {
    e.line = mark.line + 1;
    e.column = mark.column + 1;
  }
  return e;
}

// Thrown from inside the event pass to stop parsing early; never escapes loadYaml().
struct LimitExceeded {
  FieldError error;
};

// Walks the parser's events without building a tree, to measure how large the
// document becomes once every alias is expanded (in values and in bytes of
// scalar text), how deep it nests, how long each list is, and whether an
// alias refers to a node that encloses it (a cycle).
class BoundsChecker : public YAML::EventHandler {
 public:
  explicit BoundsChecker(const YamlLimits& limits) : limits_(limits) {}

  int documents = 0;

  void OnDocumentStart(const YAML::Mark& mark) override {
    ++documents;
    stack_.assign(1, Frame{mark});
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    leaf(mark, anchor, Size{1, 0});
  }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                const std::string& value) override {
    leaf(mark, anchor, Size{1, value.size()});
  }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    const auto it = sizes_.find(anchor);
    if (it == sizes_.end()) {
      throw LimitExceeded{atMark(mark, "", "an alias refers to the node that contains it")};
    }
    leaf(mark, 0, it->second);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    open(mark, anchor, false);
  }
  void OnSequenceEnd() override { close(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    open(mark, anchor, true);
  }
  void OnMapEnd() override { close(); }

 private:
  // A node's size with every alias inside it expanded.
  struct Size {
    std::size_t nodes = 0;
    std::size_t bytes = 0;  // of scalar text
  };
  struct Frame {
    YAML::Mark mark;
    YAML::anchor_t anchor = 0;
    bool isMapping = false;
    std::size_t children = 0;  // events directly inside: a mapping has two per entry
    Size size{1, 0};
  };

  // Counts a child of the innermost open node, of `n` once expanded.
  void add(const YAML::Mark& mark, Size n) {
    Frame& parent = stack_.back();
    ++parent.children;
    const std::size_t entries = parent.isMapping ? (parent.children + 1) / 2 : parent.children;
    if (entries > limits_.maxEntries) {
      // Reported where the list starts: that is the line to look at.
      throw LimitExceeded{
          atMark(parent.mark, "",
                 fmt::format("a {} has more than {} entries", parent.isMapping ? "mapping" : "list",
                             limits_.maxEntries))};
    }
    total_.nodes += n.nodes;
    total_.bytes += n.bytes;
    parent.size.nodes += n.nodes;
    parent.size.bytes += n.bytes;
    if (total_.nodes > limits_.maxNodes) {
      throw LimitExceeded{atMark(
          mark, "",
          fmt::format("the document is too complex: more than {} values once aliases are "
                      "expanded",
                      limits_.maxNodes))};
    }
    if (total_.bytes > limits_.maxExpandedBytes) {
      throw LimitExceeded{
          atMark(mark, "",
                 fmt::format("the document is too large once aliases are expanded: more than {} "
                             "bytes",
                             limits_.maxExpandedBytes))};
    }
  }
  void leaf(const YAML::Mark& mark, YAML::anchor_t anchor, Size n) {
    add(mark, n);
    if (anchor != 0) sizes_[anchor] = n;
  }
  void open(const YAML::Mark& mark, YAML::anchor_t anchor, bool isMapping) {
    if (stack_.size() > limits_.maxDepth) {
      throw LimitExceeded{atMark(
          mark, "", fmt::format("the document nests deeper than {} levels", limits_.maxDepth))};
    }
    add(mark, Size{1, 0});
    stack_.push_back(Frame{mark, anchor, isMapping});
  }
  void close() {
    const Frame done = stack_.back();
    stack_.pop_back();
    if (done.anchor != 0) sizes_[done.anchor] = done.size;
    // The frame's own node was counted when it opened; its children were
    // counted into total_ as they came, so only the parent's tally grows.
    if (!stack_.empty()) {
      stack_.back().size.nodes += done.size.nodes - 1;
      stack_.back().size.bytes += done.size.bytes;
    }
  }

  const YamlLimits& limits_;
  std::vector<Frame> stack_;
  std::unordered_map<YAML::anchor_t, Size> sizes_;
  Size total_;
};

}  // namespace

Result<YAML::Node, YamlLoadError> loadYaml(std::string_view text, const YamlLimits& limits) {
  using Kind = YamlLoadError::Kind;
  if (text.size() > limits.maxBytes) {
    return fail(YamlLoadError{
        Kind::kTooLarge,
        FieldError{"", fmt::format("the file is {} bytes; at most {} are accepted", text.size(),
                                   limits.maxBytes)}});
  }
  try {
    std::istringstream in{std::string(text)};
    YAML::Parser parser(in);
    BoundsChecker checker(limits);
    while (parser.HandleNextDocument(checker)) {
      if (checker.documents > 1) {
        return fail(YamlLoadError{
            Kind::kInvalid, FieldError{"", "the file holds more than one YAML document"}});
      }
    }
    if (checker.documents == 0) {
      return fail(YamlLoadError{Kind::kInvalid, FieldError{"", "the file is empty"}});
    }
    YAML::Node root = YAML::Load(std::string(text));
    if (!FieldReader::present(root)) {
      return fail(YamlLoadError{Kind::kInvalid, FieldError{"", "the file is empty"}});
    }
    return root;
  } catch (const LimitExceeded& e) {
    return fail(YamlLoadError{Kind::kInvalid, e.error});
  } catch (const YAML::Exception& e) {
    return fail(YamlLoadError{Kind::kInvalid,
                              atMark(e.mark, "", fmt::format("not valid YAML: {}", e.msg))});
  }
}

std::string childPath(std::string_view parent, std::string_view key) {
  if (parent.empty()) return std::string(key);
  return fmt::format("{}.{}", parent, key);
}

std::string indexPath(std::string_view parent, std::size_t index) {
  return fmt::format("{}[{}]", parent, index);
}

void FieldReader::error(const YAML::Node& at, std::string path, std::string message) {
  errors_.push_back(atMark(at.IsDefined() ? at.Mark() : YAML::Mark::null_mark(), std::move(path),
                           std::move(message)));
}

namespace {

std::string_view kindName(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a single value";
    case YAML::NodeType::Null:
      return "empty";
    case YAML::NodeType::Undefined:
      break;
  }
  return "missing";
}

// Quotes a user's value for an error message, shortened so that a huge value
// cannot flood the output.
std::string quoteValue(std::string_view value) {
  constexpr std::size_t kMax = 60;
  if (value.size() > kMax) return fmt::format("\"{}...\"", value.substr(0, kMax));
  return fmt::format("\"{}\"", value);
}

}  // namespace

bool FieldReader::mapping(const YAML::Node& node, std::string_view path,
                          std::span<const std::string_view> known) {
  return checkMapping(node, path, known, false);
}

bool FieldReader::namedMapping(const YAML::Node& node, std::string_view path) {
  return checkMapping(node, path, {}, true);
}

bool FieldReader::checkMapping(const YAML::Node& node, std::string_view path,
                               std::span<const std::string_view> known, bool anyKey) {
  if (!node.IsMap()) {
    error(node, std::string(path), fmt::format("must be a mapping, not {}", kindName(node)));
    return false;
  }
  std::set<std::string> seen;
  for (const auto& entry : node) {
    if (!entry.first.IsScalar()) {
      error(entry.first, std::string(path), "has a key that is not a plain name");
      continue;
    }
    const std::string& key = entry.first.Scalar();
    if (!seen.insert(key).second) {
      error(entry.first, childPath(path, key), "is given more than once");
      continue;
    }
    bool isKnown = anyKey;
    for (auto k : known) isKnown = isKnown || k == key;
    if (isKnown) continue;
    std::string message = "is not a known field";
    if (auto guess = closestMatch(key, known)) {
      message += fmt::format(" (did you mean \"{}\"?)", *guess);
    }
    error(entry.first, childPath(path, key.size() > 60 ? key.substr(0, 60) + "..." : key),
          message);
  }
  return true;
}

bool FieldReader::sequence(const YAML::Node& node, std::string_view path) {
  if (node.IsSequence()) return true;
  error(node, std::string(path), fmt::format("must be a list, not {}", kindName(node)));
  return false;
}

YAML::Node FieldReader::field(const YAML::Node& map, std::string_view key) {
  if (!map.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
  // Look up by iteration: operator[] on a const node with a missing key is
  // fine in yaml-cpp, but iterating also finds the first of duplicated keys
  // deterministically, which mapping() has already reported.
  for (const auto& entry : map) {
    if (entry.first.IsScalar() && entry.first.Scalar() == key) {
      if (entry.second.IsNull()) break;
      return entry.second;
    }
  }
  return YAML::Node(YAML::NodeType::Undefined);
}

std::optional<std::string> FieldReader::string(const YAML::Node& node, std::string_view path) {
  if (!node.IsScalar()) {
    error(node, std::string(path), fmt::format("must be a single value, not {}", kindName(node)));
    return std::nullopt;
  }
  const std::string& value = node.Scalar();
  // Values end up in JSON, etcd and C APIs: require text, and no NUL that a
  // C string would silently cut at.
  if (!isValidUtf8(value)) {
    error(node, std::string(path), "is not valid UTF-8 text");
    return std::nullopt;
  }
  if (value.find('\0') != std::string::npos) {
    error(node, std::string(path), "contains a NUL character");
    return std::nullopt;
  }
  return value;
}

std::optional<std::int64_t> FieldReader::integer(const YAML::Node& node, std::string_view path,
                                                 std::int64_t min, std::int64_t max) {
  auto text = string(node, path);
  if (!text) return std::nullopt;
  std::int64_t value = 0;
  const char* begin = text->data();
  const char* end = begin + text->size();
  const auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec == std::errc::result_out_of_range || (ec == std::errc() && ptr == end &&
                                               (value < min || value > max))) {
    error(node, std::string(path),
          fmt::format("{} is out of range ({} to {})", quoteValue(*text), min, max));
    return std::nullopt;
  }
  if (ec != std::errc() || ptr != end) {
    error(node, std::string(path), fmt::format("{} is not a whole number", quoteValue(*text)));
    return std::nullopt;
  }
  return value;
}

std::optional<Bytes> FieldReader::size(const YAML::Node& node, std::string_view path) {
  auto text = string(node, path);
  if (!text) return std::nullopt;
  auto parsed = parseSize(*text);
  if (!parsed) {
    error(node, std::string(path), parsed.error());
    return std::nullopt;
  }
  return *parsed;
}

std::optional<Millis> FieldReader::duration(const YAML::Node& node, std::string_view path) {
  auto text = string(node, path);
  if (!text) return std::nullopt;
  auto parsed = parseDuration(*text);
  if (!parsed) {
    error(node, std::string(path), parsed.error());
    return std::nullopt;
  }
  return *parsed;
}

std::optional<bool> FieldReader::booleanValue(std::string_view text) {
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  return std::nullopt;
}

std::optional<bool> FieldReader::boolean(const YAML::Node& node, std::string_view path) {
  auto text = string(node, path);
  if (!text) return std::nullopt;
  if (auto value = booleanValue(*text)) return value;
  error(node, std::string(path), fmt::format("{} is not true or false", quoteValue(*text)));
  return std::nullopt;
}

std::optional<std::size_t> FieldReader::choice(const YAML::Node& node, std::string_view path,
                                               std::span<const std::string_view> choices) {
  auto text = string(node, path);
  if (!text) return std::nullopt;
  for (std::size_t i = 0; i < choices.size(); ++i) {
    if (choices[i] == *text) return i;
  }
  std::string list;
  for (auto c : choices) list += fmt::format("{}{}", list.empty() ? "" : ", ", c);
  std::string message = fmt::format("{} is not one of {}", quoteValue(*text), list);
  if (auto guess = closestMatch(*text, choices)) {
    message += fmt::format(" (did you mean \"{}\"?)", *guess);
  }
  error(node, std::string(path), message);
  return std::nullopt;
}

std::optional<std::vector<std::string>> FieldReader::command(const YAML::Node& node,
                                                             std::string_view path,
                                                             std::size_t maxWords) {
  auto tooLong = [&](std::size_t words) {
    if (words <= maxWords) return false;
    error(node, std::string(path),
          fmt::format("has {} arguments; at most {} are allowed", words, maxWords));
    return true;
  };
  if (node.IsScalar()) {
    auto text = string(node, path);
    if (!text) return std::nullopt;
    auto words = splitShellWords(*text);
    if (!words) {
      error(node, std::string(path), words.error());
      return std::nullopt;
    }
    if (words->empty()) {
      error(node, std::string(path), "must not be empty");
      return std::nullopt;
    }
    if (tooLong(words->size())) return std::nullopt;
    return std::move(words).value();
  }
  if (!node.IsSequence()) {
    error(node, std::string(path),
          fmt::format("must be a list of strings or one string, not {}", kindName(node)));
    return std::nullopt;
  }
  // Checked before the words are copied out of the tree.
  if (tooLong(node.size())) return std::nullopt;
  std::vector<std::string> out;
  bool ok = true;
  for (std::size_t i = 0; i < node.size(); ++i) {
    auto word = string(node[i], indexPath(path, i));
    ok = ok && word.has_value();
    if (word) out.push_back(std::move(*word));
  }
  if (ok && out.empty()) {
    error(node, std::string(path), "must not be empty");
    return std::nullopt;
  }
  if (!ok) return std::nullopt;
  return out;
}

void FieldReader::missing(const YAML::Node& parent, std::string_view path) {
  error(parent, std::string(path), "is required");
}

bool isValidUtf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      extra = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (extra > text.size() - i - 1) return false;  // truncated sequence
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto cc = static_cast<unsigned char>(text[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

Result<std::vector<std::string>, std::string> splitShellWords(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool inWord = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (inWord) words.push_back(std::move(word));
      word.clear();
      inWord = false;
      continue;
    }
    inWord = true;
    if (c == '\\') {
      if (i + 1 < text.size()) word.push_back(text[++i]);
    } else if (c == '\'') {
      const auto close = text.find('\'', i + 1);
      if (close == std::string_view::npos) return fail(std::string("has an unclosed ' quote"));
      word.append(text.substr(i + 1, close - i - 1));
      i = close;
    } else if (c == '"') {
      ++i;
      for (; i < text.size() && text[i] != '"'; ++i) {
        if (text[i] == '\\' && i + 1 < text.size() &&
            (text[i + 1] == '"' || text[i + 1] == '\\' || text[i + 1] == '$' ||
             text[i + 1] == '`')) {
          ++i;
        }
        word.push_back(text[i]);
      }
      if (i >= text.size()) return fail(std::string("has an unclosed \" quote"));
    } else {
      word.push_back(c);
    }
  }
  if (inWord) words.push_back(std::move(word));
  return words;
}

}  // namespace ozy
