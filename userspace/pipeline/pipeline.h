// The userspace pipeline after the source, assembled as a chain:
//   decoder → conn::Tracker → handlers (HTTP/1 server, PostgreSQL, Redis; libpq uprobes)
//   → correlator → sinks (metric recorders, JSON-lines logs, statement table, …)
// Process events go straight to the control plane's listener. One thread drives it (the
// collector loop, a replay, a benchmark); the metrics registry and the statement table are
// what the exporter thread reads.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "conn/tracker.h"
#include "correlator/correlator.h"
#include "decoder/decoder.h"
#include "handlers/db_calls.h"
#include "handlers/http1_server.h"
#include "handlers/inference.h"
#include "handlers/libpq.h"
#include "handlers/pgsql_client.h"
#include "handlers/redis_client.h"
#include "metrics/registry.h"
#include "records/workloads.h"
#include "sinks/logs/json_lines.h"
#include "sinks/statements/statement_table.h"

namespace fraiseql::pipeline {

struct PipelineOptions {
  conn::TrackerOptions conn;
  // Components (FRAISEQL_*_ENABLED): off parses nothing of its protocol and exports none of
  // its families.
  bool database = true;  // PostgreSQL wire + libpq uprobe records, fraiseql_db_*
  bool cache = true;     // Redis, fraiseql_redis_*, fraiseql_cache_* (redis)
  bool metrics = true;   // application families (off: self-metrics only)
  // Request contexts (GraphQL, attribution, N+1, request log). Off: HTTP metrics only.
  bool request_contexts = true;
  correlator::CorrelatorOptions correlator;
  handlers::DbOptions db;
  uint64_t slow_query_ns = 100ull * 1000000;  // --slow-query-ms
  size_t max_statements = 5000;               // per-statement stats before "<other>"
  std::FILE* slow_log = nullptr;     // slow queries and N+1 findings, JSON lines; nullptr: none
  std::FILE* request_log = nullptr;  // one JSON line per request (opt-in)
  bool capture_identity = false;     // user/tenant ids in the request log (opt-in)
};

// Counters of what came in, for the self-metrics (read from the exporter thread).
struct PipelineStats {
  std::atomic<uint64_t> data{0}, conn_open{0}, conn_close{0}, python_context{0}, libpq{0};
  std::atomic<uint64_t> proc_fork{0}, proc_exec{0}, proc_exit{0};
  std::atomic<uint64_t> too_short{0}, unknown_kind{0}, bad_length{0};
};

class Pipeline {
 public:
  Pipeline(metrics::Registry& registry, PipelineOptions options);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // A raw ring-buffer record: decoded, counted, dispatched.
  void OnRecord(std::span<const uint8_t> record);
  void OnEvent(const Event& event);

  // Control plane → pipeline.
  void SetService(uint32_t tgid, std::string service);
  void SetDefaultService(std::string service);
  // Tells whether `tgid` listens on TCP `port` (role of sockets opened before we attached).
  void SetListeningPortFn(std::function<bool(uint32_t, uint16_t)> fn);
  // Pipeline → control plane: process events as they are decoded, and processes whose
  // PostgreSQL connections turned out to be TLS (their queries are seen only through libpq
  // uprobes). Called on the pipeline thread.
  void SetProcessListener(std::function<void(const ProcEvent&)> fn) { on_proc_ = std::move(fn); }
  void SetEncryptedDbListener(std::function<void(uint32_t)> fn);
  // Drops every connection of a process that is no longer observed.
  void ForgetProcess(uint32_t tgid);
  // A further sink of every record (traces, audit, tests); not owned.
  void AddSink(records::RecordSink* sink) { sinks_.Add(sink); }

  // Periodic housekeeping: idle connections, gauges, sink ticks.
  void Tick(uint64_t now_ns);
  // End of input (replay): closes every connection as if its socket closed, flushes sinks.
  void Finish();

  size_t tracked_connections() const { return tracker_.size(); }
  const Decoder& decoder() const { return decoder_; }
  const sinks::StatementTable& statements() const { return statements_; }
  const PipelineStats& stats() const { return stats_; }

 private:
  void BuildSinks(metrics::Registry& registry);
  void CollectSelfMetrics(metrics::Registry& registry);

  PipelineOptions options_;
  metrics::Registry& registry_;
  PipelineStats stats_;
  Decoder decoder_;
  records::WorkloadTable workloads_;
  records::FanOut sinks_;
  sinks::StatementTable statements_;
  std::unique_ptr<sinks::JsonLines> slow_log_, request_log_;
  correlator::Correlator correlator_;
  handlers::DbCallBuilder db_calls_;
  handlers::Inference inference_;
  conn::Tracker tracker_;
  std::unique_ptr<handlers::Http1ServerHandler> http_;
  std::unique_ptr<handlers::PgClientHandler> pg_;
  std::unique_ptr<handlers::RedisClientHandler> redis_;
  std::unique_ptr<handlers::LibpqHandler> libpq_;
  std::function<void(const ProcEvent&)> on_proc_;
  uint64_t hook_id_ = 0;
};

}  // namespace fraiseql::pipeline
