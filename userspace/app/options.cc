#include "app/options.h"

#include "fraiseql/abi/events.h"

namespace fraiseql::app {

namespace {

// Replaces the port of an ADDR:PORT / [ADDR]:PORT / :PORT address.
std::string WithPort(const std::string& listen, int64_t port) {
  const auto colon = listen.rfind(':');
  const std::string host = colon == std::string::npos ? listen : listen.substr(0, colon);
  return host + ":" + std::to_string(port);
}

}  // namespace

// The schema's capture-cap range must be what the kernel side can copy.
static_assert(FQL_MAX_CHUNK * FQL_MAX_CHUNKS_PER_SYSCALL == 262144);
static_assert(FQL_DEFAULT_CAPTURE_CAP == 262144);

RunOptions ToRunOptions(const config::Config& c) {
  RunOptions o;
  for (auto p : c.targets.pids) o.selectors.pids.push_back(static_cast<uint32_t>(p));
  o.selectors.cmdline_regexes = c.targets.cmdline;
  for (auto p : c.targets.ports) o.selectors.ports.push_back(static_cast<uint16_t>(p));
  o.service_name = c.service_name;
  o.listen = c.prometheus_port ? WithPort(c.listen, *c.prometheus_port) : c.listen;
  o.capture_cap = static_cast<uint32_t>(c.capture.capture_cap);
  o.ringbuf_mib = static_cast<uint32_t>(c.capture.ringbuf_mib);
  o.max_endpoints = static_cast<size_t>(c.max_endpoints);
  o.rescan_ms = static_cast<int>(c.rescan_ms);
  o.record_path = c.record;
  o.slow_query_ms = static_cast<uint32_t>(c.db.slow_query_ms);
  o.cache_table = c.cache_table;
  o.slow_query_log = c.db.slow_query_log;
  o.libpq_uprobes = c.capture.libpq_uprobes;
  o.python_contexts = c.capture.python_contexts;
  o.request_log = c.request_log;
  o.max_operations = static_cast<size_t>(c.max_operations);
  o.n_plus_one = static_cast<uint32_t>(c.db.n_plus_one);
  o.capture_identity = c.capture_identity;
  o.observability_enabled = c.enabled.observability;
  o.metrics_enabled = c.enabled.metrics;
  o.db_monitoring_enabled = c.enabled.database;
  o.cache_monitoring_enabled = c.enabled.cache;
  o.prometheus_enabled = c.enabled.prometheus;
  o.sample_rate = c.sample_rate;
  o.log_level = c.log_level;
  return o;
}

}  // namespace fraiseql::app
