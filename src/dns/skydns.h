// DNS records in the CoreDNS etcd-plugin (SkyDNS) format: the DNS name
// reversed into a key under /skydns, a JSON value with host, port, priority,
// weight and ttl. The node agent writes one per healthy instance; CoreDNS
// with the etcd plugin, or the agent's own responder (dns_server.h), serves
// them.
//
// `web.ozy.local` (every healthy instance of job web) is the key prefix
// /skydns/local/ozy/web/; instance 3 is the key /skydns/local/ozy/web/3,
// which is also the name `3.web.ozy.local`. Pure: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace ozy::dns {

inline constexpr std::string_view kSkydnsRoot = "/skydns";

struct SkyRecord {
  std::string host;  // an IPv4 or IPv6 address
  std::uint16_t port = 0;
  std::uint32_t priority = 10;
  std::uint32_t weight = 10;
  std::uint32_t ttl = 30;  // always written: some CoreDNS versions misread a lease as a TTL
  bool operator==(const SkyRecord&) const = default;
};

// True for a cluster domain the agent accepts: dot-separated DNS labels,
// lowercase, no trailing dot, e.g. "ozy.local".
bool isDomain(std::string_view domain);

// "/skydns/local/ozy/" for "ozy.local".
std::string domainPrefix(std::string_view domain);
// "/skydns/local/ozy/web/" for job web: every instance's record.
std::string jobPrefix(std::string_view domain, std::string_view job);
// "/skydns/local/ozy/web/3".
std::string instanceKey(std::string_view domain, std::string_view job, std::uint32_t id);

// The key a DNS name is stored under, without trailing slash:
// "3.web.ozy.local." -> "/skydns/local/ozy/web/3". Case-insensitive, the
// trailing dot optional. nullopt for a name with an empty label, or a label
// holding '/' (which would address another key).
std::optional<std::string> keyOfName(std::string_view name);
// The reverse: "/skydns/local/ozy/web/3" -> "3.web.ozy.local"; "" for a key
// outside /skydns/.
std::string nameOfKey(std::string_view key);

std::string encode(const SkyRecord& record);
// Strict about types, lenient about members it does not know (CoreDNS
// records may carry "text", "group", "targetstrip"...). host is required.
Result<SkyRecord, std::string> decodeSkyRecord(std::string_view json);

}  // namespace ozy::dns
