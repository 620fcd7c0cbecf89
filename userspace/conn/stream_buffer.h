// One direction of one connection's byte stream, indexed by stream position.
//
// The kernel reports, per data event, the position of its first byte, how many bytes really
// moved (orig_size) and the first `copied` of them. Unknown positions (the uncopied tail of a
// capped event, or whole events lost to a full ring buffer) are *holes*. A StreamBuffer keeps the
// known bytes in position order and lets a parser read the contiguous known run at the head,
// step over holes, and see how much was lost.
//
// Ordering: events may arrive in any order as long as their positions are >= head(); a late
// event fills the hole it belongs to if the parser has not skipped past it yet. Bytes before
// head() (already consumed or skipped) and bytes already known (duplicates, overlaps) are
// ignored, the first copy wins.
//
// Memory: the known, unconsumed bytes are capped at max_bytes. When an Add goes over the cap,
// bytes are evicted from the head (head() moves forward; counted in dropped_bytes(), and any
// hole positions passed on the way in gap_bytes()). A parser notices by head() having moved.
// Timestamps are kept per event (capped in count too; past the cap the oldest are forgotten and
// TimestampAt() becomes approximate for them).
//
// Not thread-safe; one owner (the connection tracker) adds and the parser consumes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace fraiseql::conn {

class StreamBuffer {
 public:
  static constexpr size_t kDefaultMaxBytes = size_t{1} << 20;

  explicit StreamBuffer(size_t max_bytes = kDefaultMaxBytes);

  // Bytes [pos, pos + orig_size) moved at ts_ns; the first data.size() of them are known
  // (data.size() > orig_size is treated as orig_size = data.size()). The first Add fixes the
  // initial head() to pos, so a buffer created mid-stream starts where the capture started.
  void Add(uint64_t pos, std::string_view data, uint64_t orig_size, uint64_t ts_ns);

  // First unconsumed position.
  uint64_t head() const { return head_; }
  // One past the highest position any event covered (known or not); always >= head()
  // (a Consume() past end() drags end() along).
  uint64_t end() const { return end_; }
  // No event was added yet.
  bool empty() const { return !started_; }

  // The known bytes from head() up to the first hole (or end()). Valid until the next
  // non-const call.
  std::string_view Contiguous() const;
  // head() < end() and the byte at head() is unknown.
  bool HeadInHole() const;
  // The first known position >= head(), or end() if none is known.
  uint64_t NextKnown() const;

  // Moves head() forward by n positions, known or not (unknown ones count as gap_bytes()).
  // May go past end(): positions below the new head that arrive later are ignored.
  void Consume(uint64_t n);
  // Moves head() to NextKnown() (resync after a hole); counts the skipped gap.
  void SkipToNextKnown();

  // The timestamp of the event that carried pos. For a position no event covered (lost), the
  // closest earlier event's; for one forgotten after consumption, the oldest retained event's;
  // 0 before any Add. Positions >= head() - 1 are answered from their own event when known.
  uint64_t TimestampAt(uint64_t pos) const;

  // Unknown positions skipped so far (holes consumed or skipped, evictions across holes).
  uint64_t gap_bytes() const { return gap_bytes_; }
  // Known bytes evicted by the memory cap.
  uint64_t dropped_bytes() const { return dropped_bytes_; }
  // Known bytes held for the parser (>= head()); never above max_bytes() after Add returns.
  size_t buffered_bytes() const { return known_bytes_; }
  size_t max_bytes() const { return max_bytes_; }

  std::string ToString() const;

 private:
  struct Span {  // one event's position range and timestamp
    uint64_t end;
    uint64_t ts_ns;
  };

  void InsertKnown(uint64_t pos, std::string_view data);
  // Advances head_ to new_head, counting unknown positions as gap and dropping stored bytes.
  void AdvanceHead(uint64_t new_head, bool evicting);
  void EnforceCap();
  void PruneSpans();

  size_t max_bytes_;
  size_t max_spans_;
  bool started_ = false;
  uint64_t head_ = 0;
  uint64_t end_ = 0;
  // Known runs: start position -> bytes. Disjoint, not adjacent (adjacent runs are merged).
  // The first run may start below head_ (a consumed prefix kept until compaction).
  std::map<uint64_t, std::string> runs_;
  size_t known_bytes_ = 0;  // known bytes at positions >= head_
  std::map<uint64_t, Span> spans_;  // event start -> span
  uint64_t gap_bytes_ = 0;
  uint64_t dropped_bytes_ = 0;
};

}  // namespace fraiseql::conn
