#include "deploy/spec_change.h"

#include <map>

#include <fmt/format.h>

#include "job/job_format.h"

namespace ozy {
namespace {

using OrderedJson = nlohmann::ordered_json;

std::string shortValue(const OrderedJson* value) {
  if (!value) return "(none)";
  std::string text = value->dump(-1, ' ', false, OrderedJson::error_handler_t::replace);
  constexpr std::size_t kMax = 40;
  if (text.size() > kMax) {
    // Cut on a character boundary: the line is stored as JSON, which must
    // be UTF-8.
    std::size_t cut = kMax - 3;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text = text.substr(0, cut) + "...";
  }
  return text;
}

// Walks both trees; objects by key (either side's), anything else whole.
void diff(const std::string& path, const OrderedJson* a, const OrderedJson* b,
          std::vector<std::string>& out) {
  if (a && b && *a == *b) return;
  if (a && b && a->is_object() && b->is_object()) {
    for (const auto& [key, value] : a->items()) {
      const OrderedJson* other = b->contains(key) ? &b->at(key) : nullptr;
      diff(path.empty() ? key : path + "." + key, &value, other, out);
    }
    for (const auto& [key, value] : b->items()) {
      if (!a->contains(key)) diff(path.empty() ? key : path + "." + key, nullptr, &value, out);
    }
    return;
  }
  // Environment values are often secrets: the history says which variable
  // came, went or changed, not to what (the spec itself is for those
  // allowed to read it).
  if (path.ends_with(".environment") && a && b && a->is_array() && b->is_array()) {
    std::map<std::string, std::string> before;
    std::map<std::string, std::string> after;
    for (const auto& e : *a) before[e.value("name", "")] = e.value("value", "");
    for (const auto& e : *b) after[e.value("name", "")] = e.value("value", "");
    for (const auto& [name, value] : before) {
      const auto it = after.find(name);
      if (it == after.end()) {
        out.push_back(fmt::format("{}.{}: removed", path, name));
      } else if (it->second != value) {
        out.push_back(fmt::format("{}.{}: changed", path, name));
      }
    }
    for (const auto& [name, value] : after) {
      if (!before.contains(name)) out.push_back(fmt::format("{}.{}: added", path, name));
    }
    return;
  }
  out.push_back(fmt::format("{}: {} -> {}", path, shortValue(a), shortValue(b)));
}

// The containers as they shape pods: everything but the ingress.
std::vector<Container> podShape(const Job& job) {
  std::vector<Container> out = job.containers;
  for (auto& c : out) c.ingress.reset();
  return out;
}

}  // namespace

SpecChange classifyChange(const Job& from, const Job& to) {
  if (from == to) return SpecChange::kUnchanged;
  if (from.containers == to.containers && from.name == to.name) return SpecChange::kScale;
  if (podShape(from) == podShape(to)) return SpecChange::kInPlace;
  return SpecChange::kNewPods;
}

std::vector<std::string> describeChanges(const Job& from, const Job& to, std::size_t limit) {
  const OrderedJson a = toJson(from);
  const OrderedJson b = toJson(to);
  std::vector<std::string> out;
  diff("", &a, &b, out);
  if (limit > 0 && out.size() > limit) {
    const std::size_t more = out.size() - (limit - 1);
    out.resize(limit - 1);
    out.push_back(fmt::format("... and {} more", more));
  }
  return out;
}

}  // namespace ozy
