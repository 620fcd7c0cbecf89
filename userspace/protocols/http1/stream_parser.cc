#include "protocols/http1/stream_parser.h"

#include <algorithm>
#include <utility>

#include "conn/resync.h"

namespace fraiseql::protocols::http1 {

std::string Message::ToString() const {
  std::string s = type == MessageType::kRequest
                      ? "Request{" + request.method + " " + request.target
                      : "Response{" + std::to_string(response.status);
  s += " pos=" + std::to_string(start_pos) + " head=" + std::to_string(head_size) +
       " wire=" + std::to_string(wire_size) + " body=" + std::to_string(body_size) +
       " captured=" + std::to_string(body.size());
  if (body_truncated) s += " truncated(missing=" + std::to_string(body_missing_bytes) + ")";
  if (ended_by_close) s += " ended_by_close";
  s += " ts=" + std::to_string(start_ts) + ".." + std::to_string(end_ts) + "}";
  return s;
}

Http1StreamParser::Http1StreamParser(MessageType type, size_t body_limit)
    : type_(type), body_limit_(body_limit) {}

bool Http1StreamParser::in_message() const {
  return state_ != State::kHead && state_ != State::kResync && state_ != State::kUpgraded;
}

void Http1StreamParser::SetUpgraded() { state_ = State::kUpgraded; }

ParseState Http1StreamParser::Next(conn::StreamBuffer& buf, Message* out,
                                   bool request_was_head) {
  if (have_expected_head_ && buf.head() > expected_head_ && in_message()) {
    // The buffer evicted bytes we had not read yet (memory cap).
    switch (state_) {
      case State::kBody:
      case State::kChunkData:
        NoteMissing(std::min(buf.head(), body_end_) - std::min(expected_head_, body_end_));
        break;
      case State::kUntilClose:
        NoteMissing(buf.head() - expected_head_);
        break;
      default:  // chunk framing lost
        ++parse_errors_;
        NoteMissing(0);
        Emit(buf, out);
        StartResync(0);
        expected_head_ = buf.head();
        return ParseState::kSuccess;
    }
  }
  ParseState s = NextImpl(buf, out, request_was_head);
  expected_head_ = buf.head();
  have_expected_head_ = true;
  return s;
}

void Http1StreamParser::StartResync(size_t from) {
  state_ = State::kResync;
  resync_from_ = from;
}

// kChunkHeader: a chunk-size line; the last (0) chunk leads to the trailers.
std::optional<ParseState> Http1StreamParser::StepChunkHeader(conn::StreamBuffer& buf,
                                                             Message* out) {
  if (buf.head() >= buf.end()) return ParseState::kNeedsMoreData;
  std::string_view data = buf.Contiguous();
  uint64_t size = 0;
  size_t consumed = 0;
  ParseState s = data.empty() ? ParseState::kInvalid  // chunk-size line in a hole
                              : ParseChunkHeader(data, &size, &consumed);
  if (s == ParseState::kNeedsMoreData && buf.head() + data.size() < buf.end()) {
    s = ParseState::kInvalid;  // the line runs into a hole
  }
  if (s == ParseState::kNeedsMoreData) return s;
  if (s == ParseState::kInvalid) {
    ++parse_errors_;
    NoteMissing(0);
    Emit(buf, out);
    StartResync(0);
    return ParseState::kSuccess;
  }
  buf.Consume(consumed);
  if (size == 0) {
    state_ = State::kTrailers;
  } else {
    cur_.body_size += size;
    body_end_ = buf.head() + size;
    state_ = State::kChunkData;
  }
  return std::nullopt;
}

// kChunkDataEnd: the CRLF after chunk data; unknown (hole) positions are taken on trust.
std::optional<ParseState> Http1StreamParser::StepChunkDataEnd(conn::StreamBuffer& buf,
                                                              Message* out) {
  const uint64_t crlf_end = body_end_ + 2;
  bool ok = true;
  while (ok && buf.head() < crlf_end) {
    if (buf.head() >= buf.end()) return ParseState::kNeedsMoreData;
    std::string_view data = buf.Contiguous();
    if (data.empty()) {
      buf.Consume(std::min(buf.NextKnown(), crlf_end) - buf.head());
      continue;
    }
    const char want = buf.head() == body_end_ ? '\r' : '\n';
    if (data[0] != want) {
      ok = false;
    } else {
      buf.Consume(1);
    }
  }
  if (!ok) {
    ++parse_errors_;
    NoteMissing(0);
    Emit(buf, out);
    StartResync(0);
    return ParseState::kSuccess;
  }
  state_ = State::kChunkHeader;
  return std::nullopt;
}

// kTrailers: the trailer section after the last chunk, then the message is complete.
std::optional<ParseState> Http1StreamParser::StepTrailers(conn::StreamBuffer& buf,
                                                          Message* out) {
  if (buf.head() >= buf.end()) return ParseState::kNeedsMoreData;
  std::string_view data = buf.Contiguous();
  size_t consumed = 0;
  ParseState s = data.empty() ? ParseState::kInvalid : ParseTrailers(data, &consumed);
  if (s == ParseState::kNeedsMoreData && buf.head() + data.size() < buf.end()) {
    s = ParseState::kInvalid;
  }
  if (s == ParseState::kNeedsMoreData) return s;
  if (s == ParseState::kInvalid) {
    // The body is complete; only the trailers are lost.
    ++parse_errors_;
    Emit(buf, out);
    StartResync(0);
    return ParseState::kSuccess;
  }
  buf.Consume(consumed);
  Emit(buf, out);
  return ParseState::kSuccess;
}

ParseState Http1StreamParser::NextImpl(conn::StreamBuffer& buf, Message* out,
                                       bool request_was_head) {
  for (;;) {
    switch (state_) {
      case State::kUpgraded:
        buf.Consume(buf.end() - buf.head());
        return ParseState::kNeedsMoreData;

      case State::kHead: {
        ParseState s = ParseHead(buf, out, request_was_head);
        if (s == ParseState::kInvalid) continue;  // now resyncing
        return s;
      }

      case State::kResync:
        switch (conn::ResyncStep(buf, &resync_from_, kResyncKeep, /*rescan=*/false,
                                 [this](std::string_view d) {
                                   return FindFrameBoundary(d, type_);
                                 })) {
          case conn::ResyncResult::kAtFrame:
            state_ = State::kHead;
            continue;
          case conn::ResyncResult::kAgain:
            continue;
          case conn::ResyncResult::kNeedsMoreData:
            return ParseState::kNeedsMoreData;
        }
        return ParseState::kNeedsMoreData;

      case State::kBody:
        if (!ConsumeBody(buf, body_end_)) return ParseState::kNeedsMoreData;
        Emit(buf, out);
        return ParseState::kSuccess;

      case State::kUntilClose:
        ConsumeBody(buf, buf.end());
        return ParseState::kNeedsMoreData;

      case State::kChunkHeader: {
        std::optional<ParseState> s = StepChunkHeader(buf, out);
        if (s) return *s;
        continue;
      }

      case State::kChunkData:
        if (!ConsumeBody(buf, body_end_)) return ParseState::kNeedsMoreData;
        state_ = State::kChunkDataEnd;
        continue;

      case State::kChunkDataEnd: {
        std::optional<ParseState> s = StepChunkDataEnd(buf, out);
        if (s) return *s;
        continue;
      }

      case State::kTrailers: {
        std::optional<ParseState> s = StepTrailers(buf, out);
        if (s) return *s;
        continue;
      }
    }
  }
}

ParseState Http1StreamParser::ParseHead(conn::StreamBuffer& buf, Message* out,
                                        bool request_was_head) {
  if (buf.head() >= buf.end()) return ParseState::kNeedsMoreData;
  if (buf.HeadInHole()) {
    ++parse_errors_;
    StartResync(0);
    return ParseState::kInvalid;
  }
  std::string_view data = buf.Contiguous();
  cur_ = Message();
  cur_.type = type_;
  capturing_ = true;
  HeadResult r = type_ == MessageType::kRequest ? ParseRequestHead(data, &cur_.request)
                                                : ParseResponseHead(data, &cur_.response);
  if (r.state == ParseState::kNeedsMoreData && buf.head() + data.size() < buf.end()) {
    r.state = ParseState::kInvalid;  // the head runs into a hole: it cannot complete
  }
  if (r.state == ParseState::kNeedsMoreData) return r.state;
  if (r.state == ParseState::kInvalid) {
    ++parse_errors_;
    StartResync(1);
    return ParseState::kInvalid;
  }
  cur_.start_pos = buf.head();
  cur_.start_ts = buf.TimestampAt(buf.head());
  cur_.head_size = r.consumed;
  buf.Consume(r.consumed);

  const HeadInfo& info = cur_.info();
  bool no_body = false;
  if (type_ == MessageType::kRequest) {
    no_body = !info.chunked && !info.content_length;
  } else {
    const int status = cur_.response.status;
    no_body = request_was_head || (status >= 100 && status < 200) || status == 204 ||
              status == 304;
  }
  if (no_body) {
    const bool upgrade = type_ == MessageType::kResponse && cur_.response.status == 101;
    Emit(buf, out);
    if (upgrade) state_ = State::kUpgraded;
    return ParseState::kSuccess;
  }
  if (info.chunked) {
    state_ = State::kChunkHeader;
  } else if (info.content_length) {
    cur_.body_size = *info.content_length;
    body_end_ = buf.head() + *info.content_length;
    state_ = State::kBody;
  } else {
    state_ = State::kUntilClose;
  }
  return NextImpl(buf, out, request_was_head);
}

bool Http1StreamParser::ConsumeBody(conn::StreamBuffer& buf, uint64_t until) {
  while (buf.head() < until) {
    if (buf.head() >= buf.end()) return false;
    std::string_view data = buf.Contiguous();
    if (!data.empty()) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(data.size(), until - buf.head()));
      Capture(data.substr(0, n));
      if (state_ == State::kUntilClose) cur_.body_size += n;
      buf.Consume(n);
    } else {
      const uint64_t n = std::min(buf.NextKnown(), until) - buf.head();
      NoteMissing(n);
      if (state_ == State::kUntilClose) cur_.body_size += n;
      buf.Consume(n);
    }
  }
  return true;
}

