// RESP type lines: ParseToken and the strict number/line checks behind it (see resp_parser.h).
#include <charconv>

#include "protocols/common/byte_cursor.h"
#include "protocols/redis/resp_internal.h"
#include "protocols/redis/resp_parser.h"

namespace fraiseql::protocols::redis {
namespace internal {

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

}  // namespace internal

namespace {

using internal::IsDigit;
using internal::ParseDecimal;

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

bool IsBulkHeaderByte(char b) { return b == '$' || b == '!' || b == '=' || b == ';'; }
bool IsAggregateByte(char b) { return b == '*' || b == '%' || b == '~' || b == '|' || b == '>'; }

// + - : ( , # _ . : the line is the whole value.
ParseState ParseScalarLine(char b, std::string_view line, Token* t) {
  int64_t n = 0;
  switch (b) {
    case '+':
    case '-':
      t->kind = TokenKind::kScalar;
      break;
    case ':':
      if (!ParseDecimal(line, true, &n)) return ParseState::kInvalid;
      t->integer = n;
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
      t->integer = line == "t" ? 1 : 0;
      break;
    case '_':
      if (!line.empty()) return ParseState::kInvalid;
      t->null = true;
      break;
    case '.':
      if (!line.empty()) return ParseState::kInvalid;
      t->kind = TokenKind::kStreamEnd;
      break;
    default:
      return ParseState::kInvalid;
  }
  return ParseState::kSuccess;
}

// $ ! = ; : a payload length ($-1 null, $? streamed string).
ParseState ParseBulkHeaderLine(char b, std::string_view line, Token* t) {
  if (b == '$' && line == "-1") {
    t->null = true;
    return ParseState::kSuccess;
  }
  if (b == '$' && line == "?") {
    t->kind = TokenKind::kStreamedString;
    return ParseState::kSuccess;
  }
  int64_t n = 0;
  if (!ParseDecimal(line, false, &n) || static_cast<uint64_t>(n) > kMaxBulkLength) {
    return ParseState::kInvalid;
  }
  if (b == '=' && n < 4) return ParseState::kInvalid;  // "txt:" at least
  t->kind = b == ';' ? TokenKind::kStreamedChunk : TokenKind::kBulkHeader;
  t->length = static_cast<uint64_t>(n);
  return ParseState::kSuccess;
}

// * % ~ | > : an element count (*-1 null, *? %? ~? streamed aggregate).
ParseState ParseAggregateHeaderLine(char b, std::string_view line, Token* t) {
  if (b == '*' && line == "-1") {
    t->null = true;
    return ParseState::kSuccess;
  }
  if (line == "?" && (b == '*' || b == '%' || b == '~')) {
    t->kind = TokenKind::kStreamedAggregate;
    return ParseState::kSuccess;
  }
  int64_t n = 0;
  if (!ParseDecimal(line, false, &n) || static_cast<uint64_t>(n) > kMaxAggregateElements) {
    return ParseState::kInvalid;
  }
  t->kind = TokenKind::kAggregateHeader;
  t->length = static_cast<uint64_t>(n);
  return ParseState::kSuccess;
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

ParseState ParseToken(std::string_view data, Token* out, size_t* consumed) {
  if (data.empty()) return ParseState::kNeedsMoreData;
  const char b = data[0];
  Token t;
  if (!internal::TypeFromByte(b, &t.type)) return ParseState::kInvalid;
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
  s = IsBulkHeaderByte(b)  ? ParseBulkHeaderLine(b, line, &t)
      : IsAggregateByte(b) ? ParseAggregateHeaderLine(b, line, &t)
                           : ParseScalarLine(b, line, &t);
  if (s != ParseState::kSuccess) return s;
  *out = t;
  *consumed = 1 + cur.position();
  return ParseState::kSuccess;
}

}  // namespace fraiseql::protocols::redis
