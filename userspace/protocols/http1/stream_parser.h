// Turns one direction of an HTTP/1.x connection (a conn::StreamBuffer) into complete messages.
//
// One parser per direction: MessageType::kRequest for the bytes the server read,
// kResponse for the bytes it wrote. Call Next() until it returns kNeedsMoreData after each batch
// of Add()s, and Finish() when the connection closes.
//
// Framing: Content-Length; chunked (with trailers); requests without either have no body;
// responses 1xx/204/304 and responses to HEAD have none; other responses without either run
// until close. Several messages back to back (pipelining) come out one per Next().
// An interim "100 Continue" is a message of its own (status 100): the correlator skips it.
//
// Loss: a body may cross holes (capture cap, lost events, memory-cap evictions): the message
// still completes once the stream has moved past its end, with body_truncated set and the
// missing bytes counted. Lost framing (a head or chunk-size line in a hole, bytes that are not
// HTTP, a head over kMaxHeadSize) counts one parse error and resyncs at the next start line
// (FindFrameBoundary); a message whose chunk framing was lost is emitted truncated. Resync
// holds at most kResyncKeep bytes, so garbage never grows memory past that plus a head.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "conn/stream_buffer.h"
#include "protocols/common/parse_state.h"
#include "protocols/http1/http1_parser.h"

namespace fraiseql::protocols::http1 {

struct Message {
  MessageType type = MessageType::kRequest;
  RequestHead request;    // set when type == kRequest
  ResponseHead response;  // set when type == kResponse

  uint64_t start_pos = 0;  // stream position of the first byte
  uint64_t head_size = 0;  // start line + headers + empty line
  uint64_t wire_size = 0;  // every byte of the message, framing included
  uint64_t body_size = 0;  // payload bytes (de-chunked) per the framing
  std::string body;        // the payload's first bytes, up to the body limit, up to any hole
  bool body_truncated = false;  // body holds less than body_size (limit, holes, cut by close)
  uint64_t body_missing_bytes = 0;  // payload positions that were never captured
  bool ended_by_close = false;  // the connection's close ended it (until-close or cut short)
  uint64_t start_ts = 0;  // ns, event that carried the first byte
  uint64_t end_ts = 0;    // ns, event that carried the last byte (or the closest before)

  const HeadInfo& info() const {
    return type == MessageType::kRequest ? static_cast<const HeadInfo&>(request) : response;
  }
  std::string ToString() const;
};

class Http1StreamParser {
 public:
  static constexpr size_t kDefaultBodyLimit = 64 * 1024;
  static constexpr size_t kResyncKeep = 8 * 1024 + 64;

  explicit Http1StreamParser(MessageType type, size_t body_limit = kDefaultBodyLimit);

  // Produces the next complete message (kSuccess) or consumes what it can and returns
  // kNeedsMoreData. Never returns kInvalid: bad bytes are counted in parse_errors() and skipped.
  // For responses, request_was_head says the request this response answers was HEAD; it is
  // read when the response head is parsed (pass it on every call, for the oldest unanswered
  // request, and do not pop that request for status 1xx).
  ParseState Next(conn::StreamBuffer& buf, Message* out, bool request_was_head = false);

  // The connection closed: emits the message in progress, if any (an until-close response, or
  // a message cut short, marked ended_by_close and body_truncated). Returns whether *out was
  // filled. The parser is then ready for a new stream.
  bool Finish(conn::StreamBuffer& buf, Message* out);

  // After a 101 Switching Protocols (or a successful CONNECT) the bytes are no longer HTTP:
  // everything is consumed silently from now on. The response parser does this by itself on
  // status 101; the correlator calls it on the request parser.
  void SetUpgraded();
  bool upgraded() const { return state_ == State::kUpgraded; }

  MessageType type() const { return type_; }
  // Resyncs: heads in holes, invalid bytes, lost chunk framing.
  uint64_t parse_errors() const { return parse_errors_; }
  // A head was parsed and its body is still pending.
  bool in_message() const;

 private:
  enum class State {
    kHead,
    kResync,
    kBody,          // Content-Length body, until body_end_
    kChunkHeader,
    kChunkData,     // until body_end_ (chunk data), then its CRLF
    kChunkDataEnd,  // the CRLF after chunk data
    kTrailers,
    kUntilClose,
    kUpgraded,
  };

  ParseState NextImpl(conn::StreamBuffer& buf, Message* out, bool request_was_head);
  ParseState ParseHead(conn::StreamBuffer& buf, Message* out, bool request_was_head);
  // NextImpl's chunked-body states; std::nullopt: the state changed, go on.
  std::optional<ParseState> StepChunkHeader(conn::StreamBuffer& buf, Message* out);
  std::optional<ParseState> StepChunkDataEnd(conn::StreamBuffer& buf, Message* out);
  std::optional<ParseState> StepTrailers(conn::StreamBuffer& buf, Message* out);
  // Consumes body positions up to `until`, capturing known bytes; false if the stream has not
  // reached `until` yet.
  bool ConsumeBody(conn::StreamBuffer& buf, uint64_t until);
  void Capture(std::string_view bytes);
  void NoteMissing(uint64_t n);
  // Finishes the current message at buf.head() into *out.
  void Emit(conn::StreamBuffer& buf, Message* out);
  void StartResync(size_t from);

  MessageType type_;
  size_t body_limit_;
  State state_ = State::kHead;
  Message cur_;
  bool capturing_ = true;
  uint64_t body_end_ = 0;  // kBody / kChunkData: stream position where the data ends
  uint64_t expected_head_ = 0;  // buf.head() when the last call returned
  bool have_expected_head_ = false;
  size_t resync_from_ = 0;  // offset from which the resync scan may match
  uint64_t parse_errors_ = 0;
};

}  // namespace fraiseql::protocols::http1
