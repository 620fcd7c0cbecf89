// Per-connection stitching of Redis commands and replies into CommandRecords, and the cache
// semantics of a record.
//
// RedisConnection owns one RespStreamParser per direction. Poll() drains the command stream
// first, then the reply stream (a reply is always written after the command it answers was
// read, so with events fed in time order the command is there first) and pairs them:
//
// - Pipelines: commands queue FIFO; each reply answers the oldest pending command.
// - MULTI/EXEC: commands after MULTI answer +QUEUED (or an error: rejected at queue time,
//   reported at once with error set). The EXEC array carries their real replies: each queued
//   command is reported with its own outcome from the EXEC array (queued = true, end_ns = the
//   EXEC reply), then EXEC itself. EXEC null (WATCH failed), -EXECABORT, or DISCARD report the
//   queued commands with ReplyKind::kNotExecuted. MULTI, EXEC, DISCARD are records too.
// - Pub/sub: (P|S)SUBSCRIBE and (P|S)UNSUBSCRIBE complete after one confirmation per channel
//   named (UNSUBSCRIBE without channels: one per channel/pattern the connection had, tracked
//   from the confirmations' counts, at least one). RESP2: once subscribed, arrays whose first
//   element is message/pmessage/smessage are not replies; a PING answers ["pong", ""]. RESP3:
//   every push (>) is not a reply, except subscribe/unsubscribe confirmations.
// - HELLO 3 (successful: a map or array reply) switches replies to RESP3, HELLO 2 back; RESET
//   goes back to RESP2 and leaves subscribed mode and MULTI.
// - CLIENT REPLY OFF: no replies until CLIENT REPLY ON; the commands in between (and OFF itself)
//   are reported at once with ReplyKind::kNoReply. CLIENT REPLY SKIP: SKIP and the next command
//   likewise.
// - Blocking commands (BLPOP, ...) need nothing special: their reply is simply late.
// - Loss: a reply frame after_loss (reply framing lost) may answer any pending command, so
//   every command pending at that point is reported with ReplyKind::kUnknown. A command
//   frame after_loss means replies to lost commands may arrive: a reply is paired only with
//   a command sent no later than the reply started (timestamps); replies with nothing to pair
//   are counted in unmatched_replies(). Finish() reports what is still pending as kUnknown.
//
// Records come out in completion order (a kNoReply record can overtake pending ones).
// No argument values are kept: a record has the command name, subcommand, key count and the
// shape of the reply only.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "conn/stream_buffer.h"
#include "protocols/redis/resp_parser.h"
#include "protocols/redis/stream_parser.h"

namespace fraiseql::protocols::redis {

enum class ReplyKind : uint8_t {
  kUnknown,      // the reply was lost (framing lost, connection closed first)
  kNoReply,      // none is sent (CLIENT REPLY OFF/SKIP)
  kNotExecuted,  // queued in MULTI, then DISCARD / EXEC null (WATCH) / EXECABORT
  kStatus,       // +OK, +PONG ...
  kError,        // - or !
  kInteger,      // :
  kNil,          // $-1, *-1, _
  kString,       // $ or = (verbatim)
  kArray,        // * (and > for confirmations)
  kMap,          // %
  kSet,          // ~
  kDouble,       // ,
  kBoolean,      // #
  kBigNumber,    // (
};

const char* ToString(ReplyKind kind);

struct CommandRecord {
  std::string command;     // upper-cased, e.g. "GET", "CLIENT"
  std::string subcommand;  // container commands only, e.g. "SETNAME"
  uint32_t keys = 0;       // KeyCount(): keys addressed (HMGET/HDEL: fields)
  uint64_t start_ns = 0;   // first byte of the command
  uint64_t end_ns = 0;     // last byte of the reply (or of the command, if there is none)
  bool error = false;
  std::string error_prefix;  // "ERR", "WRONGTYPE", "NOAUTH", ...
  ReplyKind reply = ReplyKind::kUnknown;
  std::vector<bool> element_nil;  // array/set/map replies: per element null or not (MGET/HMGET)
  int64_t integer = 0;     // kInteger (EXISTS, DEL, ...); kBoolean 1/0
  bool queued = false;     // sent inside MULTI (its outcome comes from the EXEC array)
  uint64_t size = 0;       // array/set: elements, map: pairs, string: bytes

