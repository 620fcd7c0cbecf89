// Whole RESP frames over one view: ParseReply, ParseCommand (RESP arrays and inline commands)
// and FindFrameBoundary (see resp_parser.h; tokens in resp_tokens.cc, frames in resp_values.cc).
#include "protocols/redis/resp_parser.h"

#include <algorithm>
#include <utility>

#include "protocols/redis/resp_internal.h"

namespace fraiseql::protocols::redis {
namespace {

using internal::IsAlpha;
using internal::ParseDecimal;
using internal::PlausibleCommandName;
using internal::TypeFromByte;

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
