#include "dns/record_table.h"

#include <fmt/format.h>

namespace ozy::dns {

Result<Done, std::string> RecordTable::put(const std::string& key, std::string_view value) {
  // Keys come from etcd, where anyone may have written anything: only a key
  // that some DNS name maps to can ever be looked up.
  if (keyOfName(nameOfKey(key)) != key) {
    records_.erase(key);
    return fail(
        fmt::format("{}: not the key of a DNS name (lowercase labels, no empty ones)", key));
  }
  auto record = decodeSkyRecord(value);
  if (!record) {
    records_.erase(key);
    return fail(fmt::format("{}: {}", key, record.error()));
  }
  records_.insert_or_assign(key, std::move(record).value());
  return Done{};
}

bool RecordTable::remove(const std::string& key) {
  return records_.erase(key) > 0;
}

std::vector<std::string> RecordTable::replaceAll(const std::vector<KeyValue>& kvs) {
  records_.clear();
  std::vector<std::string> refused;
  for (const KeyValue& kv : kvs) {
    if (auto stored = put(kv.key, kv.value); !stored) refused.push_back(stored.error());
  }
  return refused;
}

std::vector<NamedRecord> RecordTable::lookup(std::string_view name, std::size_t limit) const {
  std::vector<NamedRecord> found;
  const auto key = keyOfName(name);
  if (!key || limit == 0) return found;
  if (auto exact = records_.find(*key); exact != records_.end()) {
    found.push_back(NamedRecord{nameOfKey(exact->first), exact->second});
  }
  // Children only: "/web/" must not take in a sibling such as "/web2".
  const std::string under = *key + "/";
  for (auto it = records_.lower_bound(under);
       it != records_.end() && it->first.starts_with(under) && found.size() < limit; ++it) {
    found.push_back(NamedRecord{nameOfKey(it->first), it->second});
  }
  return found;
}

}  // namespace ozy::dns
