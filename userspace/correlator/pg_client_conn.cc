#include "correlator/pg_client_conn.h"

#include "correlator/identity.h"
#include "correlator/json_lines.h"

#include <algorithm>
#include <cctype>
#include <ctime>

#include <nlohmann/json.hpp>

namespace fraiseql::correlator {

using protocols::pgsql::QueryRecord;
using protocols::pgsql::QueryType;
using protocols::pgsql::TransactionRecord;

namespace {

constexpr size_t kMaxShapes = 8192;
constexpr const char* kUnknownStatement = "<statement prepared before capture>";

double Seconds(uint64_t start_ns, uint64_t end_ns) {
  return end_ns > start_ns ? double(end_ns - start_ns) / 1e9 : 0.0;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// "public.fraiseql_cache" names the table "fraiseql_cache".
bool IsTable(const std::string& relation, const std::string& table) {
  if (relation.empty() || table.empty()) return false;
  std::string r = Lower(relation);
  std::string t = Lower(table);
  size_t dot = r.rfind('.');
  return r == t || (dot != std::string::npos && r.substr(dot + 1) == t);
}

}  // namespace

void StatementTable::Record(const std::string& service, const std::string& query,
                            const char* type, const std::string& table, bool error,
                            uint64_t rows, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  auto key = std::make_pair(service, query);
  auto it = stats_.find(key);
  if (it == stats_.end()) {
    if (stats_.size() >= max_entries_) key.second = "<other>";
    it = stats_.try_emplace(key).first;
    it->second.service = service;
    it->second.query = key.second;
    it->second.query_type = key.second == "<other>" ? "OTHER" : type;
    it->second.table = key.second == "<other>" ? "other" : table;
  }
  StatementStat& s = it->second;
  ++s.calls;
  s.errors += error;
  s.rows += rows;
  s.total_seconds += seconds;
  s.max_seconds = std::max(s.max_seconds, seconds);
}

std::vector<StatementStat> StatementTable::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<StatementStat> out;
  out.reserve(stats_.size());
  for (const auto& [key, s] : stats_) out.push_back(s);
  return out;
}

std::string StatementTable::ToJson() const {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& s : Snapshot()) {
    arr.push_back({{"service_name", s.service}, {"query", s.query}, {"query_type", s.query_type},
                   {"table_name", s.table}, {"calls", s.calls}, {"errors", s.errors},
                   {"rows", s.rows}, {"total_seconds", s.total_seconds},
                   {"max_seconds", s.max_seconds}});
  }
  return nlohmann::json{{"statements", arr}}.dump(1, ' ', false,
                                                  nlohmann::json::error_handler_t::replace);
}

DbMetrics::DbMetrics(metrics::Registry& r, CacheMetrics& cache, DbOptions options)
    : options_(std::move(options)),
      counters_(r, "pgsql"),
      queries_(r.AddCounter("fraiseql_db_queries_total",
                            "PostgreSQL statements executed by observed services",
                            {"service_name", "query_type", "table_name", "outcome"}, 20000)),
      duration_(r.AddHistogram("fraiseql_db_query_duration_seconds",
                               "From the message that started a statement to its completion",
                               {"service_name", "query_type"}, metrics::LatencyBuckets(), 2000)),
      slow_(r.AddCounter("fraiseql_db_slow_queries_total",
                         "Statements slower than the slow-query threshold",
                         {"service_name", "query_type"}, 2000)),
      tx_duration_(r.AddHistogram("fraiseql_db_transaction_duration_seconds",
                                  "From the first statement of a transaction to its end",
                                  {"service_name"}, metrics::LatencyBuckets(), 1000)),
      errors_(r.AddCounter("fraiseql_db_errors_total", "PostgreSQL errors by SQLSTATE",
                           {"service_name", "sqlstate"}, 5000)),
      conns_(r.AddGauge("fraiseql_db_connections",
                        "Open PostgreSQL connections of the service (the contract's "
                        "fraiseql_db_connections_total: `_total` is reserved for counters)",
                        {"service_name"}, 1000)),
      conns_active_(r.AddGauge("fraiseql_db_connections_active",
                               "PostgreSQL connections in a transaction or with a query in flight",
                               {"service_name"}, 1000)),
      conns_idle_(r.AddGauge("fraiseql_db_connections_idle",
                             "PostgreSQL connections open and idle", {"service_name"}, 1000)),
      cache_(cache),
      encrypted_(r.AddCounter("fraiseql_collector_encrypted_connections_total",
                              "Connections that switched to TLS: their bytes are not parsed",
                              {"protocol"})
                     .WithLabels({"pgsql"})),
      unknown_statements_(r.AddCounter("fraiseql_collector_unknown_statements_total",
                                       "Executions of statements prepared before the collector "
                                       "attached (text unknown)",
                                       {})
                              .WithLabels({})),
      statements_(options_.max_statements) {}

const SqlShape& DbMetrics::Shape(const std::string& sql) {
  auto it = shapes_.find(sql);
  if (it != shapes_.end()) return it->second;
  if (shapes_.size() >= kMaxShapes) shapes_.clear();
  SqlShape s;
  s.normalized = protocols::pgsql::NormalizeSql(sql);
  s.type = protocols::pgsql::ClassifySql(sql);
  s.relation = protocols::pgsql::MainRelation(sql);
  return shapes_.emplace(sql, std::move(s)).first->second;
}

std::string DbMetrics::TableLabel(const std::string& service, const std::string& relation) {
  if (relation.empty()) return "none";
  auto& seen = tables_[service];
  if (seen.count(relation)) return relation;
  if (seen.size() >= options_.max_tables_per_service) return "other";
  seen.insert(relation);
  return relation;
}

