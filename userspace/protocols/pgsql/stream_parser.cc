#include "protocols/pgsql/stream_parser.h"

#include <algorithm>
#include <utility>

#include "conn/resync.h"

namespace fraiseql::protocols::pgsql {

uint64_t Frame::wire_size() const {
  return untyped == Untyped::kEncryptionAnswer ? 1
         : untyped != Untyped::kNone           ? length
                                               : uint64_t{length} + 1;
}

std::string Frame::ToString() const {
  std::string s = "Frame{";
  if (untyped != Untyped::kNone) {
    s += pgsql::ToString(untyped);
    if (untyped == Untyped::kEncryptionAnswer) s += std::string(" '") + type + "'";
  } else {
    s += std::string("'") + type + "'";
  }
  s += " len=" + std::to_string(length) + " pos=" + std::to_string(start_pos) +
       " kept=" + std::to_string(body.size());
  if (body_truncated) s += " truncated";
  s += " ts=" + std::to_string(start_ts) + ".." + std::to_string(end_ts) + "}";
  return s;
}

PgStreamParser::PgStreamParser(Direction dir, size_t keep_limit)
    : dir_(dir), keep_limit_(keep_limit) {}

void PgStreamParser::ExpectEncryptionAnswer() {
  if (dir_ == Direction::kBackend && state_ != State::kEncrypted && state_ != State::kBody) {
    state_ = State::kAwaitAnswer;
  }
}

void PgStreamParser::SetEncrypted() { state_ = State::kEncrypted; }

void PgStreamParser::StartResync(size_t from) {
  state_ = State::kResync;
  resync_from_ = from;
}

size_t PgStreamParser::KeepLimit(char type) const {
  if (dir_ == Direction::kFrontend) {
    switch (type) {
      case 'Q': case 'P': case 'B': case 'E': case 'C': case 'D':
        return keep_limit_;
      default:
        return 0;  // never 'p' (password / SASL), 'd' (copy data), 'F'
    }
  }
  switch (type) {
    case 'C': case 'E': case 'Z':
      return keep_limit_;
    case 'R':
      return 4;  // the auth code only; never SASL/MD5 salt data
    default:
      return 0;
  }
}

ParseState PgStreamParser::Next(conn::StreamBuffer& buf, Frame* out) {
  if (have_expected_head_ && buf.head() > expected_head_ && state_ != State::kEncrypted &&
      state_ != State::kResync) {
    // The buffer evicted bytes we had not read yet (memory cap).
    if (state_ == State::kBody) {
      cur_.body_truncated = true;
      cur_keep_ = 0;
    } else if (state_ == State::kHeader || state_ == State::kUntyped ||
               state_ == State::kAfterEncRequest) {
      ++parse_errors_;
      StartResync(0);
    }
  }
  ParseState s = NextImpl(buf, out);
  expected_head_ = buf.head();
  have_expected_head_ = true;
  return s;
}

ParseState PgStreamParser::EmitAnswer(conn::StreamBuffer& buf, Frame* out, char answer) {
  Frame f;
  f.type = answer;
  f.untyped = Untyped::kEncryptionAnswer;
  f.length = 1;
  f.start_pos = buf.head();
  f.start_ts = f.end_ts = buf.TimestampAt(buf.head());
  buf.Consume(1);
  *out = std::move(f);
  state_ = answer == 'N' ? State::kHeader : State::kEncrypted;
  return ParseState::kSuccess;
}

ParseState PgStreamParser::NextImpl(conn::StreamBuffer& buf, Frame* out) {
  for (;;) {
    switch (state_) {
      case State::kEncrypted:
        buf.Consume(buf.end() - buf.head());
        return ParseState::kNeedsMoreData;

      case State::kStart: {
        if (buf.head() >= buf.end()) return ParseState::kNeedsMoreData;
        if (buf.HeadInHole()) {
          state_ = State::kHeader;  // mid-stream: the header parser resyncs
          continue;
        }
        std::string_view data = buf.Contiguous();
        if (dir_ == Direction::kFrontend) {
          state_ = data[0] == '\0' ? State::kUntyped : State::kHeader;
          continue;
        }
        const char c = data[0];
        if (c == 'S' || c == 'G' || c == 'N') {
          char t = 0;
          uint32_t len = 0;
          ParseState h = ParseHeader(data, dir_, &t, &len);
          if (h == ParseState::kNeedsMoreData && buf.head() + data.size() >= buf.end()) {
            return h;  // wait: one byte alone is ambiguous
          }
          if (h != ParseState::kSuccess) return EmitAnswer(buf, out, c);
        }
        state_ = State::kHeader;
        continue;
      }

      case State::kAwaitAnswer: {
        if (buf.head() >= buf.end()) return ParseState::kNeedsMoreData;
        std::string_view data = buf.Contiguous();
        if (!data.empty() && (data[0] == 'S' || data[0] == 'G' || data[0] == 'N')) {
          return EmitAnswer(buf, out, data[0]);
        }
        state_ = State::kHeader;  // e.g. an ErrorResponse from a server that refuses
        continue;
      }

      case State::kUntyped:
      case State::kAfterEncRequest: {
        ParseState s = ParseUntyped(buf);
        if (s == ParseState::kInvalid) continue;
        return s;
      }

      case State::kHeader: {
        ParseState s = ParseTypedHeader(buf);
        if (s == ParseState::kInvalid) continue;
        return s;
      }

      case State::kBody:
        if (!ConsumeBody(buf)) return ParseState::kNeedsMoreData;
        if (!Emit(buf, out)) continue;  // now resyncing
        return ParseState::kSuccess;

      case State::kResync:
        switch (conn::ResyncStep(
            buf, &resync_from_, kResyncKeep,
            // A candidate is validated by the messages after it: re-scan as bytes arrive.
            /*rescan=*/true, [this](std::string_view d) {
          return FindFrameBoundary(d, dir_);
        })) {
          case conn::ResyncResult::kAtFrame:
            state_ = State::kHeader;
            continue;
          case conn::ResyncResult::kAgain:
            continue;
          case conn::ResyncResult::kNeedsMoreData:
            return ParseState::kNeedsMoreData;
        }
        return ParseState::kNeedsMoreData;
    }
  }
}

ParseState PgStreamParser::ParseUntyped(conn::StreamBuffer& buf) {
  if (buf.head() >= buf.end()) return ParseState::kNeedsMoreData;
  const bool after_request = state_ == State::kAfterEncRequest;
  if (buf.HeadInHole()) {
    ++parse_errors_;
    StartResync(0);
    return ParseState::kInvalid;
  }
  std::string_view data = buf.Contiguous();
  Untyped kind = Untyped::kNone;
  uint32_t len = 0;
  uint32_t code = 0;
  ParseState s = ParseUntypedHeader(data, &kind, &len, &code);
  if (s == ParseState::kNeedsMoreData && buf.head() + data.size() < buf.end()) {
    s = ParseState::kInvalid;  // runs into a hole
  }
  if (s == ParseState::kNeedsMoreData) return s;
  if (s == ParseState::kInvalid) {
    if (after_request) {
      // Not a new startup packet after SSLRequest/GSSENCRequest: the session is encrypted.
      state_ = State::kEncrypted;
      return ParseState::kInvalid;
    }
    ++parse_errors_;
    StartResync(0);
    return ParseState::kInvalid;
  }
  cur_ = Frame();
  cur_.untyped = kind;
  cur_.code = code;
  cur_.length = len;
  cur_.start_pos = buf.head();
  cur_.start_ts = buf.TimestampAt(buf.head());
  cur_keep_ = kind == Untyped::kStartup ? len - 8 : 0;
  buf.Consume(8);
  body_end_ = cur_.start_pos + len;
  state_ = State::kBody;
  return ParseState::kInvalid;  // continue in kBody
}

ParseState PgStreamParser::ParseTypedHeader(conn::StreamBuffer& buf) {
  if (buf.head() >= buf.end()) return ParseState::kNeedsMoreData;
  if (buf.HeadInHole()) {
    ++parse_errors_;
    StartResync(0);
    return ParseState::kInvalid;
  }
  std::string_view data = buf.Contiguous();
  char type = 0;
  uint32_t len = 0;
  ParseState s = ParseHeader(data, dir_, &type, &len);
  if (s == ParseState::kNeedsMoreData && buf.head() + data.size() < buf.end()) {
    s = ParseState::kInvalid;  // the header runs into a hole
  }
  if (s == ParseState::kNeedsMoreData) return s;
  if (s == ParseState::kInvalid) {
    ++parse_errors_;
    StartResync(1);
    return ParseState::kInvalid;
  }
  cur_ = Frame();
  cur_.type = type;
  cur_.length = len;
  cur_.start_pos = buf.head();
  cur_.start_ts = buf.TimestampAt(buf.head());
  cur_keep_ = KeepLimit(type);
  buf.Consume(kHeaderSize);
  body_end_ = cur_.start_pos + 1 + len;
  state_ = State::kBody;
  return ParseState::kInvalid;  // continue in kBody
}

bool PgStreamParser::ConsumeBody(conn::StreamBuffer& buf) {
  while (buf.head() < body_end_) {
    if (buf.head() >= buf.end()) return false;
    std::string_view data = buf.Contiguous();
    if (!data.empty()) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), body_end_ - buf.head()));
      const size_t room = cur_keep_ - std::min(cur_keep_, cur_.body.size());
      if (n > room) cur_.body_truncated = true;
      cur_.body.append(data.substr(0, std::min(n, room)));
      buf.Consume(n);
    } else {
      const uint64_t n = std::min(buf.NextKnown(), body_end_) - buf.head();
      cur_.body_truncated = true;
      cur_keep_ = 0;  // the kept prefix stops at the first hole
      buf.Consume(n);
    }
  }
  return true;
}

