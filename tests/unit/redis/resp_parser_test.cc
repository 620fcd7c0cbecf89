// The three parser suites over real Redis 7 bytes: well-formed, every truncated prefix,
// malformed. Golden values come from tests/fixtures/redis/manifest.json (INFO commandstats
// deltas and client-side results, written by the capture script), not from this parser.
#include "protocols/redis/resp_parser.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "fixtures.h"

namespace fraiseql::protocols::redis {
namespace {

using testing::Manifest;
using testing::ReadFixture;
using testing::ScenarioNames;
using std::string_literals::operator""s;

// Frame boundaries (start offsets and sizes) of a whole capture.
template <typename T, typename F>
std::vector<std::pair<size_t, size_t>> SplitAll(const std::string& bytes, F parse,
                                                std::vector<T>* frames) {
  std::vector<std::pair<size_t, size_t>> bounds;
  size_t off = 0;
  while (off < bytes.size()) {
    T v;
    FrameResult r = parse(std::string_view(bytes).substr(off), &v);
    if (r.state != ParseState::kSuccess) {
      ADD_FAILURE() << "at " << off << ": " << ToString(r.state);
      break;
    }
    bounds.emplace_back(off, r.consumed);
    frames->push_back(std::move(v));
    off += r.consumed;
  }
  return bounds;
}

std::string StatsName(const Command& c) {
  std::string s;
  for (char ch : c.name) s += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (!c.subcommand.empty()) {
    s += "|";
    for (char ch : c.subcommand) {
      s += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
  }
  return s;
}

// --- Suite 1: well-formed ---------------------------------------------------------------

TEST(RespParserWellFormed, EveryCommandOfEveryCaptureMatchesCommandstats) {
  for (const std::string& name : ScenarioNames()) {
    SCOPED_TRACE(name);
    const std::string bytes = ReadFixture(name + ".req.bin");
    std::vector<Command> cmds;
    SplitAll<Command>(bytes, ParseCommand, &cmds);
    std::map<std::string, int64_t> got;
    for (const Command& c : cmds) {
      if (c.argc > 0) ++got[StatsName(c)];  // an empty inline line is no command
    }
    std::map<std::string, int64_t> want;
    for (const auto& [cmd, v] : Manifest()[name]["commandstats"].items()) {
      want[cmd] = v["calls"].get<int64_t>() + v["rejected_calls"].get<int64_t>();
    }
    // Queued commands that never ran (DISCARD, failed WATCH) are on the wire but not counted.
    if (name == "discard") got["set"]--, got["get"]--;
    if (name == "watch_fail") got["set"]--, got["incrby"]--;
    for (auto it = got.begin(); it != got.end();) it = it->second == 0 ? got.erase(it) : ++it;
    EXPECT_EQ(got, want);
  }
}

TEST(RespParserWellFormed, CommandDetails) {
  std::vector<Command> cmds;
  SplitAll<Command>(ReadFixture("mget_mixed.req.bin"), ParseCommand, &cmds);
  ASSERT_EQ(cmds.size(), 2u);
  EXPECT_EQ(cmds[0].name, "MSET");
  EXPECT_EQ(cmds[0].keys, 2u);
  EXPECT_EQ(cmds[1].name, "MGET");
  EXPECT_EQ(cmds[1].argc, 5u);
  EXPECT_EQ(cmds[1].keys, 4u);

  cmds.clear();
  SplitAll<Command>(ReadFixture("inline.req.bin"), ParseCommand, &cmds);
  ASSERT_EQ(cmds.size(), 5u);  // PING, SET, get, empty line, EXISTS (LF only)
  EXPECT_TRUE(cmds[0].inline_form);
  EXPECT_EQ(cmds[2].name, "GET");
  EXPECT_EQ(cmds[3].argc, 0u);
  EXPECT_EQ(cmds[4].name, "EXISTS");
  EXPECT_EQ(cmds[4].keys, 2u);

  cmds.clear();
  SplitAll<Command>(ReadFixture("resp3_types.req.bin"), ParseCommand, &cmds);
  EXPECT_EQ(cmds[0].name, "HELLO");
  EXPECT_EQ(cmds[0].hello_protover, 3);
  EXPECT_EQ(cmds[14].name, "CLIENT");
  EXPECT_EQ(cmds[14].subcommand, "INFO");

  cmds.clear();
  SplitAll<Command>(ReadFixture("client_reply.req.bin"), ParseCommand, &cmds);
  EXPECT_EQ(cmds[0].client_reply, ClientReplyMode::kSkip);
  EXPECT_EQ(cmds[3].client_reply, ClientReplyMode::kOff);
  EXPECT_EQ(cmds[5].client_reply, ClientReplyMode::kOn);
}

TEST(RespParserWellFormed, CredentialsNeverLeaveTheParser) {
  for (const std::string& name : {"auth"s, "hello_auth"s}) {
    SCOPED_TRACE(name);
    const std::string bytes = ReadFixture(name + ".req.bin");
    std::vector<Command> cmds;
    SplitAll<Command>(bytes, ParseCommand, &cmds);
    ASSERT_FALSE(cmds.empty());
    for (const auto& secret : Manifest()[name]["secrets"]) {
      const std::string s = secret.get<std::string>();
      ASSERT_NE(bytes.find(s), std::string::npos) << "the capture has the secret";
      for (const Command& c : cmds) {
        EXPECT_EQ(c.ToString().find(s), std::string::npos);
        EXPECT_EQ(c.name.find(s), std::string::npos);
        EXPECT_EQ(c.subcommand.find(s), std::string::npos);
      }
    }
  }
}

TEST(RespParserWellFormed, EveryReplyOfEveryCaptureParses) {
  for (const std::string& name : ScenarioNames()) {
    SCOPED_TRACE(name);
    std::vector<Value> replies;
    SplitAll<Value>(ReadFixture(name + ".resp.bin"), ParseReply, &replies);
    EXPECT_FALSE(replies.empty());
  }
}

TEST(RespParserWellFormed, Resp3Types) {
  std::vector<Value> v;
  SplitAll<Value>(ReadFixture("resp3_types.resp.bin"), ParseReply, &v);
  ASSERT_EQ(v.size(), 16u);
  EXPECT_EQ(v[0].type, RespType::kMap);  // HELLO 3
  EXPECT_EQ(v[0].size, 7u);
  EXPECT_EQ(v[2].type, RespType::kMap);  // HGETALL
  EXPECT_EQ(v[2].size, 2u);
  EXPECT_EQ(v[3].type, RespType::kMap);  // HGETALL missing: empty map
  EXPECT_EQ(v[3].size, 0u);
  EXPECT_EQ(v[5].type, RespType::kSet);
  EXPECT_EQ(v[7].type, RespType::kDouble);
  EXPECT_EQ(v[8].type, RespType::kNull);  // ZSCORE missing
  EXPECT_TRUE(v[9].is_nil());             // GET missing
  EXPECT_EQ(v[10].element_nil, (std::vector<bool>{true, true}));
  EXPECT_EQ(v[13].type, RespType::kBigNumber);
  EXPECT_EQ(v[15].error_prefix, "WRONGTYPE");
  // Nothing of the bulk strings' contents is kept.
  EXPECT_TRUE(v[14].text.empty());
}

TEST(RespParserWellFormed, HandWrittenResp3Constructs) {
  const std::string bytes = ReadFixture("resp3_handwritten.resp.bin");
  const auto& frames = Manifest()["resp3_handwritten"]["frames"];
  size_t off = 0;
  for (const auto& want : frames) {
    SCOPED_TRACE(want.dump());
    Value v;
    FrameResult r = ParseReply(std::string_view(bytes).substr(off), &v);
    ASSERT_EQ(r.state, ParseState::kSuccess);
    EXPECT_EQ(r.consumed, want["bytes"].get<size_t>());
    EXPECT_EQ(ToString(v.type), want["type"].get<std::string>());
    if (want.contains("size")) {
      EXPECT_EQ(v.size, want["size"].get<uint64_t>());
    }
    if (want.contains("attributed")) {
      EXPECT_TRUE(v.attributed);
    }
    if (want.contains("streamed")) {
      EXPECT_TRUE(v.streamed);
    }
    if (want.contains("integer")) {
      EXPECT_EQ(v.integer, want["integer"].get<int64_t>());
    }
    if (want.contains("error")) {
      EXPECT_EQ(v.error_prefix, want["error"].get<std::string>());
    }
    if (want.contains("first")) {
      EXPECT_EQ(v.elements.at(0).text, want["first"].get<std::string>());
    }
    if (want.contains("nil")) {
      EXPECT_EQ(v.element_nil, want["nil"].get<std::vector<bool>>());
    }
    off += r.consumed;
  }
  EXPECT_EQ(off, bytes.size());
}

TEST(RespParserWellFormed, ErrorsAndPubSub) {
  std::vector<Value> v;
  SplitAll<Value>(ReadFixture("wrongtype.resp.bin"), ParseReply, &v);
  EXPECT_EQ(v.back().type, RespType::kError);
  EXPECT_EQ(v.back().error_prefix, "WRONGTYPE");
  v.clear();
  SplitAll<Value>(ReadFixture("pubsub_resp2.resp.bin"), ParseReply, &v);
  ASSERT_GE(v.size(), 3u);
  EXPECT_EQ(v[0].elements.at(0).text, "subscribe");
  EXPECT_EQ(v[0].elements.at(2).integer, 1);
  v.clear();
  SplitAll<Value>(ReadFixture("pubsub_resp3.resp.bin"), ParseReply, &v);
  EXPECT_EQ(v[1].type, RespType::kPush);
  EXPECT_EQ(v[1].elements.at(0).text, "subscribe");
}

TEST(RespParserWellFormed, FindFrameBoundary) {
  const std::string req = ReadFixture("pipeline50.req.bin");
  EXPECT_EQ(FindFrameBoundary(req, Direction::kRequest), 0u);
  // From the middle of a command, the next command.
  std::vector<Command> cmds;
  auto bounds = SplitAll<Command>(req, ParseCommand, &cmds);
  const size_t k = FindFrameBoundary(std::string_view(req).substr(3), Direction::kRequest);
  EXPECT_EQ(k + 3, bounds[1].first);
  const std::string resp = ReadFixture("get_set.resp.bin");
  EXPECT_EQ(FindFrameBoundary(resp, Direction::kReply), 0u);
  EXPECT_EQ(FindFrameBoundary("\x01\x02garbage", Direction::kReply), std::string_view::npos);
  EXPECT_EQ(FindFrameBoundary("xx\r\n+OK\r\n", Direction::kReply), 4u);
}

// --- Suite 2: every truncated prefix ------------------------------------------------------

template <typename T, typename F>
void EveryPrefixNeedsMoreData(const std::string& bytes, F parse, size_t max_frame) {
  std::vector<T> frames;
  auto bounds = SplitAll<T>(bytes, parse, &frames);
  for (auto [off, len] : bounds) {
    if (len > max_frame) continue;
    std::string_view frame = std::string_view(bytes).substr(off, len);
    for (size_t n = 0; n < len; ++n) {
      T v;
      v.truncated = true;  // a sentinel: untouched unless kSuccess
      FrameResult r = parse(frame.substr(0, n), &v);
      ASSERT_EQ(r.state, ParseState::kNeedsMoreData) << "offset " << off << " prefix " << n;
      ASSERT_EQ(r.consumed, 0u);
      ASSERT_TRUE(v.truncated);
    }
  }
}

TEST(RespParserTruncated, EveryPrefixOfEveryCommandAndReply) {
  for (const std::string& name : ScenarioNames()) {
    SCOPED_TRACE(name);
    EveryPrefixNeedsMoreData<Command>(ReadFixture(name + ".req.bin"), ParseCommand, 4096);
    EveryPrefixNeedsMoreData<Value>(ReadFixture(name + ".resp.bin"), ParseReply, 4096);
  }
  EveryPrefixNeedsMoreData<Value>(ReadFixture("resp3_handwritten.resp.bin"), ParseReply, 4096);
}

TEST(RespParserTruncated, PrefixesOfTheOneMiBValue) {
  for (const char* file : {"big_value.req.bin", "big_value.resp.bin"}) {
    const std::string bytes = ReadFixture(file);
    std::vector<size_t> cuts = {0, 1, 2, 5, 10, 20, 40, 60, 80, 100, 1000, 65536, 1 << 19};
    for (size_t i = 1; i < 30; ++i) cuts.push_back(bytes.size() / 2 + i);  // around the CRLF
    std::vector<Value> v;
    std::vector<Command> c;
    const bool req = std::string(file).find("req") != std::string::npos;
    auto bounds = req ? SplitAll<Command>(bytes, ParseCommand, &c)
                      : SplitAll<Value>(bytes, ParseReply, &v);
    for (auto [off, len] : bounds) {
      for (size_t cut : cuts) {
        if (cut >= len) continue;
        std::string_view p = std::string_view(bytes).substr(off, cut);
        Command cmd;
        Value val;
        FrameResult r = req ? ParseCommand(p, &cmd) : ParseReply(p, &val);
        EXPECT_EQ(r.state, ParseState::kNeedsMoreData) << file << " " << off << "+" << cut;
      }
      for (size_t back = 1; back <= 3; ++back) {
        std::string_view p = std::string_view(bytes).substr(off, len - back);
        Command cmd;
        Value val;
        FrameResult r = req ? ParseCommand(p, &cmd) : ParseReply(p, &val);
        EXPECT_EQ(r.state, ParseState::kNeedsMoreData);
      }
    }
  }
}

// --- Suite 3: malformed -------------------------------------------------------------------

TEST(RespParserMalformed, Replies) {
  const std::vector<std::string> bad = {
      "?\r\n",                     // bad type byte
      "x\r\n",
      "$abc\r\n",                  // bad length
      "$999999999999\r\n",         // over 512 MiB
      "$536870913\r\n",            // 512 MiB + 1
      "$-2\r\n",                   // negative lengths other than -1
      "*-2\r\n",
      "%-1\r\n",                   // null only for $ and *
      "$01\r\n",                   // leading zero
      "*16777217\r\n",             // over 2^24 elements
      ":12a\r\n",
      ":99999999999999999999\r\n",  // int64 overflow
      "#x\r\n",
      ",1.5x\r\n",
      "_x\r\n",
      "$3\r\nabcd\r\n",            // payload longer than declared
      "$3\r\nabc\n\n",
      "=3\r\nab\r\n",              // verbatim shorter than "txt:"
      ";3\r\nabc\r\n",             // chunk outside a streamed string
      ".\r\n",                     // end outside a streamed aggregate
      "$?\r\n:1\r\n",              // a streamed string of something else than chunks
      "%?\r\n+a\r\n.\r\n",         // a map ending after a key
      "+OK\rX\r\n",                // bare CR inside a simple string
      "HTTP/1.1 200 OK\r\n\r\n",   // HTTP bytes
      "GET / HTTP/1.1\r\n",
      "*1\r\n?\r\n",
  };
  for (const std::string& b : bad) {
    Value v;
    v.truncated = true;
    FrameResult r = ParseReply(b, &v);
    EXPECT_EQ(r.state, ParseState::kInvalid) << b;
    EXPECT_EQ(r.consumed, 0u);
    EXPECT_TRUE(v.truncated);
  }
}

TEST(RespParserMalformed, IncompleteGarbageFailsFast) {
  for (const std::string& b : {"$12x"s, "*1\r\n:x"s, "#tt"s, "?"s, "$-5"s, ":1.5"s}) {
    Value v;
    EXPECT_EQ(ParseReply(b, &v).state, ParseState::kInvalid) << b;
  }
  // A line without CRLF past its cap.
  Value v;
  EXPECT_EQ(ParseReply("$" + std::string(40, '1'), &v).state, ParseState::kInvalid);
  EXPECT_EQ(ParseReply("+" + std::string(kMaxLineLength + 10, 'a'), &v).state,
            ParseState::kInvalid);
}

TEST(RespParserMalformed, NestingBombs) {
  std::string deep;
  for (size_t i = 0; i < kMaxDepth + 1; ++i) deep += "*1\r\n";
  Value v;
  EXPECT_EQ(ParseReply(deep + ":1\r\n", &v).state, ParseState::kInvalid);
  EXPECT_EQ(ParseReply(deep, &v).state, ParseState::kInvalid);  // fails before the end
  std::string ok;
  for (size_t i = 0; i < kMaxDepth; ++i) ok += "*1\r\n";
  EXPECT_EQ(ParseReply(ok + ":1\r\n", &v).state, ParseState::kSuccess);
  std::string attrs;
  for (size_t i = 0; i < kMaxDepth + 1; ++i) attrs += "|1\r\n";
  EXPECT_EQ(ParseReply(attrs, &v).state, ParseState::kInvalid);
}

TEST(RespParserMalformed, Commands) {
  const std::vector<std::string> bad = {
      "*1\r\n:1\r\n",                // not a bulk string
      "*1\r\n$-1\r\n",               // null argument
      "*2\r\n$3\r\nGET\r\n*1\r\n",   // nested array
      "%1\r\n",                      // not an array
      "*?\r\n",                      // streamed
      "*-2\r\n",
      "GET / HTTP/1.1\r\n",          // HTTP on a Redis port
      "POST /graphql HTTP/1.1\r\n",
      "Host: example\r\n",
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  // a TLS ClientHello
      "1SET a b\r\n",
      "SET \"a b\r\n",               // unbalanced quote
      "SET a\x01b\r\n",
  };
  for (const std::string& b : bad) {
    Command c;
    c.truncated = true;
    FrameResult r = ParseCommand(b, &c);
    EXPECT_EQ(r.state, ParseState::kInvalid) << b;
    EXPECT_TRUE(c.truncated);
  }
}

TEST(RespParserMalformed, RandomBytesNeverCrash) {
  std::mt19937 rng(42);
  int invalid = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string b(1 + rng() % 64, '\0');
    for (char& c : b) c = static_cast<char>(rng());
    Value v;
    Command c;
    FrameResult r1 = ParseReply(b, &v);
    FrameResult r2 = ParseCommand(b, &c);
    EXPECT_LE(r1.consumed, b.size());
    EXPECT_LE(r2.consumed, b.size());
    invalid += r1.state == ParseState::kInvalid;
    FindFrameBoundary(b, Direction::kReply);
    FindFrameBoundary(b, Direction::kRequest);
  }
  EXPECT_GT(invalid, 19000);
}

}  // namespace
}  // namespace fraiseql::protocols::redis
