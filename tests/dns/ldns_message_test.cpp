// The wire side of the responder: what comes back for well-formed, odd and
// hostile messages, and how answers are bounded to the transport.
#include "dns/ldns_message.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "ldns_test_support.h"

namespace ozy::dns {
namespace {

using namespace ozy::dns::testing;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

ResourceRecord a(std::string name, std::string ip, std::uint32_t ttl = 30) {
  ResourceRecord rr;
  rr.name = std::move(name);
  rr.type = kTypeA;
  rr.ttl = ttl;
  rr.address = std::move(ip);
  return rr;
}

// An answer of `count` A records for web.ozy.local.
Answer manyAddresses(int count) {
  Answer answer;
  answer.authoritative = true;
  for (int i = 0; i < count; ++i) {
    answer.answers.push_back(
        a("web.ozy.local.", "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250 + 1)));
  }
  return answer;
}

// A resolver that always gives `answer` and remembers what it was asked.
struct StubResolver {
  Answer answer;
  std::vector<Question> asked;
  Resolve fn() {
    return [this](const Question& q) {
      asked.push_back(q);
      return answer;
    };
  }
};

Packet respondTo(const std::vector<std::uint8_t>& query, StubResolver& stub,
                 Transport transport = Transport::kUdp) {
  auto wire = respond(query, transport, stub.fn());
  if (!wire) return nullptr;
  return parse(*wire);
}

TEST(LdnsMessage, AnswerEchoesIdAndQuestionWithQrAndAa) {
  StubResolver stub;
  stub.answer.authoritative = true;
  stub.answer.answers = {a("web.ozy.local.", "10.0.0.1")};
  auto response = respondTo(toWire(makeQuery("web.ozy.local.", LDNS_RR_TYPE_A, 777).get()), stub);
  ASSERT_TRUE(response);
  EXPECT_EQ(ldns_pkt_id(response.get()), 777);
  EXPECT_TRUE(ldns_pkt_qr(response.get()));
  EXPECT_TRUE(ldns_pkt_aa(response.get()));
  EXPECT_TRUE(ldns_pkt_rd(response.get()));
  EXPECT_FALSE(ldns_pkt_tc(response.get()));
  EXPECT_EQ(ldns_pkt_get_rcode(response.get()), LDNS_RCODE_NOERROR);
  EXPECT_THAT(records(response.get(), LDNS_SECTION_QUESTION), ElementsAre("web.ozy.local.\tIN\tA"));
  EXPECT_THAT(records(response.get(), LDNS_SECTION_ANSWER),
              ElementsAre("web.ozy.local.\t30\tIN\tA\t10.0.0.1"));
}

TEST(LdnsMessage, ResolverGetsTheQuestionAsAsked) {
  StubResolver stub;
  auto response = respondTo(toWire(makeQuery("Web.OZY.local.", LDNS_RR_TYPE_SRV).get()), stub);
  ASSERT_TRUE(response);
  ASSERT_EQ(stub.asked.size(), 1u);
  EXPECT_EQ(stub.asked[0].name, "Web.OZY.local.");
  EXPECT_EQ(stub.asked[0].type, kTypeSrv);
  EXPECT_EQ(stub.asked[0].qclass, kClassIn);
}

TEST(LdnsMessage, WritesSrvAndAaaaRecords) {
  StubResolver stub;
  ResourceRecord srv;
  srv.name = "web.ozy.local.";
  srv.type = kTypeSrv;
  srv.ttl = 20;
  srv.priority = 1;
  srv.weight = 5;
  srv.port = 8080;
  srv.target = "3.web.ozy.local.";
  ResourceRecord aaaa = a("3.web.ozy.local.", "fd00::3", 20);
  aaaa.type = kTypeAaaa;
  stub.answer.answers = {srv};
  stub.answer.additional = {aaaa};
  auto response = respondTo(toWire(makeQuery("web.ozy.local.", LDNS_RR_TYPE_SRV).get()), stub);
  ASSERT_TRUE(response);
  EXPECT_THAT(records(response.get(), LDNS_SECTION_ANSWER),
              ElementsAre("web.ozy.local.\t20\tIN\tSRV\t1 5 8080 3.web.ozy.local."));
  EXPECT_THAT(records(response.get(), LDNS_SECTION_ADDITIONAL),
              ElementsAre("3.web.ozy.local.\t20\tIN\tAAAA\tfd00::3"));
}

TEST(LdnsMessage, ResponseCodeAndAuthorityComeFromTheResolver) {
  StubResolver stub;
  stub.answer.rcode = Rcode::kRefused;
  auto response = respondTo(toWire(makeQuery("example.org.", LDNS_RR_TYPE_A).get()), stub);
  ASSERT_TRUE(response);
  EXPECT_EQ(ldns_pkt_get_rcode(response.get()), LDNS_RCODE_REFUSED);
  EXPECT_FALSE(ldns_pkt_aa(response.get()));

  stub.answer.rcode = Rcode::kNxDomain;
  stub.answer.authoritative = true;
  response = respondTo(toWire(makeQuery("nope.ozy.local.", LDNS_RR_TYPE_A).get()), stub);
  ASSERT_TRUE(response);
  EXPECT_EQ(ldns_pkt_get_rcode(response.get()), LDNS_RCODE_NXDOMAIN);
  EXPECT_TRUE(ldns_pkt_aa(response.get()));
}

TEST(LdnsMessage, DropsWhatIsNotAQuery) {
  StubResolver stub;
  EXPECT_FALSE(respond({}, Transport::kUdp, stub.fn()));
  const std::vector<std::uint8_t> tooShort = {0x12, 0x34, 0x01, 0x00, 0x00};
  EXPECT_FALSE(respond(tooShort, Transport::kUdp, stub.fn()));
  // A response sent to us (QR set) gets nothing back: no loops between servers.
  auto query = makeQuery("web.ozy.local.", LDNS_RR_TYPE_A);
  ldns_pkt_set_qr(query.get(), true);
  EXPECT_FALSE(respond(toWire(query.get()), Transport::kUdp, stub.fn()));
  EXPECT_THAT(stub.asked, IsEmpty());
}

TEST(LdnsMessage, UnparseableQueryWithAHeaderGetsFormerr) {
  StubResolver stub;
  // A header announcing one question, then a name cut off mid-label.
  const std::vector<std::uint8_t> broken = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00,
                                            0x00, 0x00, 0x00, 0x00, 0x05, 'a',  'b'};
  auto response = respondTo(broken, stub);
  ASSERT_TRUE(response);
  EXPECT_EQ(ldns_pkt_id(response.get()), 0x1234);
  EXPECT_TRUE(ldns_pkt_qr(response.get()));
  EXPECT_EQ(ldns_pkt_get_rcode(response.get()), LDNS_RCODE_FORMERR);
  EXPECT_EQ(ldns_pkt_qdcount(response.get()), 0);
  EXPECT_THAT(stub.asked, IsEmpty());
}

TEST(LdnsMessage, QueryWithoutExactlyOneQuestionGetsFormerr) {
  StubResolver stub;
  Packet empty(ldns_pkt_new());
  ldns_pkt_set_id(empty.get(), 99);
  auto response = respondTo(toWire(empty.get()), stub);
  ASSERT_TRUE(response);
  EXPECT_EQ(ldns_pkt_id(response.get()), 99);
  EXPECT_EQ(ldns_pkt_get_rcode(response.get()), LDNS_RCODE_FORMERR);

  auto two = makeQuery("web.ozy.local.", LDNS_RR_TYPE_A);
  ldns_pkt_push_rr(two.get(), LDNS_SECTION_QUESTION,
                   ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(two.get()), 0)));
  response = respondTo(toWire(two.get()), stub);
  ASSERT_TRUE(response);
  EXPECT_EQ(ldns_pkt_get_rcode(response.get()), LDNS_RCODE_FORMERR);
  EXPECT_THAT(stub.asked, IsEmpty());
}

TEST(LdnsMessage, OtherOpcodesAreNotImplemented) {
  StubResolver stub;
  auto update = makeQuery("web.ozy.local.", LDNS_RR_TYPE_A);
  ldns_pkt_set_opcode(update.get(), LDNS_PACKET_UPDATE);
  auto response = respondTo(toWire(update.get()), stub);
  ASSERT_TRUE(response);
  EXPECT_EQ(ldns_pkt_get_rcode(response.get()), LDNS_RCODE_NOTIMPL);
  EXPECT_EQ(ldns_pkt_get_opcode(response.get()), LDNS_PACKET_UPDATE);
  EXPECT_THAT(stub.asked, IsEmpty());
}

TEST(LdnsMessage, UdpAnswerFits512BytesAndSetsTc) {
  StubResolver stub;
  stub.answer = manyAddresses(100);
  const auto wire = respond(toWire(makeQuery("web.ozy.local.", LDNS_RR_TYPE_A).get()),
                            Transport::kUdp, stub.fn());
  ASSERT_TRUE(wire);
  EXPECT_LE(wire->size(), kClassicUdpLimit);
  auto response = parse(*wire);
  ASSERT_TRUE(response);  // whole records only: it still parses
  EXPECT_TRUE(ldns_pkt_tc(response.get()));
  EXPECT_GT(ldns_pkt_ancount(response.get()), 20);
  EXPECT_LT(ldns_pkt_ancount(response.get()), 100);
}

TEST(LdnsMessage, EdnsClientGetsUpTo1232BytesAndAnOptRecord) {
  StubResolver stub;
  stub.answer = manyAddresses(100);
  auto query = makeQuery("web.ozy.local.", LDNS_RR_TYPE_A);
  ldns_pkt_set_edns_udp_size(query.get(), 4096);
  auto wire = respond(toWire(query.get()), Transport::kUdp, stub.fn());
  ASSERT_TRUE(wire);
  EXPECT_LE(wire->size(), kEdnsUdpLimit);
  EXPECT_GT(wire->size(), kClassicUdpLimit);
  auto response = parse(*wire);
  ASSERT_TRUE(response);
  EXPECT_TRUE(ldns_pkt_tc(response.get()));
  EXPECT_EQ(ldns_pkt_edns_udp_size(response.get()), kEdnsUdpLimit);

  // A client advertising less than 1232 bytes gets no more than it asked for.
  ldns_pkt_set_edns_udp_size(query.get(), 700);
  wire = respond(toWire(query.get()), Transport::kUdp, stub.fn());
  ASSERT_TRUE(wire);
  EXPECT_LE(wire->size(), 700u);
  EXPECT_GT(wire->size(), kClassicUdpLimit);
}

TEST(LdnsMessage, TcpCarriesTheWholeAnswer) {
  StubResolver stub;
  stub.answer = manyAddresses(1000);
  auto response =
      respondTo(toWire(makeQuery("web.ozy.local.", LDNS_RR_TYPE_A).get()), stub, Transport::kTcp);
  ASSERT_TRUE(response);
  EXPECT_FALSE(ldns_pkt_tc(response.get()));
  EXPECT_EQ(ldns_pkt_ancount(response.get()), 1000);
}

TEST(LdnsMessage, AdditionalRecordsGiveWayBeforeAnswersAndWithoutTc) {
  StubResolver stub;
  for (int i = 1; i <= 12; ++i) {
    ResourceRecord srv;
    srv.name = "web.ozy.local.";
    srv.type = kTypeSrv;
    srv.ttl = 30;
    srv.port = 8080;
    srv.target = std::to_string(i) + ".web.ozy.local.";
    stub.answer.answers.push_back(srv);
    ResourceRecord aaaa = a(srv.target, "fd00::" + std::to_string(i));
    aaaa.type = kTypeAaaa;
    stub.answer.additional.push_back(aaaa);
  }
  const auto wire = respond(toWire(makeQuery("web.ozy.local.", LDNS_RR_TYPE_SRV).get()),
                            Transport::kUdp, stub.fn());
  ASSERT_TRUE(wire);
  EXPECT_LE(wire->size(), kClassicUdpLimit);
  auto response = parse(*wire);
  ASSERT_TRUE(response);
  EXPECT_FALSE(ldns_pkt_tc(response.get()));
  EXPECT_EQ(ldns_pkt_ancount(response.get()), 12);
  EXPECT_GT(ldns_pkt_arcount(response.get()), 0);
  EXPECT_LT(ldns_pkt_arcount(response.get()), 12);
}

TEST(LdnsMessage, UnknownEdnsVersionGetsBadvers) {
  StubResolver stub;
  auto query = makeQuery("web.ozy.local.", LDNS_RR_TYPE_A);
  ldns_pkt_set_edns_udp_size(query.get(), 1232);
  ldns_pkt_set_edns_version(query.get(), 1);
  auto response = respondTo(toWire(query.get()), stub);
  ASSERT_TRUE(response);
  // BADVERS (16): 0 in the header, 1 in the OPT record's upper bits.
  EXPECT_EQ(ldns_pkt_get_rcode(response.get()), 0);
  EXPECT_EQ(ldns_pkt_edns_extended_rcode(response.get()), 1);
  EXPECT_THAT(stub.asked, IsEmpty());
}

TEST(LdnsMessage, TruncatedResponseCarriesTheQuestionAloneWithTcAndIsNoLargerThanTheQuery) {
  auto query = makeQuery("Web.ozy.local.", LDNS_RR_TYPE_A, 321);
  ldns_pkt_set_edns_udp_size(query.get(), 4096);
  const auto wire = toWire(query.get());
  auto truncated = truncatedResponse(wire);
  ASSERT_TRUE(truncated);
  EXPECT_LE(truncated->size(), wire.size());
  auto response = parse(*truncated);
  ASSERT_TRUE(response);
  EXPECT_EQ(ldns_pkt_id(response.get()), 321);
  EXPECT_TRUE(ldns_pkt_qr(response.get()));
  EXPECT_TRUE(ldns_pkt_tc(response.get()));
  EXPECT_TRUE(ldns_pkt_rd(response.get()));
  EXPECT_EQ(ldns_pkt_get_rcode(response.get()), LDNS_RCODE_NOERROR);
  EXPECT_THAT(records(response.get(), LDNS_SECTION_QUESTION), ElementsAre("Web.ozy.local.\tIN\tA"));
  EXPECT_EQ(ldns_pkt_ancount(response.get()), 0);
  EXPECT_EQ(ldns_pkt_arcount(response.get()), 0);
  EXPECT_FALSE(ldns_pkt_edns(response.get()));
}

TEST(LdnsMessage, TruncatedResponseIsNothingForWhatIsNotAWellFormedQuery) {
  EXPECT_FALSE(truncatedResponse({}));
  const std::vector<std::uint8_t> broken = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00,
                                            0x00, 0x00, 0x00, 0x00, 0x05, 'a',  'b'};
  EXPECT_FALSE(truncatedResponse(broken));
  Packet empty(ldns_pkt_new());
  EXPECT_FALSE(truncatedResponse(toWire(empty.get())));
  auto answer = makeQuery("web.ozy.local.", LDNS_RR_TYPE_A);
  ldns_pkt_set_qr(answer.get(), true);
  EXPECT_FALSE(truncatedResponse(toWire(answer.get())));
  auto update = makeQuery("web.ozy.local.", LDNS_RR_TYPE_A);
  ldns_pkt_set_opcode(update.get(), LDNS_PACKET_UPDATE);
  EXPECT_FALSE(truncatedResponse(toWire(update.get())));
}

}  // namespace
}  // namespace ozy::dns
