// Counts by a small, bounded set of label values (reasons, kinds), written on the pipeline
// thread and read at scrape time from another: a mutex-guarded map. For hot fixed counters use
// std::atomic fields instead.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace fraiseql {

class LabeledCounts {
 public:
  explicit LabeledCounts(size_t max_labels = 100) : max_labels_(max_labels) {}
  // Values beyond max_labels distinct ones count under "other".
  void Add(std::string_view label, uint64_t n = 1) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = counts_.find(label);
    if (it == counts_.end()) {
      if (counts_.size() >= max_labels_) label = "other";
      it = counts_.emplace(std::string(label), 0).first;
    }
    it->second += n;
  }
  std::vector<std::pair<std::string, uint64_t>> Snapshot() const {
    std::lock_guard<std::mutex> lock(mu_);
    return {counts_.begin(), counts_.end()};
  }

 private:
  const size_t max_labels_;
  mutable std::mutex mu_;
  std::map<std::string, uint64_t, std::less<>> counts_;
};

}  // namespace fraiseql
