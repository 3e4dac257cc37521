#include "dns/resolver.h"

#include <algorithm>
#include <limits>
#include <set>

namespace ozy::dns {
namespace {

std::string lowercase(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool isAtOrUnder(std::string_view name, std::string_view domain) {
  return name == domain || (name.size() > domain.size() && name.ends_with(domain) &&
                            name[name.size() - domain.size() - 1] == '.');
}

// Decoded records hold addresses only (decodeSkyRecord), so a colon tells
// the families apart.
bool isIpv6(const std::string& host) {
  return host.find(':') != std::string::npos;
}

// One A or AAAA set: each address once, however many instances share it
// (host networking gives several instances one address). RFC 2181 section
// 5.2: the records of a set share one TTL; the smallest keeps each record
// from being cached longer than it asked for. The same holds for SRV sets.
void addAddresses(const std::vector<NamedRecord>& records, bool ipv6, const std::string& owner,
                  std::vector<ResourceRecord>& out) {
  const auto first = static_cast<std::ptrdiff_t>(out.size());
  std::uint32_t ttl = std::numeric_limits<std::uint32_t>::max();
  std::set<std::string> seen;
  for (const NamedRecord& r : records) {
    if (isIpv6(r.record.host) != ipv6) continue;
    ttl = std::min(ttl, r.record.ttl);
    if (!seen.insert(r.record.host).second) continue;
    ResourceRecord rr;
    rr.name = owner;
    rr.type = ipv6 ? kTypeAaaa : kTypeA;
    rr.address = r.record.host;
    out.push_back(std::move(rr));
  }
  for (auto it = out.begin() + first; it != out.end(); ++it) it->ttl = ttl;
}

void addServices(const std::vector<NamedRecord>& records, const std::string& owner,
                 Answer& answer) {
  std::uint32_t ttl = std::numeric_limits<std::uint32_t>::max();
  for (const NamedRecord& r : records) {
    ttl = std::min(ttl, r.record.ttl);
    ResourceRecord srv;
    srv.name = owner;
    srv.type = kTypeSrv;
    srv.priority = static_cast<std::uint16_t>(r.record.priority);
    srv.weight = static_cast<std::uint16_t>(r.record.weight);
    srv.port = r.record.port;
    srv.target = r.name + ".";
    answer.answers.push_back(std::move(srv));

    ResourceRecord address;
    address.name = r.name + ".";
    address.type = isIpv6(r.record.host) ? kTypeAaaa : kTypeA;
    address.ttl = r.record.ttl;
    address.address = r.record.host;
    answer.additional.push_back(std::move(address));
  }
  for (ResourceRecord& srv : answer.answers) srv.ttl = ttl;
}

}  // namespace

std::string_view toString(Rcode rcode) {
  switch (rcode) {
    case Rcode::kNoError: return "noerror";
    case Rcode::kFormErr: return "formerr";
    case Rcode::kServFail: return "servfail";
    case Rcode::kNxDomain: return "nxdomain";
    case Rcode::kNotImp: return "notimp";
    case Rcode::kRefused: return "refused";
  }
  return "unknown";
}

Answer resolve(const RecordTable& table, std::string_view domain, const Question& question) {
  Answer answer;
  std::string name = lowercase(question.name);
  if (name.ends_with('.')) name.pop_back();
  if (question.qclass != kClassIn || !isAtOrUnder(name, domain)) {
    answer.rcode = Rcode::kRefused;
    return answer;
  }
  answer.authoritative = true;
  const auto records = table.lookup(name, kMaxAnswerRecords);
  if (records.empty()) {
    if (name != domain) answer.rcode = Rcode::kNxDomain;
    return answer;
  }

  const std::string owner = question.name.ends_with('.') ? question.name : question.name + ".";
  switch (question.type) {
    case kTypeA:
      addAddresses(records, false, owner, answer.answers);
      break;
    case kTypeAaaa:
      addAddresses(records, true, owner, answer.answers);
      break;
    case kTypeAny:  // RFC 8482 lets a server answer ANY with a subset.
      addAddresses(records, false, owner, answer.answers);
      addAddresses(records, true, owner, answer.answers);
      break;
    case kTypeSrv:
      addServices(records, owner, answer);
      break;
    default:  // The name exists, without records of this type: NODATA.
      break;
  }
  return answer;
}

}  // namespace ozy::dns
