#include "protocols/redis/stream_parser.h"

#include <algorithm>
#include <utility>

namespace fraiseql::protocols::redis {

std::string Frame::ToString() const {
  std::string s = direction == Direction::kRequest ? command.ToString() : reply.ToString();
  s += " pos=" + std::to_string(start_pos) + " wire=" + std::to_string(wire_size) +
       " ts=" + std::to_string(start_ts) + ".." + std::to_string(end_ts);
  if (truncated) s += " truncated";
  if (after_loss) s += " after_loss";
  return s;
}

RespStreamParser::RespStreamParser(Direction direction)
    : direction_(direction),
      builder_(direction == Direction::kRequest ? FrameBuilder::Mode::kCommand
                                                : FrameBuilder::Mode::kReply) {}

ParseState RespStreamParser::Next(conn::StreamBuffer& buf, Frame* out) {
  CheckEvictions(buf);
  ParseState s = NextImpl(buf, out);
  pos_ = buf.head();
  have_pos_ = true;
  return s;
}

void RespStreamParser::CheckEvictions(conn::StreamBuffer& buf) {
  if (!have_pos_ || buf.head() <= pos_) return;
  // The buffer moved its head without us (memory cap): bytes [pos_, head) are gone.
  switch (state_) {
    case State::kPayload:
      if (buf.head() <= payload_end_) {
        builder_.OnPayloadMissing(buf.head() - pos_);
        cur_.truncated = true;
        return;
      }
      builder_.OnPayloadMissing(payload_end_ - std::min(pos_, payload_end_));
      cur_.truncated = true;
      state_ = State::kPayloadCrlf;
      [[fallthrough]];
    case State::kPayloadCrlf:
      if (buf.head() <= payload_end_ + 2) return;  // the CRLF is taken on trust
      Lose(0);
      return;
    case State::kResync:
      resync_from_ = 0;
      after_loss_ = true;
      return;
    case State::kFrameStart:
    case State::kToken:
      Lose(0);
      return;
  }
}

void RespStreamParser::Lose(size_t from) {
  ++parse_errors_;
  builder_.Reset();
  cur_ = Frame();
  state_ = State::kResync;
  resync_from_ = from;
  after_loss_ = true;
}

void RespStreamParser::Emit(conn::StreamBuffer& buf, Frame* out) {
  cur_.direction = direction_;
  if (direction_ == Direction::kRequest) {
    cur_.command = builder_.TakeCommand();
    cur_.truncated = cur_.truncated || cur_.command.truncated;
  } else {
    cur_.reply = std::move(builder_.value());
    cur_.truncated = cur_.truncated || cur_.reply.truncated;
  }
  Finish(buf, out);
}

// Hands out the current frame (its content set) and starts the next one.
void RespStreamParser::Finish(conn::StreamBuffer& buf, Frame* out) {
  cur_.wire_size = buf.head() - cur_.start_pos;
  cur_.end_ts = buf.TimestampAt(buf.head() > 0 ? buf.head() - 1 : 0);
  cur_.after_loss = after_loss_;
  after_loss_ = false;
  *out = std::move(cur_);
  cur_ = Frame();
  builder_.Reset();
  state_ = State::kFrameStart;
  ++frames_;
}

// kFrameStart: a new frame begins at the head (inline commands are parsed here whole).
std::optional<ParseState> RespStreamParser::StepFrameStart(conn::StreamBuffer& buf, Frame* out) {
  if (buf.head() >= buf.end()) return ParseState::kNeedsMoreData;
  if (buf.HeadInHole()) {
    Lose(0);
    return std::nullopt;
  }
  std::string_view data = buf.Contiguous();
  const bool hole_follows = buf.head() + data.size() < buf.end();
  cur_ = Frame();
  cur_.start_pos = buf.head();
  cur_.start_ts = buf.TimestampAt(buf.head());
  builder_.Reset();
  if (direction_ == Direction::kRequest && data[0] != '*') {
    // An inline command: one line, bounded by kMaxLineLength.
    Command c;
    FrameResult r = ParseCommand(data, &c);
    if (r.state == ParseState::kNeedsMoreData && hole_follows) r.state = ParseState::kInvalid;
    if (r.state == ParseState::kNeedsMoreData) return r.state;
    if (r.state == ParseState::kInvalid) {
      Lose(1);
      return std::nullopt;
    }
    buf.Consume(r.consumed);
    if (c.argc == 0) return std::nullopt;  // an empty line; Redis ignores it too
    cur_.direction = direction_;
    cur_.command = std::move(c);
    Finish(buf, out);
    return ParseState::kSuccess;
  }
  state_ = State::kToken;
  return std::nullopt;
}

// kToken: the next type line of the frame.
std::optional<ParseState> RespStreamParser::StepToken(conn::StreamBuffer& buf, Frame* out) {
  if (buf.head() >= buf.end()) return ParseState::kNeedsMoreData;
  if (buf.HeadInHole()) {
    Lose(0);
    return std::nullopt;
  }
  std::string_view data = buf.Contiguous();
  Token t;
  size_t n = 0;
  ParseState s = ParseToken(data, &t, &n);
  if (s == ParseState::kNeedsMoreData && buf.head() + data.size() < buf.end()) {
    s = ParseState::kInvalid;  // the line runs into a hole
  }
  if (s == ParseState::kNeedsMoreData) return s;
  if (s == ParseState::kInvalid) {
    Lose(1);
    return std::nullopt;
  }
  s = builder_.OnToken(t);  // before Consume: t.line points into the buffer
  buf.Consume(n);
  if (s == ParseState::kInvalid) {
    Lose(0);
    return std::nullopt;
  }
  if (s == ParseState::kSuccess) {
    Emit(buf, out);
    return s;
  }
  if (builder_.payload_pending()) {
    payload_end_ = buf.head() + builder_.payload_remaining();
    state_ = State::kPayload;
  }
  return std::nullopt;
}

// kPayload: bulk payload bytes, fed to the builder (holes as missing bytes).
std::optional<ParseState> RespStreamParser::StepPayload(conn::StreamBuffer& buf) {
  while (buf.head() < payload_end_) {
    if (buf.head() >= buf.end()) return ParseState::kNeedsMoreData;
    std::string_view data = buf.Contiguous();
    if (!data.empty()) {
      const size_t n =
          static_cast<size_t>(std::min<uint64_t>(data.size(), payload_end_ - buf.head()));
      builder_.OnPayload(data.substr(0, n));
      buf.Consume(n);
    } else {
      const uint64_t n = std::min(buf.NextKnown(), payload_end_) - buf.head();
      builder_.OnPayloadMissing(n);
      cur_.truncated = true;
      buf.Consume(n);
    }
  }
  state_ = State::kPayloadCrlf;
  return std::nullopt;
}

// kPayloadCrlf: the CRLF after the payload; unknown (hole) positions are taken on trust.
std::optional<ParseState> RespStreamParser::StepPayloadCrlf(conn::StreamBuffer& buf, Frame* out) {
  const uint64_t crlf_end = payload_end_ + 2;
  while (buf.head() < crlf_end) {
    if (buf.head() >= buf.end()) return ParseState::kNeedsMoreData;
    std::string_view data = buf.Contiguous();
    if (data.empty()) {
      buf.Consume(std::min(buf.NextKnown(), crlf_end) - buf.head());
      continue;
    }
    const char want = buf.head() == payload_end_ ? '\r' : '\n';
    if (data[0] != want) break;
    buf.Consume(1);
  }
  if (buf.head() < crlf_end) {
    Lose(0);
    return std::nullopt;
  }
  ParseState s = builder_.EndPayload();
  if (s == ParseState::kInvalid) {
    Lose(0);
    return std::nullopt;
  }
  if (s == ParseState::kSuccess) {
    Emit(buf, out);
    return s;
  }
  state_ = State::kToken;
  return std::nullopt;
}

// kResync: looks for the next frame boundary, keeping a tail that may start one.
std::optional<ParseState> RespStreamParser::StepResync(conn::StreamBuffer& buf) {
  if (buf.head() >= buf.end()) return ParseState::kNeedsMoreData;
  if (buf.HeadInHole()) {
    buf.SkipToNextKnown();
    resync_from_ = 0;
    return std::nullopt;
  }
  std::string_view data = buf.Contiguous();
  const size_t from = std::min(resync_from_, data.size());
  // Candidates start at `from` or after an LF at or past it.
  size_t k = std::string_view::npos;
  if (from == 0) {
    k = FindFrameBoundary(data, direction_);
  } else {
    const size_t nl = data.find('\n', from - 1);
    if (nl != std::string_view::npos) {
      k = FindFrameBoundary(data.substr(nl + 1), direction_);
      if (k != std::string_view::npos) k += nl + 1;
    }
  }
  if (k != std::string_view::npos) {
    buf.Consume(k);
    state_ = State::kFrameStart;
    return std::nullopt;
  }
  if (buf.head() + data.size() < buf.end()) {
    // A hole follows: no frame can span it, drop it all.
    buf.Consume(data.size());
    resync_from_ = 0;
    return std::nullopt;
  }
  if (data.size() > kResyncKeep) {
    // Keep a tail that may be the beginning of a frame.
    buf.Consume(data.size() - kResyncKeep);
    data = buf.Contiguous();
  }
  // A candidate with three line ends after it is decided (a command needs two lines and
  // a byte, a reply one line); rescan only the later ones next time.
  size_t keep_from = 0;
  size_t end = data.size();
  for (int lines = 0; lines < 4 && end > 0; ++lines) {
    const size_t nl = data.rfind('\n', end - 1);
    if (nl == std::string_view::npos) {
      end = 0;
      break;
    }
    end = nl;
  }
  if (end > 0) keep_from = end + 1;
  resync_from_ = keep_from;
  return ParseState::kNeedsMoreData;
}

ParseState RespStreamParser::NextImpl(conn::StreamBuffer& buf, Frame* out) {
  for (;;) {
    std::optional<ParseState> done;
    switch (state_) {
      case State::kFrameStart: done = StepFrameStart(buf, out); break;
      case State::kToken: done = StepToken(buf, out); break;
      case State::kPayload: done = StepPayload(buf); break;
      case State::kPayloadCrlf: done = StepPayloadCrlf(buf, out); break;
      case State::kResync: done = StepResync(buf); break;
    }
    if (done) return *done;
  }
}


bool RespStreamParser::Finish() {
  const bool partial = in_frame();
  builder_.Reset();
  cur_ = Frame();
  state_ = State::kFrameStart;
  have_pos_ = false;
  after_loss_ = false;
  resync_from_ = 0;
  return partial;
}

}  // namespace fraiseql::protocols::redis
