// DnsServer end to end: records written to a real etcd, questions asked by
// the real `dig` (Debian dnsutils), as a container's resolver would.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "dns/dns_server.h"
#include "store/etcd_store.h"
#include "support/etcd_process.h"
#include "support/etcd_with_store.h"

namespace ozy::dns {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using testing_support::EtcdProcess;

// Output lines of a command, whitespace runs squeezed to one space, sorted.
std::vector<std::string> sortedLines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::istringstream words(line);
    std::string squeezed;
    for (std::string word; words >> word;) squeezed += (squeezed.empty() ? "" : " ") + word;
    if (!squeezed.empty()) lines.push_back(squeezed);
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

class DnsServerEtcdTest : public testing_support::EtcdStoreTest {
 protected:
  void TearDown() override {
    if (server_) server_->stop();
  }

  void put(const std::string& job, std::uint32_t id, SkyRecord record) {
    ASSERT_TRUE(store_->put(instanceKey("ozy.local", job, id), encode(record)).ok());
  }
  void startServer() {
    auto server = DnsServer::start(DnsServerConfig{}, *store_);
    ASSERT_TRUE(server.ok()) << server.error();
    server_ = std::move(server).value();
  }
  // Runs dig against the server; its standard output.
  std::string dig(const std::string& args) {
    const std::string command =
        fmt::format("dig @127.0.0.1 -p {} +time=2 +tries=1 {} 2>&1", server_->port(), args);
    FILE* pipe = ::popen(command.c_str(), "r");
    if (!pipe) {
      ADD_FAILURE() << "cannot run " << command;
      return "";
    }
    std::string out;
    char chunk[4096];
    for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, pipe)) > 0;) out.append(chunk, n);
    const int status = ::pclose(pipe);
    EXPECT_EQ(status, 0) << command << "\n" << out;
    return out;
  }
  std::vector<std::string> short_(const std::string& args) {
    return sortedLines(dig("+short " + args));
  }
  // Polls until `+short args` gives `expected` (records reach the server
  // through the watch, within milliseconds).
  bool eventually(const std::string& args, const std::vector<std::string>& expected) {
    for (int i = 0; i < 50; ++i) {
      if (short_(args) == expected) return true;
      std::this_thread::sleep_for(100ms);
    }
    return false;
  }

  std::unique_ptr<DnsServer> server_;
};

TEST_F(DnsServerEtcdTest, AnswersAddressesOfEveryInstanceUnderAName) {
  put("web", 1, {"10.0.0.1", 8080, 10, 10, 30});
  put("web", 2, {"10.0.0.2", 8080, 10, 10, 30});
  put("web", 3, {"fd00::3", 8080, 10, 10, 30});
  put("web2", 1, {"10.0.9.9", 8080, 10, 10, 30});
  startServer();
  ASSERT_TRUE(server_);

  EXPECT_THAT(short_("web.ozy.local A"), ElementsAre("10.0.0.1", "10.0.0.2"));
  EXPECT_THAT(short_("2.web.ozy.local A"), ElementsAre("10.0.0.2"));
  EXPECT_THAT(short_("WEB.Ozy.Local A"), ElementsAre("10.0.0.1", "10.0.0.2"));
  EXPECT_THAT(short_("web.ozy.local AAAA"), ElementsAre("fd00::3"));
  EXPECT_THAT(sortedLines(dig("+noall +answer 1.web.ozy.local A")),
              ElementsAre("1.web.ozy.local. 30 IN A 10.0.0.1"));
}

TEST_F(DnsServerEtcdTest, AnswersSrvWithEachInstanceAndItsAddress) {
  put("web", 1, {"10.0.0.1", 8080, 1, 5, 30});
  put("web", 2, {"10.0.0.2", 8081, 2, 6, 30});
  startServer();
  ASSERT_TRUE(server_);

  EXPECT_THAT(short_("web.ozy.local SRV"),
              ElementsAre("1 5 8080 1.web.ozy.local.", "2 6 8081 2.web.ozy.local."));
  EXPECT_THAT(
      sortedLines(dig("+noall +additional web.ozy.local SRV")),
      ElementsAre("1.web.ozy.local. 30 IN A 10.0.0.1", "2.web.ozy.local. 30 IN A 10.0.0.2"));
}

TEST_F(DnsServerEtcdTest, ResponseCodesSayWhereTheNameIs) {
  put("web", 1, {"10.0.0.1", 8080, 10, 10, 30});
  startServer();
  ASSERT_TRUE(server_);

  const std::string nxdomain = dig("+noall +comments nope.ozy.local A");
  EXPECT_THAT(nxdomain, HasSubstr("status: NXDOMAIN"));
  EXPECT_THAT(nxdomain, HasSubstr("flags: qr aa rd;"));

  EXPECT_THAT(dig("+noall +comments example.org A"), HasSubstr("status: REFUSED"));

  // NODATA: the name exists, without TXT records.
  const std::string nodata = dig("+noall +comments web.ozy.local TXT");
  EXPECT_THAT(nodata, HasSubstr("status: NOERROR"));
  EXPECT_THAT(nodata, HasSubstr("ANSWER: 0,"));
}

TEST_F(DnsServerEtcdTest, FollowsPutsAndDeletesInEtcd) {
  put("web", 1, {"10.0.0.1", 8080, 10, 10, 30});
  startServer();
  ASSERT_TRUE(server_);
  ASSERT_THAT(short_("web.ozy.local A"), ElementsAre("10.0.0.1"));

  put("web", 2, {"10.0.0.2", 8080, 10, 10, 30});
  EXPECT_TRUE(eventually("web.ozy.local A", {"10.0.0.1", "10.0.0.2"}));

  ASSERT_TRUE(store_->remove(instanceKey("ozy.local", "web", 1)).ok());
  EXPECT_TRUE(eventually("web.ozy.local A", {"10.0.0.2"}));
  EXPECT_THAT(short_("1.web.ozy.local A"), IsEmpty());
  EXPECT_THAT(dig("+noall +comments 1.web.ozy.local A"), HasSubstr("status: NXDOMAIN"));
}

TEST_F(DnsServerEtcdTest, LargeAnswerIsTruncatedOverUdpAndWholeOverTcp) {
  for (std::uint32_t i = 1; i <= 100; ++i) {
    put("big", i, {fmt::format("10.1.0.{}", i), 80, 10, 10, 30});
  }
  startServer();
  ASSERT_TRUE(server_);

  // UDP only (+ignore: no retry over TCP), no EDNS: 512 bytes, TC set.
  EXPECT_THAT(dig("+noall +comments +ignore +noedns big.ozy.local A"),
              HasSubstr("flags: qr aa tc rd;"));
  const auto partial = short_("+ignore +noedns big.ozy.local A");
  EXPECT_GT(partial.size(), 0u);
  EXPECT_LT(partial.size(), 100u);

  // dig's default: on TC it asks again over TCP and gets everything.
  EXPECT_EQ(short_("big.ozy.local A").size(), 100u);
  EXPECT_EQ(short_("+tcp big.ozy.local A").size(), 100u);
  EXPECT_THAT(dig("+noall +comments +tcp big.ozy.local A"), Not(HasSubstr(" tc ")));
}

}  // namespace
}  // namespace ozy::dns
