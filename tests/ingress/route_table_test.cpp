// The route table as a specification: which host and which TCP port lead to
// which job, which instances take traffic, and who keeps a host or port that
// two jobs claim. Pure: job records and statuses in, a table out.
#include "ingress/route_table.h"
#include "scheduler/ingress_claims.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <ostream>
#include <string>
#include <vector>

namespace ozy::ingress {

void PrintTo(const Backend& b, std::ostream* out) {
  *out << "instance " << b.instance << " on " << b.node << " at " << b.address << ":" << b.port;
}

namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr std::string_view kDomain = "apps.example";

// A job record with one container, built as a job file would say it.
class JobBuilder {
 public:
  explicit JobBuilder(std::string name) { job_.spec.name = std::move(name); }
  JobBuilder& host(std::string name) {
    ingress().hosts.push_back(std::move(name));
    return *this;
  }
  JobBuilder& defaultHost() {
    ingress().defaultHost = true;
    return *this;
  }
  JobBuilder& port(std::uint16_t port) {
    ingress().port = port;
    return *this;
  }
  JobBuilder& tcp(std::uint16_t port) {
    ingress().tcp = port;
    return *this;
  }
  JobBuilder& createdAt(std::int64_t ms) {
    job_.createdAtMs = ms;
    return *this;
  }
  // A second container, with an ingress of its own.
  JobBuilder& container(std::string name, std::string host, std::uint16_t port) {
    Container extra;
    extra.name = std::move(name);
    extra.ingress = ozy::Ingress{{std::move(host)}, false, port, 0};
    job_.spec.containers.push_back(std::move(extra));
    return *this;
  }
  // A container the ingress serves nothing of.
  JobBuilder& withoutIngress() {
    main().ingress.reset();
    return *this;
  }
  // What the record does not claim, the ingress does not serve.
  JobBuilder& unclaimed() {
    unclaimed_ = true;
    return *this;
  }
  // So that a list of builders is a list of jobs, with the claims the
  // control plane records at submission.
  operator RouteJob() const {
    RouteJob job = job_;
    if (!unclaimed_) job.claims = ingressClaimsOf(job.spec, kDomain);
    return job;
  }

