// TestBed: N separate hosts on this one machine, for tests that need nodes
// with their own addresses and their own podman, as real machines have.
//
// A thin handle on scripts/testbed.sh (docs/testbed.md): up() runs `up N` on
// a fresh state dir, the destructor runs `down`, so a failing test still
// removes every namespace, link, mount and process it made. Hosts are numbered
// from 1, as the script numbers them. Needs root.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"
#include "support/child_process.h"

namespace ozy::testing_support {

class TestBedHost {
 public:
  TestBedHost(int index, std::string address) : index_(index), address_(std::move(address)) {}
  int index() const { return index_; }
  // Its IPv4 address on the test bed's bridge, e.g. "10.99.7.11".
  const std::string& address() const { return address_; }

 private:
  int index_;
  std::string address_;
};

class TestBed {
 public:
  static constexpr std::chrono::milliseconds kCommandTimeout{std::chrono::seconds(120)};

  // Makes `hosts` hosts; the error quotes the script's own explanation.
  static Result<std::unique_ptr<TestBed>, std::string> up(int hosts);
  ~TestBed();
  TestBed(const TestBed&) = delete;
  TestBed& operator=(const TestBed&) = delete;

  // Removes everything up() made; safe to call twice (the destructor calls it).
  Result<std::monostate, std::string> down();

  int hostCount() const { return static_cast<int>(hosts_.size()); }
  // Host `i`, 1 <= i <= hostCount().
  const TestBedHost& host(int i) const;
  // The bridge's address in the root namespace: what a process of the test
  // (etcd, a registry) listening there is reached at from every host.
  const std::string& bridgeAddress() const { return bridgeAddress_; }
  // Where the script keeps the test bed's record and the hosts' podman state.
  const std::string& stateDir() const { return stateDir_; }

  // The argv prefix that runs a command inside host `i` (its network and
  // mount namespaces): prefix + {"/usr/bin/podman", "ps"}. The command keeps
  // the pid of the prefix's first process, so spawn() and terminateChild()
  // work on it; CONTAINERS_CONF is the project's unless the caller sets it.
  std::vector<std::string> commandIn(int i) const;
  // Runs `argv` inside host `i` to its end.
  CommandOutput run(int i, const std::vector<std::string>& argv,
                    std::chrono::milliseconds timeout = kCommandTimeout) const;
  // Copies `image` from the root namespace's podman into host `i`'s.
  Result<std::monostate, std::string> copyImage(const std::string& image, int i) const;

  // scripts/testbed.sh in this source tree.
  static std::string script();

 private:
  explicit TestBed(std::string stateDir) : stateDir_(std::move(stateDir)) {}
  CommandOutput runScript(std::vector<std::string> args) const;

  std::string stateDir_;
  std::string bridgeAddress_;
  std::vector<TestBedHost> hosts_;
  bool up_ = false;  // the script may have made something that down() must remove
};

}  // namespace ozy::testing_support
