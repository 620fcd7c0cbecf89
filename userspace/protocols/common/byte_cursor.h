// A bounds-checked reader over a std::string_view, shared by every protocol parser.
//
// Every Read* returns kSuccess (value stored, cursor advanced), kNeedsMoreData (the input ends
// before the value does) or kInvalid (a sanity cap was exceeded). On anything but kSuccess the
// cursor does not move and the output is untouched, so a parser can bail out and retry later
// from the same position.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocols/common/parse_state.h"

namespace fraiseql::protocols {

class ByteCursor {
 public:
  static constexpr size_t kNoLimit = static_cast<size_t>(-1);

  explicit ByteCursor(std::string_view data) : data_(data) {}

  size_t position() const { return pos_; }
  size_t remaining() const { return data_.size() - pos_; }
  bool empty() const { return pos_ == data_.size(); }
  // The unread bytes.
  std::string_view rest() const { return data_.substr(pos_); }
  // The bytes read so far.
  std::string_view consumed() const { return data_.substr(0, pos_); }

  ParseState PeekU8(uint8_t* out) const;
  ParseState ReadU8(uint8_t* out);
  ParseState ReadBe16(uint16_t* out);
  ParseState ReadBe32(uint32_t* out);
  ParseState ReadBe64(uint64_t* out);
  // Exactly n bytes.
  ParseState ReadBytes(size_t n, std::string_view* out);
  ParseState Skip(size_t n);
  // A NUL-terminated string (the NUL is consumed, not returned). kInvalid if no NUL within
  // max_len bytes, kNeedsMoreData if the input ends first.
  ParseState ReadCString(std::string_view* out, size_t max_len = kNoLimit);
  // A line ending in CRLF (the CRLF is consumed, not returned). kInvalid if no CRLF within
  // max_len bytes (line length, CRLF excluded), kNeedsMoreData if the input ends first.
  // A bare CR or LF inside the line is returned as is; the caller validates characters.
  ParseState ReadLine(std::string_view* out, size_t max_len = kNoLimit);

 private:
  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace fraiseql::protocols
