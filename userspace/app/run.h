#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "discovery/discovery.h"
#include "fraiseql/abi/events.h"

namespace fraiseql::app {

// Default metrics address: all interfaces, so a node's Prometheus can scrape the
// DaemonSet pod. 9474 is not claimed by a common exporter.
inline constexpr const char* kDefaultListen = ":9474";

struct RunOptions {
  discovery::Selectors selectors;
  std::optional<std::string> service_name;
  std::string listen = kDefaultListen;
  uint32_t capture_cap = FQL_DEFAULT_CAPTURE_CAP;
  uint32_t ringbuf_mib = 16;
  size_t max_endpoints = 100;
  int rescan_ms = 1000;
  std::string record_path;
  uint32_t slow_query_ms = 100;
  std::string cache_table = "fraiseql_cache";
  std::string slow_query_log = "-";  // JSON lines; "-" stdout, "" off
  // libpq uprobes: "auto" attaches them to a process once one of its PostgreSQL connections
  // turns out to be TLS (the wire is then unreadable); "on" for every Python target; "off".
  std::string libpq_uprobes = "auto";
  // Asyncio attribution: "auto" (CPython targets) / "on" (every target) read the running task's
  // Python Context at each socket syscall and hook every Context birth (a uretprobe per watched
  // process, ≈ 13–16 µs per copy here); "tasks": asyncio Task births only (a uprobe, cheaper,
  // can misattribute); "off": attribution by single request in flight / thread only.
  std::string python_contexts = "auto";
  std::string request_log;  // JSON line per answered request; "-" stdout, "" off
  size_t max_operations = 200;
  uint32_t n_plus_one = 10;
  bool capture_identity = false;  // user/tenant ids in the request log (opt-in)
  // Components (userspace/config: FRAISEQL_*_ENABLED). A component switched off attaches no
  // probes, parses nothing of its protocol and exports none of its families.
  bool observability_enabled = true;   // master switch: off attaches nothing at all
  bool metrics_enabled = true;         // application metric families
  bool db_monitoring_enabled = true;   // PostgreSQL wire + libpq uprobes
  bool cache_monitoring_enabled = true;  // Redis
  bool prometheus_enabled = true;      // serve /metrics (health endpoints stay)
  double sample_rate = 1.0;            // per-request work; counters stay exact
  std::string log_level = "info";
};

int Run(RunOptions opts);
int Replay(const std::string& path, const RunOptions& opts);

}  // namespace fraiseql::app
