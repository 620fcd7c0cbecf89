// The stream driver over real uvicorn bytes, with the losses the kernel side produces:
// capped copies, lost events, mid-stream starts, garbage.
#include "protocols/http1/stream_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "conn/stream_buffer.h"
#include "fixtures.h"

namespace fraiseql::protocols::http1 {
namespace {

using conn::StreamBuffer;
using testing::FixtureNames;
using testing::Manifest;
using testing::ReadFixture;
using std::string_literals::operator""s;

// Drains every message the parser can produce now.
std::vector<Message> Drain(Http1StreamParser& p, StreamBuffer& buf,
                           const std::vector<std::string>* methods = nullptr) {
  std::vector<Message> out;
  size_t finals = 0;
  for (;;) {
    bool head = methods != nullptr && finals < methods->size() && (*methods)[finals] == "HEAD";
    Message m;
    if (p.Next(buf, &m, head) != ParseState::kSuccess) break;
    if (m.type == MessageType::kResponse && m.response.status >= 200) ++finals;
    out.push_back(std::move(m));
  }
  return out;
}

// Feeds bytes as events of `step` bytes starting at position `pos`, draining after each.
std::vector<Message> Feed(Http1StreamParser& p, StreamBuffer& buf, std::string_view bytes,
                          size_t step, uint64_t pos = 0,
                          const std::vector<std::string>* methods = nullptr) {
  std::vector<Message> out;
  for (size_t off = 0; off < bytes.size(); off += step) {
    std::string_view piece = bytes.substr(off, step);
    buf.Add(pos + off, piece, piece.size(), 1000 + off);
    for (Message& m : Drain(p, buf, methods)) out.push_back(std::move(m));
  }
  return out;
}

std::vector<std::string> Methods(const std::string& name) {
  std::vector<std::string> v;
  for (const auto& m : Manifest()[name]["request_methods"]) v.push_back(m.get<std::string>());
  return v;
}

void ExpectRequestsMatchManifest(const std::string& name, const std::vector<Message>& got) {
  const auto& want = Manifest()[name]["requests"];
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(got[i].ToString());
    EXPECT_EQ(got[i].request.method, want[i]["method"].get<std::string>());
    EXPECT_EQ(got[i].request.target, want[i]["target"].get<std::string>());
    EXPECT_EQ(got[i].body_size, want[i]["body_size"].get<uint64_t>());
    EXPECT_EQ(got[i].body.size(), want[i]["body_size"].get<uint64_t>());
    EXPECT_EQ(got[i].wire_size, want[i]["wire_size"].get<uint64_t>());
    EXPECT_FALSE(got[i].body_truncated);
  }
}

void ExpectResponsesMatchManifest(const std::string& name, const std::vector<Message>& got) {
  const auto& want = Manifest()[name]["responses"];
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE(got[i].ToString());
    EXPECT_EQ(got[i].response.status, want[i]["status"].get<int>());
    EXPECT_EQ(got[i].body_size, want[i]["body_size"].get<uint64_t>());
    EXPECT_EQ(got[i].body.size(), want[i]["body_size"].get<uint64_t>());
    EXPECT_EQ(got[i].wire_size, want[i]["wire_size"].get<uint64_t>());
    EXPECT_FALSE(got[i].body_truncated);
  }
}

TEST(Http1StreamParserTest, EveryFixtureWholeAndByteByByte) {
  for (const std::string& name : FixtureNames()) {
    SCOPED_TRACE(name);
    const std::vector<std::string> methods = Methods(name);
    const std::string req = ReadFixture(name + ".req.bin");
    const std::string resp = ReadFixture(name + ".resp.bin");
    for (size_t step : {req.size() + resp.size(), size_t{1}, size_t{7}, size_t{16384}}) {
      SCOPED_TRACE(step);
      StreamBuffer rbuf, sbuf;
      Http1StreamParser rp(MessageType::kRequest), sp(MessageType::kResponse);
      ExpectRequestsMatchManifest(name, Feed(rp, rbuf, req, step));
      ExpectResponsesMatchManifest(name, Feed(sp, sbuf, resp, step, 0, &methods));
      EXPECT_EQ(rp.parse_errors(), 0u);
      EXPECT_EQ(sp.parse_errors(), 0u);
      Message m;
      EXPECT_FALSE(rp.Finish(rbuf, &m));
      EXPECT_FALSE(sp.Finish(sbuf, &m));
    }
  }
}

