// Metrics registry: counters, gauges and histograms in labelled families, with a
// per-family cap on label cardinality, rendered in the Prometheus text format 0.0.4.
//
// Threading: series are updated from the pipeline thread(s) and rendered from the
// HTTP thread. Updates are lock-free (relaxed atomics); WithLabels() takes the
// family's mutex for one map lookup, so hot paths should keep the returned
// reference when the label values do not change. References stay valid for the
// life of the registry. Render() may run concurrently with updates and with
// registration; concurrent Render() calls are serialized.
//
// Registration errors (invalid names, a name registered twice with a different
// shape, a wrong number of label values) are programming errors: the process
// aborts with a message naming the metric.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace fraiseql::metrics {

// Latency buckets of the metric contract, in seconds.
inline const std::vector<double>& LatencyBuckets() {
  static const std::vector<double> kBuckets = {.0005, .001, .0025, .005, .01, .025, .05,
                                               .1,    .25,  .5,    1,    2.5,  5,   10};
  return kBuckets;
}

// Name of the internal counter that counts cardinality-cap folds, per family.
inline constexpr std::string_view kSeriesOverflowMetric =
    "fraiseql_collector_series_overflow_total";
// Label value that replaces folded label values.
inline constexpr std::string_view kOverflowLabelValue = "other";

enum class MetricType { kCounter, kGauge, kHistogram };

class Counter {
 public:
  // Adds `v`; negative and NaN increments are ignored (a counter never decreases).
  void Inc(double v = 1);
  // Sets the absolute total, for counters mirrored from a monotonic source such as
  // a kernel per-CPU counter summed in a collect hook. Do not mix with Inc().
  void SetTotal(double total);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Inc(double v = 1) { value_.fetch_add(v, std::memory_order_relaxed); }
  void Dec(double v = 1) { value_.fetch_sub(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

class Histogram {
 public:
  // `bounds`: finite, strictly increasing upper bounds; +Inf is implicit. Owned by
  // the family and must outlive the histogram.
  explicit Histogram(const std::vector<double>* bounds);

  // Counts `v` in the first bucket whose upper bound is >= v. NaN is ignored.
  void Observe(double v);

  struct Snapshot {
    std::vector<uint64_t> cumulative;  // per bound, then +Inf (== count)
    uint64_t count = 0;
    double sum = 0;
  };
  // Buckets and count are consistent with each other by construction; the sum may
  // lag an observation that is in flight during the snapshot.
  Snapshot Take() const;

 private:
  const std::vector<double>& bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds_.size() + 1 (+Inf)
  std::atomic<double> sum_{0};
};

class Registry;

class FamilyBase {
 public:
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;
  virtual ~FamilyBase() = default;

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }
  size_t max_series() const { return max_series_; }

 protected:
  FamilyBase(MetricType type, std::string name, std::string help,
             std::vector<std::string> label_names, size_t max_series);
  void AppendHeader(std::string* out) const;

  const MetricType type_;
  const std::string name_;
  const std::string help_;
  const std::vector<std::string> label_names_;
  const size_t max_series_;

 private:
  friend class Registry;
  virtual void Render(std::string* out) const = 0;
};

// A family of series of one type, one per distinct tuple of label values (in the
// order of label_names()).
//
// Cardinality cap (max_series > 0): once max_series distinct value tuples exist, a
// new tuple is folded: every label value becomes "other" except the workload
// identity labels service_name, k8s_namespace_name, k8s_pod_name and
// k8s_container_name, which are kept, and the update goes to that overflow series
// (or to an existing series with the same values). Each folded WithLabels() call
// increments fraiseql_collector_series_overflow_total{metric="<family name>"}.
// Overflow series are themselves capped at max_series; past that, every label is
// "other". A family therefore never holds more than 2 * max_series + 1 series.
template <typename T>
class Family final : public FamilyBase {
 public:
  T& WithLabels(std::initializer_list<std::string_view> values) {
    return WithLabels(std::span<const std::string_view>(values.begin(), values.size()));
  }
  T& WithLabels(const std::vector<std::string>& values);
  T& WithLabels(std::span<const std::string_view> values);

  // Number of series, overflow series included.
  size_t series_count() const;

 private:
  friend class Registry;
  struct LabelsLess {
    using is_transparent = void;
    template <typename A, typename B>
    bool operator()(const A& a, const B& b) const {
      return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end());
    }
  };
  struct Series {
    template <typename... Args>
    explicit Series(std::string l, Args&&... args)
        : labels(std::move(l)), metric(std::forward<Args>(args)...) {}
    std::string labels;  // rendered and escaped: a="x",b="y"
    T metric;
  };

  Family(MetricType type, std::string name, std::string help,
         std::vector<std::string> label_names, size_t max_series,
         std::vector<double> buckets);
  T& Create(std::span<const std::string_view> values);  // mu_ held
  void Render(std::string* out) const override;

  const std::vector<double> buckets_;     // histograms only
  std::vector<std::string> le_values_;    // formatted buckets_, then "+Inf"
  std::vector<bool> kept_on_fold_;        // per label
  Counter* overflow_counter_ = nullptr;   // set when max_series_ > 0

  mutable std::mutex mu_;
  std::map<std::vector<std::string>, Series, LabelsLess> series_;
  size_t regular_series_ = 0;
  size_t overflow_series_ = 0;
};

using CounterFamily = Family<Counter>;
using GaugeFamily = Family<Gauge>;
using HistogramFamily = Family<Histogram>;

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

class Registry {
 public:
  Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Counter names must end in "_total". Registering an existing name again with
  // the same type, labels (and buckets) returns the existing family; any other
  // reuse of a name aborts.
  CounterFamily& AddCounter(std::string name, std::string help,
                            std::vector<std::string> label_names, size_t max_series = 0);
  GaugeFamily& AddGauge(std::string name, std::string help,
                        std::vector<std::string> label_names, size_t max_series = 0);
  // `buckets`: finite, strictly increasing; a trailing +Inf is accepted and dropped.
  HistogramFamily& AddHistogram(std::string name, std::string help,
                                std::vector<std::string> label_names,
                                std::vector<double> buckets, size_t max_series = 0);

  // Hooks run, in registration order, at the start of every Render(), on the
  // rendering thread; they typically pull kernel counters into gauges/counters.
  // A hook may update and register metrics but must not call Render().
  // Returns an id for RemoveCollectHook (an owner that dies before the registry removes its
  // hook; removal waits for a Render in progress).
  uint64_t AddCollectHook(std::function<void()> hook);
  void RemoveCollectHook(uint64_t id);

  // Text exposition 0.0.4: families in registration order (the internal overflow
  // counter first), series sorted by label values. Families without series are
  // rendered as HELP/TYPE only.
  std::string Render();
  void RenderTo(std::string* out);

 private:
  template <typename T>
  Family<T>& Add(MetricType type, std::string name, std::string help,
                 std::vector<std::string> label_names, size_t max_series,
                 std::vector<double> buckets);

  std::mutex render_mu_;  // serializes Render(), hooks included
  std::mutex mu_;         // guards families_ and hooks_
  std::vector<std::unique_ptr<FamilyBase>> families_;
  std::vector<std::pair<uint64_t, std::function<void()>>> hooks_;
  uint64_t next_hook_id_ = 1;
  CounterFamily* overflow_family_ = nullptr;
};

}  // namespace fraiseql::metrics
