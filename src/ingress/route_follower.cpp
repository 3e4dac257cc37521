#include "ingress/route_follower.h"

#include <charconv>

#include <spdlog/spdlog.h>

#include "scheduler/keys.h"

namespace ozy::ingress {

Result<std::unique_ptr<RouteFollower>, StoreError> RouteFollower::start(Store& store, std::string domain,
                                                                        Publish publish) {
  std::unique_ptr<RouteFollower> self(new RouteFollower(std::move(domain), std::move(publish)));
  RouteFollower* raw = self.get();
  auto follower = PrefixFollower::start(
      store,
      {.prefixes = {std::string(keys::kJobs), std::string(keys::kStatus), std::string(keys::kVersions)},
       .name = "ingress: the routes",
       .requireFirstRead = false},
      {.onSnapshot = [raw](std::vector<KeyValue> kvs, std::int64_t) { raw->replaceAll(kvs); },
       .onEvents =
           [raw](std::vector<WatchEvent> events, std::int64_t) {
             for (const WatchEvent& event : events) raw->apply(event);
             raw->publish();
           },
       .onWatchEnded = {}});
  if (!follower) return fail(std::move(follower).error());
  self->follower_ = std::move(follower).value();
  return self;
}

RouteFollower::RouteFollower(std::string domain, Publish publish)
    : domain_(std::move(domain)), publish_(std::move(publish)) {}

RouteFollower::~RouteFollower() {
  stop();
}

void RouteFollower::stop() {
  if (follower_) follower_->stop();
}

void RouteFollower::replaceAll(const std::vector<KeyValue>& kvs) {
  jobs_.clear();
  statuses_.clear();
  versionPorts_.clear();
  for (const KeyValue& kv : kvs) put(kv);
  publish();
}

void RouteFollower::apply(const WatchEvent& event) {
  if (event.type == WatchEvent::kPut) {
    put(event.kv);
    return;
  }
  if (auto status = keys::parseStatus(event.kv.key)) {
    statuses_.erase({std::string(status->job), status->id});
  } else if (auto job = keys::nameUnder(event.kv.key, keys::kJobs); !job.empty()) {
    jobs_.erase(std::string(job));
  } else if (auto version = parseVersionKey(event.kv.key)) {
    if (auto it = versionPorts_.find(version->first); it != versionPorts_.end()) {
      it->second.erase(version->second);
      if (it->second.empty()) versionPorts_.erase(it);
    }
  }
}

std::optional<std::pair<std::string, std::uint64_t>> RouteFollower::parseVersionKey(std::string_view key) {
  const std::string_view rest = keys::nameUnder(key, keys::kVersions);
  const auto slash = rest.find('/');
  if (rest.empty() || slash == std::string_view::npos) return std::nullopt;
  std::uint64_t n = 0;
  const std::string_view digits = rest.substr(slash + 1);
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return std::nullopt;
  return std::pair<std::string, std::uint64_t>{std::string(rest.substr(0, slash)), n};
}

void RouteFollower::put(const KeyValue& kv) {
  // A record that does not decode is left out (and logged): one bad value
  // must not take every other job's routes down.
  if (auto status = keys::parseStatus(kv.key)) {
    auto decoded = decodeInstanceStatus(kv.value);
    InstanceKey key{std::string(status->job), status->id};
    if (!decoded) {
      spdlog::warn("ingress: ignoring {}: {}", kv.key, decoded.error());
      statuses_.erase(key);
      return;
    }
    statuses_[std::move(key)] = std::move(decoded).value();
    return;
  }
  if (auto version = parseVersionKey(kv.key)) {
    auto decoded = decodeVersion(kv.value);
    if (!decoded) {
      spdlog::warn("ingress: ignoring {}: {}", kv.key, decoded.error());
      return;
    }
    auto& ports = versionPorts_[version->first][version->second];
    ports.clear();
    for (const Container& c : decoded->spec.containers) {
      if (c.ingress) ports[c.name] = c.ingress->port;
    }
    return;
  }
  const std::string_view name = keys::nameUnder(kv.key, keys::kJobs);
  if (name.empty()) return;
  auto decoded = decodeJob(kv.value);
  if (!decoded) {
    spdlog::warn("ingress: ignoring {}: {}", kv.key, decoded.error());
    jobs_.erase(std::string(name));
    return;
  }
  jobs_[std::string(name)] = RouteJob{std::move(decoded->spec), decoded->createdAtMs, std::move(decoded->ingress)};
}

void RouteFollower::publish() {
  // Most changes (a status of a job without ingress, a restart count) leave
  // the table as it was: then the workers keep their views, pools and
  // round-robin cursors.
  auto table = std::make_shared<const RouteTable>(RouteTable::build(jobs_, statuses_, domain_, &versionPorts_));
  if (published_ && *published_ == *table) return;
  published_ = table;
  publish_(std::move(table));
}

}  // namespace ozy::ingress
