// The stream driver over real Redis bytes, with the losses the kernel side produces: random
// splits, lost events, garbage, a reply declaring a huge length.
#include "protocols/redis/stream_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "conn/stream_buffer.h"
#include "fixtures.h"

namespace fraiseql::protocols::redis {
namespace {

using conn::StreamBuffer;
using testing::ReadFixture;
using testing::ScenarioNames;
using std::string_literals::operator""s;

std::vector<Frame> Drain(RespStreamParser& p, StreamBuffer& buf) {
  std::vector<Frame> out;
  Frame f;
  while (p.Next(buf, &f) == ParseState::kSuccess) out.push_back(std::move(f));
  return out;
}

// Feeds bytes as events of random sizes (1..max_step), draining after each.
std::vector<Frame> FeedRandom(RespStreamParser& p, StreamBuffer& buf, std::string_view bytes,
                              std::mt19937& rng, size_t max_step, uint64_t pos = 0) {
  std::vector<Frame> out;
  for (size_t off = 0; off < bytes.size();) {
    const size_t n = std::min<size_t>(bytes.size() - off, 1 + rng() % max_step);
    buf.Add(pos + off, bytes.substr(off, n), n, 1000 + off);
    for (Frame& f : Drain(p, buf)) out.push_back(std::move(f));
    off += n;
  }
  return out;
}

template <typename T, typename F>
size_t CountFrames(const std::string& bytes, F parse) {
  size_t n = 0, off = 0;
  while (off < bytes.size()) {
    T v;
    FrameResult r = parse(std::string_view(bytes).substr(off), &v);
    if (r.state != ParseState::kSuccess) break;
    off += r.consumed;
    if constexpr (std::is_same_v<T, Command>) {
      if (v.argc == 0) continue;
    }
    ++n;
  }
  return n;
}

TEST(RespStreamParserTest, EveryFixtureWholeAndInRandomSplits) {
  std::mt19937 rng(7);
  for (const std::string& name : ScenarioNames()) {
    SCOPED_TRACE(name);
    const std::string req = ReadFixture(name + ".req.bin");
    const std::string resp = ReadFixture(name + ".resp.bin");
    const size_t want_req = CountFrames<Command>(req, ParseCommand);
    const size_t want_resp = CountFrames<Value>(resp, ParseReply);
    for (size_t step : {size_t{1} << 30, size_t{1}, size_t{7}, size_t{300}, size_t{70000}}) {
      if (step == 1 && req.size() > 100000) continue;
      // One event over the buffer's cap is evicted at once (the kernel side chunks big writes).
      if (step > StreamBuffer::kDefaultMaxBytes && req.size() > StreamBuffer::kDefaultMaxBytes) {
        continue;
      }
      RespStreamParser rp(Direction::kRequest), pp(Direction::kReply);
      StreamBuffer rb, pb;
      auto cmds = FeedRandom(rp, rb, req, rng, step);
      auto replies = FeedRandom(pp, pb, resp, rng, step);
      EXPECT_EQ(cmds.size(), want_req);
      EXPECT_EQ(replies.size(), want_resp);
      EXPECT_EQ(rp.parse_errors() + pp.parse_errors(), 0u);
      for (const Frame& f : cmds) EXPECT_FALSE(f.truncated) << f.ToString();
      EXPECT_LE(rb.buffered_bytes(), 0u);
      EXPECT_LE(pb.buffered_bytes(), 0u);
    }
  }
}

TEST(RespStreamParserTest, OneMiBValueIsSkippedByPositionNotBuffered) {
  const std::string resp = ReadFixture("big_value.resp.bin");
  RespStreamParser p(Direction::kReply);
  StreamBuffer buf(64 * 1024);  // far below the value
  std::mt19937 rng(3);
  auto frames = FeedRandom(p, buf, resp, rng, 16 * 1024);
  ASSERT_EQ(frames.size(), 3u);  // +OK, the value, :STRLEN
  EXPECT_EQ(frames[1].reply.type, RespType::kBulkString);
  EXPECT_EQ(frames[1].reply.size, 1u << 20);
  EXPECT_TRUE(frames[1].reply.text.empty());  // values are never kept
  EXPECT_EQ(frames[2].reply.integer, 1 << 20);
  EXPECT_EQ(p.parse_errors(), 0u);
  EXPECT_EQ(buf.dropped_bytes(), 0u);
}

TEST(RespStreamParserTest, HugeDeclaredLengthKeepsMemoryCapped) {
  RespStreamParser p(Direction::kReply);
  StreamBuffer buf(256 * 1024);
  const std::string head = "$536870000\r\n";
  buf.Add(0, head, head.size(), 1);
  Frame f;
  EXPECT_EQ(p.Next(buf, &f), ParseState::kNeedsMoreData);
  EXPECT_TRUE(p.in_frame());
  // Little data, then a lot: nothing accumulates, nothing completes.
  uint64_t pos = head.size();
  const std::string chunk(64 * 1024, 'z');
  for (int i = 0; i < 200; ++i) {
    buf.Add(pos, chunk, chunk.size(), 2 + i);
    pos += chunk.size();
    EXPECT_EQ(p.Next(buf, &f), ParseState::kNeedsMoreData);
    ASSERT_LE(buf.buffered_bytes(), 0u);
  }
  EXPECT_EQ(p.parse_errors(), 0u);
  // The connection closes in the middle: the frame is dropped.
  EXPECT_TRUE(p.Finish());
}

TEST(RespStreamParserTest, HugeDeclaredLengthWithLostEventsCompletesTruncated) {
  RespStreamParser p(Direction::kReply);
  StreamBuffer buf;
  const std::string head = "$1000000\r\n";
  buf.Add(0, head, head.size(), 1);
  // The kernel copied only 100 bytes of each write; most positions are holes.
  uint64_t pos = head.size();
  for (int i = 0; i < 10; ++i) {
    buf.Add(pos, std::string(100, 'a'), 100000, 2);
    pos += 100000;
  }
  buf.Add(pos, "\r\n+OK\r\n", 7, 3);
  auto frames = Drain(p, buf);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_TRUE(frames[0].truncated);
  EXPECT_EQ(frames[0].reply.size, 1000000u);
  EXPECT_EQ(frames[1].reply.text, "OK");
  EXPECT_EQ(p.parse_errors(), 0u);
}

TEST(RespStreamParserTest, HoleInFramingResyncsAndCountsError) {
  const std::string req = ReadFixture("pipeline50.req.bin");
  RespStreamParser p(Direction::kRequest);
  StreamBuffer buf;
  // Lose bytes [100, 400): the commands there are gone, the others come out.
  buf.Add(0, std::string_view(req).substr(0, 100), 100, 1);
  buf.Add(400, std::string_view(req).substr(400), req.size() - 400, 3);
  buf.Add(100, "", 300, 2);  // the lost event's positions are known to exist
  auto frames = Drain(p, buf);
  EXPECT_GE(p.parse_errors(), 1u);
  EXPECT_GT(frames.size(), 35u);
  EXPECT_LT(frames.size(), 50u);
  bool saw_loss = false;
  for (const Frame& f : frames) {
    saw_loss |= f.after_loss;
    EXPECT_TRUE(f.command.name == "SET" || f.command.name == "GET") << f.ToString();
  }
  EXPECT_TRUE(saw_loss);
}

TEST(RespStreamParserTest, GarbageIsCountedAndSkipped) {
  for (Direction d : {Direction::kRequest, Direction::kReply}) {
    RespStreamParser p(d);
    StreamBuffer buf;
    std::mt19937 rng(11);
    std::string garbage(5000, '\0');
    for (char& c : garbage) c = static_cast<char>(rng() % 256);
    const std::string good = d == Direction::kRequest ? "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"s
                                                      : "$5\r\nhello\r\n"s;
    const std::string bytes = garbage + "\r\n" + good;
    auto frames = FeedRandom(p, buf, bytes, rng, 50);
    EXPECT_GE(p.parse_errors(), 1u);
    ASSERT_FALSE(frames.empty());
    if (d == Direction::kRequest) {
      EXPECT_EQ(frames.back().command.name, "GET");
    } else {
      EXPECT_EQ(frames.back().reply.size, 5u);
    }
    EXPECT_TRUE(frames.back().after_loss || frames.size() > 1);
    EXPECT_LE(buf.buffered_bytes(), RespStreamParser::kResyncKeep);
  }
}

TEST(RespStreamParserTest, EndlessGarbageStaysBounded) {
  RespStreamParser p(Direction::kReply);
  StreamBuffer buf(4 << 20);
  std::mt19937 rng(5);
  uint64_t pos = 0;
  for (int i = 0; i < 300; ++i) {
    std::string g(8192, 'a');  // no line breaks at all
    if (i % 3 == 0) {
      for (char& c : g) c = static_cast<char>(rng() % 256);
    }
    buf.Add(pos, g, g.size(), i);
    pos += g.size();
    Frame f;
    while (p.Next(buf, &f) == ParseState::kSuccess) {
    }
    ASSERT_LE(buf.buffered_bytes(), RespStreamParser::kResyncKeep + 8192);
  }
  EXPECT_GE(p.parse_errors(), 1u);
}

TEST(RespStreamParserTest, HttpOnARedisConnection) {
  RespStreamParser p(Direction::kRequest);
  StreamBuffer buf;
  const std::string http = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
  buf.Add(0, http, http.size(), 1);
  auto frames = Drain(p, buf);
  EXPECT_TRUE(frames.empty());
  EXPECT_GE(p.parse_errors(), 1u);
}

TEST(RespStreamParserTest, MidStreamStartResyncs) {
  const std::string resp = ReadFixture("pipeline50.resp.bin");
  RespStreamParser p(Direction::kReply);
  StreamBuffer buf;
  // The capture starts in the middle of "$2\r\nv1\r\n": resync at the next reply.
  const size_t start = resp.find("$2\r\n") + 5;
  buf.Add(1000, std::string_view(resp).substr(start), resp.size() - start, 1);
  auto frames = Drain(p, buf);
  EXPECT_GT(frames.size(), 30u);
}

TEST(RespStreamParserTest, RandomSplitsAndLossesNeverBreakTheStream) {
  std::mt19937 rng(99);
  for (const std::string& name : ScenarioNames()) {
    for (const char* suffix : {".req.bin", ".resp.bin"}) {
      const std::string bytes = ReadFixture(name + suffix);
      RespStreamParser p(std::string(suffix) == ".req.bin" ? Direction::kRequest
                                                            : Direction::kReply);
      StreamBuffer buf(32 * 1024);
      for (size_t off = 0; off < bytes.size();) {
        const size_t n = std::min<size_t>(bytes.size() - off, 1 + rng() % 500);
        const size_t copied = rng() % 8 == 0 ? rng() % (n + 1) : n;  // capped copies
        if (rng() % 10 != 0) buf.Add(off, std::string_view(bytes).substr(off, copied), n, off);
        Frame f;
        while (p.Next(buf, &f) == ParseState::kSuccess) {
        }
        ASSERT_LE(buf.buffered_bytes(), 32u * 1024);
        off += n;
      }
    }
  }
}

}  // namespace
}  // namespace fraiseql::protocols::redis
