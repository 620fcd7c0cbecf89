// Command/reply stitching over real captures: per-command counts equal Redis' own INFO
// commandstats deltas, hits and misses equal the client's results, and the records match the
// client's view of each reply.
#include "protocols/redis/connection.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "conn/stream_buffer.h"
#include "fixtures.h"

namespace fraiseql::protocols::redis {
namespace {

using conn::StreamBuffer;
using testing::Manifest;
using testing::ReadFixture;
using testing::ScenarioNames;
using std::string_literals::operator""s;

// Feeds a capture in random-size events: all commands (earlier timestamps), then all replies.
std::vector<CommandRecord> Replay(const std::string& name, std::mt19937& rng, size_t max_step,
                                  RedisConnection* conn) {
  const std::string req = ReadFixture(name + ".req.bin");
  const std::string resp = ReadFixture(name + ".resp.bin");
  StreamBuffer rb, pb;
  std::vector<CommandRecord> out;
  for (size_t off = 0; off < req.size();) {
    const size_t n = std::min<size_t>(req.size() - off, 1 + rng() % max_step);
    rb.Add(off, std::string_view(req).substr(off, n), n, 1000 + off);
    conn->Poll(rb, pb, &out);
    off += n;
  }
  for (size_t off = 0; off < resp.size();) {
    const size_t n = std::min<size_t>(resp.size() - off, 1 + rng() % max_step);
    pb.Add(off, std::string_view(resp).substr(off, n), n, 1000000000 + off);
    conn->Poll(rb, pb, &out);
    off += n;
  }
  return out;
}

void ExpectMatchesManifest(const std::string& name, const std::vector<CommandRecord>& records,
                           const RedisConnection& conn) {
  const auto& m = Manifest()[name];
  // Per-command counts: executed (or rejected) commands, as Redis counts them.
  std::map<std::string, int64_t> got, want;
  for (const CommandRecord& r : records) {
    if (r.reply != ReplyKind::kNotExecuted) ++got[r.StatsName()];
  }
  for (const auto& [cmd, v] : m["commandstats"].items()) {
    want[cmd] = v["calls"].get<int64_t>() + v["rejected_calls"].get<int64_t>();
  }
  EXPECT_EQ(got, want);
  // Hits and misses.
  uint64_t hits = 0, misses = 0;
  for (const CommandRecord& r : records) {
    CacheOutcome o = ClassifyCache(r);
    hits += o.hits;
    misses += o.misses;
  }
  EXPECT_EQ(hits, m["hits"].get<uint64_t>());
  EXPECT_EQ(misses, m["misses"].get<uint64_t>());
  // The client's view of each reply, in order per command (records come out in completion
  // order, and the replay feeds all commands before the replies, so kNoReply records of
  // CLIENT REPLY OFF/SKIP overtake pending ones).
  std::vector<bool> used(records.size());
  for (const auto& want_r : m["results"]) {
    const std::string cmd = want_r["command"].get<std::string>();
    size_t i = 0;
    while (i < records.size() && (used[i] || records[i].command != cmd)) ++i;
    ASSERT_LT(i, records.size()) << "no record for " << want_r.dump();
    used[i] = true;
    const CommandRecord& r = records[i];
    SCOPED_TRACE(r.ToString() + " vs " + want_r.dump());
    if (want_r.contains("subcommand")) {
      EXPECT_EQ(r.subcommand, want_r["subcommand"].get<std::string>());
    }
    if (want_r.contains("reply")) {
      std::string kind = want_r["reply"].get<std::string>();
      if (kind == "push") kind = "array";
      EXPECT_EQ(ToString(r.reply), kind);
    }
    if (want_r.contains("error")) {
      EXPECT_EQ(r.error_prefix, want_r["error"].get<std::string>());
    }
    if (want_r.contains("integer")) {
      EXPECT_EQ(r.integer, want_r["integer"].get<int64_t>());
    }
    if (want_r.contains("nil")) {
      EXPECT_EQ(r.element_nil, want_r["nil"].get<std::vector<bool>>());
    }
    if (want_r.contains("queued")) {
      EXPECT_TRUE(r.queued);
    }
    if (want_r.contains("size") && r.reply != ReplyKind::kArray) {
      EXPECT_EQ(r.size, want_r["size"].get<uint64_t>());
    }
    EXPECT_LE(r.start_ns, r.end_ns);
  }
  // Nothing left waiting, nothing lost, no credentials.
  EXPECT_EQ(conn.pending(), 0u);
  EXPECT_EQ(conn.parse_errors(), 0u);
  EXPECT_EQ(conn.unmatched_replies(), 0u);
  for (const auto& secret : m["secrets"]) {
    for (const CommandRecord& r : records) {
      EXPECT_EQ(r.ToString().find(secret.get<std::string>()), std::string::npos);
    }
  }
}

TEST(RedisConnectionTest, EveryFixtureMatchesCommandstatsHitsAndResults) {
  std::mt19937 rng(1);
  for (const std::string& name : ScenarioNames()) {
    for (size_t step : {size_t{65536}, size_t{13}, size_t{4096}}) {
      SCOPED_TRACE(name + " step " + std::to_string(step));
      RedisConnection conn;
      auto records = Replay(name, rng, step, &conn);
      ExpectMatchesManifest(name, records, conn);
    }
  }
}

TEST(RedisConnectionTest, MultiExecReportsQueuedCommandsWithRealOutcomes) {
  std::mt19937 rng(2);
  RedisConnection conn;
  auto r = Replay("multi_exec", rng, 1 << 30, &conn);
  // DEL, MULTI, SET GET INCRBY MGET GET (queued), EXEC
  ASSERT_EQ(r.size(), 8u);
  EXPECT_EQ(r[1].command, "MULTI");
  EXPECT_FALSE(r[1].queued);
  for (size_t i = 2; i < 7; ++i) EXPECT_TRUE(r[i].queued) << r[i].ToString();
  EXPECT_EQ(r[3].reply, ReplyKind::kString);
  EXPECT_EQ(r[4].reply, ReplyKind::kInteger);
  EXPECT_EQ(r[5].element_nil, (std::vector<bool>{false, true}));
  EXPECT_EQ(r[6].reply, ReplyKind::kNil);
  EXPECT_EQ(r[7].command, "EXEC");
  EXPECT_EQ(r[7].reply, ReplyKind::kArray);
  EXPECT_TRUE(conn.pending() == 0);
}

TEST(RedisConnectionTest, PubSubMessagesAreNotReplies) {
  std::mt19937 rng(3);
  for (const char* name : {"pubsub_resp2", "pubsub_resp3"}) {
    SCOPED_TRACE(name);
    RedisConnection conn;
    Replay(name, rng, 1 << 30, &conn);
    EXPECT_EQ(conn.pushes(), Manifest()[name]["messages"].get<uint64_t>());
    EXPECT_FALSE(conn.subscribed());
  }
}

TEST(RedisConnectionTest, HelloSwitchesToResp3) {
  std::mt19937 rng(4);
  RedisConnection conn;
  Replay("resp3_types", rng, 1 << 30, &conn);
  EXPECT_TRUE(conn.resp3());
}

TEST(RedisConnectionTest, ClassifyCacheTable) {
  CommandRecord r;
  r.command = "GET";
  r.reply = ReplyKind::kNil;
  EXPECT_EQ(ClassifyCache(r).misses, 1u);
  r.reply = ReplyKind::kString;
  EXPECT_EQ(ClassifyCache(r).hits, 1u);
  r.reply = ReplyKind::kError;
  r.error = true;
  EXPECT_EQ(ClassifyCache(r).operation, CacheOperation::kGet);
  EXPECT_EQ(ClassifyCache(r).hits + ClassifyCache(r).misses, 0u);
  r = CommandRecord();
  r.command = "HMGET";
  r.reply = ReplyKind::kArray;
  r.element_nil = {false, true, true};
  EXPECT_EQ(ClassifyCache(r).hits, 1u);
  EXPECT_EQ(ClassifyCache(r).misses, 2u);
  r = CommandRecord();
  r.command = "EXISTS";
  r.keys = 5;
  r.reply = ReplyKind::kInteger;
  r.integer = 2;
  EXPECT_EQ(ClassifyCache(r).hits, 2u);
  EXPECT_EQ(ClassifyCache(r).misses, 3u);
  for (const char* c : {"SET", "SETEX", "PSETEX", "SETNX", "MSET", "HSET"}) {
    r.command = c;
    EXPECT_EQ(ClassifyCache(r).operation, CacheOperation::kSet) << c;
  }
  for (const char* c : {"DEL", "UNLINK", "HDEL"}) {
    r.command = c;
    EXPECT_EQ(ClassifyCache(r).operation, CacheOperation::kDelete) << c;
  }
  r.command = "PING";
  EXPECT_EQ(ClassifyCache(r).operation, CacheOperation::kNone);
}

TEST(RedisConnectionTest, LostRepliesMarkPendingUnknownAndCarryOn) {
  const std::string req = ReadFixture("pipeline50.req.bin");
  const std::string resp = ReadFixture("pipeline50.resp.bin");
  RedisConnection conn;
  StreamBuffer rb, pb;
  std::vector<CommandRecord> out;
  rb.Add(0, req, req.size(), 100);
  conn.Poll(rb, pb, &out);
  EXPECT_EQ(conn.pending(), 50u);
  // Half the replies, a lost event, the rest.
  const size_t cut = resp.size() / 2;
  pb.Add(0, std::string_view(resp).substr(0, cut), cut, 200);
  pb.Add(cut, "", 10, 201);
  pb.Add(cut + 10, std::string_view(resp).substr(cut + 10), resp.size() - cut - 10, 202);
  conn.Poll(rb, pb, &out);
  EXPECT_GE(conn.parse_errors(), 1u);
  EXPECT_EQ(conn.pending(), 0u);
  size_t unknown = 0;
  for (const CommandRecord& r : out) unknown += r.reply == ReplyKind::kUnknown;
  EXPECT_GT(unknown, 0u);
  EXPECT_EQ(out.size() + conn.unmatched_replies(), 50u + conn.unmatched_replies());
  EXPECT_EQ(out.size(), 50u);
}

TEST(RedisConnectionTest, RepliesBeforeTheirCommandAreUnmatched) {
  RedisConnection conn;
  std::vector<CommandRecord> out;
  Frame reply;
  reply.direction = Direction::kReply;
  reply.reply.type = RespType::kSimpleString;
  reply.start_ts = reply.end_ts = 10;
  conn.OnReply(reply, &out);
  EXPECT_EQ(conn.unmatched_replies(), 1u);
  Frame cmd;
  cmd.command.name = "PING";
  cmd.start_ts = cmd.end_ts = 20;
  conn.OnCommand(cmd, &out);
  conn.OnReply(reply, &out);  // started before PING was sent: not its reply
  EXPECT_EQ(conn.unmatched_replies(), 2u);
  reply.start_ts = reply.end_ts = 30;
  conn.OnReply(reply, &out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].reply, ReplyKind::kStatus);
}

TEST(RedisConnectionTest, FinishReportsPendingAsUnknown) {
  RedisConnection conn;
  std::vector<CommandRecord> out;
  Frame cmd;
  cmd.command.name = "BLPOP";
  conn.OnCommand(cmd, &out);
  EXPECT_TRUE(out.empty());
  conn.Finish(&out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].reply, ReplyKind::kUnknown);
}

TEST(RedisConnectionTest, GarbageOnARedisConnection) {
  RedisConnection conn;
  StreamBuffer rb(64 * 1024), pb(64 * 1024);
  std::vector<CommandRecord> out;
  std::mt19937 rng(8);
  uint64_t pos = 0;
  for (int i = 0; i < 100; ++i) {
    std::string g(4096, '\0');
    for (char& c : g) c = static_cast<char>(rng());
    rb.Add(pos, g, g.size(), 1 + i);
    pb.Add(pos, g, g.size(), 1 + i);
    pos += g.size();
    conn.Poll(rb, pb, &out);
    ASSERT_LE(rb.buffered_bytes() + pb.buffered_bytes(), 2 * RespStreamParser::kResyncKeep);
  }
  EXPECT_GE(conn.parse_errors(), 2u);
}

}  // namespace
}  // namespace fraiseql::protocols::redis
