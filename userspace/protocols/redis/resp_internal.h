// Helpers shared by the RESP token, frame-builder and whole-frame code (resp_tokens.cc,
// resp_values.cc, resp_parser.cc). Internal to fql_redis: not part of the resp_parser.h API.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "protocols/redis/resp_parser.h"

namespace fraiseql::protocols::redis::internal {

inline bool IsDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsUpper(char c) { return c >= 'A' && c <= 'Z'; }
inline bool IsAlpha(char c) { return IsUpper(c) || (c >= 'a' && c <= 'z'); }

// Strict decimal (Redis' string2ll): optional sign where allowed, no leading zeros, no overflow.
bool ParseDecimal(std::string_view s, bool allow_sign, int64_t* out);

// The RESP type a line's first byte announces (';' chunk: bulk string, '.' end: null).
bool TypeFromByte(char b, RespType* t);

// The error code: the first word if it looks like one (upper-case), else "ERR" (Redis itself
// prefixes code-less errors with ERR).
std::string ErrorCode(std::string_view message);

// [A-Za-z][A-Za-z0-9._|-]*, at most kMaxCapturedText bytes.
bool PlausibleCommandName(std::string_view s);

}  // namespace fraiseql::protocols::redis::internal
