#include "dns/ldns_message.h"

#include <stdbool.h>
// Before ldns: unless <stdbool.h> came first, ldns/common.h defines bool,
// true and false as macros, which breaks C++ headers included after it.
#include <ldns/ldns.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace ozy::dns {
namespace {

struct LdnsFree {
  void operator()(ldns_pkt* packet) const { ldns_pkt_free(packet); }
  void operator()(ldns_rr* rr) const { ldns_rr_free(rr); }
  void operator()(char* text) const { std::free(text); }
  void operator()(std::uint8_t* wire) const { std::free(wire); }
};
using PacketPtr = std::unique_ptr<ldns_pkt, LdnsFree>;
using RrPtr = std::unique_ptr<ldns_rr, LdnsFree>;
using Wire = std::vector<std::uint8_t>;

constexpr std::size_t kTcpLimit = 65535;
// RFC 6891: BADVERS is rcode 16, whose upper eight bits travel in the OPT record.
constexpr std::uint8_t kBadVersUpperBits = 1;
// ldns_pkt_opcode spans three bits: opcodes past that (all unassigned)
// cannot even be echoed in a NOTIMP response.
constexpr std::uint8_t kLargestOpcode = 7;

// Everything a response is made of; encode() writes it with a given number
// of answer and additional records.
struct Response {
  std::uint16_t id = 0;
  ldns_pkt_opcode opcode = LDNS_PACKET_QUERY;
  bool rd = false;
  bool cd = false;
  const ldns_rr* question = nullptr;  // owned by the parsed query
  Rcode rcode = Rcode::kNoError;
  bool authoritative = false;
  bool edns = false;
  std::uint8_t extendedRcode = 0;
  std::vector<RrPtr> answers;
  std::vector<RrPtr> additional;
};

void push(ldns_pkt* packet, ldns_pkt_section section, const ldns_rr* rr) {
  ldns_rr* copy = ldns_rr_clone(rr);
  if (copy && !ldns_pkt_push_rr(packet, section, copy)) ldns_rr_free(copy);
}

std::optional<Wire> encode(const Response& r, std::size_t answers, std::size_t additional,
                           bool truncated) {
  PacketPtr packet(ldns_pkt_new());
  if (!packet) return std::nullopt;
  ldns_pkt* p = packet.get();
  ldns_pkt_set_id(p, r.id);
  ldns_pkt_set_qr(p, true);
  ldns_pkt_set_opcode(p, r.opcode);
  ldns_pkt_set_rd(p, r.rd);
  ldns_pkt_set_cd(p, r.cd);
  ldns_pkt_set_aa(p, r.authoritative);
  ldns_pkt_set_tc(p, truncated);
  ldns_pkt_set_rcode(p, static_cast<std::uint8_t>(r.rcode));
  if (r.question) push(p, LDNS_SECTION_QUESTION, r.question);
  for (std::size_t i = 0; i < answers; ++i) push(p, LDNS_SECTION_ANSWER, r.answers[i].get());
  for (std::size_t i = 0; i < additional; ++i) {
    push(p, LDNS_SECTION_ADDITIONAL, r.additional[i].get());
  }
  if (r.edns) {
    // A non-zero UDP size is what makes ldns write the OPT record.
    ldns_pkt_set_edns_udp_size(p, kEdnsUdpLimit);
    ldns_pkt_set_edns_extended_rcode(p, r.extendedRcode);
  }
  std::uint8_t* raw = nullptr;
  std::size_t size = 0;
  const ldns_status status = ldns_pkt2wire(&raw, p, &size);
  std::unique_ptr<std::uint8_t, LdnsFree> wire(raw);
  if (status != LDNS_STATUS_OK || !raw) {
    spdlog::warn("DNS: cannot encode a response ({}); dropping it",
                 ldns_get_errorstr_by_id(status));
    return std::nullopt;
  }
  return Wire(raw, raw + size);
}

// Encodes with as many of `total` records as fit `limit` (encodeWith(n)
// writes n of them), given that all of them do not fit and none always does.
template <typename EncodeWith>
std::optional<Wire> mostThatFit(std::size_t total, std::size_t limit, EncodeWith encodeWith) {
  std::optional<Wire> best = encodeWith(0);
  std::size_t fits = 0;
  std::size_t tooMany = total;
  while (tooMany - fits > 1) {
    const std::size_t middle = fits + (tooMany - fits) / 2;
    if (auto wire = encodeWith(middle); wire && wire->size() <= limit) {
      fits = middle;
      best = std::move(wire);
    } else {
      tooMany = middle;
    }
  }
  return best;
}

std::optional<Wire> encodeWithin(const Response& r, std::size_t limit) {
  const std::size_t answers = r.answers.size();
  const std::size_t additional = r.additional.size();
  if (auto whole = encode(r, answers, additional, false); !whole || whole->size() <= limit) {
    return whole;
  }
  if (auto bare = encode(r, answers, 0, false); bare && bare->size() <= limit) {
    return mostThatFit(additional, limit,
                       [&](std::size_t n) { return encode(r, answers, n, false); });
  }
  return mostThatFit(answers, limit, [&](std::size_t n) { return encode(r, n, 0, true); });
}

RrPtr toLdns(const ResourceRecord& record) {
  RrPtr rr(ldns_rr_new());
  ldns_rdf* owner = ldns_dname_new_frm_str(record.name.c_str());
  if (!rr || !owner) {
    ldns_rdf_deep_free(owner);
    return nullptr;
  }
  ldns_rr_set_owner(rr.get(), owner);
  ldns_rr_set_type(rr.get(), static_cast<ldns_rr_type>(record.type));
  ldns_rr_set_class(rr.get(), LDNS_RR_CLASS_IN);
  ldns_rr_set_ttl(rr.get(), record.ttl);

  std::vector<ldns_rdf*> fields;
  switch (record.type) {
    case kTypeA:
      fields = {ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, record.address.c_str())};
      break;
    case kTypeAaaa:
      fields = {ldns_rdf_new_frm_str(LDNS_RDF_TYPE_AAAA, record.address.c_str())};
      break;
    case kTypeSrv:
      fields = {ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, record.priority),
                ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, record.weight),
                ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, record.port),
                ldns_dname_new_frm_str(record.target.c_str())};
      break;
    default:
      return nullptr;
  }
  bool complete = std::none_of(fields.begin(), fields.end(), [](ldns_rdf* f) { return !f; });
  for (ldns_rdf* field : fields) {
    if (complete && ldns_rr_push_rdf(rr.get(), field)) continue;
    complete = false;
    ldns_rdf_deep_free(field);
  }
  if (!complete) return nullptr;
  return rr;
}

