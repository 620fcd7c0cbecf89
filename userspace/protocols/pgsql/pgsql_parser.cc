#include "protocols/pgsql/pgsql_parser.h"

#include "protocols/common/byte_cursor.h"

namespace fraiseql::protocols::pgsql {
namespace {

constexpr uint32_t kMaxName = 64 * 1024;  // generous cap on names inside small bodies

bool IsSmallType(char type, Direction dir) {
  if (dir == Direction::kFrontend) {
    switch (type) {
      case 'C': case 'D': case 'E': case 'f': case 'p':
        return true;
      default:
        return false;
    }
  }
  switch (type) {
    case 'R': case 'C': case 'E': case 'N': case 'A': case 'S': case 'G': case 'H': case 'W':
    case 't': case 'v':
      return true;
    default:
      return false;
  }
}

uint32_t ReadBe32At(std::string_view d, size_t at) {
  return (uint32_t{static_cast<uint8_t>(d[at])} << 24) |
         (uint32_t{static_cast<uint8_t>(d[at + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(d[at + 2])} << 8) | uint32_t{static_cast<uint8_t>(d[at + 3])};
}

// A body that is exactly one NUL-terminated string.
bool SingleCString(std::string_view body, std::string_view* out) {
  if (body.empty() || body.back() != '\0') return false;
  std::string_view s = body.substr(0, body.size() - 1);
  if (s.find('\0') != std::string_view::npos) return false;
  *out = s;
  return true;
}

bool ValidateFields(std::string_view body) {  // ErrorResponse / NoticeResponse
  ByteCursor c(body);
  for (;;) {
    uint8_t code = 0;
    if (c.ReadU8(&code) != ParseState::kSuccess) return false;
    if (code == 0) return c.empty();
    std::string_view v;
    if (c.ReadCString(&v) != ParseState::kSuccess) return false;
  }
}

bool ValidateCounted16(std::string_view body, size_t item_size, size_t prefix) {
  ByteCursor c(body);
  uint16_t n = 0;
  if (c.Skip(prefix) != ParseState::kSuccess || c.ReadBe16(&n) != ParseState::kSuccess) {
    return false;
  }
  return c.remaining() == size_t{n} * item_size;
}

bool ValidateDataRow(std::string_view body) {
  ByteCursor c(body);
  uint16_t n = 0;
  if (c.ReadBe16(&n) != ParseState::kSuccess) return false;
  for (uint16_t i = 0; i < n; ++i) {
    uint32_t len = 0;
    if (c.ReadBe32(&len) != ParseState::kSuccess) return false;
    if (len == 0xffffffffu) continue;  // NULL
    if (c.Skip(len) != ParseState::kSuccess) return false;
  }
  return c.empty();
}

bool ValidateRowDescription(std::string_view body) {
  ByteCursor c(body);
  uint16_t n = 0;
  if (c.ReadBe16(&n) != ParseState::kSuccess) return false;
  for (uint16_t i = 0; i < n; ++i) {
    std::string_view name;
    if (c.ReadCString(&name) != ParseState::kSuccess) return false;
    if (c.Skip(18) != ParseState::kSuccess) return false;
  }
  return c.empty();
}

bool ValidateBindFull(std::string_view body) {
  BindInfo b;
  size_t header = 0;
  if (DecodeBind(body, &b, &header) != ParseState::kSuccess) return false;
  ByteCursor c(body.substr(header));
  for (uint16_t i = 0; i < b.params; ++i) {
    uint32_t len = 0;
    if (c.ReadBe32(&len) != ParseState::kSuccess) return false;
    if (len == 0xffffffffu) continue;
    if (c.Skip(len) != ParseState::kSuccess) return false;
  }
  uint16_t nres = 0;
  if (c.ReadBe16(&nres) != ParseState::kSuccess) return false;
  return c.remaining() == size_t{nres} * 2;
}

}  // namespace

const char* ToString(Untyped u) {
  switch (u) {
    case Untyped::kNone: return "typed";
    case Untyped::kStartup: return "StartupMessage";
    case Untyped::kSslRequest: return "SSLRequest";
    case Untyped::kGssEncRequest: return "GSSENCRequest";
    case Untyped::kCancelRequest: return "CancelRequest";
    case Untyped::kEncryptionAnswer: return "EncryptionAnswer";
  }
  return "?";
}

bool IsKnownType(char type, Direction dir) {
  if (dir == Direction::kFrontend) {
    switch (type) {
      case 'B': case 'C': case 'd': case 'c': case 'f': case 'D': case 'E': case 'H': case 'F':
      case 'p': case 'P': case 'Q': case 'S': case 'X':
        return true;
      default:
        return false;
    }
  }
  switch (type) {
    case 'R': case 'K': case '1': case '2': case '3': case 'C': case 'd': case 'c': case 'G':
    case 'H': case 'W': case 'D': case 'I': case 'E': case 'V': case 'n': case 'N': case 'A':
    case 't': case 'S': case 's': case 'T': case 'Z': case 'v':
      return true;
    default:
      return false;
  }
}

uint32_t FixedLength(char type, Direction dir) {
  if (dir == Direction::kFrontend) {
    switch (type) {
      case 'c': case 'H': case 'S': case 'X':
        return 4;
      default:
        return 0;
    }
  }
  switch (type) {
    case '1': case '2': case '3': case 'c': case 'I': case 'n': case 's':
      return 4;
    case 'Z':
      return 5;
    case 'K':
      return 12;
    default:
      return 0;
  }
}

ParseState ParseHeader(std::string_view data, Direction dir, char* type, uint32_t* length) {
  if (data.empty()) return ParseState::kNeedsMoreData;
  const char t = data[0];
  if (!IsKnownType(t, dir)) return ParseState::kInvalid;
  // Check the length bytes we have: a huge declared length fails before all 4 bytes arrive.
  const size_t have = std::min<size_t>(data.size() - 1, 4);
  uint64_t prefix = 0;
  for (size_t i = 0; i < have; ++i) prefix = (prefix << 8) | static_cast<uint8_t>(data[1 + i]);
  const uint64_t min_len = prefix << (8 * (4 - have));  // the smallest length this prefix allows
  const uint32_t fixed = FixedLength(t, dir);
  const uint64_t cap = fixed != 0 ? fixed
                       : IsSmallType(t, dir) ? kMaxSmallMessageLength
                                             : kMaxMessageLength;
  if (min_len > cap) return ParseState::kInvalid;
  if (have < 4) return ParseState::kNeedsMoreData;
  const uint32_t len = static_cast<uint32_t>(prefix);
  if (len < 4 || (fixed != 0 && len != fixed)) return ParseState::kInvalid;
  *type = t;
  *length = len;
  return ParseState::kSuccess;
}

ParseState ParseUntypedHeader(std::string_view data, Untyped* kind, uint32_t* length,
                              uint32_t* code) {
  // Check bytes as they come: the length's high bytes must be 0 (<= kMaxStartupLength).
  for (size_t i = 0; i < std::min<size_t>(data.size(), 2); ++i) {
    if (data[i] != 0) return ParseState::kInvalid;
  }
  if (data.size() < 8) {
    if (data.size() >= 4) {
      const uint32_t len = ReadBe32At(data, 0);
      if (len < 8 || len > kMaxStartupLength) return ParseState::kInvalid;
    }
    return ParseState::kNeedsMoreData;
  }
  const uint32_t len = ReadBe32At(data, 0);
  const uint32_t c = ReadBe32At(data, 4);
  if (len < 8 || len > kMaxStartupLength) return ParseState::kInvalid;
  Untyped k = Untyped::kNone;
  if (c >> 16 == 3) {
    k = Untyped::kStartup;
    if (len < 9) return ParseState::kInvalid;  // at least the terminating NUL
  } else if (c == kSslRequestCode) {
    k = Untyped::kSslRequest;
  } else if (c == kGssEncRequestCode) {
    k = Untyped::kGssEncRequest;
  } else if (c == kCancelRequestCode) {
    k = Untyped::kCancelRequest;
  } else {
    return ParseState::kInvalid;
  }
  if ((k == Untyped::kSslRequest || k == Untyped::kGssEncRequest) && len != 8) {
    return ParseState::kInvalid;
  }
  if (k == Untyped::kCancelRequest && len != 16) return ParseState::kInvalid;
  *kind = k;
  *length = len;
  *code = c;
  return ParseState::kSuccess;
}

FrameResult ParseMessage(std::string_view data, Direction dir, Message* out) {
  char type = 0;
  uint32_t len = 0;
  ParseState s = ParseHeader(data, dir, &type, &len);
  if (s != ParseState::kSuccess) return {s, 0};
  const size_t total = size_t{len} + 1;
  if (data.size() < total) return {ParseState::kNeedsMoreData, 0};
  std::string_view body = data.substr(kHeaderSize, len - 4);
  if (!ValidateBody(type, dir, body)) return {ParseState::kInvalid, 0};
  out->type = type;
  out->untyped = Untyped::kNone;
  out->code = 0;
  out->body = body;
  out->wire_size = total;
  return {ParseState::kSuccess, total};
}

FrameResult ParseUntypedMessage(std::string_view data, Message* out) {
  Untyped kind = Untyped::kNone;
  uint32_t len = 0;
  uint32_t code = 0;
  ParseState s = ParseUntypedHeader(data, &kind, &len, &code);
  if (s != ParseState::kSuccess) return {s, 0};
  if (data.size() < len) return {ParseState::kNeedsMoreData, 0};
  std::string_view body = data.substr(8, len - 8);
  if (kind == Untyped::kStartup) {
    StartupInfo info;
    if (DecodeStartup(body, &info) != ParseState::kSuccess) return {ParseState::kInvalid, 0};
  }
  out->type = 0;
  out->untyped = kind;
  out->code = code;
  out->body = body;
  out->wire_size = len;
  return {ParseState::kSuccess, len};
}

bool ValidateBody(char type, Direction dir, std::string_view body) {
  const uint32_t fixed = FixedLength(type, dir);
  if (fixed != 0) {
    if (body.size() != fixed - 4) return false;
    if (dir == Direction::kBackend && type == 'Z') {
      char st = 0;
      return DecodeReadyForQuery(body, &st) == ParseState::kSuccess;
    }
    return true;
  }
  std::string_view s;
  if (dir == Direction::kFrontend) {
    switch (type) {
      case 'Q':
      case 'f':
        return SingleCString(body, &s);
      case 'P': {
        ParseInfo p;
        return DecodeParse(body, &p) == ParseState::kSuccess;
      }
      case 'B':
        return ValidateBindFull(body);
      case 'E': {
        ExecuteInfo e;
        return DecodeExecute(body, &e) == ParseState::kSuccess;
      }
      case 'C':
      case 'D': {
        TargetInfo t;
        return DecodeCloseOrDescribe(body, &t) == ParseState::kSuccess;
      }
      default:
        return true;  // d, F, p
    }
  }
  switch (type) {
    case 'C': {
      CommandTag t;
      return DecodeCommandComplete(body, &t) == ParseState::kSuccess;
    }
    case 'E':
    case 'N':
      return ValidateFields(body);
    case 'R': {
      uint32_t code = 0;
      return DecodeAuthentication(body, &code) == ParseState::kSuccess;
    }
    case 'S': {
      ByteCursor c(body);
      std::string_view a, b;
      return c.ReadCString(&a) == ParseState::kSuccess &&
             c.ReadCString(&b) == ParseState::kSuccess && c.empty();
    }
    case 'A': {
      ByteCursor c(body);
      uint32_t pid = 0;
      std::string_view a, b;
      return c.ReadBe32(&pid) == ParseState::kSuccess &&
             c.ReadCString(&a) == ParseState::kSuccess &&
             c.ReadCString(&b) == ParseState::kSuccess && c.empty();
    }
    case 'D':
      return ValidateDataRow(body);
    case 'T':
      return ValidateRowDescription(body);
    case 'G':
    case 'H':
    case 'W':
      return ValidateCounted16(body, 2, 1);
    case 't':
      return ValidateCounted16(body, 4, 0);
    default:
      return true;  // d, V, v
  }
}

size_t FindFrameBoundary(std::string_view data, Direction dir) {
  for (size_t i = 0; i + kHeaderSize <= data.size(); ++i) {
    char type = 0;
    uint32_t len = 0;
    if (ParseHeader(data.substr(i), dir, &type, &len) != ParseState::kSuccess) continue;
    const size_t end = i + 1 + size_t{len};
    if (end > data.size()) continue;
    if (!ValidateBody(type, dir, data.substr(i + kHeaderSize, len - 4))) continue;
    if ((dir == Direction::kBackend && type == 'Z') ||
        (dir == Direction::kFrontend && type == 'S')) {
      return i;
    }
    if (end == data.size()) return i;
    char t2 = 0;
    uint32_t l2 = 0;
    if (ParseHeader(data.substr(end), dir, &t2, &l2) == ParseState::kSuccess ||
        (data.size() - end < kHeaderSize &&
         ParseHeader(data.substr(end), dir, &t2, &l2) == ParseState::kNeedsMoreData)) {
      return i;
    }
  }
  return std::string_view::npos;
}

ParseState DecodeStartup(std::string_view body, StartupInfo* out) {
  // body: pairs of C strings, then a terminating NUL.
  ByteCursor c(body);
  StartupInfo info;
  for (;;) {
    std::string_view key;
    if (c.ReadCString(&key, kMaxName) != ParseState::kSuccess) return ParseState::kInvalid;
    if (key.empty()) break;
    std::string_view value;
    if (c.ReadCString(&value, kMaxName) != ParseState::kSuccess) return ParseState::kInvalid;
    if (key == "user") {
      info.user = value;
    } else if (key == "database") {
      info.database = value;
    } else if (key == "application_name") {
      info.application_name = value;
    }
  }
  if (!c.empty()) return ParseState::kInvalid;
  info.protocol = out->protocol;
  *out = std::move(info);
  return ParseState::kSuccess;
}

ParseState DecodeQuery(std::string_view body, std::string_view* sql) {
  return SingleCString(body, sql) ? ParseState::kSuccess : ParseState::kInvalid;
}

ParseState DecodeParse(std::string_view body, ParseInfo* out) {
  ByteCursor c(body);
  ParseInfo p;
  if (c.ReadCString(&p.statement, kMaxName) != ParseState::kSuccess ||
      c.ReadCString(&p.query) != ParseState::kSuccess ||
      c.ReadBe16(&p.param_types) != ParseState::kSuccess ||
      c.remaining() != size_t{p.param_types} * 4) {
    return ParseState::kInvalid;
  }
  *out = p;
  return ParseState::kSuccess;
}

ParseState DecodeBind(std::string_view body, BindInfo* out, size_t* header_size) {
  ByteCursor c(body);
  BindInfo b;
  if (c.ReadCString(&b.portal, kMaxName) != ParseState::kSuccess ||
      c.ReadCString(&b.statement, kMaxName) != ParseState::kSuccess ||
      c.ReadBe16(&b.param_formats) != ParseState::kSuccess ||
      c.Skip(size_t{b.param_formats} * 2) != ParseState::kSuccess ||
      c.ReadBe16(&b.params) != ParseState::kSuccess) {
    return ParseState::kInvalid;
  }
  if (b.param_formats > 1 && b.param_formats != b.params) return ParseState::kInvalid;
  *out = b;
  if (header_size != nullptr) *header_size = c.position();
  return ParseState::kSuccess;
}

ParseState DecodeExecute(std::string_view body, ExecuteInfo* out) {
  ByteCursor c(body);
  ExecuteInfo e;
  if (c.ReadCString(&e.portal, kMaxName) != ParseState::kSuccess ||
      c.ReadBe32(&e.max_rows) != ParseState::kSuccess || !c.empty()) {
    return ParseState::kInvalid;
  }
  *out = e;
  return ParseState::kSuccess;
}

ParseState DecodeCloseOrDescribe(std::string_view body, TargetInfo* out) {
  if (body.empty() || (body[0] != 'S' && body[0] != 'P')) return ParseState::kInvalid;
  std::string_view name;
  if (!SingleCString(body.substr(1), &name)) return ParseState::kInvalid;
  out->kind = body[0];
  out->name = name;
  return ParseState::kSuccess;
}

CommandTag ParseCommandTag(std::string_view tag) {
  CommandTag t;
  t.tag = tag;
  // Strip trailing numeric words.
  std::string_view cmd = tag;
  std::string_view last_number;
  for (;;) {
    const size_t sp = cmd.rfind(' ');
    if (sp == std::string_view::npos) break;
    std::string_view word = cmd.substr(sp + 1);
    if (word.empty() || word.find_first_not_of("0123456789") != std::string_view::npos) break;
    if (last_number.empty()) last_number = word;
    cmd = cmd.substr(0, sp);
  }
  t.command = cmd;
  static constexpr std::string_view kCounted[] = {"INSERT", "SELECT", "UPDATE", "DELETE",
                                                   "MERGE",  "FETCH",  "MOVE",   "COPY"};
  for (std::string_view k : kCounted) {
    if (cmd == k && !last_number.empty() && last_number.size() <= 19) {
      uint64_t v = 0;
      for (char ch : last_number) v = v * 10 + static_cast<uint64_t>(ch - '0');
      t.rows = v;
      t.has_rows = true;
    }
  }
  return t;
}

ParseState DecodeCommandComplete(std::string_view body, CommandTag* out) {
  std::string_view tag;
  if (!SingleCString(body, &tag)) return ParseState::kInvalid;
  *out = ParseCommandTag(tag);
  return ParseState::kSuccess;
}

ParseState DecodeErrorResponse(std::string_view body, ErrorInfo* out) {
  ByteCursor c(body);
  ErrorInfo e;
  std::string_view localized;
  for (;;) {
    uint8_t code = 0;
    if (c.ReadU8(&code) != ParseState::kSuccess) return ParseState::kInvalid;
    if (code == 0) break;
    std::string_view v;
    if (c.ReadCString(&v) != ParseState::kSuccess) return ParseState::kInvalid;
    switch (code) {
      case 'V': e.severity = v; break;
      case 'S': localized = v; break;
      case 'C': e.sqlstate = v; break;
      case 'M': e.message = v; break;
      default: break;
    }
  }
  if (!c.empty()) return ParseState::kInvalid;
  if (e.severity.empty()) e.severity = localized;
  *out = e;
  return ParseState::kSuccess;
}

ParseState DecodeReadyForQuery(std::string_view body, char* status) {
  if (body.size() != 1 || (body[0] != 'I' && body[0] != 'T' && body[0] != 'E')) {
    return ParseState::kInvalid;
  }
  *status = body[0];
  return ParseState::kSuccess;
}

ParseState DecodeAuthentication(std::string_view body, uint32_t* code) {
  ByteCursor c(body);
  uint32_t v = 0;
  if (c.ReadBe32(&v) != ParseState::kSuccess || v > 12) return ParseState::kInvalid;
  *code = v;
  return ParseState::kSuccess;
}

}  // namespace fraiseql::protocols::pgsql
