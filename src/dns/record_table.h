// RecordTable: the SkyDNS records of one cluster domain, in memory, as the
// DNS responder serves them. DnsServer fills it from one etcd read and keeps
// it current from a watch; the table itself is pure (no I/O, no locking).
#pragma once

#include <cstddef>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "dns/skydns.h"
#include "store/store.h"

namespace ozy::dns {

struct NamedRecord {
  std::string name;  // the DNS name of the record's key, e.g. "3.web.ozy.local"
  SkyRecord record;
  bool operator==(const NamedRecord&) const = default;
};

class RecordTable {
 public:
  // Stores the record held by `key` (a SkyDNS key as etcd holds it), replacing
  // the key's earlier record. A key that is not the lowercase key of a DNS
  // name, or a value that cannot be served, is refused with the reason; the
  // key's earlier record is dropped then too, so a broken update does not
  // leave stale answers behind.
  Result<Done, std::string> put(const std::string& key, std::string_view value);
  // Whether there was a record under `key`.
  bool remove(const std::string& key);
  // Replaces every record by those of `kvs` (a fresh read); returns the
  // reason for each one refused, as put() does.
  std::vector<std::string> replaceAll(const std::vector<KeyValue>& kvs);

  // The records at `name` and under it, in key order, at most `limit`:
  // "web.ozy.local" gives every instance of web, "3.web.ozy.local" only
  // instance 3. Case-insensitive, the trailing dot optional.
  std::vector<NamedRecord> lookup(
      std::string_view name, std::size_t limit = std::numeric_limits<std::size_t>::max()) const;
  std::size_t size() const { return records_.size(); }

 private:
  std::map<std::string, SkyRecord, std::less<>> records_;
};

}  // namespace ozy::dns
