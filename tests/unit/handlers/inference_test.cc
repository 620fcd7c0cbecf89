// Outbound protocol inference and libpq call/result pairing: pure functions over bytes and
// events, checked on real first bytes (from the PostgreSQL and Redis fixtures).
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "../common/fixture_dir.h"
#include "handlers/libpq_calls.h"
#include "handlers/inference.h"

namespace fraiseql::handlers {
namespace {

std::string Fixture(const std::string& name) {
  return testing::ReadFile(std::string(FQL_FIXTURE_DIR) + "/" + name);
}

constexpr auto kOut = Direction::kEgress;
constexpr auto kIn = Direction::kIngress;

TEST(InferClientProtocol, RealFirstBytes) {
  EXPECT_EQ(InferClientProtocol(kOut, 0, Fixture("pgsql/startup_scram.fe.bin"), 5432),
            ClientProtocol::kPostgres);
  // Port-independent: the startup message alone decides.
  EXPECT_EQ(InferClientProtocol(kOut, 0, Fixture("pgsql/simple_query.fe.bin"), 15432),
            ClientProtocol::kPostgres);
  EXPECT_EQ(InferClientProtocol(kOut, 0, Fixture("redis/get_set.req.bin"), 16379),
            ClientProtocol::kRedis);
  EXPECT_EQ(InferClientProtocol(kOut, 0, "PING\r\n", 6379), ClientProtocol::kRedis);
  EXPECT_EQ(InferClientProtocol(kOut, 0, "PING\r\n", 7000), ClientProtocol::kOther);
  EXPECT_EQ(InferClientProtocol(kOut, 0, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 80),
            ClientProtocol::kHttp);
  EXPECT_EQ(InferClientProtocol(kOut, 0, "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 443),
            ClientProtocol::kOther);
}

TEST(InferClientProtocol, MidStreamPoolConnection) {
  // A pool connection from before the capture: typed frontend messages, then replies.
  std::string fe = Fixture("pgsql/simple_query.fe.bin");
  size_t q = fe.find(std::string_view("Q\0\0\0", 4));
  ASSERT_NE(q, std::string::npos);
  EXPECT_EQ(InferClientProtocol(kOut, 1000, std::string_view(fe).substr(q), 5432),
            ClientProtocol::kPostgres);
  std::string be = Fixture("pgsql/simple_query.be.bin");
  size_t z = be.find(std::string_view("Z\0\0\0\5I", 6));
  ASSERT_NE(z, std::string::npos);
  EXPECT_EQ(InferClientProtocol(kIn, 1000, std::string_view(be).substr(z), 5432),
            ClientProtocol::kPostgres);
  EXPECT_EQ(InferClientProtocol(kIn, 1000, "+OK\r\n", 6379), ClientProtocol::kRedis);
  EXPECT_EQ(InferClientProtocol(kIn, 1000, "$5\r\nhello\r\n", 7000), ClientProtocol::kRedis);
}

TEST(InferClientProtocol, NeedsMoreBytesOrRefuses) {
  EXPECT_EQ(InferClientProtocol(kOut, 0, std::string("\0\0", 2), 5432),
            ClientProtocol::kUndecided);
  EXPECT_EQ(InferClientProtocol(kOut, 0, "*", 6379), ClientProtocol::kUndecided);
  EXPECT_EQ(InferClientProtocol(kOut, 0, "*2\r\n", 6379), ClientProtocol::kUndecided);
  EXPECT_EQ(InferClientProtocol(kOut, 0, "*2\r\n:", 6379), ClientProtocol::kOther);
  EXPECT_EQ(InferClientProtocol(kOut, 0, "hello world, not a protocol", 5432),
            ClientProtocol::kOther);
  // A huge declared PostgreSQL length is not PostgreSQL.
  EXPECT_EQ(InferClientProtocol(kOut, 100, std::string("Q\x7f\xff\xff\xff", 5), 5432),
            ClientProtocol::kOther);
}

PqEvent Call(uint16_t fn, std::string_view sql, std::string name = "", uint64_t ts = 1) {
  PqEvent e;
  e.tgid = 7;
  e.conn_ptr = 0x1000;
  e.fn = fn;
  e.text = sql;
  e.stmt_name = std::move(name);
  e.ts_ns = ts;
  return e;
}

PqEvent Result(uint16_t fn, int status, std::string cmd, uint64_t ts, bool null = false,
               std::string sqlstate = "") {
  PqEvent e;
  e.tgid = 7;
  e.conn_ptr = 0x1000;
  e.fn = fn;
  e.flags = FQL_PQ_F_RESULT | (null ? FQL_PQ_F_NULL_RESULT : 0) |
            (sqlstate.empty() ? 0 : FQL_PQ_F_SQLSTATE);
  e.result_status = null ? -1 : status;
  e.cmd_status = std::move(cmd);
  e.sqlstate = std::move(sqlstate);
  e.ts_ns = ts;
  return e;
}

TEST(LibpqCalls, PairsAsyncPreparedPipelineAndSync) {
  LibpqCalls calls;
  std::vector<protocols::pgsql::QueryRecord> out;
  // psycopg: PQsendQueryParams, PQgetResult (result), PQgetResult (NULL).
  calls.OnEvent(Call(FQL_PQ_SEND_QUERY_PARAMS, "SELECT * FROM t WHERE id = $1", "", 10), &out);
  calls.OnEvent(Result(FQL_PQ_GET_RESULT, FQL_PGRES_TUPLES_OK, "SELECT 1", 30), &out);
  calls.OnEvent(Result(FQL_PQ_GET_RESULT, 0, "", 31, true), &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].sql, "SELECT * FROM t WHERE id = $1");
  EXPECT_EQ(out[0].rows, 1u);
  EXPECT_EQ(out[0].end_ns - out[0].start_ns, 20u);
  // Prepare (not a query), then a prepared execution carries the prepared SQL.
  calls.OnEvent(Call(FQL_PQ_SEND_PREPARE, "SELECT 2", "_pg3_0", 40), &out);
  calls.OnEvent(Result(FQL_PQ_GET_RESULT, FQL_PGRES_COMMAND_OK, "", 41), &out);
  calls.OnEvent(Result(FQL_PQ_GET_RESULT, 0, "", 42, true), &out);
  calls.OnEvent(Call(FQL_PQ_SEND_QUERY_PREPARED, "", "_pg3_0", 50), &out);
  calls.OnEvent(Result(FQL_PQ_GET_RESULT, FQL_PGRES_TUPLES_OK, "SELECT 1", 51), &out);
  calls.OnEvent(Result(FQL_PQ_GET_RESULT, 0, "", 52, true), &out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].sql, "SELECT 2");
  EXPECT_EQ(out[1].statement_name, "_pg3_0");
  // Pipeline: two calls in flight, an error aborts the second; the sync result is no query.
  calls.OnEvent(Call(FQL_PQ_SEND_QUERY_PARAMS, "SELECT 1/0", "", 60), &out);
  calls.OnEvent(Call(FQL_PQ_SEND_QUERY_PARAMS, "SELECT 3", "", 61), &out);
  calls.OnEvent(Result(FQL_PQ_GET_RESULT, FQL_PGRES_FATAL_ERROR, "", 62, false, "22012"), &out);
  calls.OnEvent(Result(FQL_PQ_GET_RESULT, 0, "", 63, true), &out);
  calls.OnEvent(Result(FQL_PQ_GET_RESULT, FQL_PGRES_PIPELINE_ABORTED, "", 64), &out);
  calls.OnEvent(Result(FQL_PQ_GET_RESULT, 0, "", 65, true), &out);
  calls.OnEvent(Result(FQL_PQ_GET_RESULT, FQL_PGRES_PIPELINE_SYNC, "", 66), &out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_TRUE(out[2].error);
  EXPECT_EQ(out[2].sqlstate, "22012");
  // Synchronous PQexec: one call, one result, no NULL.
  calls.OnEvent(Call(FQL_PQ_EXEC, "BEGIN", "", 70), &out);
  calls.OnEvent(Result(FQL_PQ_EXEC, FQL_PGRES_COMMAND_OK, "BEGIN", 71), &out);
  // A prepared execution of a statement prepared before we attached: no invented text.
  calls.OnEvent(Call(FQL_PQ_SEND_QUERY_PREPARED, "", "_pg3_9", 80), &out);
  calls.OnEvent(Result(FQL_PQ_GET_RESULT, FQL_PGRES_COMMAND_OK, "UPDATE 4", 81), &out);
  calls.OnEvent(Result(FQL_PQ_GET_RESULT, 0, "", 82, true), &out);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[3].command_tag, "BEGIN");
  EXPECT_TRUE(out[4].prepared_before_capture);
  EXPECT_EQ(out[4].sql, "");
  EXPECT_EQ(out[4].rows, 4u);
  EXPECT_EQ(calls.unmatched_results(), 0u);
}

}  // namespace
}  // namespace fraiseql::handlers