TEST(Http1StreamParserTest, EveryPrefixOfASingleMessageNeedsMoreData) {
  for (const std::string& name : {"get"s, "post_json"s, "post_chunked"s, "head"s}) {
    const std::string req = ReadFixture(name + ".req.bin");
    for (size_t n = 0; n < req.size(); ++n) {
      StreamBuffer buf;
      Http1StreamParser p(MessageType::kRequest);
      buf.Add(0, std::string_view(req).substr(0, n), n, 1);
      Message m;
      ASSERT_EQ(p.Next(buf, &m), ParseState::kNeedsMoreData) << name << " prefix " << n;
      ASSERT_EQ(p.parse_errors(), 0u);
    }
  }
}

TEST(Http1StreamParserTest, PipelinedRequestsInOneRead) {
  const std::string req = ReadFixture("pipelined.req.bin");
  StreamBuffer buf;
  Http1StreamParser p(MessageType::kRequest);
  buf.Add(0, req, req.size(), 42);
  std::vector<Message> got = Drain(p, buf);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].request.method, "GET");
  EXPECT_EQ(got[1].request.method, "POST");
  EXPECT_EQ(got[1].body, "{\"query\":\"{a}\"}");
  EXPECT_EQ(got[2].request.target, "/items/3");
  EXPECT_FALSE(got[2].request.keep_alive);
  EXPECT_EQ(got[2].start_pos, got[0].wire_size + got[1].wire_size);
  EXPECT_EQ(buf.head(), req.size());
}

TEST(Http1StreamParserTest, ChunkedBodiesAreDecoded) {
  StreamBuffer buf;
  Http1StreamParser p(MessageType::kResponse);
  const std::string resp = ReadFixture("chunked_response.resp.bin");
  std::vector<Message> got = Feed(p, buf, resp, 3);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].body, "part 0;part 1;part 1;part 2;part 2;part 2;");
  EXPECT_EQ(got[0].wire_size, resp.size());

  StreamBuffer rbuf;
  Http1StreamParser rp(MessageType::kRequest);
  std::string req = "POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: 1\r\n\r\n"
                    "GET /next HTTP/1.1\r\n\r\n";
  rbuf.Add(0, req, req.size(), 1);
  got = Drain(rp, rbuf);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].body, "hello world");
  EXPECT_EQ(got[0].body_size, 11u);
  EXPECT_EQ(got[1].request.target, "/next");
}

TEST(Http1StreamParserTest, CappedCopyOfA20KiBBodyCompletesTruncated) {
  // The kernel copies 16 KiB of the 20 KiB POST read in one syscall; the next request follows.
  const std::string big = ReadFixture("post_20k.req.bin");
  const std::string next = ReadFixture("get.req.bin");
  StreamBuffer buf;
  Http1StreamParser p(MessageType::kRequest);
  buf.Add(0, std::string_view(big).substr(0, 16384), big.size(), 100);
  std::vector<Message> got = Drain(p, buf);
  ASSERT_EQ(got.size(), 1u);
  const uint64_t body_size = Manifest()["post_20k"]["requests"][0]["body_size"].get<uint64_t>();
  EXPECT_EQ(got[0].body_size, body_size);
  EXPECT_TRUE(got[0].body_truncated);
  EXPECT_EQ(got[0].body_missing_bytes, big.size() - 16384);
  EXPECT_EQ(got[0].body.size(), 16384 - got[0].head_size);
  EXPECT_EQ(got[0].wire_size, big.size());
  EXPECT_EQ(got[0].end_ts, 100u);
  buf.Add(big.size(), next, next.size(), 200);
  got = Drain(p, buf);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].request.target, "/items/42?verbose=1");
  EXPECT_EQ(got[0].start_ts, 200u);
  EXPECT_EQ(p.parse_errors(), 0u);
  EXPECT_GT(buf.gap_bytes(), 0u);
}