void convert(const std::vector<ResourceRecord>& records, std::vector<RrPtr>& out) {
  for (const ResourceRecord& record : records) {
    if (RrPtr rr = toLdns(record)) {
      out.push_back(std::move(rr));
    } else {
      spdlog::warn("DNS: cannot encode the record of {} for {}; leaving it out", record.name,
                   record.type == kTypeSrv ? record.target : record.address);
    }
  }
}

}  // namespace

std::optional<std::vector<std::uint8_t>> respond(std::span<const std::uint8_t> query,
                                                 Transport transport, const Resolve& resolve) {
  if (query.size() < LDNS_HEADER_SIZE || LDNS_QR_WIRE(query.data())) return std::nullopt;
  const std::uint8_t opcode = LDNS_OPCODE_WIRE(query.data());
  if (opcode > kLargestOpcode) return std::nullopt;
  Response r;
  r.id = LDNS_ID_WIRE(query.data());
  r.opcode = static_cast<ldns_pkt_opcode>(opcode);
  r.rd = LDNS_RD_WIRE(query.data()) != 0;
  r.cd = LDNS_CD_WIRE(query.data()) != 0;

  ldns_pkt* parsed = nullptr;
  if (ldns_wire2pkt(&parsed, query.data(), query.size()) != LDNS_STATUS_OK) {
    r.rcode = Rcode::kFormErr;
    return encode(r, 0, 0, false);
  }
  PacketPtr packet(parsed);
  const ldns_rr_list* questions = ldns_pkt_question(packet.get());
  if (ldns_rr_list_rr_count(questions) == 1) r.question = ldns_rr_list_rr(questions, 0);
  r.edns = ldns_pkt_edns(packet.get());
  std::size_t limit = kClassicUdpLimit;
  if (transport == Transport::kTcp) {
    limit = kTcpLimit;
  } else if (r.edns) {
    limit = std::clamp<std::size_t>(ldns_pkt_edns_udp_size(packet.get()), kClassicUdpLimit,
                                    kEdnsUdpLimit);
  }

  if (r.opcode != LDNS_PACKET_QUERY) {
    r.rcode = Rcode::kNotImp;
  } else if (!r.question) {
    r.rcode = Rcode::kFormErr;
  } else if (r.edns && ldns_pkt_edns_version(packet.get()) != 0) {
    r.extendedRcode = kBadVersUpperBits;
  } else {
    std::unique_ptr<char, LdnsFree> name(ldns_rdf2str(ldns_rr_owner(r.question)));
    if (!name) return std::nullopt;
    Question question;
    question.name = name.get();
    question.type = static_cast<std::uint16_t>(ldns_rr_get_type(r.question));
    question.qclass = static_cast<std::uint16_t>(ldns_rr_get_class(r.question));
    const Answer answer = resolve(question);
    r.rcode = answer.rcode;
    r.authoritative = answer.authoritative;
    convert(answer.answers, r.answers);
    convert(answer.additional, r.additional);
  }
  return encodeWithin(r, limit);
}

std::optional<std::vector<std::uint8_t>> truncatedResponse(std::span<const std::uint8_t> query) {
  if (query.size() < LDNS_HEADER_SIZE || LDNS_QR_WIRE(query.data())) return std::nullopt;
  if (LDNS_OPCODE_WIRE(query.data()) != LDNS_PACKET_QUERY) return std::nullopt;
  ldns_pkt* parsed = nullptr;
  if (ldns_wire2pkt(&parsed, query.data(), query.size()) != LDNS_STATUS_OK) return std::nullopt;
  PacketPtr packet(parsed);
  const ldns_rr_list* questions = ldns_pkt_question(packet.get());
  if (ldns_rr_list_rr_count(questions) != 1) return std::nullopt;
  Response r;
  r.id = LDNS_ID_WIRE(query.data());
  r.rd = LDNS_RD_WIRE(query.data()) != 0;
  r.cd = LDNS_CD_WIRE(query.data()) != 0;
  r.question = ldns_rr_list_rr(questions, 0);
  auto wire = encode(r, 0, 0, true);
  // A crafted query can compress its question's name (a pointer into its
  // own bytes), which the response spells out in full: a response that
  // would be larger than its query is not sent.
  if (!wire || wire->size() > query.size()) return std::nullopt;
  return wire;
}

}  // namespace ozy::dns
