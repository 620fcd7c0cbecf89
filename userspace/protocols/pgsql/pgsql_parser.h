// PostgreSQL protocol v3 framing and message-body decoders: pure functions over byte views
// (no I/O, no buffers, no state).
//
// Frontend (client -> server): the first message is untyped (int32 length, int32 code):
// StartupMessage (code 196608 = 3.0), SSLRequest, GSSENCRequest, CancelRequest; after an
// SSLRequest/GSSENCRequest refused with 'N' another untyped message follows. Every other message
// is typed: one type byte, int32 length (counting itself, not the type byte), body.
// Backend (server -> client): always typed, except the one-byte 'S'/'N' answer to an
// SSLRequest/GSSENCRequest, which only the stream parser (stream_parser.h) can recognise.
//
// Sanity caps so misclassified bytes fail fast (kInvalid, never kNeedsMoreData): an unknown type
// byte for the direction; a length < 4 or > kMaxMessageLength; a length other than the fixed
// one for fixed-size messages (Sync, Flush, Terminate, ParseComplete, ReadyForQuery, ...); a
// length over kMaxSmallMessageLength for messages that are never big (CommandComplete,
// ReadyForQuery, ErrorResponse, ParameterStatus, ...); an untyped message of length < 8 or
// > kMaxStartupLength or with an unknown code. A complete message whose body does not decode
// (e.g. a CommandComplete without its NUL) is kInvalid too.
//
// Every parser consumes input only on kSuccess (it reports how many bytes the message took);
// kNeedsMoreData means "a valid prefix, come back with more".
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/parse_state.h"

