// Raw ring-buffer record → typed Event. Every size and enum is checked: a record that
// does not match the ABI is rejected and counted, never trusted.
#pragma once

#include <array>
#include <cstdint>
#include <span>

#include "decoder/event.h"

namespace fraiseql {

enum class DecodeError : uint8_t {
  kNone = 0,
  kTooShort,      // shorter than the header or its kind's struct
  kUnknownKind,   // kind not in enum fql_event_kind
  kBadLength,     // copied > orig_size, or payload length != copied, or bad enum field
  kCount,
};
const char* DecodeErrorName(DecodeError e);

class Decoder {
 public:
  // Decodes `record`; on success fills `out` (views point into `record`).
  DecodeError Decode(std::span<const uint8_t> record, Event* out);

  uint64_t decoded() const { return decoded_; }
  uint64_t errors(DecodeError e) const { return errors_[static_cast<size_t>(e)]; }

 private:
  uint64_t decoded_ = 0;
  std::array<uint64_t, static_cast<size_t>(DecodeError::kCount)> errors_{};
};

}  // namespace fraiseql