  // "get", "client|setname": the key of Redis' INFO commandstats.
  std::string StatsName() const;
  std::string ToString() const;
};

// Turns a reply value into a record's reply fields.
void ApplyReply(const Value& reply, CommandRecord* record);

class RedisConnection {
 public:
  RedisConnection();

  // Drains both directions and appends the records completed so far.
  void Poll(conn::StreamBuffer& requests, conn::StreamBuffer& replies,
            std::vector<CommandRecord>* out);
  // The connection closed: everything pending is reported (kUnknown; queued: kNotExecuted).
  void Finish(std::vector<CommandRecord>* out);

  // Frame-level entry points (Poll uses them; tests and replays may too).
  void OnCommand(const Frame& frame, std::vector<CommandRecord>* out);
  void OnReply(const Frame& frame, std::vector<CommandRecord>* out);

  bool resp3() const { return resp3_; }
  bool subscribed() const { return subscribed_; }
  size_t pending() const { return pending_.size(); }
  uint64_t parse_errors() const {
    return request_parser_.parse_errors() + reply_parser_.parse_errors();
  }
  const RespStreamParser& request_parser() const { return request_parser_; }
  const RespStreamParser& reply_parser() const { return reply_parser_; }
  // Pub/sub messages and other pushes that were not replies.
  uint64_t pushes() const { return pushes_; }
  // Replies that had no command to answer (loss).
  uint64_t unmatched_replies() const { return unmatched_replies_; }

 private:
  struct Pending {
    CommandRecord record;
    uint32_t confirmations_left = 0;  // pub/sub: confirmations still expected
    bool pubsub = false;
    bool in_multi = false;   // sent after MULTI, before EXEC/DISCARD
    int hello_protover = 0;
  };

  bool IsPushNotReply(const Value& v) const;
  void Complete(Pending& p, const Frame& reply, std::vector<CommandRecord>* out);
  void FlushQueued(ReplyKind kind, uint64_t end_ns, std::vector<CommandRecord>* out);
  void TrackSubscription(const Value& v);

  RespStreamParser request_parser_;
  RespStreamParser reply_parser_;
  std::deque<Pending> pending_;
  std::vector<CommandRecord> queued_;  // answered +QUEUED, waiting for EXEC
  bool multi_sent_ = false;            // request side: between MULTI and EXEC/DISCARD
  ClientReplyMode reply_mode_ = ClientReplyMode::kOn;
  bool skip_next_ = false;
  bool resp3_ = false;
  bool subscribed_ = false;
  int64_t subscriptions_ = 0;  // the count in the last confirmation
  int64_t kind_counts_[3] = {0, 0, 0};  // channels, patterns, shard channels (from the counts)
  uint64_t pushes_ = 0;
  uint64_t unmatched_replies_ = 0;
};

// Cache semantics of one record (Redis as a cache):
//
//   command                      operation  hits / misses
//   GET GETEX GETDEL HGET        kGet       non-nil reply: 1 hit; nil: 1 miss
//   MGET, HMGET                  kGet       per element: non-nil hit, nil miss
//   EXISTS                       kGet       hits = integer reply, misses = keys - hits
//   HGETALL                      kGet       empty array/map: 1 miss; otherwise 1 hit
//   SET SETEX PSETEX SETNX       kSet       -
//   MSET MSETNX HSET HSETNX HMSET
//   DEL UNLINK HDEL              kDelete    -
//   anything else                kNone      -
//
// Errors, lost replies (kUnknown), kNoReply and kNotExecuted count no hit or miss (the
// operation is still reported, so its duration can be observed).
enum class CacheOperation : uint8_t { kNone, kGet, kSet, kDelete };

const char* ToString(CacheOperation op);

struct CacheOutcome {
  CacheOperation operation = CacheOperation::kNone;
  uint32_t hits = 0;
  uint32_t misses = 0;
};

CacheOutcome ClassifyCache(const CommandRecord& record);

}  // namespace fraiseql::protocols::redis
