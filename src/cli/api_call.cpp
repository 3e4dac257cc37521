// Calls to an agent's API from the CLI (api_call.h).
#include "cli/api_call.h"

#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "agent/agent.h"
#include "cli/exit_codes.h"
#include "http/auth.h"
#include "http/client.h"
#include "http/url.h"
#include "problem/problem.h"

namespace ozy {
namespace {

using nlohmann::json;

std::string envOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::string(value) : std::move(fallback);
}

// The API token: $OZY_TOKEN, else the file $OZY_TOKEN_FILE names, else the
// local agent's own (<default data dir>/token), which root can read on a
// node, so `ozy job status` just works there. None is not an error here: the
// API's 401 then says what to send.
Result<std::string, std::string> apiToken(const std::string& baseUrl) {
  if (std::string token = envOr("OZY_TOKEN", ""); !token.empty()) return token;
  const std::string named = envOr("OZY_TOKEN_FILE", "");
  // The local agent's own token goes to the local agent only: never to
  // whatever other address OZY_ADDR or --address names.
  const auto url = http::parseBaseUrl(baseUrl);
  const bool local = url && (url->host == "localhost" || url->host == "::1" || url->host.starts_with("127."));
  if (named.empty() && !local) return std::string();
  const std::string path = named.empty() ? AgentConfig{}.dataDir + "/token" : named;
  std::error_code ec;
  if (named.empty() && !std::filesystem::exists(path, ec)) return std::string();
  auto file = http::readTokenFile(path);
  if (!file) {
    if (named.empty()) return std::string();  // not this user's to read: the 401 explains
    return fail(fmt::format("OZY_TOKEN_FILE: {}", file.error()));
  }
  return std::move(file->token);
}

int exitCodeFor(int status, const json& problem) {
  const std::string type = problem.is_object() ? problem.value("type", "") : "";
  if (status < 300) return exit_code::kOk;
  if (status == 401) return exit_code::kUnauthorized;
  if (type.ends_with("#job-not-found") || type.ends_with("#job-exists") ||
      type.ends_with("#node-not-found") || type.ends_with("#version-not-found") ||
      type.ends_with("#deployment-not-promotable") || type.ends_with("#instance-not-found") ||
      type.ends_with("#container-not-found") || type.ends_with("#instance-not-running")) {
    return exit_code::kConflict;
  }
  if (status >= 500) return exit_code::kUnavailable;
  if (type.find("#insufficient-") != std::string::npos) return exit_code::kUnplaceable;
  return exit_code::kInvalidInput;
}

}  // namespace

void addApiOptions(CLI::App* cmd, ApiCallOptions& o) {
  cmd->add_option("--address", o.address, "Agent API URL (default $OZY_ADDR or http://127.0.0.1:7700)");
  cmd->add_option("--ca-file", o.caFile, "CA certificate to verify an https API (default $OZY_CACERT)");
  cmd->add_option("-o,--output", o.output, "Output format")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
}

std::string printable(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return text;
}

void printApiProblem(const json& problem, bool asJson) {
  if (asJson) {
    std::cout << problem.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
    return;
  }
  if (!problem.is_object()) {
    std::cerr << "error: the API answered with an unexpected body\n";
    return;
  }
  std::cerr << fmt::format("error: {}: {}\n", printable(problem.value("title", "error")),
                           printable(problem.value("detail", "")));
  if (auto errors = problem.find("errors"); errors != problem.end() && errors->is_array() &&
                                            errors->size() > 1) {
    for (const auto& e : *errors) {
      if (!e.is_object()) continue;
      FieldError fe{e.value("path", ""), e.value("message", ""), e.value("line", 0), 0};
      std::cerr << "  " << printable(fe.toString()) << '\n';
    }
  }
  const std::string type = problem.value("type", "");
  if (auto hash = type.find('#'); hash != std::string::npos) {
    std::cerr << "  see docs/errors.md" << type.substr(hash) << '\n';
  }
}

std::optional<http::HttpClient> apiClient(const ApiCallOptions& o, std::chrono::milliseconds deadline) {
  http::HttpClientConfig config;
  config.baseUrl = o.address.empty() ? envOr("OZY_ADDR", "http://127.0.0.1:7700") : o.address;
  config.caFile = o.caFile.empty() ? envOr("OZY_CACERT", "") : o.caFile;
  auto token = apiToken(config.baseUrl);
  if (!token) {
    std::cerr << "error: " << token.error() << '\n';
    return std::nullopt;
  }
  config.bearerToken = std::move(token).value();
  config.deadline = deadline;
  auto client = http::HttpClient::create(config);
  if (!client) {
    std::cerr << "error: " << client.error() << '\n';
    return std::nullopt;
  }
  return std::move(client).value();
}

int exitCodeForProblem(int status, const std::string& body, bool asJson) {
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded()) {
    std::cerr << fmt::format("error: the API answered {} with a body that is not JSON\n", status);
    return exit_code::kUnavailable;
  }
  printApiProblem(parsed, asJson);
  return exitCodeFor(status, parsed);
}

int fetch(const ApiCallOptions& o, std::string method, std::string path, std::string body,
          json& out) {
  auto client = apiClient(o, std::chrono::seconds(60));
  if (!client) return exit_code::kUsage;
  http::ClientRequest request;
  request.method = std::move(method);
  request.path = std::move(path);
  request.body = std::move(body);
  if (!request.body.empty()) request.headers.add("Content-Type", "application/yaml");
  auto response = client->send(request);
  if (!response) {
    std::cerr << "error: " << response.error()
              << "\n  is an agent running there? Set --address or OZY_ADDR.\n";
    return exit_code::kUnavailable;
  }
  json parsed = json::parse(response->body, nullptr, false);
  if (parsed.is_discarded()) {
    std::cerr << fmt::format("error: the API answered {} with a body that is not JSON\n",
                             response->status);
    return exit_code::kUnavailable;
  }
  if (response->status >= 300) {
    printApiProblem(parsed, o.json());
    return exitCodeFor(response->status, parsed);
  }
  out = std::move(parsed);
  return exit_code::kOk;
}

int call(const ApiCallOptions& o, std::string method, std::string path, std::string body,
         const std::function<void(const json&)>& show) {
  json answer;
  const int code = fetch(o, std::move(method), std::move(path), std::move(body), answer);
  if (code != exit_code::kOk) return code;
  if (o.json()) {
    std::cout << answer.dump(2, ' ', false, json::error_handler_t::replace) << '\n';
  } else {
    show(answer);
  }
  return exit_code::kOk;
}

}  // namespace ozy
