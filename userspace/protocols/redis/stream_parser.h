// Turns one direction of a Redis connection (a conn::StreamBuffer) into frames: commands for the
// bytes the server read (Direction::kRequest), reply values for the bytes it wrote (kReply).
// Call Next() until it returns kNeedsMoreData after each batch of Add()s.
//
// Incremental: a frame is parsed token by token (FrameBuilder), so only the current type line is
// ever held in the buffer. Bulk payloads ($ ! = and streamed chunks) are consumed by stream
// position as their bytes arrive, holes included (unknown payload bytes are taken on trust and
// mark the frame truncated), keeping at most kMaxCapturedText bytes of the few strings a frame
// keeps. A reply declaring 500 MiB therefore costs no memory, and the frame completes once the
// stream has moved past its end.
//
// Loss: framing in a hole (a type line not captured, bytes evicted by the memory cap mid-frame),
// bytes that are not RESP, a type line over its cap: one parse error, the frame in progress is
// dropped, and the parser resyncs at the next plausible frame (FindFrameBoundary). The next
// frame carries after_loss, so the stitcher knows that frames may be missing before it. Resync
// holds at most kResyncKeep bytes, so garbage never grows memory past that plus one line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "conn/stream_buffer.h"
#include "protocols/common/parse_state.h"
#include "protocols/redis/resp_parser.h"

namespace fraiseql::protocols::redis {

struct Frame {
  Direction direction = Direction::kRequest;
  Command command;  // direction == kRequest
  Value reply;      // direction == kReply

  uint64_t start_pos = 0;  // stream position of the first byte
  uint64_t wire_size = 0;  // every byte of the frame
  uint64_t start_ts = 0;   // ns, event that carried the first byte
  uint64_t end_ts = 0;     // ns, event that carried the last byte (or the closest before)
  bool truncated = false;  // payload bytes were never captured (holes, evictions)
  bool after_loss = false;  // framing was lost since the previous frame (frames may be missing)

  std::string ToString() const;
};

class RespStreamParser {
 public:
  static constexpr size_t kResyncKeep = kMaxLineLength + 64;

  explicit RespStreamParser(Direction direction);

  // Produces the next complete frame (kSuccess) or consumes what it can and returns
  // kNeedsMoreData. Never returns kInvalid: bad bytes are counted in parse_errors() and skipped.
  ParseState Next(conn::StreamBuffer& buf, Frame* out);

  // The connection closed: drops the frame in progress (returns whether there was one) and
  // makes the parser ready for a new stream.
  bool Finish();

  Direction direction() const { return direction_; }
  // Resyncs: framing lost to holes or evictions, invalid bytes, caps exceeded.
  uint64_t parse_errors() const { return parse_errors_; }
  // Frames seen complete.
  uint64_t frames() const { return frames_; }
  // A frame has started and is not complete.
  bool in_frame() const { return state_ == State::kToken || state_ == State::kPayload ||
                                 state_ == State::kPayloadCrlf; }

 private:
  enum class State { kFrameStart, kToken, kPayload, kPayloadCrlf, kResync };

  ParseState NextImpl(conn::StreamBuffer& buf, Frame* out);
  // One state of NextImpl each; std::nullopt: the state changed, go on.
  std::optional<ParseState> StepFrameStart(conn::StreamBuffer& buf, Frame* out);
  std::optional<ParseState> StepToken(conn::StreamBuffer& buf, Frame* out);
  std::optional<ParseState> StepPayload(conn::StreamBuffer& buf);
  std::optional<ParseState> StepPayloadCrlf(conn::StreamBuffer& buf, Frame* out);
  std::optional<ParseState> StepResync(conn::StreamBuffer& buf);
  // Loss of framing: counts it, drops the frame in progress, resyncs from `from` bytes past
  // the head.
  void Lose(size_t from);
  void Emit(conn::StreamBuffer& buf, Frame* out);
  void Finish(conn::StreamBuffer& buf, Frame* out);
  void CheckEvictions(conn::StreamBuffer& buf);

  Direction direction_;
  State state_ = State::kFrameStart;
  FrameBuilder builder_;
  Frame cur_;
  uint64_t payload_end_ = 0;  // kPayload/kPayloadCrlf: position one past the payload
  uint64_t pos_ = 0;          // buf.head() when the last call returned
  bool have_pos_ = false;
  size_t resync_from_ = 0;
  bool after_loss_ = false;
  uint64_t parse_errors_ = 0;
  uint64_t frames_ = 0;
};

}  // namespace fraiseql::protocols::redis
