#include "conn/stream_buffer.h"

#include <algorithm>
#include <iterator>
#include <limits>

namespace fraiseql::conn {

namespace {
// A consumed prefix of the first run is erased once it is at least this big and at least half
// of the run, so consuming a large run in small steps stays linear.
constexpr size_t kCompactMin = 4096;
}  // namespace

StreamBuffer::StreamBuffer(size_t max_bytes)
    : max_bytes_(max_bytes), max_spans_(std::max<size_t>(256, max_bytes / 64)) {}

void StreamBuffer::Add(uint64_t pos, std::string_view data, uint64_t orig_size, uint64_t ts_ns) {
  orig_size = std::max<uint64_t>(orig_size, data.size());
  if (!started_) {
    started_ = true;
    head_ = end_ = pos;
  }
  const uint64_t ev_end = pos + orig_size;
  if (ev_end <= head_) return;  // entirely consumed or skipped already
  end_ = std::max(end_, ev_end);
  spans_.emplace(pos, Span{ev_end, ts_ns});  // a duplicate start keeps the first timestamp
  while (spans_.size() > max_spans_) spans_.erase(spans_.begin());

  if (pos < head_) {
    const uint64_t skip = head_ - pos;
    data.remove_prefix(std::min<uint64_t>(skip, data.size()));
    pos = head_;
  }
  InsertKnown(pos, data);
  EnforceCap();
}

void StreamBuffer::InsertKnown(uint64_t pos, std::string_view data) {
  while (!data.empty()) {
    auto next = runs_.upper_bound(pos);  // first run starting after pos
    std::string* prev_run = nullptr;
    if (next != runs_.begin()) {
      auto prev = std::prev(next);
      const uint64_t prev_end = prev->first + prev->second.size();
      if (prev_end > pos) {  // already known: the first copy wins
        const uint64_t skip = std::min<uint64_t>(prev_end - pos, data.size());
        pos += skip;
        data.remove_prefix(skip);
        continue;
      }
      if (prev_end == pos) prev_run = &prev->second;
    }
    const uint64_t limit =
        next == runs_.end() ? std::numeric_limits<uint64_t>::max() : next->first;
    const size_t take = static_cast<size_t>(std::min<uint64_t>(data.size(), limit - pos));
    std::string* run = prev_run;
    if (run != nullptr) {
      run->append(data.substr(0, take));
    } else {
      run = &runs_.emplace_hint(next, pos, std::string(data.substr(0, take)))->second;
    }
    known_bytes_ += take;
    pos += take;
    data.remove_prefix(take);
    if (next != runs_.end() && pos == next->first) {  // now adjacent: merge
      run->append(next->second);
      runs_.erase(next);
    }
  }
}

std::string_view StreamBuffer::Contiguous() const {
  if (runs_.empty()) return {};
  auto it = runs_.begin();
  if (it->first > head_) return {};
  return std::string_view(it->second).substr(static_cast<size_t>(head_ - it->first));
}

bool StreamBuffer::HeadInHole() const {
  if (head_ >= end_) return false;
  return runs_.empty() || runs_.begin()->first > head_;
}

uint64_t StreamBuffer::NextKnown() const {
  if (head_ >= end_) return head_;
  if (runs_.empty()) return end_;
  return std::max(head_, runs_.begin()->first);
}

void StreamBuffer::Consume(uint64_t n) { AdvanceHead(head_ + n, /*evicting=*/false); }

void StreamBuffer::SkipToNextKnown() { AdvanceHead(NextKnown(), /*evicting=*/false); }

void StreamBuffer::AdvanceHead(uint64_t new_head, bool evicting) {
  if (new_head <= head_) return;
  uint64_t known = 0;  // known positions in [head_, new_head)
  auto it = runs_.begin();
  while (it != runs_.end() && it->first < new_head) {
    const uint64_t run_start = std::max(it->first, head_);
    const uint64_t run_end = it->first + it->second.size();
    const uint64_t covered_end = std::min(run_end, new_head);
    if (covered_end > run_start) known += covered_end - run_start;
    if (run_end <= new_head) {
      it = runs_.erase(it);
      continue;
    }
    const uint64_t stale = new_head - it->first;
    if (stale >= kCompactMin && stale * 2 >= it->second.size()) {
      auto node = runs_.extract(it);
      node.mapped().erase(0, static_cast<size_t>(stale));
      node.key() = new_head;
      runs_.insert(std::move(node));
    }
    break;
  }
  known_bytes_ -= static_cast<size_t>(known);
  gap_bytes_ += (new_head - head_) - known;
  if (evicting) dropped_bytes_ += known;
  head_ = new_head;
  end_ = std::max(end_, head_);
  PruneSpans();
}

void StreamBuffer::EnforceCap() {
  while (known_bytes_ > max_bytes_ && !runs_.empty()) {
    auto it = runs_.begin();
    const uint64_t run_start = std::max(it->first, head_);
    const uint64_t run_end = it->first + it->second.size();
    const uint64_t excess = known_bytes_ - max_bytes_;
    AdvanceHead(std::min(run_end, run_start + excess), /*evicting=*/true);
  }
}

void StreamBuffer::PruneSpans() {
  // Keep every span reaching past head_ plus the latest one ending at or before it, so that
  // TimestampAt(head() - 1) still finds the event that carried the last consumed byte.
  while (spans_.size() >= 2 && std::next(spans_.begin())->second.end <= head_) {
    spans_.erase(spans_.begin());
  }
}

uint64_t StreamBuffer::TimestampAt(uint64_t pos) const {
  if (spans_.empty()) return 0;
  auto it = spans_.upper_bound(pos);  // first span starting after pos
  if (it == spans_.begin()) return it->second.ts_ns;  // forgotten: the oldest we still know
  return std::prev(it)->second.ts_ns;  // covers pos, or the closest earlier event
}

std::string StreamBuffer::ToString() const {
  return "StreamBuffer{head=" + std::to_string(head_) + " end=" + std::to_string(end_) +
         " runs=" + std::to_string(runs_.size()) + " buffered=" + std::to_string(known_bytes_) +
         " gap=" + std::to_string(gap_bytes_) + " dropped=" + std::to_string(dropped_bytes_) +
         "}";
}

}  // namespace fraiseql::conn
