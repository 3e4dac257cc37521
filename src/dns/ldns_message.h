// DNS messages in wire format, read and written by ldns: one query in, the
// resolver asked, one response out, within the size the transport allows.
//
// Queries come from the network, so anything may arrive: a message too short
// to carry a header, or one that is itself a response, is dropped (answering
// it could start a loop between two servers); one ldns cannot parse gets
// FORMERR, an opcode other than QUERY gets NOTIMP, a query without exactly
// one question FORMERR, EDNS other than version 0 BADVERS.
//
// Size: a UDP response fits 512 bytes, or what the client advertised with
// EDNS up to kEdnsUdpLimit; over TCP, one 65,535-byte message. Past that the
// additional records go first (without TC: they only save a lookup), then
// answer records, with TC set, so the client asks again over TCP.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <vector>

#include "dns/resolver.h"

namespace ozy::dns {

enum class Transport { kUdp, kTcp };

// RFC 1035: the UDP limit without EDNS.
inline constexpr std::size_t kClassicUdpLimit = 512;
// The largest UDP response sent, and what the responder advertises: the
// size DNS Flag Day 2020 settled on to avoid IP fragmentation.
inline constexpr std::uint16_t kEdnsUdpLimit = 1232;

using Resolve = std::function<Answer(const Question&)>;

// The response to `query`, or nullopt when it is to be dropped.
std::optional<std::vector<std::uint8_t>> respond(std::span<const std::uint8_t> query,
                                                 Transport transport, const Resolve& resolve);

// For a client over its rate limit (rate_limiter.h): an empty response with
// TC set, asking it to retry over TCP. It carries the question only (no
// records, no OPT), and is never larger than the query, so sending it to a
// forged source amplifies nothing. nullopt for anything but a well-formed
// query with one question: a limited client gets no error responses.
std::optional<std::vector<std::uint8_t>> truncatedResponse(std::span<const std::uint8_t> query);

}  // namespace ozy::dns
