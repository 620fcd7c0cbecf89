#include "protocols/common/byte_cursor.h"

#include <algorithm>

namespace fraiseql::protocols {

const char* ToString(ParseState state) {
  switch (state) {
    case ParseState::kSuccess:
      return "success";
    case ParseState::kNeedsMoreData:
      return "needs_more_data";
    case ParseState::kInvalid:
      return "invalid";
  }
  return "?";
}

namespace {

template <typename T>
ParseState ReadBigEndian(std::string_view data, size_t* pos, T* out) {
  if (data.size() - *pos < sizeof(T)) return ParseState::kNeedsMoreData;
  T v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) {
    v = static_cast<T>((v << 8) | static_cast<uint8_t>(data[*pos + i]));
  }
  *out = v;
  *pos += sizeof(T);
  return ParseState::kSuccess;
}

}  // namespace

ParseState ByteCursor::PeekU8(uint8_t* out) const {
  if (empty()) return ParseState::kNeedsMoreData;
  *out = static_cast<uint8_t>(data_[pos_]);
  return ParseState::kSuccess;
}

ParseState ByteCursor::ReadU8(uint8_t* out) {
  ParseState s = PeekU8(out);
  if (s == ParseState::kSuccess) ++pos_;
  return s;
}

ParseState ByteCursor::ReadBe16(uint16_t* out) { return ReadBigEndian(data_, &pos_, out); }
ParseState ByteCursor::ReadBe32(uint32_t* out) { return ReadBigEndian(data_, &pos_, out); }
ParseState ByteCursor::ReadBe64(uint64_t* out) { return ReadBigEndian(data_, &pos_, out); }

ParseState ByteCursor::ReadBytes(size_t n, std::string_view* out) {
  if (remaining() < n) return ParseState::kNeedsMoreData;
  *out = data_.substr(pos_, n);
  pos_ += n;
  return ParseState::kSuccess;
}

ParseState ByteCursor::Skip(size_t n) {
  if (remaining() < n) return ParseState::kNeedsMoreData;
  pos_ += n;
  return ParseState::kSuccess;
}

ParseState ByteCursor::ReadCString(std::string_view* out, size_t max_len) {
  std::string_view r = rest();
  size_t window = max_len == kNoLimit ? r.size() : std::min(r.size(), max_len + 1);
  size_t nul = r.substr(0, window).find('\0');
  if (nul == std::string_view::npos) {
    return r.size() > max_len ? ParseState::kInvalid : ParseState::kNeedsMoreData;
  }
  *out = r.substr(0, nul);
  pos_ += nul + 1;
  return ParseState::kSuccess;
}

ParseState ByteCursor::ReadLine(std::string_view* out, size_t max_len) {
  std::string_view r = rest();
  // A CRLF may start at index max_len at the latest.
  size_t window = max_len == kNoLimit ? r.size() : std::min(r.size(), max_len + 2);
  size_t crlf = r.substr(0, window).find("\r\n");
  if (crlf == std::string_view::npos) {
    // Without a CRLF in the window: too long if the window is full (the last byte of a full
    // window could still be a CR whose LF is missing only if window < max_len + 2).
    if (max_len != kNoLimit && r.size() >= max_len + 2) return ParseState::kInvalid;
    return ParseState::kNeedsMoreData;
  }
  *out = r.substr(0, crlf);
  pos_ += crlf + 2;
  return ParseState::kSuccess;
}

}  // namespace fraiseql::protocols