bool PgStreamParser::Emit(conn::StreamBuffer& buf, Frame* out) {
  cur_.end_ts = buf.TimestampAt(buf.head() > 0 ? buf.head() - 1 : 0);
  bool ok = true;
  const bool kept_whole = !cur_.body_truncated;
  if (cur_.untyped != Untyped::kNone) {
    if (cur_.untyped == Untyped::kStartup && kept_whole) {
      StartupInfo info;
      ok = DecodeStartup(cur_.body, &info) == ParseState::kSuccess;
    }
  } else if (cur_.type == 'B' && dir_ == Direction::kFrontend) {
    // Keep the Bind header only: parameter values never leave this function.
    BindInfo b;
    size_t header = 0;
    if (DecodeBind(cur_.body, &b, &header) == ParseState::kSuccess) {
      cur_.body.resize(header);
    } else {
      ok = !kept_whole;  // a whole Bind must decode; a cut one just loses its header
      cur_.body.clear();
    }
    if (ok && !cur_.body.empty()) cur_.body_truncated = false;  // the header is the whole point
    cur_.body.shrink_to_fit();
  } else if (kept_whole && cur_keep_ > 0) {
    ok = ValidateBody(cur_.type, dir_, cur_.body);
  }
  if (!ok) {
    // Framing looked right but the body is not PostgreSQL: count and resync from just after
    // the header start (the body may hide the real next message).
    ++parse_errors_;
    cur_ = Frame();
    StartResync(0);
    return false;
  }
  state_ = cur_.untyped == Untyped::kSslRequest || cur_.untyped == Untyped::kGssEncRequest
               ? State::kAfterEncRequest
               : State::kHeader;
  *out = std::move(cur_);
  cur_ = Frame();
  return true;
}

}  // namespace fraiseql::protocols::pgsql
