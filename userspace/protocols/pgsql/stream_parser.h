// Turns one direction of a PostgreSQL connection (a conn::StreamBuffer) into messages.
//
// One parser per direction: Direction::kFrontend for the bytes the client wrote (the server
// read), kBackend for the bytes the server wrote. Call Next() until it returns kNeedsMoreData
// after each batch of Add()s.
//
// Startup: a frontend stream whose first byte is 0 starts with an untyped message
// (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest); any other first byte means the
// capture started mid-connection and typed messages are parsed directly. After an
// SSLRequest/GSSENCRequest the next frontend bytes are either another untyped message (the
// server said 'N') or the encrypted session (anything else: the parser becomes encrypted()).
// The backend's one-byte answer comes out as a Frame with untyped == kEncryptionAnswer and type
// 'S', 'G' (accepted: the parser becomes encrypted()) or 'N'. It is recognised after
// ExpectEncryptionAnswer() (the connection stitcher calls it when it sees the request), or, at
// the start of a backend stream, when an 'S'/'G'/'N' byte cannot begin a valid message.
// Once encrypted() every byte is consumed silently.
//
// Bodies are consumed by position, so a message may be bigger than the buffer's memory cap and
// may cross holes; only the 5-byte header must be known. Only the bodies the stitcher decodes
// are kept, up to keep_limit bytes (Frame::body; body_truncated when cut by the limit or a
// hole): frontend Q P E C D and the StartupMessage; backend C E (and R's 4-byte code). A Bind
// keeps only its header (portal, statement, formats, parameter count): parameter values are
// dropped before Next() returns. Password/SASL ('p'), DataRow, CopyData, notices,
// notifications and everything else keep no body.
//
// Loss: a header in a hole, bytes that are not PostgreSQL (unknown type, impossible length,
// a kept body that does not decode), or bytes evicted from under a header count one
// parse_errors() and resync at the next plausible message (FindFrameBoundary). Resync holds at
// most kResyncKeep bytes, so garbage never grows memory past that.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "conn/stream_buffer.h"
#include "protocols/common/parse_state.h"
#include "protocols/pgsql/pgsql_parser.h"

namespace fraiseql::protocols::pgsql {

struct Frame {
  char type = 0;  // type byte; untyped frames: 0, or the answer byte for kEncryptionAnswer
  Untyped untyped = Untyped::kNone;
  uint32_t code = 0;    // untyped: protocol version / request code
  uint32_t length = 0;  // declared length (typed: excluding the type byte; untyped: total)
  std::string body;     // kept bytes of the body (see above)
  bool body_truncated = false;  // body holds less than the declared body (limit or holes)
  uint64_t start_pos = 0;  // stream position of the first byte
  uint64_t start_ts = 0;   // ns, event that carried the first byte
  uint64_t end_ts = 0;     // ns, event that carried the last byte (or the closest before)

  uint64_t wire_size() const;
  std::string ToString() const;
};

class PgStreamParser {
 public:
  static constexpr size_t kDefaultKeepLimit = 64 * 1024;
  static constexpr size_t kResyncKeep = 64 * 1024;

  explicit PgStreamParser(Direction dir, size_t keep_limit = kDefaultKeepLimit);

  // Produces the next complete message (kSuccess) or consumes what it can and returns
  // kNeedsMoreData. Never returns kInvalid: bad bytes are counted in parse_errors() and skipped.
  ParseState Next(conn::StreamBuffer& buf, Frame* out);

  // Backend: the frontend sent an SSLRequest/GSSENCRequest; the next byte is the answer.
  void ExpectEncryptionAnswer();
  // From now on the bytes are encrypted and consumed silently.
  void SetEncrypted();
  bool encrypted() const { return state_ == State::kEncrypted; }

  Direction direction() const { return dir_; }
  uint64_t parse_errors() const { return parse_errors_; }
  // A message is partly consumed (its body is pending).
  bool in_message() const { return state_ == State::kBody; }

 private:
  enum class State {
    kStart,        // nothing parsed yet
    kUntyped,      // frontend: an untyped message expected (start, or after 'N')
    kAfterEncRequest,  // frontend: after SSLRequest/GSSENCRequest
    kAwaitAnswer,  // backend: the one-byte answer expected
    kHeader,
    kBody,
    kResync,
    kEncrypted,
  };

  ParseState NextImpl(conn::StreamBuffer& buf, Frame* out);
  ParseState ParseTypedHeader(conn::StreamBuffer& buf);
  ParseState ParseUntyped(conn::StreamBuffer& buf);
  ParseState EmitAnswer(conn::StreamBuffer& buf, Frame* out, char answer);
  size_t KeepLimit(char type) const;
  // Consumes body positions up to body_end_; false if the stream has not reached it yet.
  bool ConsumeBody(conn::StreamBuffer& buf);
  // Finishes the current message into *out; false if its kept body does not decode.
  bool Emit(conn::StreamBuffer& buf, Frame* out);
  void StartResync(size_t from);

  Direction dir_;
  size_t keep_limit_;
  State state_ = State::kStart;
  Frame cur_;
  size_t cur_keep_ = 0;
  uint64_t body_end_ = 0;
  uint64_t expected_head_ = 0;
  bool have_expected_head_ = false;
  size_t resync_from_ = 0;
  uint64_t parse_errors_ = 0;
};

}  // namespace fraiseql::protocols::pgsql
