#include "protocols/redis/connection.h"

#include <algorithm>
#include <utility>

namespace fraiseql::protocols::redis {
namespace {

std::string ToLower(std::string_view s) {
  std::string r(s);
  for (char& c : r) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return r;
}

// Pub/sub channel kinds, indexed the same way for subscribe and unsubscribe.
int SubscribeKind(std::string_view lower, bool* subscribe) {
  static constexpr std::string_view kSub[] = {"subscribe", "psubscribe", "ssubscribe"};
  static constexpr std::string_view kUnsub[] = {"unsubscribe", "punsubscribe", "sunsubscribe"};
  for (int i = 0; i < 3; ++i) {
    if (lower == kSub[i]) {
      *subscribe = true;
      return i;
    }
    if (lower == kUnsub[i]) {
      *subscribe = false;
      return i;
    }
  }
  return -1;
}

// The confirmation kind of a pub/sub reply ("subscribe", ...), or empty.
std::string ConfirmationKind(const Value& v) {
  if (v.type != RespType::kArray && v.type != RespType::kPush) return "";
  if (v.null || v.elements.size() < 3) return "";
  std::string kind = ToLower(v.elements[0].text);
  bool sub = false;
  return SubscribeKind(kind, &sub) >= 0 ? kind : "";
}

}  // namespace

const char* ToString(ReplyKind kind) {
  switch (kind) {
    case ReplyKind::kUnknown: return "unknown";
    case ReplyKind::kNoReply: return "no_reply";
    case ReplyKind::kNotExecuted: return "not_executed";
    case ReplyKind::kStatus: return "status";
    case ReplyKind::kError: return "error";
    case ReplyKind::kInteger: return "integer";
    case ReplyKind::kNil: return "nil";
    case ReplyKind::kString: return "string";
    case ReplyKind::kArray: return "array";
    case ReplyKind::kMap: return "map";
    case ReplyKind::kSet: return "set";
    case ReplyKind::kDouble: return "double";
    case ReplyKind::kBoolean: return "boolean";
    case ReplyKind::kBigNumber: return "big_number";
  }
  return "?";
}

const char* ToString(CacheOperation op) {
  switch (op) {
    case CacheOperation::kNone: return "none";
    case CacheOperation::kGet: return "get";
    case CacheOperation::kSet: return "set";
    case CacheOperation::kDelete: return "delete";
  }
  return "?";
}

std::string CommandRecord::StatsName() const {
  std::string s = ToLower(command);
  if (!subcommand.empty()) s += "|" + ToLower(subcommand);
  return s;
}

std::string CommandRecord::ToString() const {
  std::string s = "CommandRecord{" + command;
  if (!subcommand.empty()) s += " " + subcommand;
  s += " keys=" + std::to_string(keys) + " reply=" + redis::ToString(reply);
  if (error) s += " error=" + error_prefix;
  if (reply == ReplyKind::kInteger || reply == ReplyKind::kBoolean) {
    s += " integer=" + std::to_string(integer);
  }
  if (!element_nil.empty()) {
    s += " nil=";
    for (size_t i = 0; i < element_nil.size() && i < 64; ++i) s += element_nil[i] ? '1' : '0';
  }
  if (queued) s += " queued";
  s += " ns=" + std::to_string(start_ns) + ".." + std::to_string(end_ns) + "}";
  return s;
}

void ApplyReply(const Value& v, CommandRecord* r) {
  r->error = false;
  r->error_prefix.clear();
  r->element_nil.clear();
  r->integer = 0;
  r->size = v.size;
  if (v.is_error()) {
    r->error = true;
    r->error_prefix = v.error_prefix.empty() ? "ERR" : v.error_prefix;
    r->reply = ReplyKind::kError;
    return;
  }
  if (v.is_nil()) {
    r->reply = ReplyKind::kNil;
    return;
  }
  switch (v.type) {
    case RespType::kSimpleString: r->reply = ReplyKind::kStatus; break;
    case RespType::kInteger: r->reply = ReplyKind::kInteger; break;
    case RespType::kBulkString:
    case RespType::kVerbatimString: r->reply = ReplyKind::kString; break;
    case RespType::kArray:
    case RespType::kPush: r->reply = ReplyKind::kArray; break;
    case RespType::kMap: r->reply = ReplyKind::kMap; break;
    case RespType::kSet: r->reply = ReplyKind::kSet; break;
    case RespType::kDouble: r->reply = ReplyKind::kDouble; break;
    case RespType::kBoolean: r->reply = ReplyKind::kBoolean; break;
    case RespType::kBigNumber: r->reply = ReplyKind::kBigNumber; break;
    default: r->reply = ReplyKind::kUnknown; break;
  }
  r->integer = v.integer;
  r->element_nil = v.element_nil;
}

RedisConnection::RedisConnection()
    : request_parser_(Direction::kRequest), reply_parser_(Direction::kReply) {}

void RedisConnection::Poll(conn::StreamBuffer& requests, conn::StreamBuffer& replies,
                           std::vector<CommandRecord>* out) {
  Frame f;
  while (request_parser_.Next(requests, &f) == ParseState::kSuccess) OnCommand(f, out);
  while (reply_parser_.Next(replies, &f) == ParseState::kSuccess) OnReply(f, out);
}

void RedisConnection::OnCommand(const Frame& frame, std::vector<CommandRecord>* out) {
  const Command& c = frame.command;
  Pending p;
  p.record.command = c.name;
  p.record.subcommand = c.subcommand;
  p.record.keys = c.keys;
  p.record.start_ns = frame.start_ts;
  p.record.end_ns = frame.end_ts;
  p.hello_protover = c.hello_protover;

  auto no_reply = [&] {
    p.record.reply = ReplyKind::kNoReply;
    out->push_back(std::move(p.record));
  };
  if (reply_mode_ == ClientReplyMode::kOff) {
    if (c.client_reply == ClientReplyMode::kOn) {
      reply_mode_ = ClientReplyMode::kOn;
      pending_.push_back(std::move(p));
    } else {
      no_reply();
    }
    return;
  }
  if (skip_next_) {
    skip_next_ = false;
    no_reply();
    return;
  }
  if (c.client_reply == ClientReplyMode::kOff || c.client_reply == ClientReplyMode::kSkip) {
    if (c.client_reply == ClientReplyMode::kOff) reply_mode_ = ClientReplyMode::kOff;
    if (c.client_reply == ClientReplyMode::kSkip) skip_next_ = true;
    no_reply();
    return;
  }

  if (c.name == "EXEC" || c.name == "DISCARD" || c.name == "RESET") {
    multi_sent_ = false;
  } else {
    p.in_multi = multi_sent_;
    if (c.name == "MULTI") multi_sent_ = true;
  }
  bool subscribe = false;
  if (!p.in_multi && SubscribeKind(ToLower(c.name), &subscribe) >= 0) {
    p.pubsub = true;
    p.confirmations_left = c.argc > 1 ? c.argc - 1 : 0;  // 0: "all", decided on the first one
  }
  pending_.push_back(std::move(p));
}

bool RedisConnection::IsPushNotReply(const Value& v) const {
  if (v.type == RespType::kPush) {
    // Confirmations are replies when a pub/sub command waits for them.
    return ConfirmationKind(v).empty() || pending_.empty() || !pending_.front().pubsub;
  }
  if (!resp3_ && subscribed_ && v.type == RespType::kArray && !v.elements.empty()) {
    const std::string kind = ToLower(v.elements[0].text);
    return kind == "message" || kind == "pmessage" || kind == "smessage";
  }
  return false;
}

void RedisConnection::TrackSubscription(const Value& v) {
  bool subscribe = false;
  const int kind = SubscribeKind(ToLower(v.elements[0].text), &subscribe);
  const Value& count = v.elements[2];
  if (kind < 0 || count.type != RespType::kInteger) return;
  if (subscribe && count.integer > subscriptions_) ++kind_counts_[kind];
  if (!subscribe && count.integer < subscriptions_ && kind_counts_[kind] > 0) {
    --kind_counts_[kind];
  }
  subscriptions_ = count.integer;
  subscribed_ = subscriptions_ > 0;
}

void RedisConnection::OnReply(const Frame& frame, std::vector<CommandRecord>* out) {
  const Value& v = frame.reply;
  if (frame.after_loss) {
    // Replies were lost: any pending command may have been answered by them.
    for (Pending& p : pending_) {
      p.record.reply = ReplyKind::kUnknown;
      out->push_back(std::move(p.record));
    }
    pending_.clear();
    FlushQueued(ReplyKind::kUnknown, frame.start_ts, out);
  }
  if (IsPushNotReply(v)) {
    ++pushes_;
    return;
  }
  if (pending_.empty() || pending_.front().record.start_ns > frame.start_ts) {
    // Nothing sent before this reply is waiting for one (its command was lost).
    ++unmatched_replies_;
    return;
  }
  Pending& front = pending_.front();
  if (front.pubsub && !v.is_error()) {
    const std::string kind = ConfirmationKind(v);
    if (!kind.empty()) {
      bool subscribe = false;
      const int k = SubscribeKind(kind, &subscribe);
      if (front.confirmations_left == 0) {
        // UNSUBSCRIBE without channels: Redis confirms each one of that kind it had, or once
        // if there were none.
        front.confirmations_left =
            static_cast<uint32_t>(std::max<int64_t>(1, kind_counts_[k]));
      }
      TrackSubscription(v);
      if (--front.confirmations_left > 0) return;  // more confirmations to come
    }
  }
  Pending p = std::move(pending_.front());
  pending_.pop_front();
  Complete(p, frame, out);
}

void RedisConnection::FlushQueued(ReplyKind kind, uint64_t end_ns,
                                  std::vector<CommandRecord>* out) {
  for (CommandRecord& r : queued_) {
    r.reply = kind;
    r.end_ns = std::max(r.end_ns, end_ns);
    out->push_back(std::move(r));
  }
  queued_.clear();
}

void RedisConnection::Complete(Pending& p, const Frame& frame, std::vector<CommandRecord>* out) {
  const Value& v = frame.reply;
  CommandRecord& rec = p.record;
  ApplyReply(v, &rec);
  rec.end_ns = frame.end_ts;
  const std::string& name = rec.command;
  if (p.in_multi) {
    rec.queued = true;
    if (v.type == RespType::kSimpleString && v.text == "QUEUED") {
      queued_.push_back(std::move(rec));
      return;
    }
    out->push_back(std::move(rec));  // rejected at queue time; EXEC will abort
    return;
  }
  if (name == "EXEC") {
    if (!rec.error && !v.is_nil() && v.type == RespType::kArray) {
      for (size_t i = 0; i < queued_.size(); ++i) {
        CommandRecord& q = queued_[i];
        if (i < v.elements.size()) {
          ApplyReply(v.elements[i], &q);
        } else {
          q.reply = ReplyKind::kUnknown;  // beyond kMaxKeptElements
        }
        q.end_ns = frame.end_ts;
        out->push_back(std::move(q));
      }
      queued_.clear();
    } else {
      FlushQueued(ReplyKind::kNotExecuted, frame.end_ts, out);
    }
  } else if (name == "DISCARD") {
    FlushQueued(ReplyKind::kNotExecuted, frame.end_ts, out);
  } else if (name == "HELLO") {
    if (!rec.error && (v.type == RespType::kMap || v.type == RespType::kArray)) {
      if (p.hello_protover == 3) resp3_ = true;
      if (p.hello_protover == 2) resp3_ = false;
    }
  } else if (name == "RESET") {
    resp3_ = false;
    subscribed_ = false;
    subscriptions_ = 0;
    kind_counts_[0] = kind_counts_[1] = kind_counts_[2] = 0;
    reply_mode_ = ClientReplyMode::kOn;
    skip_next_ = false;
    FlushQueued(ReplyKind::kNotExecuted, frame.end_ts, out);
  }
  out->push_back(std::move(rec));
}

void RedisConnection::Finish(std::vector<CommandRecord>* out) {
  for (Pending& p : pending_) {
    p.record.reply = p.in_multi ? ReplyKind::kNotExecuted : ReplyKind::kUnknown;
    out->push_back(std::move(p.record));
  }
  pending_.clear();
  FlushQueued(ReplyKind::kNotExecuted, 0, out);
  request_parser_.Finish();
  reply_parser_.Finish();
  multi_sent_ = false;
}

CacheOutcome ClassifyCache(const CommandRecord& r) {
  CacheOutcome o;
  const std::string& n = r.command;
  const bool answered = !r.error && r.reply != ReplyKind::kUnknown &&
                        r.reply != ReplyKind::kNoReply && r.reply != ReplyKind::kNotExecuted;
  if (n == "GET" || n == "GETEX" || n == "GETDEL" || n == "HGET") {
    o.operation = CacheOperation::kGet;
    if (answered) (r.reply == ReplyKind::kNil ? o.misses : o.hits) = 1;
  } else if (n == "MGET" || n == "HMGET") {
    o.operation = CacheOperation::kGet;
    if (answered) {
      for (bool nil : r.element_nil) ++(nil ? o.misses : o.hits);
    }
  } else if (n == "EXISTS") {
    o.operation = CacheOperation::kGet;
    if (answered && r.reply == ReplyKind::kInteger) {
      o.hits = static_cast<uint32_t>(std::clamp<int64_t>(r.integer, 0, r.keys));
      o.misses = r.keys - o.hits;
    }
  } else if (n == "HGETALL") {
    o.operation = CacheOperation::kGet;
    if (answered) (r.size == 0 || r.reply == ReplyKind::kNil ? o.misses : o.hits) = 1;
  } else if (n == "SET" || n == "SETEX" || n == "PSETEX" || n == "SETNX" || n == "MSET" ||
             n == "MSETNX" || n == "HSET" || n == "HSETNX" || n == "HMSET") {
    o.operation = CacheOperation::kSet;
  } else if (n == "DEL" || n == "UNLINK" || n == "HDEL") {
    o.operation = CacheOperation::kDelete;
  }
  return o;
}

}  // namespace fraiseql::protocols::redis
