#include "config/schema.h"

namespace fraiseql::config {

namespace {

using T = Type;

std::vector<KeySpec> Build() {
  return {
      // Product-plan switches.
      {"observability.enabled", "", "FRAISEQL_OBSERVABILITY_ENABLED", T::kBool, 0, 0, {}, "true",
       true, "Master switch: false loads and attaches nothing (only /healthz, /readyz and the build "
       "info are served)"},
      {"metrics.enabled", "", "FRAISEQL_METRICS_ENABLED", T::kBool, 0, 0, {}, "true", true,
       "Application metric families (HTTP, GraphQL, database, Redis, cache); false: self-metrics "
       "only, logs still written"},
      {"tracing.enabled", "", "FRAISEQL_TRACING_ENABLED", T::kBool, 0, 0, {}, "false", true,
       "Distributed tracing", false},
      {"cache_monitoring.enabled", "", "FRAISEQL_CACHE_MONITORING_ENABLED", T::kBool, 0, 0, {},
       "true", true, "Redis: RESP parsed, fraiseql_redis_* and Redis-backed fraiseql_cache_*; false: Redis "
       "bytes are not parsed"},
      {"database_monitoring.enabled", "", "FRAISEQL_DATABASE_MONITORING_ENABLED", T::kBool, 0, 0,
       {}, "true", true, "PostgreSQL: wire parsed, libpq uprobes, fraiseql_db_*, statement table, slow-query log, "
       "table-backed fraiseql_cache_*; false: none of it attached or parsed"},
      {"health_checks.enabled", "", "FRAISEQL_HEALTH_CHECKS_ENABLED", T::kBool, 0, 0, {}, "true",
       true, "Health checks", false},
      {"audit.enabled", "", "FRAISEQL_AUDIT_QUERIES_ENABLED", T::kBool, 0, 0, {}, "false", true,
       "Query audit log", false},
      {"sample_rate", "", "FRAISEQL_SAMPLE_RATE", T::kDouble, 0, 1, {}, "1.0", true,
       "Fraction of requests given the per-request work: GraphQL decoding (fraiseql_graphql_* "
       "count sampled requests), N+1 findings, the request log; HTTP, database, Redis and cache "
       "counters stay exact"},
      {"database.slow_query_ms", "--slow-query-ms", "FRAISEQL_SLOW_QUERY_THRESHOLD_MS", T::kInt, 1,
       3600000, {}, "100", true,
       "PostgreSQL statements at least this slow are counted and logged as slow"},
      {"tracing.sample_rate", "", "FRAISEQL_TRACE_SAMPLE_RATE", T::kDouble, 0, 1, {}, "1.0", true,
       "Fraction of traces kept", false},
      {"privacy.include_query_bodies", "", "FRAISEQL_INCLUDE_QUERY_BODIES", T::kBool, 0, 0, {},
       "false", true, "Include GraphQL query bodies", false},
      {"privacy.include_variable_values", "", "FRAISEQL_INCLUDE_VARIABLE_VALUES", T::kBool, 0, 0,
       {}, "false", true, "Include GraphQL variable values", false},
      {"audit.retention_days", "", "FRAISEQL_AUDIT_RETENTION_DAYS", T::kInt, 1, 3650, {}, "90",
       true, "Audit log retention", false},
      {"tracing.retention_days", "", "FRAISEQL_TRACE_RETENTION_DAYS", T::kInt, 1, 3650, {}, "7",
       true, "Trace retention", false},
      {"prometheus.enabled", "", "FRAISEQL_PROMETHEUS_ENABLED", T::kBool, 0, 0, {}, "true", true,
       "Serve GET /metrics; false: 404 there, health and JSON endpoints stay"},
      {"prometheus.port", "", "FRAISEQL_PROMETHEUS_PORT", T::kInt, 0, 65535, {}, "", false,
       "When set, replaces the port of the listen address"},
      // `run` options.
      {"targets.pids", "--pid", "FRAISEQL_COLLECTOR_PID", T::kIntList, 1, 4194304, {}, "", true,
       "Observe this process (repeatable)"},
      {"targets.cmdline", "--cmdline", "FRAISEQL_COLLECTOR_CMDLINE", T::kStringList, 0, 0, {}, "",
       true, "Observe processes whose command line matches REGEX (repeatable)"},
      {"targets.ports", "--port", "FRAISEQL_COLLECTOR_PORT", T::kIntList, 1, 65535, {}, "", true,
       "Observe processes listening on TCP port N (repeatable)"},
      {"service_name", "--service-name", "FRAISEQL_COLLECTOR_SERVICE_NAME", T::kString, 0, 0, {},
       "", false, "Service name for every target", true, false, true},
      {"listen", "--listen", "FRAISEQL_COLLECTOR_LISTEN", T::kString, 0, 0, {}, ":9474", true,
       "Metrics/health address (ADDR:PORT, [ADDR]:PORT, :PORT)"},
      {"capture.capture_cap", "--capture-cap", "FRAISEQL_COLLECTOR_CAPTURE_CAP", T::kInt, 256,
       262144, {}, "262144", true, "Bytes copied per syscall"},
      {"capture.ringbuf_mib", "--ringbuf-mib", "FRAISEQL_COLLECTOR_RINGBUF_MIB", T::kInt, 1, 1024,
       {}, "16", true, "Ring buffer size in MiB (power of two)", true, true},
      {"metrics.max_endpoints", "--max-endpoints", "FRAISEQL_COLLECTOR_MAX_ENDPOINTS", T::kInt, 1,
       1e9, {}, "100", true, "Distinct endpoint labels per service before 'other'"},
      {"discovery.rescan_ms", "--rescan-ms", "FRAISEQL_COLLECTOR_RESCAN_MS", T::kInt, 100, 60000,
       {}, "1000", true, "Process rescan period"},
      {"record", "--record", "FRAISEQL_COLLECTOR_RECORD", T::kPath, 0, 0, {}, "", true,
       "Also write every raw event to FILE (debugging)"},
      {"database.slow_query_log", "--slow-query-log", "FRAISEQL_COLLECTOR_SLOW_QUERY_LOG", T::kPath,
       0, 0, {}, "-", true, "Where slow-query JSON lines go: '-' stdout, a file path, '' off"},
      {"capture.libpq_uprobes", "--libpq-uprobes", "FRAISEQL_COLLECTOR_LIBPQ_UPROBES", T::kEnum, 0,
       0, {"auto", "on", "off"}, "auto", true,
       "libpq uprobes (≈6 µs per hit): auto = only for processes whose PostgreSQL connections "
       "are TLS, on = every Python target, off"},
      {"capture.python_contexts", "--python-contexts", "FRAISEQL_COLLECTOR_PYTHON_CONTEXTS",
       T::kEnum, 0, 0, {"auto", "on", "tasks", "off"}, "auto", true,
       "Attribute DB/Redis calls to requests under asyncio through Python contexts: auto/on = "
       "every Context birth hooked (a uretprobe per contextvars copy, exact), tasks = asyncio "
       "Task births only (cheaper; a call made in a loop-callback Context at a reused address "
       "can be misattributed), off"},
      {"request_log", "--request-log", "FRAISEQL_COLLECTOR_REQUEST_LOG", T::kPath, 0, 0, {}, "",
       true, "One JSON line per answered request (ids, GraphQL operations, attributed calls; "
       "normalized SQL, no values): '-' stdout, a file path, '' off"},
      {"graphql.max_operations", "--max-operations", "FRAISEQL_COLLECTOR_MAX_OPERATIONS", T::kInt,
       1, 100000, {}, "200", true, "GraphQL operation_name values per service before 'other'"},
      {"database.n_plus_one", "--n-plus-one", "FRAISEQL_COLLECTOR_N_PLUS_ONE", T::kInt, 2, 100000,
       {}, "10", true, "A statement run at least this often in one request is an N+1"},
      {"privacy.capture_identity", "--capture-identity", "FRAISEQL_COLLECTOR_CAPTURE_IDENTITY",
       T::kBool, 0, 0, {}, "false", true, "Opt-in: write user_id / tenant_id to the request log, from FraiseQL's SET LOCAL "
       "app.user_id / app.tenant_id or a bearer JWT's sub claim"},
      {"cache.table", "--cache-table", "FRAISEQL_COLLECTOR_CACHE_TABLE", T::kString, 0, 0, {},
       "fraiseql_cache", true, "FraiseQL's PostgreSQL cache table"},
      {"log_level", "--log-level", "FRAISEQL_COLLECTOR_LOG_LEVEL", T::kEnum, 0, 0,
       {"error", "warn", "info", "debug", "trace"}, "info", true, "Log level (-v/-vv win)"},
  };
}

}  // namespace

const std::vector<KeySpec>& Schema() {
  static const std::vector<KeySpec> schema = Build();
  return schema;
}

const KeySpec* FindKey(std::string_view key) {
  for (const auto& k : Schema())
    if (k.key == key) return &k;
  return nullptr;
}

}  // namespace fraiseql::config
