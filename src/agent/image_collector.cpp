#include "agent/image_collector.h"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <system_error>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace ozy {

ImageCollector::ImageCollector(std::filesystem::path file, std::chrono::milliseconds grace,
                               std::int64_t nowMs)
    : file_(std::move(file)), grace_(grace) {
  std::ifstream in(file_);
  std::string line;
  int lineNumber = 0;
  while (std::getline(in, line)) {
    ++lineNumber;
    std::istringstream fields(line);
    std::int64_t since = -1;
    std::string reference;
    std::string rest;
    if (!(fields >> since >> reference) || since < 0 || (fields >> rest)) {
      spdlog::warn("{}:{}: not \"<ms> <image>\"; skipped", file_.string(), lineNumber);
      continue;
    }
    // Needed when last written: its grace starts now, not earlier.
    since_[reference] = since == 0 ? nowMs : since;
  }
}

void ImageCollector::needed(const std::set<std::string>& references, std::int64_t nowMs) {
  bool changed = false;
  for (const auto& reference : references) {
    auto [it, added] = since_.try_emplace(reference, 0);
    if (added || it->second != 0) changed = true;
    it->second = 0;
  }
  for (auto& [reference, since] : since_) {
    if (since == 0 && !references.contains(reference)) {
      since = nowMs;
      changed = true;
    }
  }
  if (changed) save();
}

std::vector<std::string> ImageCollector::due(std::int64_t nowMs) const {
  std::vector<std::pair<std::int64_t, std::string>> old;
  for (const auto& [reference, since] : since_) {
    if (since != 0 && nowMs - since >= grace_.count()) old.emplace_back(since, reference);
  }
  std::sort(old.begin(), old.end());
  std::vector<std::string> out;
  for (auto& entry : old) out.push_back(std::move(entry.second));
  return out;
}

void ImageCollector::removed(const std::string& reference) {
  if (since_.erase(reference) > 0) save();
}

void ImageCollector::keep(const std::string& reference, std::int64_t nowMs) {
  auto it = since_.find(reference);
  if (it == since_.end() || it->second == 0) return;
  it->second = nowMs;
  save();
}

void ImageCollector::save() {
  // Whole or not at all: a crash leaves the old file, never half of one.
  std::string text;
  for (const auto& [reference, since] : since_) text += fmt::format("{} {}\n", since, reference);
  const std::filesystem::path temporary = file_.string() + ".new";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    if (!out.flush()) {
      spdlog::warn("cannot write {}: images no instance uses may stay after a restart",
                   temporary.string());
      return;
    }
  }
  std::error_code ec;
  std::filesystem::rename(temporary, file_, ec);
  if (ec) spdlog::warn("cannot replace {}: {}", file_.string(), ec.message());
}

}  // namespace ozy
