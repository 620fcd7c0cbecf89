#include "protocols/redis/resp_parser.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <utility>

#include "protocols/common/byte_cursor.h"

namespace fraiseql::protocols::redis {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
bool IsAlpha(char c) { return IsUpper(c) || (c >= 'a' && c <= 'z'); }

// Strict decimal (Redis' string2ll): optional sign where allowed, no leading zeros, no overflow.
bool ParseDecimal(std::string_view s, bool allow_sign, int64_t* out) {
  if (s.empty()) return false;
  size_t i = 0;
  if (allow_sign && (s[0] == '-' || s[0] == '+')) i = 1;
  if (i == s.size()) return false;
  if (s[i] == '0' && s.size() > i + 1) return false;
  for (size_t k = i; k < s.size(); ++k) {
    if (!IsDigit(s[k])) return false;
  }
  std::string_view digits = s.substr(s[0] == '+' ? 1 : 0);
  int64_t v = 0;
  auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || p != digits.data() + digits.size()) return false;
  *out = v;
  return true;
}

bool ValidDouble(std::string_view s) {
  if (s == "inf" || s == "-inf" || s == "+inf" || s == "nan" || s == "-nan") return true;
  if (s.empty()) return false;
  bool digit = false;
  for (char c : s) {
    if (IsDigit(c)) {
      digit = true;
    } else if (c != '-' && c != '+' && c != '.' && c != 'e' && c != 'E') {
      return false;
    }
  }
  return digit;
}

bool HasLineBreak(std::string_view s) {
  return s.find('\r') != std::string_view::npos || s.find('\n') != std::string_view::npos;
}

bool TypeFromByte(char b, RespType* t) {
  switch (b) {
    case '+': *t = RespType::kSimpleString; return true;
    case '-': *t = RespType::kError; return true;
    case ':': *t = RespType::kInteger; return true;
    case '$': *t = RespType::kBulkString; return true;
    case '*': *t = RespType::kArray; return true;
    case '_': *t = RespType::kNull; return true;
    case ',': *t = RespType::kDouble; return true;
    case '#': *t = RespType::kBoolean; return true;
    case '(': *t = RespType::kBigNumber; return true;
    case '!': *t = RespType::kBulkError; return true;
    case '=': *t = RespType::kVerbatimString; return true;
    case '%': *t = RespType::kMap; return true;
    case '~': *t = RespType::kSet; return true;
    case '|': *t = RespType::kAttribute; return true;
    case '>': *t = RespType::kPush; return true;
    case ';': *t = RespType::kBulkString; return true;  // streamed string chunk
    case '.': *t = RespType::kNull; return true;        // streamed aggregate end
    default: return false;
  }
}

bool IsTextLineByte(char b) { return b == '+' || b == '-' || b == '('; }

// A line that has not ended yet: can it still become valid?
bool ValidPartialLine(char b, std::string_view s) {
  if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
  if (HasLineBreak(s)) return false;
  if (IsTextLineByte(b)) {
    if (b != '(') return true;
  }
  if (b == '_' || b == '.') return s.empty();
  if (b == '#') return s.empty() || (s.size() == 1 && (s[0] == 't' || s[0] == 'f'));
  if (b == ',') {
    for (char c : s) {
      if (!IsDigit(c) && std::string_view("+-.eEinfa").find(c) == std::string_view::npos) {
        return false;
      }
    }
    return true;
  }
  if ((b == '$' || b == '*') && !s.empty() && s[0] == '-') {
    return std::string_view("-1").substr(0, s.size()) == s;  // the only negative length
  }
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (IsDigit(c)) continue;
    if (i == 0 && c == '-' && (b == ':' || b == '(')) continue;
    if (i == 0 && c == '+' && (b == ':' || b == '(')) continue;
    if (i == 0 && c == '?' && s.size() == 1 && (b == '$' || b == '*' || b == '%' || b == '~')) {
      continue;
    }
    return false;
  }
  return true;
}

// The error code: the first word if it looks like one (upper-case), else "ERR" (Redis itself
// prefixes code-less errors with ERR).
std::string ErrorCode(std::string_view message) {
  const size_t sp = message.find(' ');
  std::string_view word = message.substr(0, sp);
  if (word.empty() || word.size() > 32) return "ERR";
  for (char c : word) {
    if (!IsUpper(c) && !IsDigit(c) && c != '_' && c != '-') return "ERR";
  }
  return std::string(word);
}

