// TestBed: drives scripts/testbed.sh; see testbed.h.
#include "support/testbed.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace ozy::testing_support {
namespace {

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

std::string TestBed::script() { return std::string(OZY_SOURCE_DIR) + "/scripts/testbed.sh"; }

Result<std::unique_ptr<TestBed>, std::string> TestBed::up(int hosts) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/ozy-testbed-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {
    return fail("cannot make a state directory for the test bed from " + pattern);
  }
  std::unique_ptr<TestBed> bed(new TestBed(pattern));
  // From here on the destructor runs `down`, whatever happens: the script
  // cleans a failed `up` itself, but a killed one leaves its record behind.
  bed->up_ = true;
  const CommandOutput made = bed->runScript({"up", std::to_string(hosts)});
  if (made.exitCode != 0) {
    return fail("scripts/testbed.sh up " + std::to_string(hosts) + " failed: " + trimmed(made.output));
  }
  const CommandOutput bridge = bed->runScript({"bridge-addr"});
  if (bridge.exitCode != 0) return fail("testbed.sh bridge-addr: " + trimmed(bridge.output));
  bed->bridgeAddress_ = trimmed(bridge.output);
  for (int i = 1; i <= hosts; ++i) {
    const CommandOutput address = bed->runScript({"addr", std::to_string(i)});
    if (address.exitCode != 0) return fail("testbed.sh addr: " + trimmed(address.output));
    bed->hosts_.emplace_back(i, trimmed(address.output));
  }
  return bed;
}

TestBed::~TestBed() {
  auto removed = down();
  if (!removed) {
    std::fprintf(stderr, "TestBed: %s\n", removed.error().c_str());
  }
}

Result<std::monostate, std::string> TestBed::down() {
  if (!up_) return std::monostate{};
  const CommandOutput removed = runScript({"down"});
  if (removed.exitCode != 0) {
    return fail("scripts/testbed.sh down --state " + stateDir_ + " failed (run it again by hand): " +
                trimmed(removed.output));
  }
  up_ = false;
  // The script removes the state dir when it recorded it; an `up` that failed
  // before that leaves it empty.
  std::error_code ignored;
  std::filesystem::remove(stateDir_, ignored);
  return std::monostate{};
}

const TestBedHost& TestBed::host(int i) const {
  // A wrong index is a bug in the test: fail loudly.
  return hosts_.at(static_cast<std::size_t>(i - 1));
}

std::vector<std::string> TestBed::commandIn(int i) const {
  return {script(), "--state", stateDir_, "exec", std::to_string(i)};
}

CommandOutput TestBed::run(int i, const std::vector<std::string>& argv,
                           std::chrono::milliseconds timeout) const {
  std::vector<std::string> command = commandIn(i);
  command.insert(command.end(), argv.begin(), argv.end());
  return runCommand(command, timeout);
}

Result<std::monostate, std::string> TestBed::copyImage(const std::string& image, int i) const {
  const CommandOutput copied = runScript({"copy-image", image, std::to_string(i)});
  if (copied.exitCode != 0) {
    return fail("cannot copy " + image + " into host " + std::to_string(i) + ": " +
                trimmed(copied.output));
  }
  return std::monostate{};
}

CommandOutput TestBed::runScript(std::vector<std::string> args) const {
  std::vector<std::string> command{script(), "--state", stateDir_};
  command.insert(command.end(), args.begin(), args.end());
  return runCommand(command, kCommandTimeout);
}

}  // namespace ozy::testing_support
