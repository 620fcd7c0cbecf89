#include "sinks/logs/json_lines.h"

#include <cerrno>
#include <cstring>
#include <ctime>

#include <spdlog/spdlog.h>

namespace fraiseql::sinks {

std::string UtcTimestamp() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  gmtime_r(&ts.tv_sec, &t);
  char buf[40];
  size_t n = std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &t);
  std::snprintf(buf + n, sizeof(buf) - n, ".%03ldZ", ts.tv_nsec / 1000000);
  return buf;
}

void JsonLines::Write(const nlohmann::json& line) {
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  text.push_back('\n');
  bool ok = std::fwrite(text.data(), 1, text.size(), f_) == text.size() && std::fflush(f_) == 0;
  if (ok) {
    written_.fetch_add(1, std::memory_order_relaxed);
    if (failing_) spdlog::info("{}: writing again", name_);
    failing_ = false;
    return;
  }
  failed_.fetch_add(1, std::memory_order_relaxed);
  if (!failing_) spdlog::error("{}: write failed: {} (lines are counted and dropped)", name_,
                               std::strerror(errno));
  failing_ = true;
  std::clearerr(f_);
}

}  // namespace fraiseql::sinks
