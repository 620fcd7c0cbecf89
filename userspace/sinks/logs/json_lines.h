// The collector's JSON-lines outputs (slow queries, N+1 findings, the request log): one
// compact line per record, flushed at once, invalid UTF-8 replaced; `ts` in UTC, ISO 8601,
// milliseconds. A write that fails (disk full) is counted and logged once per streak, never
// fatal; lines are counted per log.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace fraiseql::sinks {

std::string UtcTimestamp();

class JsonLines {
 public:
  // `f` is not owned (stdout, or a file the app opened); `name` labels the counters.
  JsonLines(std::FILE* f, std::string name) : f_(f), name_(std::move(name)) {}
  void Write(const nlohmann::json& line);
  const std::string& name() const { return name_; }
  uint64_t written() const { return written_.load(std::memory_order_relaxed); }
  uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }

 private:
  std::FILE* f_;
  std::string name_;
  std::atomic<uint64_t> written_{0}, failed_{0};
  bool failing_ = false;
};

}  // namespace fraiseql::sinks
