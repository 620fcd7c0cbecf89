// Redis RESP2/RESP3 framing: pure functions over byte views (no I/O, no buffers, no state).
//
// Three layers, all pure (resp_tokens.cc, resp_values.cc, resp_parser.cc):
//   ParseToken   one type line ("+OK", ":12", "$5", "*3", "%2", "$?", ";4", ".", ...); for bulk
//                types only the header, the payload (length + CRLF) follows it.
//   FrameBuilder turns a token sequence (and bulk payload pieces) into one top-level frame:
//                a bounded Value summary for replies, a Command summary for requests. Shared by
//                ParseReply/ParseCommand (whole frame in one view) and the stream driver (which
//                skips bulk payloads by position and may never see them whole).
//   ParseReply / ParseCommand / FindFrameBoundary   whole frames over a view.
//
// Every parser consumes input only on kSuccess (it returns how many bytes the frame took);
// kNeedsMoreData means "a valid prefix, come back with more"; kInvalid means "not RESP" or a
// sanity cap was exceeded. Incomplete input is checked as far as it goes, so garbage fails fast.
//
// Privacy: argument values are never copied. A Command keeps its name, a subcommand for
// container commands (CLIENT, CONFIG, OBJECT, ...), the HELLO protocol version and the CLIENT
// REPLY mode; AUTH/HELLO credentials and keys are skipped. A reply Value keeps at most
// kMaxCapturedText bytes of a top-level simple string (OK, QUEUED) and of the first element of
// a top-level aggregate (the pub/sub kind: "message", "subscribe"), and the error code of
// errors; never bulk string contents.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/parse_state.h"

namespace fraiseql::protocols::redis {

// Sanity caps (Redis itself caps bulk strings at 512 MiB, proto-max-bulk-len).
inline constexpr uint64_t kMaxBulkLength = uint64_t{512} << 20;
inline constexpr uint64_t kMaxAggregateElements = uint64_t{1} << 24;
inline constexpr size_t kMaxDepth = 64;
// Simple strings, errors, big numbers, inline commands: Redis' PROTO_INLINE_MAX_SIZE.
inline constexpr size_t kMaxLineLength = 64 * 1024;
// Length/count/integer/double lines.
inline constexpr size_t kMaxNumberLine = 32;
// Text kept from the strings a frame may keep (see Privacy above).
inline constexpr size_t kMaxCapturedText = 64;
// Element summaries kept for a top-level aggregate (element_nil is kept for all).
inline constexpr size_t kMaxKeptElements = 4096;

enum class RespType : uint8_t {
  kSimpleString,    // +
  kError,           // -
  kInteger,         // :
  kBulkString,      // $   ($-1: null)
  kArray,           // *   (*-1: null)
  kNull,            // _   (RESP3)
  kDouble,          // ,
  kBoolean,         // #
  kBigNumber,       // (
  kBulkError,       // !
  kVerbatimString,  // =
  kMap,             // %
  kSet,             // ~
  kAttribute,       // |   (attached to the next value)
  kPush,            // >
  kInline,          // a client inline command line (requests only)
};

const char* ToString(RespType type);

enum class TokenKind : uint8_t {
  kScalar,              // the whole value is in the line
  kBulkHeader,          // $ ! = : `length` payload bytes and CRLF follow
  kAggregateHeader,     // * % ~ | > : `length` elements (map/attribute: pairs) follow
  kStreamedString,      // $? : ;chunks follow, ";0" ends
  kStreamedChunk,       // ;N : N payload bytes and CRLF follow; N == 0 ends the string
  kStreamedAggregate,   // *? %? ~? : elements follow until "."
  kStreamEnd,           // .
};

struct Token {
  RespType type = RespType::kNull;
  TokenKind kind = TokenKind::kScalar;
  bool null = false;        // $-1, *-1, _
  int64_t integer = 0;      // kInteger value; kBoolean 1/0
  uint64_t length = 0;      // bulk/chunk payload length, aggregate count
  std::string_view line;    // the line after the type byte (CRLF excluded)
};

// One type line at the start of data. On kSuccess fills *out and *consumed (line + CRLF).
ParseState ParseToken(std::string_view data, Token* out, size_t* consumed);

// A bounded summary of one RESP value (see Privacy above).
struct Value {
  RespType type = RespType::kNull;
  bool null = false;           // $-1, *-1, _
  int64_t integer = 0;         // kInteger; kBoolean 1/0
  uint64_t size = 0;           // bulk payload bytes (streamed: sum of chunks); aggregate count
                               // (map/attribute: pairs; streamed: elements seen)
  std::string text;            // kSimpleString at depth 0, or the first element of a depth-0
                               // aggregate; up to kMaxCapturedText bytes
  std::string error_prefix;    // kError/kBulkError (depth <= 1): the error code, e.g. WRONGTYPE
  std::vector<bool> element_nil;  // aggregates at depth <= 1: per direct element, null or not
                                  // (maps: keys and values alternate)
  std::vector<Value> elements;    // depth 0 only: the first kMaxKeptElements direct elements
  bool attributed = false;     // an attribute (|) was attached to it
  bool streamed = false;       // $? or *? %? ~?
  bool truncated = false;      // payload bytes were never seen (stream driver, holes)

