// The result of every protocol parser on the hot path.
#pragma once

namespace fraiseql::protocols {

enum class ParseState {
  kSuccess,        // a frame was parsed; the parser reports how many bytes it consumed
  kNeedsMoreData,  // the bytes so far are a valid prefix; nothing was consumed
  kInvalid,        // the bytes cannot be this protocol (or exceed a sanity cap)
};

const char* ToString(ParseState state);

}  // namespace fraiseql::protocols