TEST(Http1StreamParserTest, LostEventInsideBodyCompletesWhenStreamMovesPast) {
  const std::string big = ReadFixture("post_20k.req.bin");
  StreamBuffer buf;
  Http1StreamParser p(MessageType::kRequest);
  buf.Add(0, std::string_view(big).substr(0, 1000), 1000, 1);
  Message m;
  EXPECT_EQ(p.Next(buf, &m), ParseState::kNeedsMoreData);
  EXPECT_TRUE(p.in_message());
  // [1000, 5000) lost; the rest arrives.
  buf.Add(5000, std::string_view(big).substr(5000), big.size() - 5000, 3);
  ASSERT_EQ(p.Next(buf, &m), ParseState::kSuccess);
  EXPECT_TRUE(m.body_truncated);
  EXPECT_EQ(m.body_missing_bytes, 4000u);
  EXPECT_EQ(m.body.size(), 1000 - m.head_size);  // a prefix: capture stops at the hole
  EXPECT_EQ(m.start_ts, 1u);
  EXPECT_EQ(m.end_ts, 3u);
}

TEST(Http1StreamParserTest, HoleInHeadResyncsAndCountsError) {
  const std::string a = ReadFixture("post_json.req.bin");
  const std::string b = ReadFixture("get.req.bin");
  StreamBuffer buf;
  Http1StreamParser p(MessageType::kRequest);
  buf.Add(0, std::string_view(a).substr(0, 20), 20, 1);  // [20, 60) lost
  buf.Add(60, std::string_view(a).substr(60), a.size() - 60, 2);
  buf.Add(a.size(), b, b.size(), 3);
  std::vector<Message> got = Drain(p, buf);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].request.target, "/items/42?verbose=1");
  EXPECT_EQ(p.parse_errors(), 1u);
}

TEST(Http1StreamParserTest, GarbageThenValidRequest) {
  const std::string tls = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s + std::string(300, 'r');
  std::mt19937 rng(7);
  std::string random(64 * 1024, '\0');
  for (char& c : random) c = static_cast<char>(rng());
  const std::string get = ReadFixture("get.req.bin");
  const std::string stream = tls + random + get;
  StreamBuffer buf;
  Http1StreamParser p(MessageType::kRequest);
  std::vector<Message> got = Feed(p, buf, stream, 4096);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].request.target, "/items/42?verbose=1");
  EXPECT_EQ(got[0].start_pos, tls.size() + random.size());
  EXPECT_GE(p.parse_errors(), 1u);
}

TEST(Http1StreamParserTest, OneMiBHeaderLineStaysBounded) {
  StreamBuffer buf;  // 1 MiB cap
  Http1StreamParser p(MessageType::kRequest);
  std::string stream = "GET / HTTP/1.1\r\nX-Big: " + std::string(1 << 20, 'a') + "\r\n\r\n";
  const size_t garbage_end = stream.size();
  stream += ReadFixture("post_json.req.bin");
  std::vector<Message> got;
  size_t max_buffered = 0;
  for (size_t off = 0; off < stream.size(); off += 16384) {
    std::string_view piece = std::string_view(stream).substr(off, 16384);
    buf.Add(off, piece, piece.size(), off);
    for (Message& m : Drain(p, buf)) got.push_back(std::move(m));
    max_buffered = std::max(max_buffered, buf.buffered_bytes());
  }
  EXPECT_LE(max_buffered, kMaxHeadSize + 16384);
  EXPECT_EQ(buf.dropped_bytes(), 0u);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].request.target, "/graphql");
  EXPECT_EQ(got[0].start_pos, garbage_end);
  EXPECT_EQ(p.parse_errors(), 1u);
}

