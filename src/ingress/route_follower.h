// RouteFollower: keeps the ingress's RouteTable current with etcd. It follows
// the job records and the instance statuses (one PrefixFollower over both),
// rebuilds the table after each change and hands it over whole; the ingress
// swaps it in without stopping. When etcd cannot be reached no change
// arrives, so the last table keeps serving (DESIGN.md, "Proxies").
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>

#include "common/result.h"
#include "ingress/route_table.h"
#include "store/prefix_follower.h"
#include "store/store.h"

namespace ozy::ingress {

class RouteFollower {
 public:
  // Called with every new table, never concurrently with itself.
  using Publish = std::function<void(std::shared_ptr<const RouteTable>)>;

  // Does not wait for etcd: the first table comes when the first read
  // succeeds (until then the ingress knows no host).
  static Result<std::unique_ptr<RouteFollower>, StoreError> start(Store& store, std::string domain,
                                                                  Publish publish);
  ~RouteFollower();
  RouteFollower(const RouteFollower&) = delete;
  RouteFollower& operator=(const RouteFollower&) = delete;

  void stop();

 private:
  RouteFollower(std::string domain, Publish publish);
  void replaceAll(const std::vector<KeyValue>& kvs);
  void apply(const WatchEvent& event);
  void put(const KeyValue& kv);
  void publish();

  const std::string domain_;
  const Publish publish_;
  // Touched by the follower's callbacks only, which never overlap.
  // The job and version of a /ozy/versions/<job>/<n> key.
  static std::optional<std::pair<std::string, std::uint64_t>> parseVersionKey(std::string_view key);
  std::map<std::string, RouteJob> jobs_;
  std::map<InstanceKey, InstanceStatus> statuses_;
  RouteTable::VersionPorts versionPorts_;  // from /ozy/versions/
  std::shared_ptr<const RouteTable> published_;
  std::unique_ptr<PrefixFollower> follower_;
};

}  // namespace ozy::ingress
