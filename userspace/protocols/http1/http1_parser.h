// HTTP/1.x framing: pure functions over byte views (no I/O, no buffers, no state).
//
// Heads are parsed strictly enough to reject misclassified traffic early: the request line is
// "METHOD SP target SP HTTP/1.x CRLF" with an upper-case token method, the status line
// "HTTP/1.x SP DDD SP reason CRLF", header lines "name: value" with a token name, lines end in
// CRLF, no control characters but HTAB in values, no obs-fold. A head (up to and including the
// empty line) longer than kMaxHeadSize is kInvalid, never kNeedsMoreData.
//
// Every parser consumes input only on kSuccess (it returns how many bytes the frame took);
// kNeedsMoreData means "a valid prefix, come back with more"; kInvalid means "not HTTP/1.x".
// Incomplete input is checked as far as it goes, so garbage fails fast.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "protocols/common/parse_state.h"

namespace fraiseql::protocols::http1 {

inline constexpr size_t kMaxHeadSize = 64 * 1024;
inline constexpr size_t kMaxMethodSize = 20;
inline constexpr size_t kMaxChunkHeaderLine = 4096;

enum class MessageType { kRequest, kResponse };

struct Header {
  std::string name;  // as sent
  std::string value;  // leading/trailing SP/HTAB stripped
};

// What requests and responses share.
struct HeadInfo {
  int minor_version = 1;  // HTTP/1.<minor_version>
  std::vector<Header> headers;  // all of them, in order
  std::optional<uint64_t> content_length;  // absent: no (valid) Content-Length header
  bool chunked = false;  // Transfer-Encoding ends in "chunked"
  bool has_transfer_encoding = false;  // any Transfer-Encoding header (chunked or not)
  bool expect_continue = false;  // Expect: 100-continue
  bool keep_alive = true;  // HTTP/1.1 unless "Connection: close"; 1.0 only with "keep-alive"

  // The first header with this name (ASCII case-insensitive), if any.
  std::optional<std::string_view> FindHeader(std::string_view name) const;
};

struct RequestHead : HeadInfo {
  std::string method;
  std::string target;  // as sent (path and query)
};

struct ResponseHead : HeadInfo {
  int status = 0;
  std::string reason;
};

struct HeadResult {
  ParseState state;
  size_t consumed;  // bytes of the head including the final CRLF CRLF; 0 unless kSuccess
};

// Parses a request head at the start of data. On kSuccess fills *out.
HeadResult ParseRequestHead(std::string_view data, RequestHead* out);
// Parses a response head at the start of data. On kSuccess fills *out.
HeadResult ParseResponseHead(std::string_view data, ResponseHead* out);

// The first offset in data where a plausible start line begins: a request line with a known
// method (GET HEAD POST PUT DELETE PATCH OPTIONS CONNECT TRACE), a target without spaces or
// controls, and "HTTP/1.x" CRLF; or a status line "HTTP/1.x DDD" followed by SP or CR.
// The whole start line must be in data. std::string_view::npos if there is none.
size_t FindFrameBoundary(std::string_view data, MessageType type);

// A chunk-size line ("1a3f[;ext...]" CRLF) at the start of data. On kSuccess stores the chunk
// size and the line length (CRLF included) in *consumed. kInvalid on a non-hex size, a size
// over 2^62, or a line over kMaxChunkHeaderLine.
ParseState ParseChunkHeader(std::string_view data, uint64_t* size, size_t* consumed);

// Trailer section after the last chunk: header lines ending in an empty line. On kSuccess
// *consumed covers it all (just "\r\n" when there are no trailers).
ParseState ParseTrailers(std::string_view data, size_t* consumed);

// ASCII case-insensitive equality.
bool EqualsIgnoreCase(std::string_view a, std::string_view b);

}  // namespace fraiseql::protocols::http1