namespace fraiseql::protocols::pgsql {

inline constexpr uint32_t kMaxMessageLength = uint32_t{1} << 30;   // 1 GiB
inline constexpr uint32_t kMaxSmallMessageLength = uint32_t{1} << 20;  // see IsSmallType
inline constexpr uint32_t kMaxStartupLength = 10000;  // PostgreSQL's MAX_STARTUP_PACKET_LENGTH
inline constexpr uint32_t kProtocolV3 = 196608;       // 3.0
inline constexpr uint32_t kCancelRequestCode = 80877102;
inline constexpr uint32_t kSslRequestCode = 80877103;
inline constexpr uint32_t kGssEncRequestCode = 80877104;
inline constexpr size_t kHeaderSize = 5;  // type byte + int32 length

enum class Direction { kFrontend, kBackend };

// Messages without a type byte.
enum class Untyped {
  kNone,               // a typed message
  kStartup,            // StartupMessage (protocol 3.x)
  kSslRequest,
  kGssEncRequest,
  kCancelRequest,
  kEncryptionAnswer,   // backend's one-byte 'S'/'N' answer (stream parser only)
};

const char* ToString(Untyped u);

// One complete message; views point into the parsed input.
struct Message {
  char type = 0;  // the type byte; 0 for untyped messages
  Untyped untyped = Untyped::kNone;
  uint32_t code = 0;  // untyped: the protocol version or request code
  std::string_view body;  // after the length (untyped: after the code)
  size_t wire_size = 0;   // every byte, type byte included
};

struct FrameResult {
  ParseState state;
  size_t consumed;  // 0 unless kSuccess
};

// Whether `type` is a message type of protocol v3 for the direction.
bool IsKnownType(char type, Direction dir);
// The length a fixed-size message must declare (4 for Sync, 5 for ReadyForQuery, ...), 0 if
// the type has a variable length.
uint32_t FixedLength(char type, Direction dir);

// Validates a typed header at the start of data (type known, length within the caps for the
// type). On kSuccess stores type and declared length (the body is length - 4 bytes).
ParseState ParseHeader(std::string_view data, Direction dir, char* type, uint32_t* length);
// Validates an untyped header (int32 length, int32 code) at the start of data.
ParseState ParseUntypedHeader(std::string_view data, Untyped* kind, uint32_t* length,
                              uint32_t* code);

// A whole typed message at the start of data.
FrameResult ParseMessage(std::string_view data, Direction dir, Message* out);
// A whole untyped frontend message (StartupMessage, SSLRequest, GSSENCRequest, CancelRequest).
FrameResult ParseUntypedMessage(std::string_view data, Message* out);

// Whether a complete typed message body is well-formed for its type. Types without a decoder
// here are accepted as long as their length is right.
bool ValidateBody(char type, Direction dir, std::string_view body);

// The first offset in data where a plausible typed message begins, for resync after lost bytes:
// a valid header whose complete body validates and which is either a ReadyForQuery (backend) /
// Sync (frontend), or is followed by another valid header (or by the end of data). Bounded work:
// O(data.size()) headers are tried, each checked in O(1) plus one body validation.
// std::string_view::npos if there is none.
size_t FindFrameBoundary(std::string_view data, Direction dir);

// ---- Body decoders (bodies as in Message::body). kSuccess, or kInvalid if malformed. ----

struct StartupInfo {
  uint32_t protocol = 0;
  std::string user;
  std::string database;
  std::string application_name;  // only these three parameters are kept
};
ParseState DecodeStartup(std::string_view body, StartupInfo* out);

// 'Q': the query text.
ParseState DecodeQuery(std::string_view body, std::string_view* sql);

struct ParseInfo {
  std::string_view statement;  // "" = the unnamed statement
  std::string_view query;
  uint16_t param_types = 0;
};
ParseState DecodeParse(std::string_view body, ParseInfo* out);

// 'B': names and counts only. Parameter values are never looked at nor returned, so a body
// truncated after the parameter count still decodes. *header_size (optional) receives the size
// of the part before the values.
struct BindInfo {
  std::string_view portal;
  std::string_view statement;
  uint16_t param_formats = 0;
  uint16_t params = 0;
};
ParseState DecodeBind(std::string_view body, BindInfo* out, size_t* header_size = nullptr);

// 'E' (frontend): portal and max rows (0 = all).
struct ExecuteInfo {
  std::string_view portal;
  uint32_t max_rows = 0;
};
ParseState DecodeExecute(std::string_view body, ExecuteInfo* out);

// 'C' (frontend Close) and 'D' (frontend Describe): kind 'S' statement or 'P' portal.
struct TargetInfo {
  char kind = 0;
  std::string_view name;
};
ParseState DecodeCloseOrDescribe(std::string_view body, TargetInfo* out);

// 'C' (backend CommandComplete). command: the tag without its counts ("INSERT", "SELECT",
// "CREATE TABLE", "BEGIN"); rows: the last number for INSERT (oid rows), SELECT, UPDATE, DELETE,
// MERGE, FETCH, MOVE, COPY; 0 otherwise.
struct CommandTag {
  std::string_view tag;  // as sent, e.g. "INSERT 0 1"
  std::string_view command;
  uint64_t rows = 0;
  bool has_rows = false;
};
ParseState DecodeCommandComplete(std::string_view body, CommandTag* out);
// Splits a tag (no NUL) as DecodeCommandComplete does.
CommandTag ParseCommandTag(std::string_view tag);

// 'E' / 'N' (backend). The message text is for debug logging only: never export it.
struct ErrorInfo {
  std::string_view severity;  // 'V' (non-localized) if present, else 'S'
  std::string_view sqlstate;  // 'C'
  std::string_view message;   // 'M'
};
ParseState DecodeErrorResponse(std::string_view body, ErrorInfo* out);

// 'Z': the transaction status 'I', 'T' or 'E'.
ParseState DecodeReadyForQuery(std::string_view body, char* status);

// 'R': the authentication request code (0 = ok, 3 = cleartext, 5 = md5, 10 = SASL, ...).
ParseState DecodeAuthentication(std::string_view body, uint32_t* code);

}  // namespace fraiseql::protocols::pgsql
