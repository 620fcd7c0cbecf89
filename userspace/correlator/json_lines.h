// The collector's JSON-lines outputs (slow queries, N+1 findings, the request log): one compact
// line per record, flushed at once, invalid UTF-8 replaced; `ts` in UTC, ISO 8601, milliseconds.
#pragma once

#include <cstdio>
#include <ctime>
#include <string>

#include <nlohmann/json.hpp>

namespace fraiseql::correlator {

inline std::string UtcTimestamp() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  gmtime_r(&ts.tv_sec, &t);
  char buf[40];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &t);
  std::snprintf(buf + n, sizeof(buf) - n, ".%03ldZ", ts.tv_nsec / 1000000);
  return buf;
}

inline void WriteJsonLine(std::FILE* f, const nlohmann::json& line) {
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::fprintf(f, "%s\n", text.c_str());
  std::fflush(f);
}

}  // namespace fraiseql::correlator