bool PlausibleCommandName(std::string_view s) {
  if (s.empty() || s.size() > kMaxCapturedText || !IsAlpha(s[0])) return false;
  for (char c : s) {
    if (!IsAlpha(c) && !IsDigit(c) && c != '.' && c != '_' && c != '|' && c != '-') return false;
  }
  return true;
}

}  // namespace

const char* ToString(RespType type) {
  switch (type) {
    case RespType::kSimpleString: return "simple_string";
    case RespType::kError: return "error";
    case RespType::kInteger: return "integer";
    case RespType::kBulkString: return "bulk_string";
    case RespType::kArray: return "array";
    case RespType::kNull: return "null";
    case RespType::kDouble: return "double";
    case RespType::kBoolean: return "boolean";
    case RespType::kBigNumber: return "big_number";
    case RespType::kBulkError: return "bulk_error";
    case RespType::kVerbatimString: return "verbatim_string";
    case RespType::kMap: return "map";
    case RespType::kSet: return "set";
    case RespType::kAttribute: return "attribute";
    case RespType::kPush: return "push";
    case RespType::kInline: return "inline";
  }
  return "?";
}

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

ParseState ParseToken(std::string_view data, Token* out, size_t* consumed) {
  if (data.empty()) return ParseState::kNeedsMoreData;
  const char b = data[0];
  Token t;
  if (!TypeFromByte(b, &t.type)) return ParseState::kInvalid;
  ByteCursor cur(data.substr(1));
  std::string_view line;
  const size_t max = IsTextLineByte(b) ? kMaxLineLength : kMaxNumberLine;
  ParseState s = cur.ReadLine(&line, max);
  if (s == ParseState::kNeedsMoreData) {
    return ValidPartialLine(b, cur.rest()) ? s : ParseState::kInvalid;
  }
  if (s != ParseState::kSuccess) return s;
  if (HasLineBreak(line)) return ParseState::kInvalid;
  t.line = line;
  int64_t n = 0;
  switch (b) {
    case '+':
    case '-':
      t.kind = TokenKind::kScalar;
      break;
    case ':':
      if (!ParseDecimal(line, true, &n)) return ParseState::kInvalid;
      t.integer = n;
      break;
    case '(': {
      std::string_view digits = line;
      if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) digits.remove_prefix(1);
      if (digits.empty()) return ParseState::kInvalid;
      for (char c : digits) {
        if (!IsDigit(c)) return ParseState::kInvalid;
      }
      break;
    }
    case ',':
      if (!ValidDouble(line)) return ParseState::kInvalid;
      break;
    case '#':
      if (line != "t" && line != "f") return ParseState::kInvalid;
      t.integer = line == "t" ? 1 : 0;
      break;
    case '_':
      if (!line.empty()) return ParseState::kInvalid;
      t.null = true;
      break;
    case '.':
      if (!line.empty()) return ParseState::kInvalid;
      t.kind = TokenKind::kStreamEnd;
      break;
    case '$':
    case '!':
    case '=':
    case ';':
      if (b == '$' && line == "-1") {
        t.null = true;
        break;
      }
      if (b == '$' && line == "?") {
        t.kind = TokenKind::kStreamedString;
        break;
      }
      if (!ParseDecimal(line, false, &n) || static_cast<uint64_t>(n) > kMaxBulkLength) {
        return ParseState::kInvalid;
      }
      if (b == '=' && n < 4) return ParseState::kInvalid;  // "txt:" at least
      t.kind = b == ';' ? TokenKind::kStreamedChunk : TokenKind::kBulkHeader;
      t.length = static_cast<uint64_t>(n);
      break;
    default:  // aggregates
      if (b == '*' && line == "-1") {
        t.null = true;
        break;
      }
      if (line == "?" && (b == '*' || b == '%' || b == '~')) {
        t.kind = TokenKind::kStreamedAggregate;
        break;
      }
      if (!ParseDecimal(line, false, &n) || static_cast<uint64_t>(n) > kMaxAggregateElements) {
        return ParseState::kInvalid;
      }
      t.kind = TokenKind::kAggregateHeader;
      t.length = static_cast<uint64_t>(n);
      break;
  }
  *out = t;
  *consumed = 1 + cur.position();
  return ParseState::kSuccess;
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

