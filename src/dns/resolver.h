// What the DNS responder answers, as data: the response code and the records
// a question gets from the RecordTable. Pure; the wire format is
// ldns_message.h's business.
//
// A name at or under the cluster domain is ours (authoritative answers): its
// records are every record at its key or under it, so `web.ozy.local` has
// the addresses of all instances of web and `3.web.ozy.local` only those of
// instance 3. A name with no records is NXDOMAIN, except the domain itself,
// which always exists. A name outside the domain is REFUSED: this responder
// is no recursive resolver.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "dns/record_table.h"

namespace ozy::dns {

// Record types and classes by their DNS numbers (RFC 1035, 2782, 3596).
inline constexpr std::uint16_t kTypeA = 1;
inline constexpr std::uint16_t kTypeAaaa = 28;
inline constexpr std::uint16_t kTypeSrv = 33;
inline constexpr std::uint16_t kTypeAny = 255;
inline constexpr std::uint16_t kClassIn = 1;

enum class Rcode : std::uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
};

// The rcode's mnemonic in lowercase, as RFC 1035 and 6895 name it: "noerror", "nxdomain".
std::string_view toString(Rcode rcode);

struct Question {
  std::string name;  // as asked, in presentation form: "Web.ozy.local."
  std::uint16_t type = kTypeA;
  std::uint16_t qclass = kClassIn;
};

// One resource record: A and AAAA use `address`; SRV uses priority, weight,
// port and target.
struct ResourceRecord {
  std::string name;  // owner, fully qualified: "web.ozy.local."
  std::uint16_t type = kTypeA;
  std::uint32_t ttl = 0;
  std::string address;
  std::uint16_t priority = 0;
  std::uint16_t weight = 0;
  std::uint16_t port = 0;
  std::string target;  // fully qualified: "3.web.ozy.local."
  bool operator==(const ResourceRecord&) const = default;
};

struct Answer {
  Rcode rcode = Rcode::kNoError;
  bool authoritative = false;  // for every name at or under the domain
  std::vector<ResourceRecord> answers;
  std::vector<ResourceRecord> additional;  // addresses of SRV targets
};

// The most records of the table one answer looks at. A larger answer could
// not fit even a TCP message (65,535 bytes, 16 or more per record), so the
// encoder truncates it anyway; the bound keeps a query for the whole domain
// cheap on a large cluster.
inline constexpr std::size_t kMaxAnswerRecords = 65535 / 16 + 1;

// `domain` as isDomain() accepts it. Names compare case-insensitively; the
// answer's owner names keep the question's spelling, as resolvers expect.
Answer resolve(const RecordTable& table, std::string_view domain, const Question& question);

}  // namespace ozy::dns
