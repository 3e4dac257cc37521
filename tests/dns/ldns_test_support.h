// DNS messages for the tests, built and read with ldns (as a client would).
#pragma once

#include <stdbool.h>
// Before ldns: unless <stdbool.h> came first, ldns/common.h defines bool,
// true and false as macros, which breaks C++ headers included after it.
#include <ldns/ldns.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

namespace ozy::dns::testing {

struct LdnsFree {
  void operator()(ldns_pkt* packet) const { ldns_pkt_free(packet); }
  void operator()(char* text) const { std::free(text); }
};
using Packet = std::unique_ptr<ldns_pkt, LdnsFree>;

// A recursive-desired query for `name`, as dig sends it without EDNS.
inline Packet makeQuery(const std::string& name, ldns_rr_type type, std::uint16_t id = 4242) {
  ldns_pkt* query = nullptr;
  if (ldns_pkt_query_new_frm_str(&query, name.c_str(), type, LDNS_RR_CLASS_IN, LDNS_RD) !=
      LDNS_STATUS_OK) {
    return nullptr;
  }
  ldns_pkt_set_id(query, id);
  return Packet(query);
}

inline std::vector<std::uint8_t> toWire(const ldns_pkt* packet) {
  std::uint8_t* raw = nullptr;
  std::size_t size = 0;
  if (ldns_pkt2wire(&raw, packet, &size) != LDNS_STATUS_OK) return {};
  std::vector<std::uint8_t> wire(raw, raw + size);
  std::free(raw);
  return wire;
}

// nullptr when the bytes are not a DNS message.
inline Packet parse(const std::vector<std::uint8_t>& wire) {
  ldns_pkt* packet = nullptr;
  if (ldns_wire2pkt(&packet, wire.data(), wire.size()) != LDNS_STATUS_OK) return nullptr;
  return Packet(packet);
}

// "web.ozy.local.\t30\tIN\tA\t10.0.0.1" for each record of a section.
inline std::vector<std::string> records(const ldns_pkt* packet, ldns_pkt_section section) {
  std::vector<std::string> out;
  ldns_rr_list* list = ldns_pkt_get_section_clone(packet, section);
  for (std::size_t i = 0; list && i < ldns_rr_list_rr_count(list); ++i) {
    std::unique_ptr<char, LdnsFree> text(ldns_rr2str(ldns_rr_list_rr(list, i)));
    std::string line = text ? text.get() : "";
    if (!line.empty() && line.back() == '\n') line.pop_back();
    out.push_back(line);
  }
  ldns_rr_list_deep_free(list);
  return out;
}

// The addresses of the A records in the answer section.
inline std::vector<std::string> answerAddresses(const ldns_pkt* packet) {
  std::vector<std::string> out;
  const ldns_rr_list* answers = ldns_pkt_answer(packet);
  for (std::size_t i = 0; i < ldns_rr_list_rr_count(answers); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(answers, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_A) continue;
    std::unique_ptr<char, LdnsFree> text(ldns_rdf2str(ldns_rr_rdf(rr, 0)));
    out.emplace_back(text.get());
  }
  return out;
}

}  // namespace ozy::dns::testing
