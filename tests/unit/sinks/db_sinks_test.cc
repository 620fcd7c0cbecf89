// PostgreSQL records through their sinks (DbCallBuilder → DbRecorder, CacheRecorder,
// SlowQueryLog, StatementTable): the slow-query log (one JSON line per slow statement,
// normalized: no literal leaves the process), table labels, errors, and FraiseQL's PostgreSQL
// cache semantics.
#include <cstdio>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>

#include "handlers/db_calls.h"
#include "metrics/registry.h"
#include "records/workloads.h"
#include "sinks/logs/logs.h"
#include "sinks/metrics/recorders.h"
#include "sinks/statements/statement_table.h"

namespace fraiseql::sinks {
namespace {

using protocols::pgsql::QueryRecord;

// The DB chain after the wire: one query record → one DbCall → every DB sink.
struct DbChain {
  explicit DbChain(metrics::Registry& r, uint64_t slow_ns = 100ull * 1000000,
                   std::FILE* log = nullptr)
      : db(r, slow_ns), cache(r, true, true) {
    fan.Add(&db);
    fan.Add(&cache);
    fan.Add(&statements);
    if (log) {
      lines = std::make_unique<JsonLines>(log, "slow_query_log");
      slow = std::make_unique<SlowQueryLog>(*lines, slow_ns);
      fan.Add(slow.get());
    }
  }
  void OnQuery(const std::string& service, const QueryRecord& q) {
    handlers::DbCallScratch scratch;
    fan.OnDbCall(builder.Build(1, workloads.Intern({service}), {}, q, &scratch));
  }
  records::WorkloadTable workloads;
  handlers::DbCallBuilder builder{handlers::DbOptions{}};
  DbRecorder db;
  CacheRecorder cache;
  StatementTable statements;
  std::unique_ptr<JsonLines> lines;
  std::unique_ptr<SlowQueryLog> slow;
  records::FanOut fan;
};

constexpr uint64_t kMs = 1000000;

QueryRecord Query(std::string sql, uint64_t ms, uint64_t rows = 0, std::string sqlstate = "") {
  QueryRecord q;
  q.sql = std::move(sql);
  q.start_ns = 1000 * kMs;
  q.end_ns = q.start_ns + ms * kMs;
  q.rows = rows;
  q.error = !sqlstate.empty();
  q.sqlstate = std::move(sqlstate);
  return q;
}

double Value(metrics::Registry& r, const std::string& sample) {
  std::istringstream in(r.Render());
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(sample + " ", 0) == 0) return std::stod(line.substr(sample.size() + 1));
  }
  return 0;
}

std::string ReadAll(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  return out;
}

TEST(DbMetrics, SlowQueryLogIsNormalizedJsonLines) {
  std::FILE* log = std::tmpfile();
  ASSERT_NE(log, nullptr);
  metrics::Registry registry;
  DbChain db(registry, 100 * kMs, log);

  db.OnQuery("svc", Query("SELECT data FROM public.v_user WHERE email = 'alice@example.com' "
                          "AND id = 4242", 150, 1));
  db.OnQuery("svc", Query("SELECT 1", 2, 1));  // fast: not logged
  db.OnQuery("svc", Query("SELECT pg_sleep(0.2), 'secret'", 210, 0, "57014"));

  std::istringstream lines(ReadAll(log));
  std::string line;
  std::vector<nlohmann::json> got;
  while (std::getline(lines, line)) got.push_back(nlohmann::json::parse(line));
  std::fclose(log);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0]["service_name"], "svc");
  EXPECT_EQ(got[0]["query_type"], "SELECT");
  EXPECT_EQ(got[0]["table_name"], "public.v_user");
  EXPECT_DOUBLE_EQ(got[0]["duration_seconds"].get<double>(), 0.15);
  std::string q0 = got[0]["query"];
  EXPECT_EQ(q0.find("alice"), std::string::npos) << q0;
  EXPECT_EQ(q0.find("4242"), std::string::npos) << q0;
  EXPECT_NE(q0.find('?'), std::string::npos) << q0;
  EXPECT_FALSE(got[0].contains("sqlstate"));
  EXPECT_EQ(got[1]["sqlstate"], "57014");
  EXPECT_EQ(std::string(got[1]["query"]).find("secret"), std::string::npos);

  EXPECT_EQ(Value(registry, "fraiseql_db_slow_queries_total{service_name=\"svc\",query_type=\"SELECT\"}"), 2);
  EXPECT_EQ(Value(registry, "fraiseql_db_errors_total{service_name=\"svc\",sqlstate=\"57014\"}"), 1);
  EXPECT_EQ(Value(registry, "fraiseql_db_queries_total{service_name=\"svc\",query_type=\"SELECT\","
                            "table_name=\"none\",outcome=\"success\"}"), 1);
  // The per-statement table holds normalized text only.
  for (const auto& s : db.statements.Snapshot()) {
    EXPECT_EQ(s.query.find("alice"), std::string::npos);
    EXPECT_EQ(s.query.find("secret"), std::string::npos);
  }
}

TEST(DbMetrics, PostgresCacheTableHitsMissesSetsDeletes) {
  metrics::Registry registry;
  DbChain db(registry);
  db.OnQuery("svc", Query("SELECT value FROM fraiseql_cache WHERE key = $1", 1, 1));
  db.OnQuery("svc", Query("SELECT value FROM public.fraiseql_cache WHERE key = $1", 1, 0));
  db.OnQuery("svc", Query("SELECT value FROM fraiseql_cache WHERE key = $1", 1, 3));
  db.OnQuery("svc", Query("INSERT INTO fraiseql_cache (key, value) VALUES ($1, $2) ON CONFLICT "
                          "(key) DO UPDATE SET value = EXCLUDED.value", 1, 1));
  db.OnQuery("svc", Query("DELETE FROM fraiseql_cache WHERE key = $1", 1, 1));
  db.OnQuery("svc", Query("SELECT value FROM fraiseql_cache WHERE key = $1", 1, 0, "40001"));
  db.OnQuery("svc", Query("SELECT data FROM v_item WHERE id = $1", 1, 1));  // not the cache
  EXPECT_EQ(Value(registry, "fraiseql_cache_hits_total{service_name=\"svc\",cache_type=\"postgres\"}"), 2);
  EXPECT_EQ(Value(registry, "fraiseql_cache_misses_total{service_name=\"svc\",cache_type=\"postgres\"}"), 1);
  const std::string ops = "fraiseql_cache_operation_duration_seconds_count{service_name=\"svc\","
                          "cache_type=\"postgres\",operation=\"";
  EXPECT_EQ(Value(registry, ops + "get\"}"), 4);  // the failed read is an operation, no hit/miss
  EXPECT_EQ(Value(registry, ops + "set\"}"), 1);
  EXPECT_EQ(Value(registry, ops + "delete\"}"), 1);
}

}  // namespace
}  // namespace fraiseql::sinks
