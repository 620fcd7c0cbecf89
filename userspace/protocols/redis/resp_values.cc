// RESP value and command summaries: ToString, the command tables and the FrameBuilder that turns
// tokens into one bounded top-level frame (see resp_parser.h).
#include <algorithm>
#include <array>

#include "protocols/redis/resp_internal.h"
#include "protocols/redis/resp_parser.h"

namespace fraiseql::protocols::redis {

using internal::ErrorCode;
using internal::ParseDecimal;

std::string ToUpper(std::string_view s) {
  std::string r(s);
  for (char& c : r) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return r;
}

std::string Value::ToString() const {
  std::string s = std::string("Value{") + redis::ToString(type);
  if (null) s += " null";
  if (type == RespType::kInteger || type == RespType::kBoolean) {
    s += " " + std::to_string(integer);
  }
  s += " size=" + std::to_string(size);
  if (!text.empty()) s += " text=" + text;
  if (!error_prefix.empty()) s += " error=" + error_prefix;
  if (!element_nil.empty()) {
    s += " nil=";
    for (size_t i = 0; i < element_nil.size() && i < 64; ++i) s += element_nil[i] ? '1' : '0';
  }
  if (attributed) s += " attributed";
  if (streamed) s += " streamed";
  if (truncated) s += " truncated";
  if (!elements.empty()) {
    s += " [";
    for (size_t i = 0; i < elements.size() && i < 8; ++i) {
      if (i > 0) s += ", ";
      s += elements[i].ToString();
    }
    if (elements.size() > 8) s += ", ...";
    s += "]";
  }
  return s + "}";
}

std::string Command::ToString() const {
  std::string s = "Command{" + name;
  if (!subcommand.empty()) s += " " + subcommand;
  s += " argc=" + std::to_string(argc) + " keys=" + std::to_string(keys);
  if (inline_form) s += " inline";
  if (hello_protover != 0) s += " protover=" + std::to_string(hello_protover);
  if (client_reply != ClientReplyMode::kNone) {
    s += " reply=" + std::to_string(static_cast<int>(client_reply));
  }
  if (truncated) s += " truncated";
  return s + "}";
}

bool HasSubcommand(std::string_view n) {
  static constexpr std::array<std::string_view, 16> kContainers = {
      "ACL",     "CLIENT", "CLUSTER", "COMMAND", "CONFIG", "DEBUG",   "FUNCTION", "LATENCY",
      "MEMORY",  "MODULE", "OBJECT",  "PUBSUB",  "SCRIPT", "SLOWLOG", "XINFO",    "XGROUP"};
  return std::find(kContainers.begin(), kContainers.end(), n) != kContainers.end();
}

uint32_t KeyCount(std::string_view n, uint32_t argc) {
  static constexpr std::array<std::string_view, 6> kAllKeys = {"MGET",   "EXISTS", "DEL",
                                                               "UNLINK", "TOUCH",  "WATCH"};
  static constexpr std::array<std::string_view, 60> kOneKey = {
      "GET",      "SET",      "SETEX",     "PSETEX",  "SETNX",     "GETEX",     "GETDEL",
      "GETSET",   "APPEND",   "STRLEN",    "INCR",    "DECR",      "INCRBY",    "DECRBY",
      "INCRBYFLOAT", "GETRANGE", "SETRANGE", "HGET",  "HSET",      "HSETNX",    "HMSET",
      "HGETALL",  "HLEN",     "HEXISTS",   "HINCRBY", "HKEYS",     "HVALS",     "HSTRLEN",
      "EXPIRE",   "PEXPIRE",  "EXPIREAT",  "PEXPIREAT", "TTL",     "PTTL",      "PERSIST",
      "TYPE",     "LPUSH",    "RPUSH",     "LPOP",    "RPOP",      "LRANGE",    "LLEN",
      "LINDEX",   "SADD",     "SREM",      "SMEMBERS", "SISMEMBER", "SCARD",    "ZADD",
      "ZSCORE",   "ZRANGE",   "ZREM",      "ZCARD",   "ZINCRBY",   "ZRANK",     "XADD",
      "XLEN",     "DUMP",     "RESTORE",   "GETBIT"};
  if (argc < 2) return 0;
  if (std::find(kAllKeys.begin(), kAllKeys.end(), n) != kAllKeys.end()) return argc - 1;
  if (n == "MSET" || n == "MSETNX") return (argc - 1) / 2;
  if (n == "HMGET" || n == "HDEL") return argc >= 3 ? argc - 2 : 0;
  if (std::find(kOneKey.begin(), kOneKey.end(), n) != kOneKey.end()) return 1;
  return 0;
}

// --- FrameBuilder --------------------------------------------------------------------------

void FrameBuilder::Reset() {
  root_ = Value();
  stack_.clear();
  scratch_ = Value();
  cur_ = nullptr;
  cur_capture_ = false;
  pending_attribute_ = false;
  in_streamed_string_ = false;
  payload_pending_ = false;
  payload_remaining_ = 0;
  cur_depth_ = 0;
  for (std::string& a : command_args_) a.clear();
  done_ = false;
  started_ = false;
  truncated_ = false;
}

bool FrameBuilder::CaptureTextAt(size_t depth, uint64_t index) const {
  if (mode_ == Mode::kReply) return depth == 1 && index == 0;
  if (depth != 1) return false;
  if (index == 0) return true;
  const std::string name = ToUpper(command_args_[0]);
  if (index == 1) return name == "HELLO" || HasSubcommand(name);
  if (index == 2) return name == "CLIENT" && ToUpper(command_args_[1]) == "REPLY";
  return false;
}

void FrameBuilder::NoteNil(bool nil) {
  if (stack_.empty()) return;
  Level& parent = stack_.back();
  if (parent.node != nullptr && !parent.attribute) parent.node->element_nil.push_back(nil);
}

Value* FrameBuilder::BeginValue(RespType type) {
  started_ = true;
  Value* node = nullptr;
  cur_depth_ = stack_.size();
  if (stack_.empty()) {
    node = &root_;
  } else {
    Level& parent = stack_.back();
    if (mode_ == Mode::kReply && !parent.attribute && parent.node == &root_ &&
        root_.elements.size() < kMaxKeptElements) {
      root_.elements.emplace_back();
      node = &root_.elements.back();
    }
  }
  if (node == nullptr) {
    scratch_ = Value();
    node = &scratch_;
  }
  node->type = type;
  if (pending_attribute_) {
    node->attributed = true;
    pending_attribute_ = false;
  }
  return node;
}

ParseState FrameBuilder::EndValue() {
  cur_ = nullptr;
  cur_capture_ = false;
  for (;;) {
    if (stack_.empty()) {
      done_ = true;
      root_.truncated = truncated_;
      return ParseState::kSuccess;
    }
    Level& top = stack_.back();
    ++top.index;
    if (top.streamed || --top.remaining > 0) return ParseState::kNeedsMoreData;
    // The aggregate is complete.
    const bool attribute = top.attribute;
    stack_.pop_back();
    if (attribute) {
      pending_attribute_ = true;
      return ParseState::kNeedsMoreData;
    }
  }
}

// Inside a streamed string ($?): only ;N chunks, ";0" ends it.
ParseState FrameBuilder::OnStreamedChunk(const Token& t) {
  if (t.kind != TokenKind::kStreamedChunk) return ParseState::kInvalid;
  if (t.length == 0) {
    in_streamed_string_ = false;
    return EndValue();
  }
  cur_->size += t.length;
  payload_pending_ = true;
  payload_remaining_ = t.length;
  return ParseState::kNeedsMoreData;
}

// "." ends the innermost streamed aggregate.
ParseState FrameBuilder::OnStreamEnd() {
  if (stack_.empty() || !stack_.back().streamed) return ParseState::kInvalid;
  Level& top = stack_.back();
  if (top.type == RespType::kMap && top.index % 2 != 0) return ParseState::kInvalid;
  if (top.node != nullptr) {
    top.node->size = top.type == RespType::kMap ? top.index / 2 : top.index;
  }
  stack_.pop_back();
  return EndValue();
}

ParseState FrameBuilder::OnToken(const Token& t) {
  if (done_ || payload_pending_) return ParseState::kInvalid;
  if (in_streamed_string_) return OnStreamedChunk(t);
  if (t.kind == TokenKind::kStreamedChunk) return ParseState::kInvalid;
  if (t.kind == TokenKind::kStreamEnd) return OnStreamEnd();

  const size_t depth = stack_.size();
  const uint64_t index = stack_.empty() ? 0 : stack_.back().index;
  if (mode_ == Mode::kCommand) {
    if (depth == 0 && (t.type != RespType::kArray || t.kind == TokenKind::kStreamedAggregate)) {
      return ParseState::kInvalid;
    }
    if (depth == 1 && (t.type != RespType::kBulkString || t.null ||
                       t.kind != TokenKind::kBulkHeader)) {
      return ParseState::kInvalid;
    }
  }
  if (t.type == RespType::kAttribute) {
    if (stack_.size() >= kMaxDepth) return ParseState::kInvalid;
    started_ = true;
    if (t.length == 0) {
      pending_attribute_ = true;
      return ParseState::kNeedsMoreData;
    }
    stack_.push_back(Level{t.type, false, true, t.length * 2, 0, nullptr});
    return ParseState::kNeedsMoreData;
  }

  const bool in_attribute = !stack_.empty() && stack_.back().attribute;
  NoteNil(t.null);
  Value* node = BeginValue(t.type);
  node->null = t.null;
  node->integer = t.integer;
  const bool summarised = node != &scratch_;
  if (!in_attribute && depth <= 1 && t.type == RespType::kError) {
    node->error_prefix = ErrorCode(t.line);
  }
  if (summarised && mode_ == Mode::kReply && t.kind == TokenKind::kScalar &&
      (t.type == RespType::kSimpleString && (depth == 0 || index == 0))) {
    node->text = std::string(t.line.substr(0, kMaxCapturedText));
  }
  return OnValueBody(t, node, depth, index, in_attribute);
}

// What follows the value's type line: nothing (scalars), a payload, chunks or elements.
ParseState FrameBuilder::OnValueBody(const Token& t, Value* node, size_t depth, uint64_t index,
                                     bool in_attribute) {
  const bool summarised = node != &scratch_;
  switch (t.kind) {
    case TokenKind::kScalar:
      return EndValue();
    case TokenKind::kBulkHeader:
      node->size = t.length;
      cur_ = node;
      cur_capture_ = !in_attribute &&
                     (CaptureTextAt(depth, index) ||
                      (t.type == RespType::kBulkError && depth <= 1));
      if (t.length == 0) {
        payload_pending_ = true;
        payload_remaining_ = 0;
        return ParseState::kNeedsMoreData;
      }
      payload_pending_ = true;
      payload_remaining_ = t.length;
      return ParseState::kNeedsMoreData;
    case TokenKind::kStreamedString:
      node->streamed = true;
      cur_ = node;
      cur_capture_ = !in_attribute && CaptureTextAt(depth, index);
      in_streamed_string_ = true;
      return ParseState::kNeedsMoreData;
    case TokenKind::kAggregateHeader:
    case TokenKind::kStreamedAggregate: {
      const bool streamed = t.kind == TokenKind::kStreamedAggregate;
      node->streamed = streamed;
      node->size = t.length;
      if (stack_.size() >= kMaxDepth) return ParseState::kInvalid;
      const uint64_t elements = t.type == RespType::kMap ? t.length * 2 : t.length;
      if (!streamed && elements == 0) return EndValue();
      // Summarise aggregates at depth 0 and 1 (element_nil), not deeper.
      Value* keep = summarised && depth <= 1 && !in_attribute ? node : nullptr;
      if (keep != nullptr && depth == 0) root_.elements.reserve(std::min<uint64_t>(
                                             elements, kMaxKeptElements));
      stack_.push_back(Level{t.type, streamed, false, elements, 0, keep});
      return ParseState::kNeedsMoreData;
    }
    default:
      return ParseState::kInvalid;
  }
}

void FrameBuilder::OnPayload(std::string_view bytes) {
  bytes = bytes.substr(0, std::min<uint64_t>(bytes.size(), payload_remaining_));
  payload_remaining_ -= bytes.size();
  if (!cur_capture_ || cur_ == nullptr) return;
  std::string* dst = mode_ == Mode::kCommand ? &command_args_[std::min<uint64_t>(
                                                   stack_.empty() ? 0 : stack_.back().index, 2)]
                                             : &cur_->text;
  const size_t room = kMaxCapturedText - std::min(kMaxCapturedText, dst->size());
  dst->append(bytes.substr(0, std::min(room, bytes.size())));
}

void FrameBuilder::OnPayloadMissing(uint64_t n) {
  n = std::min(n, payload_remaining_);
  payload_remaining_ -= n;
  truncated_ = true;
  if (cur_ != nullptr) cur_->truncated = true;
  cur_capture_ = false;  // keep only a prefix that really is one
}

ParseState FrameBuilder::EndPayload() {
  if (!payload_pending_ || payload_remaining_ != 0) return ParseState::kInvalid;
  payload_pending_ = false;
  if (in_streamed_string_) return ParseState::kNeedsMoreData;
  if (cur_ != nullptr && cur_->type == RespType::kBulkError && cur_depth_ <= 1) {
    cur_->error_prefix = ErrorCode(cur_->text);
    cur_->text.clear();
  }
  return EndValue();
}

Command FrameBuilder::TakeCommand() {
  Command c;
  c.name = ToUpper(command_args_[0]);
  c.argc = static_cast<uint32_t>(std::min<uint64_t>(root_.size, UINT32_MAX));
  if (HasSubcommand(c.name) && c.argc >= 2) c.subcommand = ToUpper(command_args_[1]);
  c.keys = KeyCount(c.name, c.argc);
  if (c.name == "HELLO" && c.argc >= 2) {
    int64_t v = 0;
    if (ParseDecimal(command_args_[1], false, &v) && v >= 0 && v < 100) {
      c.hello_protover = static_cast<int>(v);
    }
  }
  if (c.name == "CLIENT" && c.subcommand == "REPLY" && c.argc >= 3) {
    const std::string mode = ToUpper(command_args_[2]);
    if (mode == "ON") c.client_reply = ClientReplyMode::kOn;
    if (mode == "OFF") c.client_reply = ClientReplyMode::kOff;
    if (mode == "SKIP") c.client_reply = ClientReplyMode::kSkip;
  }
  c.truncated = truncated_;
  for (std::string& a : command_args_) a.clear();
  return c;
}

}  // namespace fraiseql::protocols::redis