ParseState FrameBuilder::OnToken(const Token& t) {
  if (done_ || payload_pending_) return ParseState::kInvalid;
  if (in_streamed_string_) {
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
  if (t.kind == TokenKind::kStreamedChunk) return ParseState::kInvalid;
  if (t.kind == TokenKind::kStreamEnd) {
    if (stack_.empty() || !stack_.back().streamed) return ParseState::kInvalid;
    Level& top = stack_.back();
    if (top.type == RespType::kMap && top.index % 2 != 0) return ParseState::kInvalid;
    if (top.node != nullptr) {
      top.node->size = top.type == RespType::kMap ? top.index / 2 : top.index;
    }
    stack_.pop_back();
    return EndValue();
  }

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

// --- Whole frames ------------------------------------------------------------------------

namespace {

// Runs the builder over data; on kSuccess *consumed is the frame size.
ParseState BuildFrame(std::string_view data, FrameBuilder* b, size_t* consumed) {
  b->Reset();
  size_t pos = 0;
  for (;;) {
    if (b->payload_pending()) {
      const uint64_t need = b->payload_remaining();
      const size_t have = data.size() - pos;
      if (have < need + 2) {
        if (have > need && data[pos + need] != '\r') return ParseState::kInvalid;
        return ParseState::kNeedsMoreData;
      }
      if (data[pos + need] != '\r' || data[pos + need + 1] != '\n') return ParseState::kInvalid;
      b->OnPayload(data.substr(pos, need));
      pos += need + 2;
      ParseState s = b->EndPayload();
      if (s == ParseState::kSuccess) {
        *consumed = pos;
        return s;
      }
      if (s == ParseState::kInvalid) return s;
      continue;
    }
    Token t;
    size_t n = 0;
    ParseState s = ParseToken(data.substr(pos), &t, &n);
    if (s != ParseState::kSuccess) return s;
    pos += n;
    s = b->OnToken(t);
    if (s == ParseState::kSuccess) {
      *consumed = pos;
      return s;
    }
    if (s == ParseState::kInvalid) return s;
  }
}

// Splits an inline command line the way Redis' sdssplitargs does, closely enough to count
// arguments: whitespace separates, "..." and '...' quote (with \ escapes in "...").
// Calls on_arg(index, word) for each argument; false on unbalanced quotes.
template <typename F>
bool SplitInline(std::string_view line, F on_arg) {
  size_t i = 0;
  uint32_t index = 0;
  while (true) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    if (i >= line.size()) return true;
    std::string word;
    bool quoted = false;
    char q = 0;
    while (i < line.size()) {
      const char c = line[i];
      if (quoted) {
        if (q == '"' && c == '\\' && i + 1 < line.size()) {
          word += line[i + 1];
          i += 2;
          continue;
        }
        if (c == q) {
          quoted = false;
          ++i;
          continue;
        }
        word += c;
        ++i;
        continue;
      }
      if (c == ' ' || c == '\t') break;
      if (c == '"' || c == '\'') {
        quoted = true;
        q = c;
        ++i;
        continue;
      }
      word += c;
      ++i;
    }
    if (quoted) return false;
    on_arg(index++, std::string_view(word));
  }
}

FrameResult ParseInline(std::string_view data, Command* out) {
  const size_t window = std::min(data.size(), kMaxLineLength + 1);
  const size_t lf = data.substr(0, window).find('\n');
  std::string_view line = data.substr(0, lf == std::string_view::npos ? window : lf);
  const bool complete = lf != std::string_view::npos;
  if (!complete && data.size() > kMaxLineLength) return {ParseState::kInvalid, 0};
  if (complete && !line.empty() && line.back() == '\r') line.remove_suffix(1);
  // No control bytes but HTAB (a trailing CR is fine while incomplete).
  for (size_t i = 0; i < line.size(); ++i) {
    const auto c = static_cast<unsigned char>(line[i]);
    if (c == '\t') continue;
    if (c == '\r' && !complete && i + 1 == line.size()) continue;
    if (c < 0x20 || c == 0x7f) return {ParseState::kInvalid, 0};
  }
  // The first word must look like a command name, even while incomplete.
  size_t start = 0;
  while (start < line.size() && (line[start] == ' ' || line[start] == '\t')) ++start;
  size_t end = start;
  while (end < line.size() && line[end] != ' ' && line[end] != '\t') ++end;
  std::string_view first = line.substr(start, end - start);
  if (!complete && end == line.size() && !line.empty() && line.back() == '\r') {
    first.remove_suffix(first.empty() ? 0 : 1);
  }
  if (!first.empty() && !PlausibleCommandName(first)) return {ParseState::kInvalid, 0};
  if (!complete) return {ParseState::kNeedsMoreData, 0};

  Command c;
  c.inline_form = true;
  std::string args[3];
  uint32_t argc = 0;
  std::string last;
  const bool ok = SplitInline(line, [&](uint32_t i, std::string_view w) {
    argc = i + 1;
    if (i == 0) args[0] = ToUpper(w.substr(0, kMaxCapturedText));
    const bool keep1 = i == 1 && (args[0] == "HELLO" || HasSubcommand(args[0]));
    const bool keep2 = i == 2 && args[0] == "CLIENT" && ToUpper(args[1]) == "REPLY";
    if (keep1 || keep2) args[i] = std::string(w.substr(0, kMaxCapturedText));
    last = w.substr(0, 8);
  });
  if (!ok) return {ParseState::kInvalid, 0};
  // HTTP on a Redis port ("GET / HTTP/1.1"): Redis itself drops such clients.
  if (argc >= 2 && last.rfind("HTTP/", 0) == 0) return {ParseState::kInvalid, 0};
  if (args[0] == "POST") return {ParseState::kInvalid, 0};
  c.name = args[0];
  c.argc = argc;
  if (HasSubcommand(c.name) && argc >= 2) c.subcommand = ToUpper(args[1]);
  c.keys = KeyCount(c.name, argc);
  int64_t v = 0;
  if (c.name == "HELLO" && argc >= 2 && ParseDecimal(args[1], false, &v) && v < 100) {
    c.hello_protover = static_cast<int>(v);
  }
  if (c.name == "CLIENT" && c.subcommand == "REPLY" && argc >= 3) {
    const std::string mode = ToUpper(args[2]);
    if (mode == "ON") c.client_reply = ClientReplyMode::kOn;
    if (mode == "OFF") c.client_reply = ClientReplyMode::kOff;
    if (mode == "SKIP") c.client_reply = ClientReplyMode::kSkip;
  }
  *out = std::move(c);
  return {ParseState::kSuccess, lf + 1};
}

}  // namespace

FrameResult ParseReply(std::string_view data, Value* out) {
  FrameBuilder b(FrameBuilder::Mode::kReply);
  size_t consumed = 0;
  ParseState s = BuildFrame(data, &b, &consumed);
  if (s != ParseState::kSuccess) return {s, 0};
  *out = std::move(b.value());
  return {s, consumed};
}

FrameResult ParseCommand(std::string_view data, Command* out) {
  if (data.empty()) return {ParseState::kNeedsMoreData, 0};
  if (data[0] != '*') return ParseInline(data, out);
  FrameBuilder b(FrameBuilder::Mode::kCommand);
  size_t consumed = 0;
  ParseState s = BuildFrame(data, &b, &consumed);
  if (s != ParseState::kSuccess) return {s, 0};
  *out = b.TakeCommand();
  return {s, consumed};
}

size_t FindFrameBoundary(std::string_view data, Direction direction) {
  size_t i = 0;
  while (i < data.size()) {
    std::string_view rest = data.substr(i);
    bool match = false;
    if (direction == Direction::kRequest) {
      if (rest[0] == '*') {
        Command c;
        FrameResult r = ParseCommand(rest, &c);
        // A complete command must name a plausible command; a prefix must reach past the
        // array header into the first argument ("*2\r\n$3\r\nGET").
        if (r.state == ParseState::kSuccess) {
          match = c.argc > 0 && PlausibleCommandName(c.name);
        } else if (r.state == ParseState::kNeedsMoreData) {
          const size_t first_nl = rest.find('\n');
          const size_t second_nl =
              first_nl == std::string_view::npos ? first_nl : rest.find('\n', first_nl + 1);
          match = second_nl != std::string_view::npos && second_nl + 2 < rest.size() &&
                  IsAlpha(rest[second_nl + 1]);
        }
      }
    } else {
      RespType t;
      if (TypeFromByte(rest[0], &t) && rest[0] != ';' && rest[0] != '.') {
        Value v;
        FrameResult r = ParseReply(rest, &v);
        match = r.state == ParseState::kSuccess ||
                (r.state == ParseState::kNeedsMoreData && rest.size() >= kMinBoundaryPrefix &&
                 rest.find('\n') != std::string_view::npos);
      }
    }
    if (match) return i;
    const size_t nl = data.find('\n', i);
    if (nl == std::string_view::npos) break;
    i = nl + 1;
  }
  return std::string_view::npos;
}

}  // namespace fraiseql::protocols::redis