 private:
  Container& main() {
    if (job_.spec.containers.empty()) {
      Container container;
      container.name = "main";
      container.ingress = ozy::Ingress{{}, false, 8080, 0};
      job_.spec.containers.push_back(std::move(container));
    }
    return job_.spec.containers.front();
  }
  ozy::Ingress& ingress() {
    if (!main().ingress) main().ingress = ozy::Ingress{{}, false, 8080, 0};
    return *main().ingress;
  }
  RouteJob job_;
  bool unclaimed_ = false;
};

JobBuilder makeJob(std::string name) {
  return JobBuilder(std::move(name));
}

InstanceStatus status(InstanceState state, std::string podIp, std::string node = "node-1") {
  InstanceStatus s;
  s.node = std::move(node);
  s.state = state;
  s.podIp = std::move(podIp);
  return s;
}

InstanceStatus healthy(std::string podIp, std::string node = "node-1") {
  return status(InstanceState::kHealthy, std::move(podIp), std::move(node));
}

std::map<std::string, RouteJob> jobsOf(std::vector<RouteJob> list) {
  std::map<std::string, RouteJob> jobs;
  for (RouteJob& job : list) {
    const std::string name = job.spec.name;
    jobs.emplace(name, std::move(job));
  }
  return jobs;
}

std::string jobOf(const Route* route) {
  return route == nullptr ? "<none>" : route->job;
}

TEST(RouteTable, EveryHostOfAJobLeadsToItsRoute) {
  const RouteTable table =
      RouteTable::build(jobsOf({makeJob("web").host("www.example.org").host("example.org"),
                                makeJob("api").host("api.example.org")}),
                        {}, kDomain);
  EXPECT_EQ(jobOf(table.http("www.example.org")), "web");
  EXPECT_EQ(jobOf(table.http("example.org")), "web");
  EXPECT_EQ(jobOf(table.http("api.example.org")), "api");
  EXPECT_EQ(table.http("other.example.org"), nullptr);
  EXPECT_EQ(table.http("www.example.org"), table.http("example.org")) << "one route per container";
  EXPECT_THAT(table.hosts(), ElementsAre("api.example.org", "example.org", "www.example.org"));
}

TEST(RouteTable, TheDefaultHostIsTheJobNameUnderTheClusterDomain) {
  const RouteTable table = RouteTable::build(
      jobsOf({makeJob("shop").defaultHost().host("shop.example.org")}), {}, kDomain);
  EXPECT_EQ(jobOf(table.http("shop.apps.example")), "shop");
  EXPECT_EQ(jobOf(table.http("shop.example.org")), "shop");
  EXPECT_EQ(defaultHostOf("shop", kDomain), "shop.apps.example");
}

TEST(RouteTable, WithoutAClusterDomainThereIsNoDefaultHost) {
  const RouteTable table = RouteTable::build(jobsOf({makeJob("shop").defaultHost()}), {}, "");
  EXPECT_THAT(table.hosts(), IsEmpty());
  EXPECT_EQ(table.routeCount(), 1u) << "the route exists; only no host leads to it";
}

TEST(RouteTable, BackendsAreTheHealthyInstancesWithAPodAddressInIdOrder) {
  const RouteTable table =
      RouteTable::build(jobsOf({makeJob("web").host("w.example").port(3000)}),
                        {{{"web", 3}, healthy("10.244.2.9", "node-b")},
                         {{"web", 1}, healthy("10.244.1.5", "node-a")},
                         {{"web", 2}, status(InstanceState::kUnhealthy, "10.244.1.6")},
                         {{"web", 4}, healthy("")},
                         {{"webby", 1}, healthy("10.244.3.3")}},
                        kDomain);
  const Route* route = table.http("w.example");
  ASSERT_NE(route, nullptr);
  EXPECT_THAT(route->backends, ElementsAre(Backend{1, "node-a", "10.244.1.5", 3000},
                                           Backend{3, "node-b", "10.244.2.9", 3000}));
}

// During a rolling deploy that moves the container's port, each instance
// takes traffic on its own version's port; one whose version has no
// ingress for the container takes none; one of a version not known gets
// the newest spec's.
TEST(RouteTable, EachInstanceTakesTrafficOnItsOwnVersionsPort) {
  auto at = [](std::string ip, std::uint64_t version) {
    InstanceStatus s = healthy(std::move(ip));
    s.version = version;
    return s;
  };
  const RouteTable::VersionPorts versions{{"web", {{1, {{"main", 8080}}}, {2, {{"main", 9090}}}, {3, {}}}}};
  const RouteTable table = RouteTable::build(
      jobsOf({makeJob("web").host("w.example").port(9090)}),
      {{{"web", 0}, at("10.244.1.1", 1)}, {{"web", 1}, at("10.244.1.2", 2)},
       {{"web", 2}, at("10.244.1.3", 3)}, {{"web", 3}, at("10.244.1.4", 7)}},
      kDomain, &versions);
  const Route* route = table.http("w.example");
  ASSERT_NE(route, nullptr);
  EXPECT_THAT(route->backends, ElementsAre(Backend{0, "node-1", "10.244.1.1", 8080},
                                           Backend{1, "node-1", "10.244.1.2", 9090},
                                           Backend{3, "node-1", "10.244.1.4", 9090}));
}

// Only a healthy instance takes traffic: one that is starting has not passed
// its check yet, and one on its way out is withdrawn before it stops.
TEST(RouteTable, OnlyAHealthyInstanceIsABackend) {
  const struct {
    InstanceState state;
    bool backend;
  } cases[] = {
      {InstanceState::kHealthy, true},    {InstanceState::kPending, false},
      {InstanceState::kPulling, false},   {InstanceState::kStarting, false},
      {InstanceState::kUnhealthy, false}, {InstanceState::kFailed, false},
      {InstanceState::kUnknown, false},
  };
  for (const auto& c : cases) {
    const RouteTable table =
        RouteTable::build(jobsOf({makeJob("web").host("w.example")}),
                          {{{"web", 1}, status(c.state, "10.244.1.5")}}, kDomain);
    ASSERT_NE(table.http("w.example"), nullptr);
    EXPECT_EQ(!table.http("w.example")->backends.empty(), c.backend) << toString(c.state);
  }
}

TEST(RouteTable, AJobWithoutHealthyInstancesStillHasItsRoute) {
  const RouteTable table =
      RouteTable::build(jobsOf({makeJob("web").host("w.example")}), {}, kDomain);
  ASSERT_NE(table.http("w.example"), nullptr) << "a known host is answered 503, not 404";
  EXPECT_THAT(table.http("w.example")->backends, IsEmpty());
}

TEST(RouteTable, ATcpPortLeadsToItsJobsContainerPort) {
  const RouteTable table =
      RouteTable::build(jobsOf({makeJob("db").port(5432).tcp(15432),
                                makeJob("cache").port(6379).tcp(16379), makeJob("web").host("w")}),
                        {{{"db", 1}, healthy("10.244.1.7")}}, kDomain);
  EXPECT_EQ(jobOf(table.tcp(15432)), "db");
  EXPECT_EQ(jobOf(table.tcp(16379)), "cache");
  EXPECT_EQ(table.tcp(8080), nullptr);
  EXPECT_THAT(table.tcpPorts(), ElementsAre(15432, 16379));
  EXPECT_THAT(table.tcp(15432)->backends, ElementsAre(Backend{1, "node-1", "10.244.1.7", 5432}));
}

TEST(RouteTable, AJobWithoutIngressHasNoRoute) {
  const RouteTable table = RouteTable::build(jobsOf({makeJob("batch").withoutIngress()}),
                                             {{{"batch", 1}, healthy("10.244.1.8")}}, kDomain);
  EXPECT_EQ(table.routeCount(), 0u);
  EXPECT_THAT(table.hosts(), IsEmpty());
  EXPECT_THAT(table.tcpPorts(), IsEmpty());
}

TEST(RouteTable, EachContainerWithAnIngressHasARouteOfItsOwn) {
  const RouteTable table = RouteTable::build(
      jobsOf(
          {makeJob("site").host("www.example").port(80).container("admin", "admin.example", 9000)}),
      {{{"site", 1}, healthy("10.244.1.9")}}, kDomain);
  ASSERT_EQ(table.routeCount(), 2u);
  ASSERT_NE(table.http("www.example"), nullptr);
  ASSERT_NE(table.http("admin.example"), nullptr);
  EXPECT_EQ(table.http("www.example")->container, "main");
  EXPECT_EQ(table.http("admin.example")->container, "admin");
  EXPECT_EQ(table.http("admin.example")->backends.at(0).port, 9000);
  EXPECT_EQ(table.indexOf(table.http("admin.example")), 1u);
}

// The control plane refuses a second claim; records that say so anyway
// (written by hand, or by an older version) must still route alike on every
// node: the job created first keeps the host, and on a tie the lower name.
TEST(RouteTable, AHostOrPortTwoJobsClaimStaysWithTheJobCreatedFirst) {
  // clang-format off
  const struct {
    const char* name;
    std::int64_t alphaCreated;
    std::int64_t betaCreated;
    const char* keeper;
  } cases[] = {
      {"the older job keeps it, whatever its name", 200, 100, "beta"},
      {"the older job keeps it, listed first", 100, 200, "alpha"},
      {"on a tie the lower name keeps it", 100, 100, "alpha"},
  };
  // clang-format on
  for (const auto& c : cases) {
    const RouteTable table = RouteTable::build(
        jobsOf({makeJob("alpha")
                    .host("shared.example")
                    .host("alpha.example")
                    .tcp(9000)
                    .createdAt(c.alphaCreated),
                makeJob("beta").host("shared.example").tcp(9000).createdAt(c.betaCreated)}),
        {}, kDomain);
    EXPECT_EQ(jobOf(table.http("shared.example")), c.keeper) << c.name;
    EXPECT_EQ(jobOf(table.tcp(9000)), c.keeper) << c.name;
    EXPECT_EQ(jobOf(table.http("alpha.example")), "alpha")
        << c.name << ": the loser keeps its other hosts";
  }
}

TEST(RouteTable, ADefaultHostCanBeClaimedLikeAnyOther) {
  // "api.apps.example" is job api's default host, and job legacy names it
  // outright; legacy was created first.
  const RouteTable table =
      RouteTable::build(jobsOf({makeJob("api").defaultHost().createdAt(500),
                                makeJob("legacy").host("api.apps.example").createdAt(10)}),
                        {}, kDomain);
  EXPECT_EQ(jobOf(table.http("api.apps.example")), "legacy");
}

}  // namespace
}  // namespace ozy::ingress

namespace ozy::ingress {
namespace {

TEST(RouteTable, AJobServesOnlyTheHostsAndPortsItsRecordClaims) {
  // A record from before claims existed: its spec reads as serving a host,
  // but it took no claim, so another job may hold that host.
  const RouteTable table =
      RouteTable::build(jobsOf({makeJob("old").host("shop.example.org").tcp(5432).unclaimed()}), {}, kDomain);
  EXPECT_EQ(table.http("shop.example.org"), nullptr);
  EXPECT_EQ(table.tcp(5432), nullptr);
  EXPECT_THAT(table.tcpPorts(), IsEmpty());
}

}  // namespace
}  // namespace ozy::ingress
