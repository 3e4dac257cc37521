// TcpConnection over a socket pair: framing, back-pressure, and deadlines
// that progress does not extend. Time is a value the tests advance by hand.
#include "dns/tcp_connection.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ozy::dns {
namespace {

using namespace std::chrono_literals;
using TimePoint = TcpConnection::TimePoint;

const TimePoint kStart{};

TcpLimits limits() {
  TcpLimits out;
  out.idleTimeout = 10s;
  out.readTimeout = 3s;
  out.writeTimeout = 4s;
  return out;
}

std::vector<std::uint8_t> framed(const std::string& body) {
  // Sized once and filled in: g++ 12 sees an out-of-bounds copy (there is
  // none) in inserting after a two-element initializer list.
  std::vector<std::uint8_t> out(2 + body.size());
  out[0] = static_cast<std::uint8_t>(body.size() >> 8);
  out[1] = static_cast<std::uint8_t>(body.size() & 0xff);
  std::copy(body.begin(), body.end(), out.begin() + 2);
  return out;
}

std::string text(const std::optional<std::vector<std::uint8_t>>& bytes) {
  return bytes ? std::string(bytes->begin(), bytes->end()) : "(none)";
}

// The server's end as a TcpConnection, the client's as a descriptor.
class TcpConnectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds), 0);
    client_ = SocketFd(fds[0]);
    connection_.emplace(SocketFd(fds[1]), *parseClientAddress("10.0.0.1"), limits(), kStart);
  }
  void clientSends(const std::vector<std::uint8_t>& bytes) {
    ASSERT_EQ(::send(client_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  std::size_t clientReads() {
    std::vector<std::uint8_t> buffer(1 << 20);
    const ssize_t n = ::recv(client_.get(), buffer.data(), buffer.size(), 0);
    return n > 0 ? static_cast<std::size_t>(n) : 0;
  }
  TcpConnection& c() { return *connection_; }

  SocketFd client_;
  std::optional<TcpConnection> connection_;
};

TEST_F(TcpConnectionTest, TakesEveryQueryOfAChunkInOrderAndKeepsAPartialOne) {
  std::vector<std::uint8_t> stream = framed("first");
  for (auto b : framed("second")) stream.push_back(b);
  stream.push_back(0);  // half the next length prefix
  clientSends(stream);
  ASSERT_TRUE(c().receive(kStart));
  EXPECT_EQ(text(c().nextQuery(kStart)), "first");
  EXPECT_EQ(text(c().nextQuery(kStart)), "second");
  EXPECT_EQ(text(c().nextQuery(kStart)), "(none)");
}

TEST_F(TcpConnectionTest, WithNothingUnderWayClosesAfterTheIdleTimeout) {
  EXPECT_EQ(c().deadline(), kStart + 10s);
  clientSends(framed("query"));
  ASSERT_TRUE(c().receive(kStart + 1s));
  ASSERT_TRUE(c().nextQuery(kStart + 1s));
  EXPECT_EQ(c().deadline(), kStart + 1s + 10s);
}

TEST_F(TcpConnectionTest, AQueryMustArriveWholeWithinTheReadTimeoutOfItsFirstByte) {
  const auto query = framed("query");
  // A byte at a time, each one a second after the last.
  for (std::size_t i = 0; i + 1 < query.size(); ++i) {
    clientSends({query[i]});
    ASSERT_TRUE(c().receive(kStart + std::chrono::seconds(i)));
    EXPECT_EQ(c().deadline(), kStart + 3s) << "after byte " << i;
  }
}

TEST_F(TcpConnectionTest, TheNextQuerysTimeRunsFromWhenTheLastOneWasWhole) {
  std::vector<std::uint8_t> stream = framed("first");
  stream.push_back(0);
  clientSends(stream);
  ASSERT_TRUE(c().receive(kStart));
  ASSERT_TRUE(c().nextQuery(kStart + 1s));
  EXPECT_EQ(c().deadline(), kStart + 1s + 3s);
}

TEST_F(TcpConnectionTest, ResponsesMustBeTakenWithinTheWriteTimeoutHoweverSlowlyTheyGo) {
  const int small = 4096;
  ASSERT_EQ(::setsockopt(c().fd(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  c().queueResponse(std::vector<std::uint8_t>(60000, 'x'), kStart);
  EXPECT_EQ(c().pollEvents(), POLLOUT);
  for (int second = 1; second <= 3; ++second) {
    ASSERT_TRUE(c().send(kStart + std::chrono::seconds(second)));
    ASSERT_GT(clientReads(), 0u);
    EXPECT_EQ(c().deadline(), kStart + 4s) << "after " << second << " s";
  }
  EXPECT_EQ(c().pollEvents(), POLLOUT) << "the socket took everything already: shrink it";
}

TEST_F(TcpConnectionTest, ReadsNothingAndHoldsQueriesBackWhileALargeResponseWaits) {
  std::vector<std::uint8_t> stream = framed("first");
  for (auto b : framed("second")) stream.push_back(b);
  clientSends(stream);
  ASSERT_TRUE(c().receive(kStart));
  ASSERT_TRUE(c().nextQuery(kStart));
  c().queueResponse(std::vector<std::uint8_t>(65535, 'x'), kStart);
  EXPECT_EQ(c().pollEvents(), POLLOUT);
  EXPECT_FALSE(c().nextQuery(kStart));

  std::size_t taken = 0;
  while (c().pollEvents() == POLLOUT) {
    ASSERT_TRUE(c().send(kStart));
    taken += clientReads();
  }
  EXPECT_EQ(taken, 65537u);
  EXPECT_EQ(text(c().nextQuery(kStart)), "second");
  EXPECT_EQ(c().pollEvents(), POLLIN);
}

TEST_F(TcpConnectionTest, AClientThatClosesStillGetsTheAnswersToWhatItSent) {
  clientSends(framed("query"));
  ASSERT_EQ(::shutdown(client_.get(), SHUT_WR), 0);
  ASSERT_TRUE(c().receive(kStart));
  ASSERT_TRUE(c().receive(kStart));  // the end of the stream
  EXPECT_FALSE(c().finished());
  ASSERT_TRUE(c().nextQuery(kStart));
  c().queueResponse(framed("answer"), kStart);
  EXPECT_FALSE(c().finished());
  ASSERT_TRUE(c().send(kStart));
  EXPECT_TRUE(c().finished());
}

TEST_F(TcpConnectionTest, AClientThatClosesMidQueryIsFinished) {
  clientSends({0, 20, 'x'});
  ASSERT_EQ(::shutdown(client_.get(), SHUT_WR), 0);
  ASSERT_TRUE(c().receive(kStart));
  ASSERT_TRUE(c().receive(kStart));
  EXPECT_FALSE(c().nextQuery(kStart));
  EXPECT_TRUE(c().finished());
}

TEST_F(TcpConnectionTest, ClosingAfterSendingDropsWhatIsUnansweredButSendsWhatIsQueued) {
  std::vector<std::uint8_t> stream = framed("first");
  for (auto b : framed("second")) stream.push_back(b);
  clientSends(stream);
  ASSERT_TRUE(c().receive(kStart));
  ASSERT_TRUE(c().nextQuery(kStart));
  c().queueResponse(framed("answer"), kStart);
  c().closeAfterSending();
  EXPECT_FALSE(c().nextQuery(kStart));
  EXPECT_EQ(c().pollEvents(), POLLOUT);
  EXPECT_FALSE(c().finished());
  ASSERT_TRUE(c().send(kStart));
  EXPECT_GT(clientReads(), 0u);
  EXPECT_TRUE(c().finished());
  EXPECT_EQ(c().pollEvents(), 0);
}

TEST_F(TcpConnectionTest, SendingToAClientThatIsGoneCloses) {
  c().queueResponse(framed("answer"), kStart);
  client_ = SocketFd();
  EXPECT_FALSE(c().send(kStart));
}

}  // namespace
}  // namespace ozy::dns
