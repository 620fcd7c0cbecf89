// Resynchronising a stream parser after lost framing (a header in a hole, bytes that are not
// the protocol): the one loop step every protocol's stream parser shares.
#pragma once

#include <algorithm>
#include <cstddef>
#include <string_view>

#include "conn/stream_buffer.h"

namespace fraiseql::conn {

enum class ResyncResult {
  kAtFrame,        // head() is at a plausible frame start: parse it
  kAgain,          // the buffer moved (a hole skipped, a run dropped): call again
  kNeedsMoreData,  // nothing found yet; at most `keep` bytes are held
};

// Skips a hole at the head; else searches the known run at the head, from offset *scan_from
// on, with find(view) (the protocol's FindFrameBoundary: an offset or npos). A run that a
// hole ends cannot hold a frame start that validates across it, so it is dropped; a run that
// is still growing is cut to its last `keep` bytes (a frame start may be beginning there).
// rescan: whether offsets already scanned may match once more bytes arrive (a candidate that
// is validated by what follows it), so the next call scans the held run from its start again.
template <typename Find>
ResyncResult ResyncStep(StreamBuffer& buf, size_t* scan_from, size_t keep, bool rescan,
                        Find find) {
  if (buf.head() >= buf.end()) return ResyncResult::kNeedsMoreData;
  if (buf.HeadInHole()) {
    buf.SkipToNextKnown();
    *scan_from = 0;
    return ResyncResult::kAgain;
  }
  std::string_view data = buf.Contiguous();
  const size_t from = std::min(*scan_from, data.size());
  const size_t k = find(data.substr(from));
  if (k != std::string_view::npos) {
    buf.Consume(from + k);
    return ResyncResult::kAtFrame;
  }
  if (buf.head() + data.size() < buf.end()) {
    buf.Consume(data.size());
    *scan_from = 0;
    return ResyncResult::kAgain;
  }
  if (data.size() > keep) {
    buf.Consume(data.size() - keep);
    *scan_from = 0;
  } else if (rescan) {
    *scan_from = 0;
  }
  return ResyncResult::kNeedsMoreData;
}

}  // namespace fraiseql::conn
