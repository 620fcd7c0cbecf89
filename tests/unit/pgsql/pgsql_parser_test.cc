// Framing and decoders over real PostgreSQL 15 bytes: well-formed, every truncated prefix,
// malformed.
#include "protocols/pgsql/pgsql_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "fixtures.h"

namespace fraiseql::protocols::pgsql {
namespace {

using testing::Backend;
using testing::FixtureNames;
using testing::Frontend;

// Splits a whole fixture stream into messages with the pure parsers.
std::vector<std::string> Split(std::string_view s, Direction dir) {
  std::vector<std::string> out;
  bool untyped = dir == Direction::kFrontend;
  while (!s.empty()) {
    Message m;
    FrameResult r = untyped && s[0] == '\0' ? ParseUntypedMessage(s, &m) : ParseMessage(s, dir, &m);
    if (r.state != ParseState::kSuccess) {
      // The backend's one-byte answer to SSLRequest.
      if (dir == Direction::kBackend && out.empty() && s[0] == 'N') {
        s.remove_prefix(1);
        continue;
      }
      ADD_FAILURE() << "offset state " << ToString(r.state);
      return out;
    }
    EXPECT_EQ(r.consumed, m.wire_size);
    out.emplace_back(s.substr(0, r.consumed));
    s.remove_prefix(r.consumed);
  }
  return out;
}

TEST(PgsqlParserFixtures, WellFormedEveryMessage) {
  for (const std::string& name : FixtureNames()) {
    SCOPED_TRACE(name);
    const std::string fe = Frontend(name), be = Backend(name);
    size_t total = 0;
    for (const std::string& m : Split(fe, Direction::kFrontend)) total += m.size();
    EXPECT_EQ(total, fe.size());
    total = name == "ssl_refused" ? 1 : 0;
    for (const std::string& m : Split(be, Direction::kBackend)) total += m.size();
    EXPECT_EQ(total, be.size());
  }
}

TEST(PgsqlParserFixtures, EveryTruncatedPrefixNeedsMoreData) {
  for (const std::string& name : FixtureNames()) {
    SCOPED_TRACE(name);
    for (Direction dir : {Direction::kFrontend, Direction::kBackend}) {
      const std::string bytes = dir == Direction::kFrontend ? Frontend(name) : Backend(name);
      for (const std::string& msg : Split(bytes, dir)) {
        for (size_t n = 0; n < msg.size(); ++n) {
          const std::string prefix = msg.substr(0, n);
          const std::string copy = prefix;
          Message m;
          m.type = '?';
          FrameResult r = msg[0] == '\0' ? ParseUntypedMessage(prefix, &m)
                                          : ParseMessage(prefix, dir, &m);
          ASSERT_EQ(r.state, ParseState::kNeedsMoreData) << "len " << n << " of " << msg.size();
          EXPECT_EQ(r.consumed, 0u);
          EXPECT_EQ(m.type, '?');  // untouched
          EXPECT_EQ(prefix, copy);
        }
      }
    }
  }
}

TEST(PgsqlParser, MalformedIsInvalid) {
  Message m;
  auto fe = [&](std::string s) { return ParseMessage(s, Direction::kFrontend, &m).state; };
  auto be = [&](std::string s) { return ParseMessage(s, Direction::kBackend, &m).state; };
  using std::string_literals::operator""s;
  EXPECT_EQ(fe("Q\0\0\0\3"s), ParseState::kInvalid);                 // length < 4
  EXPECT_EQ(fe("Q\x7f\xff\xff\xff"s), ParseState::kInvalid);         // 2 GiB
  EXPECT_EQ(fe("Q\x7f"s), ParseState::kInvalid);                     // fails fast
  EXPECT_EQ(fe("Q\x40\0\0\1"s), ParseState::kInvalid);               // just over 1 GiB
  EXPECT_EQ(be("Z\0\0\0\6II"s), ParseState::kInvalid);               // fixed length
  EXPECT_EQ(be("Z\0\0\0\5X"s), ParseState::kInvalid);                // bad status
  EXPECT_EQ(be("C\0\0\0\x08SELE"s), ParseState::kInvalid);           // tag without NUL
  EXPECT_EQ(be("C\0\x20\0\0"s), ParseState::kInvalid);               // CommandComplete > 1 MiB
  EXPECT_EQ(fe("z\0\0\0\4"s), ParseState::kInvalid);                 // unknown type
  EXPECT_EQ(be("Q\0\0\0\4"s), ParseState::kInvalid);                 // frontend type on backend
  EXPECT_EQ(fe("S\0\0\0\5x"s), ParseState::kInvalid);                // Sync has no body
  EXPECT_EQ(fe("GET / HTTP/1.1\r\n\r\n"), ParseState::kInvalid);
  EXPECT_EQ(be("HTTP/1.1 200 OK\r\n"), ParseState::kInvalid);
  EXPECT_EQ(fe("P\0\0\0\x0b\0SELECT"s), ParseState::kInvalid);       // no NUL / no count
  EXPECT_EQ(be("D\0\0\0\x0a\0\1\0\0\0\x09"s), ParseState::kInvalid); // column past the end
  EXPECT_EQ(ParseUntypedMessage("\0\0\0\x08\0\0\0\0"s, &m).state, ParseState::kInvalid);
  EXPECT_EQ(ParseUntypedMessage("\0\0\x30\0"s, &m).state, ParseState::kInvalid);  // > 10000
  EXPECT_EQ(ParseUntypedMessage("\x7f\xff"s, &m).state, ParseState::kInvalid);
  EXPECT_EQ(ParseUntypedMessage("\0\0\0\x10\x04\xd2\x16\x2f"s, &m).state,
            ParseState::kInvalid);  // SSLRequest of length 16
}

TEST(PgsqlParser, RandomBytesNeverCrashAndMostlyInvalid) {
  std::mt19937 rng(1);
  size_t success = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    const size_t n = rng() % 64;
    for (size_t k = 0; k < n; ++k) s.push_back(static_cast<char>(rng()));
    Message m;
    for (Direction d : {Direction::kFrontend, Direction::kBackend}) {
      if (ParseMessage(s, d, &m).state == ParseState::kSuccess) ++success;
    }
    if (ParseUntypedMessage(s, &m).state == ParseState::kSuccess) ++success;
    (void)FindFrameBoundary(s, Direction::kFrontend);
    (void)FindFrameBoundary(s, Direction::kBackend);
  }
  EXPECT_LT(success, 20u);
}

TEST(PgsqlParser, FindFrameBoundaryResyncsOnRealBytes) {
  const std::string be = Backend("pipeline");
  const size_t z = be.find(std::string_view("Z\0\0\0\5I", 6));
  // From every offset before the first ReadyForQuery, the boundary found is a real message
  // start no later than it.
  std::vector<size_t> starts;
  size_t pos = 0;
  for (const std::string& m : Split(be, Direction::kBackend)) {
    starts.push_back(pos);
    pos += m.size();
  }
  for (size_t off = 1; off < z; ++off) {
    const size_t k = FindFrameBoundary(std::string_view(be).substr(off), Direction::kBackend);
    ASSERT_NE(k, std::string_view::npos);
    EXPECT_NE(std::find(starts.begin(), starts.end(), off + k), starts.end()) << off;
    EXPECT_LE(off + k, z);
  }
  EXPECT_EQ(FindFrameBoundary("garbage garbage garbage", Direction::kBackend),
            std::string_view::npos);
}

TEST(PgsqlParser, Decoders) {
  using std::string_literals::operator""s;
  CommandTag t = ParseCommandTag("INSERT 0 1");
  EXPECT_EQ(t.command, "INSERT");
  EXPECT_EQ(t.rows, 1u);
  t = ParseCommandTag("SELECT 5");
  EXPECT_EQ(t.command, "SELECT");
  EXPECT_EQ(t.rows, 5u);
  t = ParseCommandTag("UPDATE 3");
  EXPECT_EQ(t.rows, 3u);
  t = ParseCommandTag("COPY 10");
  EXPECT_EQ(t.rows, 10u);
  t = ParseCommandTag("BEGIN");
  EXPECT_EQ(t.command, "BEGIN");
  EXPECT_FALSE(t.has_rows);
  t = ParseCommandTag("CREATE TABLE");
  EXPECT_EQ(t.command, "CREATE TABLE");
  EXPECT_EQ(t.rows, 0u);

  ErrorInfo e;
  const std::string err = "SERROR\0VERROR\0C22012\0Mdivision by zero\0\0"s;
  ASSERT_EQ(DecodeErrorResponse(err, &e),
            ParseState::kSuccess);
  EXPECT_EQ(e.severity, "ERROR");
  EXPECT_EQ(e.sqlstate, "22012");
  EXPECT_EQ(e.message, "division by zero");

  BindInfo b;
  size_t header = 0;
  const std::string bind = "p1\0s1\0\0\1\0\1\0\2\0\0\0\1x\0\0\0\0"s;
  ASSERT_EQ(DecodeBind(bind, &b, &header),
            ParseState::kSuccess);
  EXPECT_EQ(b.portal, "p1");
  EXPECT_EQ(b.statement, "s1");
  EXPECT_EQ(b.params, 2u);
  EXPECT_EQ(header, 12u);

  ExecuteInfo x;
  ASSERT_EQ(DecodeExecute("\0\0\0\0\x0a"s, &x), ParseState::kSuccess);
  EXPECT_EQ(x.portal, "");
  EXPECT_EQ(x.max_rows, 10u);

  TargetInfo c;
  const std::string close = "S_pg3_0\0"s;
  ASSERT_EQ(DecodeCloseOrDescribe(close, &c), ParseState::kSuccess);
  EXPECT_EQ(c.kind, 'S');
  EXPECT_EQ(c.name, "_pg3_0");

  char st = 0;
  ASSERT_EQ(DecodeReadyForQuery("T", &st), ParseState::kSuccess);
  EXPECT_EQ(st, 'T');

  StartupInfo si;
  ASSERT_EQ(DecodeStartup("user\0u\0database\0d\0password\0secret\0application_name\0a\0\0"s, &si),
            ParseState::kSuccess);
  EXPECT_EQ(si.user, "u");
  EXPECT_EQ(si.database, "d");
  EXPECT_EQ(si.application_name, "a");
}

}  // namespace
}  // namespace fraiseql::protocols::pgsql
