// How the CLI calls an agent's API: where (--address, $OZY_ADDR), with
// which token ($OZY_TOKEN, $OZY_TOKEN_FILE, the local agent's), and how
// answers and problems are shown (tables for people, JSON with -o json).
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "http/client.h"

namespace ozy {

struct ApiCallOptions {
  std::string address;
  std::string caFile;
  std::string output = "text";
  bool json() const { return output == "json"; }
};

// --address, --ca-file and -o on `cmd`.
void addApiOptions(CLI::App* cmd, ApiCallOptions& o);

// Text from the server without control characters, so an answer cannot
// drive the terminal.
std::string printable(std::string text);

// Prints an API problem document for a person (stderr), or as it came.
void printApiProblem(const nlohmann::json& problem, bool asJson);

// One API call; on success hands the JSON body to `show` (or prints it with
// -o json). Returns the exit code (exit_codes.h).
int call(const ApiCallOptions& o, std::string method, std::string path, std::string body,
         const std::function<void(const nlohmann::json&)>& show);

// Follows a deployment of `version` of `job` with blocking reads, printing
// each change of its progress (and per node with `perNode`) until it ends:
// 0 when it succeeded or waits for promotion, kDeploymentFailed when it
// failed, was reverted or superseded (deploy_commands.cpp).
int followDeployment(const ApiCallOptions& o, const std::string& job, std::uint64_t version,
                     bool perNode);

// A client for the agent's API as the options and environment say (with its
// token), or nullopt after saying why on stderr.
std::optional<http::HttpClient> apiClient(const ApiCallOptions& o, std::chrono::milliseconds deadline);

// Prints a problem document the API answered `status` with; its exit code.
int exitCodeForProblem(int status, const std::string& body, bool asJson);

// The same call, handing back the answer instead of printing it (problems
// are printed as by call()).
int fetch(const ApiCallOptions& o, std::string method, std::string path, std::string body,
          nlohmann::json& out);

}  // namespace ozy
