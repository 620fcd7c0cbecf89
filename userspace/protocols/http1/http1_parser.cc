#include "protocols/http1/http1_parser.h"

#include <array>
#include <charconv>

#include "protocols/common/byte_cursor.h"

namespace fraiseql::protocols::http1 {

namespace {

constexpr std::string_view kVersionPrefix = "HTTP/1.";
constexpr uint64_t kMaxChunkSize = uint64_t{1} << 62;
constexpr size_t kMaxBoundaryTarget = 8192;
constexpr std::array<std::string_view, 9> kKnownMethods = {
    "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "CONNECT", "TRACE"};

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
char ToLower(char c) { return IsUpper(c) ? static_cast<char>(c - 'A' + 'a') : c; }

bool IsTokenChar(char c) {
  if (IsDigit(c) || IsUpper(c) || (c >= 'a' && c <= 'z')) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+':
    case '-': case '.': case '^': case '_': case '`': case '|': case '~':
      return true;
    default:
      return false;
  }
}
bool IsMethodChar(char c) { return IsUpper(c) || IsDigit(c) || c == '-' || c == '_'; }
// Visible ASCII: request targets.
bool IsVisible(char c) { return c > 0x20 && c < 0x7f; }
// Field values and reason phrases: anything but controls (HTAB allowed, obs-text allowed).
bool IsFieldChar(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u == '\t' || (u >= 0x20 && u != 0x7f);
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Scans a request line. complete: `line` is the whole line (CRLF stripped); otherwise it is a
// prefix of one, possibly ending in the CR. Fills *out only when complete.
ParseState ScanRequestLine(std::string_view line, bool complete, RequestHead* out) {
  if (!complete && !line.empty() && line.back() == '\r') {
    // A CR may only follow a complete version.
    line.remove_suffix(1);
    complete = true;
    out = nullptr;
  }
  size_t i = 0;
  while (i < line.size() && IsMethodChar(line[i])) ++i;
  if (i > kMaxMethodSize || (i > 0 && !IsUpper(line[0]))) return ParseState::kInvalid;
  if (i == line.size()) return complete ? ParseState::kInvalid : ParseState::kNeedsMoreData;
  if (line[i] != ' ' || i == 0) return ParseState::kInvalid;
  const size_t target_start = ++i;
  while (i < line.size() && IsVisible(line[i])) ++i;
  if (i == line.size()) return complete ? ParseState::kInvalid : ParseState::kNeedsMoreData;
  if (line[i] != ' ' || i == target_start) return ParseState::kInvalid;
  const size_t target_end = i++;
  std::string_view version = line.substr(i);
  const size_t n = std::min(version.size(), kVersionPrefix.size());
  if (version.substr(0, n) != kVersionPrefix.substr(0, n)) return ParseState::kInvalid;
  if (version.size() > kVersionPrefix.size() && !IsDigit(version[kVersionPrefix.size()])) {
    return ParseState::kInvalid;
  }
  if (version.size() > kVersionPrefix.size() + 1) return ParseState::kInvalid;
  if (version.size() < kVersionPrefix.size() + 1) {
    return complete ? ParseState::kInvalid : ParseState::kNeedsMoreData;
  }
  if (!complete) return ParseState::kNeedsMoreData;
  if (out != nullptr) {
    out->method.assign(line.substr(0, target_start - 1));
    out->target.assign(line.substr(target_start, target_end - target_start));
    out->minor_version = version.back() - '0';
  }
  return ParseState::kSuccess;
}

// Scans a status line, same conventions as ScanRequestLine.
ParseState ScanStatusLine(std::string_view line, bool complete, ResponseHead* out) {
  if (!complete && !line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
    complete = true;
    out = nullptr;
  }
  // "HTTP/1.x DDD" then SP reason or end of line.
  constexpr std::string_view kShape = "HTTP/1.d ddd";
  const size_t n = std::min(line.size(), kShape.size());
  for (size_t i = 0; i < n; ++i) {
    const char want = kShape[i];
    if (want == 'd' ? !IsDigit(line[i]) : line[i] != want) return ParseState::kInvalid;
  }
  if (n >= 10 && (line[9] < '1' || line[9] > '5')) return ParseState::kInvalid;
  if (line.size() < kShape.size()) {
    return complete ? ParseState::kInvalid : ParseState::kNeedsMoreData;
  }
  std::string_view reason = line.substr(kShape.size());
  if (!reason.empty()) {
    if (reason[0] != ' ') return ParseState::kInvalid;
    reason.remove_prefix(1);
    for (char c : reason) {
      if (!IsFieldChar(c)) return ParseState::kInvalid;
    }
  }
  if (!complete) return ParseState::kNeedsMoreData;
  if (out != nullptr) {
    out->minor_version = line[7] - '0';
    out->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
    out->reason.assign(reason);
  }
  return ParseState::kSuccess;
}

// Scans a header line (not the empty line), same conventions. A line starting with SP/HTAB
// (obs-fold) or without a colon is invalid.
ParseState ScanHeaderLine(std::string_view line, bool complete, HeadInfo* out) {
  if (!complete && !line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
    complete = true;
    out = nullptr;
  }
  size_t i = 0;
  while (i < line.size() && IsTokenChar(line[i])) ++i;
  if (i == line.size()) return complete ? ParseState::kInvalid : ParseState::kNeedsMoreData;
  if (line[i] != ':' || i == 0) return ParseState::kInvalid;
  for (size_t j = i + 1; j < line.size(); ++j) {
    if (!IsFieldChar(line[j])) return ParseState::kInvalid;
  }
  if (!complete) return ParseState::kNeedsMoreData;
  if (out != nullptr) {
    out->headers.push_back(Header{std::string(line.substr(0, i)),
                                  std::string(Trim(line.substr(i + 1)))});
  }
  return ParseState::kSuccess;
}

// Calls fn(token) for each comma-separated, trimmed, non-empty token of a list value.
template <typename Fn>
void ForEachToken(std::string_view value, Fn fn) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    std::string_view token = Trim(value.substr(0, comma));
    if (!token.empty()) fn(token);
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
}

// Derives framing and connection flags from the headers; kInvalid on conflicting or
// malformed Content-Length.
ParseState DeriveInfo(HeadInfo* info) {
  info->keep_alive = info->minor_version >= 1;
  for (const Header& h : info->headers) {
    if (EqualsIgnoreCase(h.name, "content-length")) {
      uint64_t v = 0;
      const char* first = h.value.data();
      const char* last = first + h.value.size();
      auto [ptr, ec] = std::from_chars(first, last, v);
      if (h.value.empty() || ec != std::errc() || ptr != last || !IsDigit(h.value[0]) ||
          v > kMaxChunkSize) {
        return ParseState::kInvalid;
      }
      if (info->content_length && *info->content_length != v) return ParseState::kInvalid;
      info->content_length = v;
    } else if (EqualsIgnoreCase(h.name, "transfer-encoding")) {
      info->has_transfer_encoding = true;
      ForEachToken(h.value, [&](std::string_view t) {
        info->chunked = EqualsIgnoreCase(t, "chunked");  // the last coding decides
      });
    } else if (EqualsIgnoreCase(h.name, "connection")) {
      ForEachToken(h.value, [&](std::string_view t) {
        if (EqualsIgnoreCase(t, "close")) info->keep_alive = false;
        if (EqualsIgnoreCase(t, "keep-alive") && info->minor_version == 0) {
          info->keep_alive = true;
        }
      });
    } else if (EqualsIgnoreCase(h.name, "expect")) {
      if (EqualsIgnoreCase(Trim(h.value), "100-continue")) info->expect_continue = true;
    }
  }
  return ParseState::kSuccess;
}

// The shared head loop: start line, header lines, empty line, all within kMaxHeadSize.
template <typename Head, typename ScanStart>
HeadResult ParseHead(std::string_view data, Head* out, ScanStart scan_start) {
  const bool over_cap = data.size() > kMaxHeadSize;
  ByteCursor cursor(over_cap ? data.substr(0, kMaxHeadSize) : data);
  const auto incomplete = [&](ParseState partial) -> HeadResult {
    if (partial == ParseState::kInvalid || over_cap) return {ParseState::kInvalid, 0};
    return {ParseState::kNeedsMoreData, 0};
  };

  Head head;
  std::string_view line;
  if (cursor.ReadLine(&line) != ParseState::kSuccess) {
    return incomplete(scan_start(cursor.rest(), false, nullptr));
  }
  if (scan_start(line, true, &head) != ParseState::kSuccess) return {ParseState::kInvalid, 0};
  for (;;) {
    if (cursor.ReadLine(&line) != ParseState::kSuccess) {
      std::string_view rest = cursor.rest();
      if (rest == "\r") return incomplete(ParseState::kNeedsMoreData);
      return incomplete(ScanHeaderLine(rest, false, nullptr));
    }
    if (line.empty()) break;
    if (ScanHeaderLine(line, true, &head) != ParseState::kSuccess) {
      return {ParseState::kInvalid, 0};
    }
  }
  if (DeriveInfo(&head) != ParseState::kSuccess) return {ParseState::kInvalid, 0};
  *out = std::move(head);
  return {ParseState::kSuccess, cursor.position()};
}

// Whether a complete request line with a known method starts at data[i].
bool RequestLineAt(std::string_view data, size_t i) {
  for (std::string_view m : kKnownMethods) {
    std::string_view s = data.substr(i);
    if (s.size() <= m.size() || s.substr(0, m.size()) != m || s[m.size()] != ' ') continue;
    size_t j = m.size() + 1;
    const size_t limit = std::min(s.size(), j + kMaxBoundaryTarget);
    while (j < limit && IsVisible(s[j])) ++j;
    if (j == m.size() + 1 || j >= s.size() || s[j] != ' ') return false;
    std::string_view v = s.substr(j + 1);
    return v.size() >= kVersionPrefix.size() + 3 && v.substr(0, kVersionPrefix.size()) == kVersionPrefix &&
           IsDigit(v[kVersionPrefix.size()]) && v[kVersionPrefix.size() + 1] == '\r' &&
           v[kVersionPrefix.size() + 2] == '\n';
  }
  return false;
}

bool StatusLineAt(std::string_view data, size_t i) {
  std::string_view s = data.substr(i);
  constexpr std::string_view kShape = "HTTP/1.d ddd";
  if (s.size() <= kShape.size()) return false;
  for (size_t k = 0; k < kShape.size(); ++k) {
    if (kShape[k] == 'd' ? !IsDigit(s[k]) : s[k] != kShape[k]) return false;
  }
  return s[9] >= '1' && s[9] <= '5' && (s[12] == ' ' || s[12] == '\r');
}

bool IsHexDigit(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLower(a[i]) != ToLower(b[i])) return false;
  }
  return true;
}

