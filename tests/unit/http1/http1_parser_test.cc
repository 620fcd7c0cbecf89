// The three parser suites over real uvicorn bytes: well-formed, every truncated prefix,
// malformed. Golden values come from tests/fixtures/http1/manifest.json (written by the capture
// script from what it sent and from Python's http.client), not from this parser.
#include "protocols/http1/http1_parser.h"

#include <gtest/gtest.h>

#include <string>

#include "fixtures.h"

namespace fraiseql::protocols::http1 {
namespace {

using testing::FixtureNames;
using testing::Manifest;
using testing::ReadFixture;
using std::string_literals::operator""s;

size_t HeadLength(const std::string& bytes) { return bytes.find("\r\n\r\n") + 4; }

// Skips interim 100 responses, returning the offset of the first final response.
size_t FirstFinalResponse(const std::string& bytes) {
  size_t off = 0;
  while (bytes.compare(off, 12, "HTTP/1.1 100") == 0) off = bytes.find("\r\n\r\n", off) + 4;
  return off;
}

// --- Suite 1: well-formed ---------------------------------------------------------------

TEST(Http1ParserWellFormed, FirstRequestHeadOfEveryFixture) {
  for (const std::string& name : FixtureNames()) {
    SCOPED_TRACE(name);
    const std::string bytes = ReadFixture(name + ".req.bin");
    const auto& want = Manifest()[name]["requests"][0];
    RequestHead head;
    HeadResult r = ParseRequestHead(bytes, &head);
    ASSERT_EQ(r.state, ParseState::kSuccess);
    EXPECT_EQ(r.consumed, HeadLength(bytes));
    EXPECT_EQ(head.method, want["method"].get<std::string>());
    EXPECT_EQ(head.target, want["target"].get<std::string>());
    EXPECT_EQ(head.minor_version, 1);
    EXPECT_EQ(head.chunked, want["chunked"].get<bool>());
    if (want["content_length"].is_null()) {
      EXPECT_FALSE(head.content_length.has_value());
    } else {
      ASSERT_TRUE(head.content_length.has_value());
      EXPECT_EQ(*head.content_length, want["content_length"].get<uint64_t>());
    }
    EXPECT_EQ(head.FindHeader("HOST").value_or(""), "127.0.0.1");
    EXPECT_EQ(head.expect_continue, name == "expect_continue");
  }
}

TEST(Http1ParserWellFormed, FirstFinalResponseHeadOfEveryFixture) {
  for (const std::string& name : FixtureNames()) {
    SCOPED_TRACE(name);
    const std::string bytes = ReadFixture(name + ".resp.bin");
    const auto& responses = Manifest()[name]["responses"];
    const auto& want = responses[responses[0]["status"] == 100 ? 1 : 0];
    const size_t off = FirstFinalResponse(bytes);
    ResponseHead head;
    HeadResult r = ParseResponseHead(std::string_view(bytes).substr(off), &head);
    ASSERT_EQ(r.state, ParseState::kSuccess);
    EXPECT_EQ(r.consumed, HeadLength(bytes.substr(off)));
    EXPECT_EQ(head.status, want["status"].get<int>());
    EXPECT_EQ(head.chunked, want["chunked"].get<bool>());
    if (want["content_length"].is_null()) {
      EXPECT_FALSE(head.content_length.has_value());
    } else {
      EXPECT_EQ(head.content_length.value_or(0), want["content_length"].get<uint64_t>());
    }
    EXPECT_EQ(head.FindHeader("Server").value_or(""), "uvicorn");
  }
}

TEST(Http1ParserWellFormed, InterimContinueResponse) {
  const std::string bytes = ReadFixture("expect_continue.resp.bin");
  ResponseHead head;
  HeadResult r = ParseResponseHead(bytes, &head);
  ASSERT_EQ(r.state, ParseState::kSuccess);
  EXPECT_EQ(head.status, 100);
  EXPECT_EQ(head.reason, "Continue");
  EXPECT_EQ(r.consumed, Manifest()["expect_continue"]["responses"][0]["wire_size"].get<size_t>());
}

TEST(Http1ParserWellFormed, ChunkHeadersOfRealChunkedBodies) {
  for (const std::string file : {"post_chunked.req.bin", "chunked_response.resp.bin"}) {
    SCOPED_TRACE(file);
    const std::string bytes = ReadFixture(file);
    std::string_view rest = std::string_view(bytes).substr(HeadLength(bytes));
    uint64_t total = 0;
    for (;;) {
      uint64_t size = 0;
      size_t consumed = 0;
      ASSERT_EQ(ParseChunkHeader(rest, &size, &consumed), ParseState::kSuccess);
      rest.remove_prefix(consumed);
      if (size == 0) break;
      total += size;
      ASSERT_EQ(rest.substr(size, 2), "\r\n");
      rest.remove_prefix(size + 2);
    }
    size_t consumed = 0;
    ASSERT_EQ(ParseTrailers(rest, &consumed), ParseState::kSuccess);
    EXPECT_EQ(consumed, rest.size());
    const std::string name = file.substr(0, file.find('.'));
    const auto& m = Manifest()[name];
    const uint64_t want = file.find(".req") != std::string::npos
                              ? m["requests"][0]["body_size"].get<uint64_t>()
                              : m["responses"][0]["body_size"].get<uint64_t>();
    EXPECT_EQ(total, want);
  }
}

TEST(Http1ParserWellFormed, HeaderSemantics) {
  RequestHead h;
  ASSERT_EQ(ParseRequestHead("GET /x HTTP/1.0\r\nConnection: Keep-Alive\r\n"
                             "Transfer-Encoding: gzip, chunked\r\nX-Empty:\r\n\r\n",
                             &h).state,
            ParseState::kSuccess);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_TRUE(h.chunked);
  EXPECT_EQ(h.minor_version, 0);
  EXPECT_EQ(h.FindHeader("x-empty").value_or("?"), "");
  ASSERT_EQ(ParseRequestHead("GET /x HTTP/1.1\r\nconnection: upgrade, close\r\n"
                             "Content-Length: 5\r\ncontent-length: 5\r\n\r\n",
                             &h).state,
            ParseState::kSuccess);
  EXPECT_FALSE(h.keep_alive);
  EXPECT_EQ(h.content_length.value_or(0), 5u);
  EXPECT_FALSE(h.FindHeader("missing").has_value());
}

TEST(Http1ParserWellFormed, FindFrameBoundary) {
  EXPECT_EQ(FindFrameBoundary("GET / HTTP/1.1\r\n", MessageType::kRequest), 0u);
  EXPECT_EQ(FindFrameBoundary("xx\"GET\": 1}POST /graphql HTTP/1.1\r\nHost",
                              MessageType::kRequest),
            11u);
  EXPECT_EQ(FindFrameBoundary("GET / HTTP/1.1", MessageType::kRequest),  // no CRLF yet
            std::string_view::npos);
  EXPECT_EQ(FindFrameBoundary("FOO / HTTP/1.1\r\n", MessageType::kRequest),
            std::string_view::npos);
  EXPECT_EQ(FindFrameBoundary("a\"}HTTP/1.1 200 OK\r\n", MessageType::kResponse), 3u);
  EXPECT_EQ(FindFrameBoundary("HTTP/1.1 20", MessageType::kResponse), std::string_view::npos);
  const std::string pipelined = ReadFixture("pipelined.req.bin");
  const size_t second = HeadLength(pipelined);
  EXPECT_EQ(FindFrameBoundary(std::string_view(pipelined).substr(1), MessageType::kRequest) + 1,
            second);
}

// --- Suite 2: every truncated prefix -> kNeedsMoreData, nothing consumed or written --------

TEST(Http1ParserTruncated, EveryPrefixOfEveryRequestHead) {
  for (const std::string& name : FixtureNames()) {
    SCOPED_TRACE(name);
    const std::string bytes = ReadFixture(name + ".req.bin");
    const size_t head_len = HeadLength(bytes);
    for (size_t n = 0; n < head_len; ++n) {
      RequestHead head;
      head.method = "sentinel";
      HeadResult r = ParseRequestHead(std::string_view(bytes).substr(0, n), &head);
      ASSERT_EQ(r.state, ParseState::kNeedsMoreData) << "prefix " << n;
      ASSERT_EQ(r.consumed, 0u);
      ASSERT_EQ(head.method, "sentinel");
      ASSERT_TRUE(head.headers.empty());
    }
  }
}

TEST(Http1ParserTruncated, EveryPrefixOfEveryResponseHead) {
  for (const std::string& name : FixtureNames()) {
    SCOPED_TRACE(name);
    const std::string all = ReadFixture(name + ".resp.bin");
    for (size_t off : {size_t{0}, FirstFinalResponse(all)}) {
      const std::string bytes = all.substr(off);
      const size_t head_len = HeadLength(bytes);
      for (size_t n = 0; n < head_len; ++n) {
        ResponseHead head;
        head.status = 999;
        HeadResult r = ParseResponseHead(std::string_view(bytes).substr(0, n), &head);
        ASSERT_EQ(r.state, ParseState::kNeedsMoreData) << "prefix " << n;
        ASSERT_EQ(r.consumed, 0u);
        ASSERT_EQ(head.status, 999);
      }
    }
  }
}

TEST(Http1ParserTruncated, EveryPrefixOfChunkHeadersAndTrailers) {
  for (std::string_view line : {"7\r\n", "1a;name=value\r\n", "0\r\n", "FF \r\n"}) {
    for (size_t n = 0; n < line.size(); ++n) {
      uint64_t size = 77;
      size_t consumed = 77;
      ASSERT_EQ(ParseChunkHeader(line.substr(0, n), &size, &consumed),
                ParseState::kNeedsMoreData)
          << line << " prefix " << n;
      ASSERT_EQ(size, 77u);
      ASSERT_EQ(consumed, 77u);
    }
  }
  const std::string_view trailers = "Expires: never\r\nX-Sum: 1\r\n\r\n";
  for (size_t n = 0; n < trailers.size(); ++n) {
    size_t consumed = 77;
    ASSERT_EQ(ParseTrailers(trailers.substr(0, n), &consumed), ParseState::kNeedsMoreData) << n;
    ASSERT_EQ(consumed, 77u);
  }
}

// --- Suite 3: malformed -> kInvalid ---------------------------------------------------------

TEST(Http1ParserMalformed, Requests) {
  const std::string tls_client_hello = "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"s;
  const std::string huge_header = "GET / HTTP/1.1\r\nX-Big: " + std::string(70000, 'a');
  const std::string huge_head_many_lines = [] {
    std::string s = "GET / HTTP/1.1\r\n";
    while (s.size() <= kMaxHeadSize) s += "X-Filler: 0123456789abcdef\r\n";
    return s + "\r\n";
  }();
  for (const std::string& bad : {
           "get / HTTP/1.1\r\n\r\n"s,                       // lower-case method
           "G@T / HTTP/1.1\r\n\r\n"s,                       // not a token
           "GET / HTTP/2.0\r\n\r\n"s,                       // not 1.x
           "GET / HTTP/1.11\r\n\r\n"s,
           "GET  / HTTP/1.1\r\n\r\n"s,                      // empty target
           "GET / HTTP/1.1 extra\r\n\r\n"s,
           "GET /a\x7f HTTP/1.1\r\n\r\n"s,                  // control in target
           "GET / HTTP/1.1\r\nHost: a\x01z\r\n\r\n"s,       // control in value
           "GET / HTTP/1.1\r\nNoColon\r\n\r\n"s,
           "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"s,
           "GET / HTTP/1.1\r\n: no name\r\n\r\n"s,
           "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n"s,    // obs-fold
           "GET / HTTP/1.1\nHost: x\n\n"s,                  // bare LF
           "GET / HTTP/1.1\r\nContent-Length: 12a\r\n\r\n"s,
           "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"s,
           "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"s,
           "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"s,
           "VERYLONGMETHODNAMEXXXXXXXXXX / HTTP/1.1\r\n\r\n"s,
           tls_client_hello,
           "\x00\x00\x00\x08\x04\xd2\x16\x2f"s,             // PostgreSQL SSLRequest
           "*3\r\n$3\r\nSET\r\n"s,                          // Redis
           huge_header,
           huge_head_many_lines,
       }) {
    RequestHead head;
    HeadResult r = ParseRequestHead(bad, &head);
    EXPECT_EQ(r.state, ParseState::kInvalid) << bad.substr(0, 60);
    EXPECT_EQ(r.consumed, 0u);
  }
}

TEST(Http1ParserMalformed, GarbageFailsFastWithoutAFullHead) {
  RequestHead req;
  EXPECT_EQ(ParseRequestHead("\x16\x03"s, &req).state, ParseState::kInvalid);
  EXPECT_EQ(ParseRequestHead("GET /x H", &req).state, ParseState::kNeedsMoreData);
  EXPECT_EQ(ParseRequestHead("GET /x HTTX", &req).state, ParseState::kInvalid);
  EXPECT_EQ(ParseRequestHead("GET / HTTP/1.1\r\nBad Name", &req).state, ParseState::kInvalid);
  ResponseHead resp;
  EXPECT_EQ(ParseResponseHead("HTTP/1.1 2x", &resp).state, ParseState::kInvalid);
  EXPECT_EQ(ParseResponseHead("{\"data\"", &resp).state, ParseState::kInvalid);
}

TEST(Http1ParserMalformed, Responses) {
  for (const std::string& bad : {
           "HTTP/1.1 20 OK\r\n\r\n"s,
           "HTTP/1.1 2000 OK\r\n\r\n"s,
           "HTTP/1.1 600 Nope\r\n\r\n"s,
           "HTTP/1.1 099 Nope\r\n\r\n"s,
           "HTTP/2 200 OK\r\n\r\n"s,
           "http/1.1 200 OK\r\n\r\n"s,
           "HTTP/1.1 200 O\x01K\r\n\r\n"s,
           "HTTP/1.1 200 OK\r\nserver uvicorn\r\n\r\n"s,
           "HTTP/1.1 200OK\r\n\r\n"s,
           "HTTP/1.1 200 OK\r\ncontent-length: 1, 2\r\n\r\n"s,
           "{\"data\":{\"received\":15}}"s,
       }) {
    ResponseHead head;
    HeadResult r = ParseResponseHead(bad, &head);
    EXPECT_EQ(r.state, ParseState::kInvalid) << bad;
    EXPECT_EQ(r.consumed, 0u);
  }
}

TEST(Http1ParserMalformed, MutatedRealFixtures) {
  for (const std::string& name : FixtureNames()) {
    SCOPED_TRACE(name);
    const std::string req = ReadFixture(name + ".req.bin");
    const std::string resp = ReadFixture(name + ".resp.bin");
    RequestHead rh;
    ResponseHead sh;
    std::string m = req;
    m.replace(m.find("HTTP/1.1"), 8, "HTTP/3.0");
    EXPECT_EQ(ParseRequestHead(m, &rh).state, ParseState::kInvalid);
    m = req;
    m[m.find("127.0.0.1")] = '\0';  // NUL inside the Host value
    EXPECT_EQ(ParseRequestHead(m, &rh).state, ParseState::kInvalid);
    m = req;
    m.replace(m.find("Host:"), 5, "Host ");  // header line without a colon
    EXPECT_EQ(ParseRequestHead(m, &rh).state, ParseState::kInvalid);
    m = resp;
    m[9] = 'X';  // status code
    EXPECT_EQ(ParseResponseHead(m, &sh).state, ParseState::kInvalid);
    m = resp;
    m.replace(m.find("\r\n") + 2, 0, "\tobs-fold\r\n");
    EXPECT_EQ(ParseResponseHead(m, &sh).state, ParseState::kInvalid);
  }
}

TEST(Http1ParserMalformed, ChunkHeaders) {
  for (std::string_view bad : {"xyz\r\n", "\r\n", ";ext\r\n", "5 x\r\n", "5\x01\r\n",
                               "fffffffffffffffffff\r\n", "4000000000000001\r\n"}) {
    uint64_t size = 0;
    size_t consumed = 0;
    EXPECT_EQ(ParseChunkHeader(bad, &size, &consumed), ParseState::kInvalid) << bad;
  }
  uint64_t size = 0;
  size_t consumed = 0;
  EXPECT_EQ(ParseChunkHeader("5;" + std::string(kMaxChunkHeaderLine, 'a') + "\r\n", &size,
                             &consumed),
            ParseState::kInvalid);
  EXPECT_EQ(ParseTrailers("NoColon\r\n\r\n", &consumed), ParseState::kInvalid);
}

}  // namespace
}  // namespace fraiseql::protocols::http1
