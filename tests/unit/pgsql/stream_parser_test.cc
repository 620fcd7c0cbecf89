// The per-direction driver: framing through random splits, bodies bigger than the buffer cap,
// Bind values never kept.
#include "protocols/pgsql/stream_parser.h"

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

std::string Types(std::string_view bytes, Direction dir, size_t step) {
  StreamBuffer buf;
  PgStreamParser p(dir);
  std::string types;
  for (size_t off = 0; off < bytes.size(); off += step) {
    std::string_view piece = bytes.substr(off, step);
    buf.Add(off, piece, piece.size(), off);
    Frame f;
    while (p.Next(buf, &f) == ParseState::kSuccess) types += f.type ? f.type : '0';
  }
  EXPECT_EQ(p.parse_errors(), 0u);
  return types;
}

TEST(PgStreamParserFixtures, SplitsDoNotChangeFraming) {
  for (const std::string& name : FixtureNames()) {
    SCOPED_TRACE(name);
    for (Direction dir : {Direction::kFrontend, Direction::kBackend}) {
      const std::string bytes = dir == Direction::kFrontend ? Frontend(name) : Backend(name);
      const std::string whole = Types(bytes, dir, bytes.size());
      EXPECT_FALSE(whole.empty());
      for (size_t step : {1, 2, 3, 5, 17, 100}) EXPECT_EQ(Types(bytes, dir, step), whole);
    }
  }
}

TEST(PgStreamParser, BindKeepsNoParameterValues) {
  using std::string_literals::operator""s;
  const std::string bind = "B\0\0\0\x1d\0s\0\0\0\0\2\0\0\0\4SECR\0\0\0\4ET!!\0\0"s;
  StreamBuffer buf;
  buf.Add(0, bind, bind.size(), 1);
  PgStreamParser p(Direction::kFrontend);
  Frame f;
  // Mid-stream (first byte not 0): typed directly.
  ASSERT_EQ(p.Next(buf, &f), ParseState::kSuccess);
  EXPECT_EQ(f.type, 'B');
  EXPECT_EQ(f.body.find("SECR"), std::string::npos);
  EXPECT_EQ(f.body.find("ET!!"), std::string::npos);
  BindInfo b;
  ASSERT_EQ(DecodeBind(f.body, &b), ParseState::kSuccess);
  EXPECT_EQ(b.statement, "s");
  EXPECT_EQ(b.params, 2u);
}

TEST(PgStreamParser, HugeDataRowCrossesBufferCapAndHoles) {
  // A 3 MiB DataRow through a 64 KiB buffer, with a lost event inside, then ReadyForQuery.
  const uint32_t col = 3u << 20;
  std::string head = "D";
  const uint32_t len = 4 + 2 + 4 + col;
  for (int s = 24; s >= 0; s -= 8) head.push_back(static_cast<char>(len >> s));
  head += std::string("\0\1", 2);
  for (int s = 24; s >= 0; s -= 8) head.push_back(static_cast<char>(col >> s));
  StreamBuffer buf(64 * 1024);
  PgStreamParser p(Direction::kBackend);
  Frame f;
  buf.Add(0, head, head.size(), 1);
  uint64_t pos = head.size();
  std::string chunk(32 * 1024, 'x');
  int frames = 0;
  while (pos < head.size() + col) {
    const size_t n = std::min<uint64_t>(chunk.size(), head.size() + col - pos);
    const bool lose = pos % (1 << 20) < chunk.size();
    buf.Add(pos, lose ? std::string_view() : std::string_view(chunk).substr(0, n), n, 2);
    pos += n;
    while (p.Next(buf, &f) == ParseState::kSuccess) ++frames;
    EXPECT_LE(buf.buffered_bytes(), 64u * 1024);
  }
  EXPECT_EQ(frames, 1);
  buf.Add(pos, std::string("Z\0\0\0\5I", 6), 6, 3);
  ASSERT_EQ(p.Next(buf, &f), ParseState::kSuccess);
  EXPECT_EQ(f.type, 'Z');
  EXPECT_EQ(p.parse_errors(), 0u);
}

TEST(PgStreamParser, GarbageThenResyncAtReadyForQuery) {
  StreamBuffer buf;
  PgStreamParser p(Direction::kBackend);
  std::string junk = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc";
  junk += std::string("C\0\0\0\x0dSELECT 1\0Z\0\0\0\5T", 20);
  buf.Add(0, "R", 1, 0);  // looks typed, then garbage
  buf.Add(1, junk, junk.size(), 1);
  Frame f;
  std::string types;
  while (p.Next(buf, &f) == ParseState::kSuccess) types += f.type;
  EXPECT_EQ(types, "CZ");
  EXPECT_GE(p.parse_errors(), 1u);
}

}  // namespace
}  // namespace fraiseql::protocols::pgsql