TEST(Http1StreamParserTest, MidStreamStartResyncsToNextRequest) {
  const std::string a = ReadFixture("post_json.req.bin");
  const std::string pipelined = ReadFixture("pipelined.req.bin");
  const std::string stream = a + pipelined;
  const size_t start = a.size() - 50;  // collector attached in the middle of a's JSON body
  StreamBuffer buf;
  Http1StreamParser p(MessageType::kRequest);
  std::vector<Message> got =
      Feed(p, buf, std::string_view(stream).substr(start), 64, /*pos=*/1'000'000 + start);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].request.target, "/items/1");
  EXPECT_EQ(got[0].start_pos, 1'000'000 + a.size());
  EXPECT_EQ(p.parse_errors(), 1u);
}

TEST(Http1StreamParserTest, MidStreamResponseStart) {
  const std::string r = ReadFixture("pipelined.resp.bin");
  StreamBuffer buf;
  Http1StreamParser p(MessageType::kResponse);
  std::vector<Message> got = Feed(p, buf, std::string_view(r).substr(30), 1000, 30);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(p.parse_errors(), 1u);
}

TEST(Http1StreamParserTest, HeadResponseHasNoBody) {
  const std::string r = ReadFixture("head.resp.bin") + ReadFixture("get.resp.bin");
  StreamBuffer buf;
  Http1StreamParser p(MessageType::kResponse);
  buf.Add(0, r, r.size(), 1);
  Message m;
  ASSERT_EQ(p.Next(buf, &m, /*request_was_head=*/true), ParseState::kSuccess);
  EXPECT_EQ(m.body_size, 0u);
  EXPECT_EQ(m.response.content_length.value_or(0), 41u);
  ASSERT_EQ(p.Next(buf, &m, false), ParseState::kSuccess);
  EXPECT_EQ(m.body_size, 42u);
  EXPECT_EQ(p.parse_errors(), 0u);
}

TEST(Http1StreamParserTest, ExpectContinueInterimResponseIsItsOwnMessage) {
  const std::string r = ReadFixture("expect_continue.resp.bin");
  StreamBuffer buf;
  Http1StreamParser p(MessageType::kResponse);
  buf.Add(0, r, r.size(), 1);
  std::vector<Message> got = Drain(p, buf);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].response.status, 100);
  EXPECT_EQ(got[1].response.status, 200);

  // The request side: head first, body only after the server's 100 Continue.
  const std::string q = ReadFixture("expect_continue.req.bin");
  const size_t head_len = q.find("\r\n\r\n") + 4;
  StreamBuffer qbuf;
  Http1StreamParser qp(MessageType::kRequest);
  qbuf.Add(0, std::string_view(q).substr(0, head_len), head_len, 10);
  Message m;
  EXPECT_EQ(qp.Next(qbuf, &m), ParseState::kNeedsMoreData);
  qbuf.Add(head_len, std::string_view(q).substr(head_len), q.size() - head_len, 20);
  ASSERT_EQ(qp.Next(qbuf, &m), ParseState::kSuccess);
  EXPECT_TRUE(m.request.expect_continue);
  EXPECT_EQ(m.start_ts, 10u);
  EXPECT_EQ(m.end_ts, 20u);
}

TEST(Http1StreamParserTest, UntilCloseResponseAndCutShortBody) {
  StreamBuffer buf;
  Http1StreamParser p(MessageType::kResponse);
  const std::string r = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello";
  buf.Add(0, r, r.size(), 1);
  Message m;
  EXPECT_EQ(p.Next(buf, &m), ParseState::kNeedsMoreData);
  buf.Add(r.size(), " world", 6, 2);
  EXPECT_EQ(p.Next(buf, &m), ParseState::kNeedsMoreData);
  ASSERT_TRUE(p.Finish(buf, &m));
  EXPECT_EQ(m.body, "hello world");
  EXPECT_TRUE(m.ended_by_close);
  EXPECT_FALSE(m.body_truncated);
  EXPECT_EQ(m.end_ts, 2u);

  StreamBuffer buf2;
  Http1StreamParser p2(MessageType::kResponse);
  const std::string cut = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this";
  buf2.Add(0, cut, cut.size(), 1);
  EXPECT_EQ(p2.Next(buf2, &m), ParseState::kNeedsMoreData);
  ASSERT_TRUE(p2.Finish(buf2, &m));
  EXPECT_TRUE(m.body_truncated);
  EXPECT_EQ(m.body, "only this");
  EXPECT_EQ(m.body_missing_bytes, 91u);
}

