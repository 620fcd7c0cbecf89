// The stitcher over real PostgreSQL 15 / psycopg 3 bytes: every fixture must give exactly the
// records psycopg saw (manifest), whatever the event splits; losses must not derail it.
#include "protocols/pgsql/connection.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "conn/stream_buffer.h"
#include "fixtures.h"

namespace fraiseql::protocols::pgsql {
namespace {

using conn::StreamBuffer;
using testing::Backend;
using testing::FixtureNames;
using testing::Frontend;
using testing::Manifest;

struct Replayed {
  std::vector<QueryRecord> records;
  std::vector<TransactionRecord> transactions;
};

// Feeds `bytes` in pieces of the given sizes (cycled), polling after each.
void Feed(PgConnection& c, StreamBuffer& fe, StreamBuffer& be, bool frontend,
          std::string_view bytes, const std::vector<size_t>& sizes, uint64_t ts_base) {
  StreamBuffer& buf = frontend ? fe : be;
  size_t k = 0;
  for (size_t off = 0; off < bytes.size();) {
    const size_t n = std::min(sizes[k++ % sizes.size()], bytes.size() - off);
    buf.Add(off, bytes.substr(off, n), n, ts_base + off);
    c.Poll(fe, be);
    off += n;
  }
}

Replayed Replay(const std::string& name, const std::vector<size_t>& sizes, PgConnection* conn = nullptr) {
  PgConnection local;
  PgConnection& c = conn ? *conn : local;
  StreamBuffer fe, be;
  Feed(c, fe, be, true, Frontend(name), sizes, 1000);
  Feed(c, fe, be, false, Backend(name), sizes, 2000000);
  c.Finish();
  return {c.TakeRecords(), c.TakeTransactions()};
}

void ExpectMatchesManifest(const std::string& name, const PgConnection& c, const Replayed& run) {
  const auto& m = Manifest()[name];
  const auto& want = m["records"];
  ASSERT_EQ(run.records.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const QueryRecord& r = run.records[i];
    SCOPED_TRACE(r.ToString());
    EXPECT_EQ(r.sql, want[i]["sql"].get<std::string>());
    EXPECT_EQ(r.command_tag, want[i]["command_tag"].get<std::string>());
    EXPECT_EQ(r.rows, want[i]["rows"].get<uint64_t>());
    EXPECT_EQ(r.error, want[i]["error"].get<bool>());
    EXPECT_EQ(r.sqlstate, want[i]["sqlstate"].get<std::string>());
    EXPECT_EQ(r.simple_protocol, want[i]["simple"].get<bool>());
    EXPECT_EQ(r.statement_name, want[i]["statement_name"].get<std::string>());
    EXPECT_EQ(r.prepared_before_capture, want[i]["prepared_before_capture"].get<bool>());
    EXPECT_NE(r.tx_status_after, 0);
    EXPECT_LE(r.start_ns, r.end_ns);
  }
  EXPECT_EQ(c.stats().skipped_executes, m["skipped"].get<uint64_t>());
  EXPECT_EQ(c.stats().unanswered_executes, 0u);
  EXPECT_EQ(c.parse_errors(), 0u);
  EXPECT_FALSE(c.encrypted());
  EXPECT_TRUE(c.startup_seen());
  EXPECT_EQ(c.startup().user, m["startup"]["user"].get<std::string>());
  EXPECT_EQ(c.startup().database, m["startup"]["database"].get<std::string>());
  EXPECT_EQ(c.startup().application_name, m["startup"]["application_name"].get<std::string>());
  EXPECT_EQ(c.tx_status(), 'I');
  EXPECT_EQ(c.pending(), 0u);
  EXPECT_TRUE(c.terminated());
  const auto& tx = m["transactions"];
  ASSERT_EQ(run.transactions.size(), tx.size());
  for (size_t i = 0; i < tx.size(); ++i) {
    EXPECT_EQ(run.transactions[i].committed, tx[i]["committed"].get<bool>());
    EXPECT_LT(run.transactions[i].begin_ns, run.transactions[i].end_ns);
  }
  if (m.contains("notifications")) {
    EXPECT_EQ(c.stats().notifications, m["notifications"].get<uint64_t>());
  }
}

TEST(PgConnectionFixtures, WholeStreams) {
  for (const std::string& name : FixtureNames()) {
    SCOPED_TRACE(name);
    PgConnection c;
    Replayed run = Replay(name, {1u << 20}, &c);
    ExpectMatchesManifest(name, c, run);
  }
}

TEST(PgConnectionFixtures, RandomSplits) {
  std::mt19937 rng(42);
  for (const std::string& name : FixtureNames()) {
    for (int round = 0; round < 20; ++round) {
      SCOPED_TRACE(name + " round " + std::to_string(round));
      std::vector<size_t> sizes;
      for (int i = 0; i < 64; ++i) sizes.push_back(1 + rng() % (round < 5 ? 3 : 200));
      PgConnection c;
      Replayed run = Replay(name, sizes, &c);
      ExpectMatchesManifest(name, c, run);
    }
  }
}

TEST(PgConnectionFixtures, ByteAtATime) {
  for (const std::string& name : FixtureNames()) {
    SCOPED_TRACE(name);
    PgConnection c;
    Replayed run = Replay(name, {1}, &c);
    ExpectMatchesManifest(name, c, run);
  }
}

TEST(PgConnectionFixtures, PreparedStatementFlightYieldsNoRecord) {
  // psycopg prepares _pg3_0 with a Parse + Sync flight of its own: 10 executions, 10 records.
  PgConnection c;
  Replayed run = Replay("prepared_10", {1u << 20}, &c);
  ASSERT_EQ(run.records.size(), 10u);
  EXPECT_EQ(run.records[9].statement_name, "_pg3_0");
  EXPECT_FALSE(run.records[9].prepared_before_capture);
}

TEST(PgConnectionFixtures, SslRefusedThenClear) {
  PgConnection c;
  Replayed run = Replay("ssl_refused", {7});
  (void)run;
  Replayed again = Replay("ssl_refused", {1u << 20}, &c);
  EXPECT_FALSE(c.encrypted());
  ASSERT_EQ(again.records.size(), 1u);
}

TEST(PgConnection, SslAcceptedMarksEncrypted) {
  PgConnection c;
  StreamBuffer fe, be;
  const std::string ssl_request("\x00\x00\x00\x08\x04\xd2\x16\x2f", 8);
  const std::string client_hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage", 17);
  fe.Add(0, ssl_request, ssl_request.size(), 1);
  c.Poll(fe, be);
  be.Add(0, "S", 1, 2);
  c.Poll(fe, be);
  fe.Add(8, client_hello, client_hello.size(), 3);
  be.Add(1, "\x16\x03\x03\x00\x7a\x02random", 12, 4);
  c.Poll(fe, be);
  EXPECT_TRUE(c.encrypted());
  EXPECT_EQ(c.parse_errors(), 0u);
  EXPECT_TRUE(c.TakeRecords().empty());
  EXPECT_EQ(fe.buffered_bytes(), 0u);
  EXPECT_EQ(be.buffered_bytes(), 0u);
}

TEST(PgConnection, SslAcceptedDetectedWithoutFrontend) {
  // The frontend's SSLRequest was lost: the backend 'S' + TLS bytes cannot be a message.
  PgConnection c;
  StreamBuffer fe, be;
  be.Add(0, std::string("S\x16\x03\x03\x00\x7a\x02", 7), 7, 1);
  c.Poll(fe, be);
  EXPECT_TRUE(c.encrypted());
  EXPECT_EQ(c.parse_errors(), 0u);
}

// Mid-stream capture: the connection existed before the collector (pool connection).
TEST(PgConnectionFixtures, MidStreamStartKeepsLaterQueries) {
  const std::string fe_bytes = Frontend("prepared_10");
  const std::string be_bytes = Backend("prepared_10");
  // Start both directions after the 7th Sync / 7th ReadyForQuery (prepared statement known
  // only from before the capture).
  auto nth = [](const std::string& s, std::string_view pat, int n) {
    size_t pos = 0;
    for (int i = 0; i < n; ++i) pos = s.find(pat, pos) + pat.size();
    return pos;
  };
  const size_t fe_off = nth(fe_bytes, std::string_view("S\0\0\0\4", 5), 7);
  const size_t be_off = nth(be_bytes, std::string_view("Z\0\0\0\5I", 6), 8);
  PgConnection c;
  StreamBuffer fe, be;
  fe.Add(fe_off, std::string_view(fe_bytes).substr(fe_off), fe_bytes.size() - fe_off, 10);
  be.Add(be_off, std::string_view(be_bytes).substr(be_off), be_bytes.size() - be_off, 20);
  c.Poll(fe, be);
  c.Finish();
  std::vector<QueryRecord> recs = c.TakeRecords();
  ASSERT_EQ(recs.size(), 4u);
  for (const QueryRecord& r : recs) {
    EXPECT_TRUE(r.prepared_before_capture);
    EXPECT_EQ(r.sql, "");
    EXPECT_EQ(r.statement_name, "_pg3_0");
    EXPECT_EQ(r.command_tag, "SELECT 1");
  }
  EXPECT_EQ(c.stats().prepared_before_capture, 4u);
  EXPECT_EQ(c.parse_errors(), 0u);
}

// A pool connection from before the capture: the ReadyForQuery status is unknown until the
// first one we see, so the transaction its BEGIN opens must still be reported.
TEST(PgConnectionFixtures, MidStreamBeginOpensTransaction) {
  const std::string fe_bytes = Frontend("rollback");
  const std::string be_bytes = Backend("rollback");
  const size_t fe_off = fe_bytes.find(std::string_view("Q\0\0\0\nBEGIN\0", 11));
  // The backend after the startup's ReadyForQuery: the answers to that BEGIN onwards.
  const size_t be_off = be_bytes.find(std::string_view("Z\0\0\0\5I", 6)) + 6;
  ASSERT_NE(fe_off, std::string::npos);
  PgConnection c;
  StreamBuffer fe, be;
  fe.Add(fe_off, std::string_view(fe_bytes).substr(fe_off), fe_bytes.size() - fe_off, 10);
  be.Add(be_off, std::string_view(be_bytes).substr(be_off), be_bytes.size() - be_off, 20);
  c.Poll(fe, be);
  c.Finish();
  const auto& want = Manifest()["rollback"]["transactions"];
  std::vector<TransactionRecord> tx = c.TakeTransactions();
  ASSERT_EQ(tx.size(), want.size());
  for (size_t i = 0; i < tx.size(); ++i) {
    EXPECT_EQ(tx[i].committed, want[i]["committed"].get<bool>()) << i;
  }
}

// Lost events in the middle of the backend stream: parse errors counted, later queries found.
TEST(PgConnectionFixtures, HolesResyncAndLaterQueriesRecorded) {
  const std::string fe_bytes = Frontend("simple_query");
  const std::string be_bytes = Backend("simple_query");
  // Lose the end of the first query's last DataRow and the start of its CommandComplete.
  const size_t c_start = be_bytes.find("SELECT 4") - 5;
  const size_t hole_from = c_start - 10, hole_to = c_start + 6;
  PgConnection c;
  StreamBuffer fe, be;
  fe.Add(0, fe_bytes, fe_bytes.size(), 10);
  be.Add(0, std::string_view(be_bytes).substr(0, hole_from), hole_from, 20);
  be.Add(hole_from, "", hole_to - hole_from, 21);  // orig_size only: bytes not copied
  be.Add(hole_to, std::string_view(be_bytes).substr(hole_to), be_bytes.size() - hole_to, 22);
  c.Poll(fe, be);
  c.Finish();
  std::vector<QueryRecord> recs = c.TakeRecords();
  EXPECT_GE(c.parse_errors(), 1u);
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0].command_tag, "UPDATE 3");
  EXPECT_EQ(recs[1].sql, "SELECT 1");
  EXPECT_EQ(recs[1].command_tag, "SELECT 1");
}

