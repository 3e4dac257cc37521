// makeTestCerts: drives the openssl command; see test_certs.h.
#include "test_certs.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>
#include <variant>
#include <vector>

extern char** environ;

namespace ozy::testing_support {
namespace {

// Runs openssl with `args`, its output going to `log`; the error quotes it.
Result<std::monostate, std::string> openssl(const std::vector<std::string>& args,
                                            const std::string& log) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> raw;
  for (std::string& arg : argv) raw.push_back(arg.data());
  raw.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = -1;
  const int spawned = posix_spawnp(&pid, "openssl", &actions, nullptr, raw.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  if (spawned != 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    std::ifstream in(log);
    std::ostringstream output;
    output << in.rdbuf();
    return fail("openssl " + args.front() + " failed:\n" + output.str());
  }
  return std::monostate{};
}

Result<std::monostate, std::string> writeFile(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  if (!out) return fail("cannot write " + path);
  return std::monostate{};
}

// A key and a certificate for `subject`, signed by the CA in `dir`.
Result<std::monostate, std::string> issue(const std::string& dir, const std::string& name,
                                          const std::string& subject,
                                          const std::string& extensions) {
  const std::string base = dir + "/" + name;
  const std::string log = base + ".log";
  auto ext = writeFile(base + ".ext", extensions);
  if (!ext) return ext;
  auto request =
      openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
               "-subj", subject, "-keyout", base + ".key", "-out", base + ".csr"},
              log);
  if (!request) return request;
  return openssl(
      {"x509", "-req", "-in", base + ".csr", "-CA", dir + "/ca.crt", "-CAkey", dir + "/ca.key",
       "-CAcreateserial", "-days", "2", "-extfile", base + ".ext", "-out", base + ".crt"},
      log);
}

}  // namespace

Result<TestCerts, std::string> makeTestCerts(const std::string& dir) {
  auto ca = openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                     "-nodes", "-days", "2", "-subj", "/CN=ozy-test-ca", "-keyout", dir + "/ca.key",
                     "-out", dir + "/ca.crt"},
                    dir + "/ca.log");
  if (!ca) return fail(std::move(ca).error());
  // etcd also presents its server certificate as a client (to itself, for
  // the gRPC gateway), hence clientAuth on it too.
  auto server = issue(dir, "server", "/CN=127.0.0.1",
                      "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n");
  if (!server) return fail(std::move(server).error());
  auto client = issue(dir, "client", "/CN=ozy-test-client", "extendedKeyUsage=clientAuth\n");
  if (!client) return fail(std::move(client).error());
  return TestCerts{dir + "/ca.crt",     dir + "/ca.key",     dir + "/server.crt",
                   dir + "/server.key", dir + "/client.crt", dir + "/client.key"};
}

}  // namespace ozy::testing_support