void Http1StreamParser::Capture(std::string_view bytes) {
  if (!capturing_) return;
  const size_t room = body_limit_ - std::min(body_limit_, cur_.body.size());
  if (bytes.size() > room) {
    cur_.body_truncated = true;
    capturing_ = false;
  }
  cur_.body.append(bytes.substr(0, std::min(room, bytes.size())));
}

void Http1StreamParser::NoteMissing(uint64_t n) {
  cur_.body_missing_bytes += n;
  cur_.body_truncated = true;
  capturing_ = false;
}

void Http1StreamParser::Emit(conn::StreamBuffer& buf, Message* out) {
  cur_.wire_size = buf.head() - cur_.start_pos;
  cur_.end_ts = buf.TimestampAt(buf.head() > 0 ? buf.head() - 1 : 0);
  *out = std::move(cur_);
  cur_ = Message();
  state_ = State::kHead;
}

bool Http1StreamParser::Finish(conn::StreamBuffer& buf, Message* out) {
  if (!in_message()) {
    state_ = State::kHead;
    have_expected_head_ = false;
    return false;
  }
  switch (state_) {
    case State::kBody:
    case State::kChunkData:
      ConsumeBody(buf, std::min(body_end_, buf.end()));
      if (buf.head() < body_end_) NoteMissing(body_end_ - buf.head());
      break;
    case State::kUntilClose:
      ConsumeBody(buf, buf.end());
      break;
    default:  // chunk framing or trailers cut short
      NoteMissing(0);
      break;
  }
  cur_.ended_by_close = true;
  Emit(buf, out);
  have_expected_head_ = false;
  return true;
}

}  // namespace fraiseql::protocols::http1