std::optional<std::string_view> HeadInfo::FindHeader(std::string_view name) const {
  for (const Header& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

HeadResult ParseRequestHead(std::string_view data, RequestHead* out) {
  HeadResult r = ParseHead(data, out, ScanRequestLine);
  // A request whose final coding is not chunked cannot be framed (RFC 9112 6.3).
  if (r.state == ParseState::kSuccess && out->has_transfer_encoding && !out->chunked) {
    *out = RequestHead();
    return {ParseState::kInvalid, 0};
  }
  return r;
}

HeadResult ParseResponseHead(std::string_view data, ResponseHead* out) {
  return ParseHead(data, out, ScanStatusLine);
}

size_t FindFrameBoundary(std::string_view data, MessageType type) {
  if (type == MessageType::kResponse) {
    for (size_t i = data.find(kVersionPrefix); i != std::string_view::npos;
         i = data.find(kVersionPrefix, i + 1)) {
      if (StatusLineAt(data, i)) return i;
    }
    return std::string_view::npos;
  }
  for (size_t i = 0; i < data.size(); ++i) {
    const char c = data[i];
    if ((c == 'G' || c == 'P' || c == 'D' || c == 'H' || c == 'O' || c == 'C' || c == 'T') &&
        RequestLineAt(data, i)) {
      return i;
    }
  }
  return std::string_view::npos;
}

ParseState ParseChunkHeader(std::string_view data, uint64_t* size, size_t* consumed) {
  ByteCursor cursor(data);
  std::string_view line;
  const ParseState s = cursor.ReadLine(&line, kMaxChunkHeaderLine);
  if (s == ParseState::kInvalid) return s;
  const bool complete = s == ParseState::kSuccess;
  if (!complete) {
    line = data;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  }
  size_t i = 0;
  uint64_t v = 0;
  while (i < line.size() && IsHexDigit(line[i])) {
    const char c = line[i];
    const uint64_t d = IsDigit(c) ? c - '0' : ToLower(c) - 'a' + 10;
    if (v > (kMaxChunkSize >> 4)) return ParseState::kInvalid;
    v = (v << 4) | d;
    if (v > kMaxChunkSize) return ParseState::kInvalid;
    ++i;
  }
  if (i == line.size()) {
    if (!complete) return ParseState::kNeedsMoreData;
    if (i == 0) return ParseState::kInvalid;
  } else {
    // After the size: optional whitespace, then ";ext" (no controls but HTAB).
    if (i == 0) return ParseState::kInvalid;
    size_t j = i;
    while (j < line.size() && (line[j] == ' ' || line[j] == '\t')) ++j;
    if (j < line.size() && line[j] != ';') return ParseState::kInvalid;
    for (; j < line.size(); ++j) {
      if (!IsFieldChar(line[j])) return ParseState::kInvalid;
    }
    if (!complete) return ParseState::kNeedsMoreData;
  }
  *size = v;
  *consumed = cursor.position();
  return ParseState::kSuccess;
}

ParseState ParseTrailers(std::string_view data, size_t* consumed) {
  const bool over_cap = data.size() > kMaxHeadSize;
  ByteCursor cursor(over_cap ? data.substr(0, kMaxHeadSize) : data);
  std::string_view line;
  for (;;) {
    if (cursor.ReadLine(&line) != ParseState::kSuccess) {
      std::string_view rest = cursor.rest();
      ParseState partial = rest == "\r" ? ParseState::kNeedsMoreData
                                        : ScanHeaderLine(rest, false, nullptr);
      if (partial == ParseState::kInvalid || over_cap) return ParseState::kInvalid;
      return ParseState::kNeedsMoreData;
    }
    if (line.empty()) break;
    if (ScanHeaderLine(line, true, nullptr) != ParseState::kSuccess) return ParseState::kInvalid;
  }
  *consumed = cursor.position();
  return ParseState::kSuccess;
}

}  // namespace fraiseql::protocols::http1