TEST(Http1StreamParserTest, BodyLimitTruncatesCapture) {
  const std::string q = ReadFixture("post_json.req.bin");
  StreamBuffer buf;
  Http1StreamParser p(MessageType::kRequest, /*body_limit=*/10);
  buf.Add(0, q, q.size(), 1);
  Message m;
  ASSERT_EQ(p.Next(buf, &m), ParseState::kSuccess);
  EXPECT_EQ(m.body.size(), 10u);
  EXPECT_EQ(m.body_size, 100u);
  EXPECT_TRUE(m.body_truncated);
  EXPECT_EQ(m.body_missing_bytes, 0u);
}

TEST(Http1StreamParserTest, ChunkSizeLineInHoleEmitsTruncatedAndResyncs) {
  const std::string q = "POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
  const std::string tail = "5\r\nworld\r\n0\r\n\r\n";
  const std::string next = ReadFixture("get.req.bin");
  StreamBuffer buf;
  Http1StreamParser p(MessageType::kRequest);
  buf.Add(0, q, q.size(), 1);
  buf.Add(q.size(), "", tail.size(), 2);  // fault: nothing copied
  buf.Add(q.size() + tail.size(), next, next.size(), 3);
  std::vector<Message> got = Drain(p, buf);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].body, "hello");
  EXPECT_TRUE(got[0].body_truncated);
  EXPECT_EQ(got[1].request.method, "GET");
  EXPECT_EQ(p.parse_errors(), 1u);
}

TEST(Http1StreamParserTest, UpgradeStopsParsing) {
  StreamBuffer buf;
  Http1StreamParser p(MessageType::kResponse);
  const std::string r = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
                        "\x81\x05hello"s;
  buf.Add(0, r, r.size(), 1);
  std::vector<Message> got = Drain(p, buf);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_TRUE(p.upgraded());
  EXPECT_EQ(p.parse_errors(), 0u);
  EXPECT_EQ(buf.head(), r.size());
}

// Random splits and random losses over every fixture: never crashes, memory stays capped,
// and a clean request after the damage always parses.
TEST(Http1StreamParserTest, RandomSplitsAndLossesNeverBreakTheStream) {
  std::mt19937 rng(1234);
  const std::string clean = ReadFixture("get.req.bin");
  for (int round = 0; round < 200; ++round) {
    std::string stream;
    for (const std::string& name : FixtureNames()) {
      stream += ReadFixture(name + ((round & 1) ? ".req.bin" : ".resp.bin"));
    }
    const MessageType type = (round & 1) ? MessageType::kRequest : MessageType::kResponse;
    StreamBuffer buf(32 * 1024);
    Http1StreamParser p(type);
    size_t off = 0;
    while (off < stream.size()) {
      const size_t len = std::min<size_t>(stream.size() - off, 1 + rng() % 3000);
      const int fate = static_cast<int>(rng() % 10);
      if (fate == 0) {
        // lost event
      } else if (fate == 1) {
        buf.Add(off, std::string_view(stream).substr(off, len / 2), len, off);  // capped copy
      } else {
        buf.Add(off, std::string_view(stream).substr(off, len), len, off);
      }
      Drain(p, buf);
      ASSERT_LE(buf.buffered_bytes(), buf.max_bytes());
      off += len;
    }
    Message m;
    p.Finish(buf, &m);
    const std::string tail = type == MessageType::kRequest ? clean : ReadFixture("get.resp.bin");
    buf.Add(stream.size() + 10, tail, tail.size(), 9);  // after a final hole
    std::vector<Message> got = Drain(p, buf);
    ASSERT_EQ(got.size(), 1u) << "round " << round;
    EXPECT_EQ(got[0].start_pos, stream.size() + 10);
  }
}

}  // namespace
}  // namespace fraiseql::protocols::http1
