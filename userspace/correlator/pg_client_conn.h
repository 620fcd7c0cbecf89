// Client side of a PostgreSQL connection (the observed app talking to its database):
// frontend bytes are what the app wrote, backend bytes what it read. Query records from
// protocols/pgsql become DB metrics, per-statement stats, the slow-query log and, for
// statements on FraiseQL's cache table, cache hits and misses.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "correlator/attribution.h"
#include "correlator/cache_metrics.h"
#include "correlator/stream_pair.h"
#include "metrics/registry.h"
#include "protocols/pgsql/connection.h"
#include "protocols/pgsql/sql_normalize.h"

namespace fraiseql::correlator {

struct DbOptions {
  uint64_t slow_query_ns = 100ull * 1000000;  // --slow-query-ms
  std::string cache_table = "fraiseql_cache";  // FraiseQL's PostgreSQL result cache
  size_t max_tables_per_service = 200;         // table_name values before "other"
  size_t max_statements = 5000;                // per-statement stats before "<other>"
  std::FILE* slow_log = nullptr;               // JSON lines; nullptr: none
  bool capture_identity = false;               // --capture-identity: app.user_id / tenant_id
};

// Per normalized statement, like pg_stat_statements but from the wire (GET /api/v1/statements).
struct StatementStat {
  std::string service;
  std::string query;  // normalized: literals and parameters are "?"
  std::string query_type;
  std::string table;
  uint64_t calls = 0;
  uint64_t errors = 0;
  uint64_t rows = 0;
  double total_seconds = 0;
  double max_seconds = 0;
};

class StatementTable {
 public:
  explicit StatementTable(size_t max_entries) : max_entries_(max_entries) {}
  void Record(const std::string& service, const std::string& query, const char* type,
              const std::string& table, bool error, uint64_t rows, double seconds);
  std::vector<StatementStat> Snapshot() const;
  std::string ToJson() const;

 private:
  size_t max_entries_;
  mutable std::mutex mu_;
  std::map<std::pair<std::string, std::string>, StatementStat> stats_;
};

// What a statement's text says, computed once per distinct text (normalization is the costly
// part and apps repeat the same few statements).
struct SqlShape {
  std::string normalized;
  protocols::pgsql::QueryType type = protocols::pgsql::QueryType::kOther;
  std::string relation;
};

class DbMetrics {
 public:
  DbMetrics(metrics::Registry& registry, CacheMetrics& cache, DbOptions options);

  // Returns the statement as a call (normalized text, cache hit/miss) for attribution.
  Call OnQuery(const std::string& service, const protocols::pgsql::QueryRecord& q);
  void OnTransaction(const std::string& service, const protocols::pgsql::TransactionRecord& t);
  void OnEncryptedConnection();
  // Connection gauges per service, recomputed by the pipeline at each tick.
  void SetConnections(const std::map<std::string, std::pair<size_t, size_t>>& open_active);

  ProtocolCounters& counters() { return counters_; }
  const StatementTable& statements() const { return statements_; }
  const DbOptions& options() const { return options_; }

 private:
  Call Record(const std::string& service, const protocols::pgsql::QueryRecord& q);
  const SqlShape& Shape(const std::string& sql);
  std::string TableLabel(const std::string& service, const std::string& relation);

  DbOptions options_;
  ProtocolCounters counters_;
  metrics::CounterFamily& queries_;
  metrics::HistogramFamily& duration_;
  metrics::CounterFamily& slow_;
  metrics::HistogramFamily& tx_duration_;
  metrics::CounterFamily& errors_;
  metrics::GaugeFamily& conns_;
  metrics::GaugeFamily& conns_active_;
  metrics::GaugeFamily& conns_idle_;
  CacheMetrics& cache_;
  metrics::Counter& encrypted_;
  metrics::Counter& unknown_statements_;
  std::unordered_map<std::string, SqlShape> shapes_;
  std::map<std::string, std::set<std::string>> tables_;
  std::set<std::string> gauge_services_;
  StatementTable statements_;
};

class PgClientConn {
 public:
  PgClientConn(DbMetrics& metrics, const std::string& service, StreamPair streams,
               CallHooks hooks = {});

  void OnData(fraiseql::Direction dir, uint64_t pos, std::string_view data, uint64_t orig_size,
              const Origin& origin);
  void OnClose();

  bool encrypted() const { return pg_.encrypted(); }
  // A session (for the connection gauges): not terminated by the client or ended by the server.
  bool open() const { return !pg_.terminated() && !pg_.server_closed(); }
  // In a transaction or with a query in flight.
  bool active() const { return pg_.in_transaction() || pg_.tx_status() == 'T' ||
                               pg_.tx_status() == 'E' || pg_.pending() > 0; }

 private:
  void Drain();

  void Report(const protocols::pgsql::QueryRecord& q);

  DbMetrics& metrics_;
  const std::string& service_;
  StreamPair streams_;
  CallHooks hooks_;
  protocols::pgsql::PgConnection pg_;
  bool reported_encrypted_ = false;
};

}  // namespace fraiseql::correlator