  bool is_error() const { return type == RespType::kError || type == RespType::kBulkError; }
  bool is_nil() const { return null || type == RespType::kNull; }
  std::string ToString() const;
};

enum class ClientReplyMode : uint8_t { kNone, kOn, kOff, kSkip };

// A client command; argument values are not kept (see Privacy above).
struct Command {
  std::string name;        // upper-cased first element (up to kMaxCapturedText bytes)
  std::string subcommand;  // upper-cased second element, for container commands only
  uint32_t argc = 0;       // elements including the name (0: an empty inline line)
  uint32_t keys = 0;       // see KeyCount()
  bool inline_form = false;
  int hello_protover = 0;  // HELLO <protover>: 2 or 3 (0: absent or not a number)
  ClientReplyMode client_reply = ClientReplyMode::kNone;  // CLIENT REPLY ON|OFF|SKIP
  bool truncated = false;  // payload bytes were never seen (stream driver, holes)

  std::string ToString() const;
};

// Commands whose second element names a subcommand (CLIENT SETNAME, CONFIG GET, OBJECT ...).
bool HasSubcommand(std::string_view upper_name);

// The cache entries a command addresses, from its upper-cased name and argc:
// single-key reads/writes (GET, SET, HGET, HSET, GETEX, ...) 1; MGET, EXISTS, DEL, UNLINK,
// TOUCH, WATCH argc-1; MSET, MSETNX (argc-1)/2; HMGET, HDEL argc-2 (fields of one hash);
// anything else 0.
uint32_t KeyCount(std::string_view upper_name, uint32_t argc);

// Builds one top-level frame from tokens. Use: Reset(); then for each token OnToken(); when it
// asks for a payload (payload_pending()), feed the payload's known bytes with OnPayload() and
// its unknown ones with OnPayloadMissing() until payload_remaining() is 0, then EndPayload()
// (after the CRLF). kSuccess: the frame is complete; kNeedsMoreData: more tokens are needed;
// kInvalid: the token cannot come here (caps, misplaced ; or ., a request that is not an array
// of bulk strings).
class FrameBuilder {
 public:
  enum class Mode { kReply, kCommand };

  explicit FrameBuilder(Mode mode = Mode::kReply) : mode_(mode) {}

  void Reset();
  ParseState OnToken(const Token& token);
  bool payload_pending() const { return payload_pending_; }
  uint64_t payload_remaining() const { return payload_remaining_; }
  void OnPayload(std::string_view bytes);
  void OnPayloadMissing(uint64_t n);
  ParseState EndPayload();

  bool done() const { return done_; }
  // Valid once done(); Mode::kReply.
  Value& value() { return root_; }
  // Valid once done(); Mode::kCommand.
  Command TakeCommand();

 private:
  struct Level {
    RespType type;
    bool streamed;
    bool attribute;
    uint64_t remaining;  // elements still expected (not for streamed)
    uint64_t index;      // elements seen
    Value* node;         // nullptr: not summarised (depth >= 2, attributes)
  };

  // A new value starts at the current position; returns the node summarising it (or nullptr).
  Value* BeginValue(RespType type);
  // The value that began last (scalar, payload, aggregate) is complete.
  ParseState EndValue();
  bool CaptureTextAt(size_t depth, uint64_t index) const;
  void NoteNil(bool nil);
  // OnToken's cases: a ;N chunk of a streamed string, the "." end of a streamed aggregate, and
  // what follows a value's type line (payload, chunks, elements).
  ParseState OnStreamedChunk(const Token& t);
  ParseState OnStreamEnd();
  ParseState OnValueBody(const Token& t, Value* node, size_t depth, uint64_t index,
                         bool in_attribute);

  Mode mode_;
  Value root_;
  std::vector<Level> stack_;
  Value scratch_;             // values that are not summarised
  Value* cur_ = nullptr;      // the value being built (payload or scalar)
  bool cur_capture_ = false;  // capture payload text for cur_
  bool cur_nil_ = false;
  bool pending_attribute_ = false;
  bool in_streamed_string_ = false;
  bool payload_pending_ = false;
  uint64_t payload_remaining_ = 0;
  size_t cur_depth_ = 0;
  std::string command_args_[3];  // Mode::kCommand: name and the few args kept
  bool done_ = false;
  bool started_ = false;
  bool truncated_ = false;
};

struct FrameResult {
  ParseState state;
  size_t consumed;  // bytes of the frame; 0 unless kSuccess
};

// One complete reply (any RESP2/RESP3 value, attributes included) at the start of data.
FrameResult ParseReply(std::string_view data, Value* out);

// One complete client command at the start of data: a RESP array of bulk strings, or an inline
// command line (ending in LF or CRLF; first word [A-Za-z][A-Za-z0-9._|-]*; lines that look like
// HTTP are kInvalid). An empty inline line is a Command with argc 0.
FrameResult ParseCommand(std::string_view data, Command* out);

enum class Direction { kRequest, kReply };

// The first offset in data (0 or just after an LF) where a complete frame parses, or a valid
// prefix of one at least kMinBoundaryPrefix bytes long runs to the end of data. Requests must
// start with '*' and name a plausible command (or be a plausible inline command).
// std::string_view::npos if there is none.
inline constexpr size_t kMinBoundaryPrefix = 4;
size_t FindFrameBoundary(std::string_view data, Direction direction);

// ASCII upper-casing.
std::string ToUpper(std::string_view s);

}  // namespace fraiseql::protocols::redis
