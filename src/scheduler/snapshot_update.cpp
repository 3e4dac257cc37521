#include "scheduler/snapshot_update.h"

#include <algorithm>

#include "scheduler/keys.h"

namespace ozy {
namespace {

NodeEntry& entryFor(ClusterSnapshot& view, std::string_view name) {
  auto it = std::lower_bound(view.nodes.begin(), view.nodes.end(), name,
                             [](const NodeEntry& e, std::string_view n) { return e.name < n; });
  if (it == view.nodes.end() || it->name != name) {
    NodeEntry fresh;
    fresh.name = std::string(name);
    it = view.nodes.insert(it, std::move(fresh));
  }
  return *it;
}

}  // namespace

void prune(ClusterSnapshot& view) {
  // A drained node that has left keeps its entry: it is still drained when
  // it comes back.
  std::erase_if(view.nodes, [](const NodeEntry& e) {
    return !e.live && e.usageModRevision == 0 && !e.drained();
  });
}

void applyUsage(ClusterSnapshot& view, std::string_view node, const UsageRecord* usage,
                std::int64_t modRevision) {
  NodeEntry& e = entryFor(view, node);
  if (modRevision != 0 && modRevision <= e.usageModRevision) return;
  if (!usage) {
    e.usage = UsageRecord{};
    e.usageModRevision = 0;
  } else {
    e.usage = *usage;
    e.usageModRevision = modRevision;
  }
}

bool applyKey(ClusterSnapshot& view, const std::string& key, const std::string* value,
              std::int64_t modRevision) {
  bool readable = true;
  if (auto name = keys::nameUnder(key, keys::kNodes); !name.empty()) {
    NodeEntry& e = entryFor(view, name);
    if (!value) {
      e.live = false;
      e.modRevision = 0;
    } else if (auto record = decodeNode(*value)) {
      e.live = true;
      e.record = std::move(record).value();
      e.modRevision = modRevision;
    } else {
      // Unreadable: not a place to put anything.
      readable = false;
      e.live = false;
      e.modRevision = 0;
    }
  } else if (auto node = keys::nameUnder(key, keys::kUsage); !node.empty()) {
    // Our own commit's events come back through the watch: skip them before
    // decoding anything.
    const NodeEntry* known = view.find(node);
    if (known && modRevision != 0 && modRevision <= known->usageModRevision) return true;
    if (!value) {
      applyUsage(view, node, nullptr, modRevision);
    } else if (auto usage = decodeUsage(*value)) {
      applyUsage(view, node, &*usage, modRevision);
    } else {
      readable = false;
    }
  } else if (auto drained = keys::nameUnder(key, keys::kDrain); !drained.empty()) {
    // Only the key's presence matters to planning: even an unreadable value
    // means drained.
    NodeEntry& e = entryFor(view, drained);
    if (modRevision != 0 && modRevision <= e.drainModRevision) return true;
    e.drainModRevision = value ? std::max<std::int64_t>(modRevision, 1) : 0;
  } else if (key == keys::kSharedPool) {
    if (modRevision != 0 && modRevision <= view.sharedPoolModRevision) return true;
    if (!value) {
      view.sharedPool = SharedPoolRecord{};
      view.sharedPoolModRevision = 0;
    } else if (auto pool = decodeSharedPool(*value)) {
      view.sharedPool = *pool;
      view.sharedPoolModRevision = modRevision;
    } else {
      readable = false;
    }
  }
  view.revision = std::max(view.revision, modRevision);
  return readable;
}

}  // namespace ozy