namespace {

// What a request's identity statements set (only asked when the user opted in).
void ReadIdentity(const std::string& sql, Call* call) {
  if (auto v = SettingValue(sql, "app.user_id")) call->user_id = *v;
  if (auto v = SettingValue(sql, "app.tenant_id")) call->tenant_id = *v;
}

}  // namespace

Call DbMetrics::OnQuery(const std::string& service, const QueryRecord& q) {
  Call call = Record(service, q);
  if (options_.capture_identity && !q.error && !q.sql.empty()) ReadIdentity(q.sql, &call);
  return call;
}

Call DbMetrics::Record(const std::string& service, const QueryRecord& q) {
  double sec = Seconds(q.start_ns, q.end_ns);
  const char* outcome = q.error ? "error" : "success";
  std::string normalized, table;
  const char* type = "OTHER";
  std::string relation;
  QueryType qt = QueryType::kOther;
  if (q.sql.empty()) {
    unknown_statements_.Inc();
    normalized = kUnknownStatement;
    table = "unknown";
  } else {
    const SqlShape& shape = Shape(q.sql);
    normalized = shape.normalized;
    qt = shape.type;
    type = protocols::pgsql::ToString(qt);
    relation = shape.relation;
    table = TableLabel(service, relation);
  }
  queries_.WithLabels({service, type, table, outcome}).Inc();
  duration_.WithLabels({service, type}).Observe(sec);
  if (q.error) errors_.WithLabels({service, q.sqlstate.empty() ? "unknown" : q.sqlstate}).Inc();
  statements_.Record(service, normalized, type, table, q.error, q.rows, sec);

  if (q.end_ns > q.start_ns && q.end_ns - q.start_ns >= options_.slow_query_ns) {
    slow_.WithLabels({service, type}).Inc();
    if (options_.slow_log) {
      nlohmann::json line = {{"ts", UtcTimestamp()}, {"event", "slow_query"},
                             {"service_name", service}, {"query", normalized},
                             {"query_type", type}, {"table_name", table},
                             {"duration_seconds", sec}, {"rows", q.rows}};
      if (q.error) line["sqlstate"] = q.sqlstate;
      WriteJsonLine(options_.slow_log, line);
    }
  }

  // FraiseQL's PostgreSQL result cache (an UNLOGGED table, `fraiseql_cache` by default).
  if (IsTable(relation, options_.cache_table)) {
    const char* op = nullptr;
    uint32_t hits = 0, misses = 0;
    if (qt == QueryType::kSelect) {
      op = "get";
      if (!q.error) (q.rows > 0 ? hits : misses) = 1;
    } else if (qt == QueryType::kInsert || qt == QueryType::kUpdate) {
      op = "set";
    } else if (qt == QueryType::kDelete) {
      op = "delete";
    }
    if (op) cache_.Record(service, "postgres", op, hits, misses, sec);
    return Call{.kind = Call::Kind::kDb, .what = std::move(normalized), .start_ns = q.start_ns,
                .end_ns = q.end_ns, .error = q.error, .cache_hits = hits, .cache_misses = misses};
  }
  return Call{.kind = Call::Kind::kDb, .what = std::move(normalized), .start_ns = q.start_ns,
              .end_ns = q.end_ns, .error = q.error};
}

void DbMetrics::OnTransaction(const std::string& service, const TransactionRecord& t) {
  tx_duration_.WithLabels({service}).Observe(Seconds(t.begin_ns, t.end_ns));
}

void DbMetrics::OnEncryptedConnection() { encrypted_.Inc(); }

void DbMetrics::SetConnections(
    const std::map<std::string, std::pair<size_t, size_t>>& open_active) {
  for (const auto& [service, oa] : open_active) {
    conns_.WithLabels({service}).Set(double(oa.first));
    conns_active_.WithLabels({service}).Set(double(oa.second));
    conns_idle_.WithLabels({service}).Set(double(oa.first - oa.second));
    gauge_services_.insert(service);
  }
  for (const auto& service : gauge_services_) {
    if (open_active.count(service)) continue;
    conns_.WithLabels({service}).Set(0);
    conns_active_.WithLabels({service}).Set(0);
    conns_idle_.WithLabels({service}).Set(0);
  }
}

PgClientConn::PgClientConn(DbMetrics& metrics, const std::string& service, StreamPair streams,
                           CallHooks hooks)
    : metrics_(metrics), service_(service), streams_(std::move(streams)), hooks_(hooks) {
  Drain();  // the bytes that decided the protocol
}

void PgClientConn::OnData(fraiseql::Direction dir, uint64_t pos, std::string_view data,
                          uint64_t orig_size, const Origin& origin) {
  streams_.Add(dir, pos, data, orig_size, origin);
  Drain();
}

void PgClientConn::Report(const QueryRecord& q) {
  Call call = metrics_.OnQuery(service_, q);
  if (hooks_.attributor) {
    hooks_.attributor->OnCall(hooks_.tgid, streams_.out_origins.Find(q.start_ns), std::move(call));
  }
}

void PgClientConn::Drain() {
  pg_.Poll(streams_.out, streams_.in);
  for (const auto& q : pg_.TakeRecords()) Report(q);
  for (const auto& t : pg_.TakeTransactions()) metrics_.OnTransaction(service_, t);
  if (pg_.encrypted() && !reported_encrypted_) {
    reported_encrypted_ = true;
    metrics_.OnEncryptedConnection();
  }
  streams_.Account(metrics_.counters(), pg_.parse_errors());
}

void PgClientConn::OnClose() {
  pg_.Finish();
  for (const auto& q : pg_.TakeRecords()) Report(q);
  for (const auto& t : pg_.TakeTransactions()) metrics_.OnTransaction(service_, t);
  streams_.Account(metrics_.counters(), pg_.parse_errors());
}

}  // namespace fraiseql::correlator