// Random holes everywhere: no crash, bounded memory, records only ever from real replies.
TEST(PgConnectionFixtures, RandomHolesNeverCrash) {
  std::mt19937 rng(7);
  for (const std::string& name : FixtureNames()) {
    const std::string fe_bytes = Frontend(name), be_bytes = Backend(name);
    for (int round = 0; round < 30; ++round) {
      PgConnection c;
      StreamBuffer fe(4096), be(4096);
      auto feed = [&](StreamBuffer& buf, const std::string& bytes) {
        for (size_t off = 0; off < bytes.size();) {
          const size_t n = std::min<size_t>(1 + rng() % 64, bytes.size() - off);
          const bool lose = rng() % 10 == 0;
          buf.Add(off, lose ? std::string_view() : std::string_view(bytes).substr(off, n), n, off);
          c.Poll(fe, be);
          off += n;
        }
      };
      feed(fe, fe_bytes);
      feed(be, be_bytes);
      c.Finish();
      EXPECT_LE(c.TakeRecords().size(), Manifest()[name]["records"].size() + 2);
      EXPECT_LE(fe.buffered_bytes(), 4096u);
      EXPECT_LE(be.buffered_bytes(), 4096u);
    }
  }
}

TEST(PgConnection, GarbageCountsParseErrorsAndStaysBounded) {
  std::mt19937 rng(3);
  PgConnection c;
  StreamBuffer fe, be;
  std::string junk;
  for (int i = 0; i < 200000; ++i) junk.push_back(static_cast<char>(rng()));
  const std::string http = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  fe.Add(0, http, http.size(), 1);
  be.Add(0, "HTTP/1.1 200 OK\r\n\r\n", 19, 1);
  c.Poll(fe, be);
  for (size_t off = 0; off < junk.size(); off += 4096) {
    fe.Add(http.size() + off, std::string_view(junk).substr(off, 4096), 4096, 2);
    be.Add(19 + off, std::string_view(junk).substr(off, 4096), 4096, 2);
    c.Poll(fe, be);
    EXPECT_LE(fe.buffered_bytes(), PgStreamParser::kResyncKeep + 4096);
  }
  EXPECT_GE(c.parse_errors(), 2u);
  c.Finish();
  EXPECT_LE(c.TakeRecords().size(), 5u);  // random bytes may rarely form a reply
}

}  // namespace
}  // namespace fraiseql::protocols::pgsql

namespace fraiseql::protocols::pgsql {
namespace {

// A FATAL error ends the session on the server's side (it closes): the connection must stop
// counting as open even while the client still holds its socket.
TEST(PgConnection, FatalErrorEndsTheSession) {
  PgConnection c;
  EXPECT_FALSE(c.server_closed());
  Frame nonfatal;
  nonfatal.type = 'E';
  static constexpr char kError[] = "SERROR\0VERROR\0C22012\0Mdivision by zero\0";
  nonfatal.body = std::string(kError, sizeof(kError));  // the array's NUL ends the fields
  c.OnBackend(nonfatal);
  EXPECT_FALSE(c.server_closed());
  Frame fatal;
  fatal.type = 'E';
  static constexpr char kFatal[] = "SFATAL\0VFATAL\0C57P01\0Mterminating connection\0";
  fatal.body = std::string(kFatal, sizeof(kFatal));
  c.OnBackend(fatal);
  EXPECT_TRUE(c.server_closed());
}

}  // namespace
}  // namespace fraiseql::protocols::pgsql
