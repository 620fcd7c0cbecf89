#include "metrics/registry.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "metrics/text_format.h"

namespace fraiseql::metrics {
namespace {

// Labels per family; bounds the stack buffer used for lookups.
constexpr size_t kMaxLabels = 16;

// Labels that identify the workload; kept when a series is folded.
constexpr std::string_view kIdentityLabels[] = {"service_name", "k8s_namespace_name",
                                                "k8s_pod_name", "k8s_container_name"};

[[noreturn]] void Fatal(const std::string& message) {
  std::fprintf(stderr, "fraiseql metrics: %s\n", message.c_str());
  std::abort();
}

const char* TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

void AppendLabels(const std::vector<std::string>& names,
                  std::span<const std::string_view> values, std::string* out) {
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out->push_back(',');
    out->append(names[i]);
    out->append("=\"");
    AppendEscapedLabelValue(values[i], out);
    out->push_back('"');
  }
}

// name{labels} value\n, or name value\n without labels.
void AppendSample(std::string_view name, std::string_view suffix, std::string_view labels,
                  double value, std::string* out) {
  out->append(name);
  out->append(suffix);
  if (!labels.empty()) {
    out->push_back('{');
    out->append(labels);
    out->push_back('}');
  }
  out->push_back(' ');
  AppendDouble(value, out);
  out->push_back('\n');
}

}  // namespace

// ---------------------------------------------------------------------------
// Series

void Counter::Inc(double v) {
  if (!(v >= 0)) return;  // negative or NaN
  value_.fetch_add(v, std::memory_order_relaxed);
}

void Counter::SetTotal(double total) {
  if (std::isnan(total)) return;
  value_.store(total, std::memory_order_relaxed);
}

Histogram::Histogram(const std::vector<double>* bounds)
    : bounds_(*bounds), counts_(new std::atomic<uint64_t>[bounds->size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double v) {
  if (std::isnan(v)) return;
  const size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Take() const {
  Snapshot s;
  s.cumulative.reserve(bounds_.size() + 1);
  uint64_t total = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    total += counts_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(total);
  }
  s.count = total;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// ---------------------------------------------------------------------------
// Families

FamilyBase::FamilyBase(MetricType type, std::string name, std::string help,
                       std::vector<std::string> label_names, size_t max_series)
    : type_(type),
      name_(std::move(name)),
      help_(std::move(help)),
      label_names_(std::move(label_names)),
      max_series_(max_series) {}

void FamilyBase::AppendHeader(std::string* out) const {
  out->append("# HELP ").append(name_).push_back(' ');
  AppendEscapedHelp(help_, out);
  out->append("\n# TYPE ").append(name_).push_back(' ');
  out->append(TypeName(type_)).push_back('\n');
}

template <typename T>
Family<T>::Family(MetricType type, std::string name, std::string help,
                  std::vector<std::string> label_names, size_t max_series,
                  std::vector<double> buckets)
    : FamilyBase(type, std::move(name), std::move(help), std::move(label_names), max_series),
      buckets_(std::move(buckets)) {
  for (double b : buckets_) le_values_.push_back(FormatDouble(b));
  le_values_.push_back("+Inf");
  for (const auto& n : label_names_) {
    kept_on_fold_.push_back(std::find(std::begin(kIdentityLabels), std::end(kIdentityLabels),
                                      n) != std::end(kIdentityLabels));
  }
}

template <typename T>
T& Family<T>::WithLabels(const std::vector<std::string>& values) {
  if (values.size() > kMaxLabels) {
    Fatal(name_ + ": " + std::to_string(values.size()) + " label values, expected " +
          std::to_string(label_names_.size()));
  }
  std::string_view views[kMaxLabels];
  for (size_t i = 0; i < values.size(); ++i) views[i] = values[i];
  return WithLabels(std::span<const std::string_view>(views, values.size()));
}

template <typename T>
T& Family<T>::WithLabels(std::span<const std::string_view> values) {
  if (values.size() != label_names_.size()) {
    Fatal(name_ + ": " + std::to_string(values.size()) + " label values, expected " +
          std::to_string(label_names_.size()));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = series_.find(values); it != series_.end()) return it->second.metric;
  if (max_series_ == 0 || regular_series_ < max_series_) {
    ++regular_series_;
    return Create(values);
  }

  // Fold: keep the identity labels, everything else becomes "other".
  overflow_counter_->Inc();
  std::string_view folded[kMaxLabels];
  for (size_t i = 0; i < values.size(); ++i) {
    folded[i] = kept_on_fold_[i] ? values[i] : kOverflowLabelValue;
  }
  std::span<const std::string_view> key(folded, values.size());
  if (auto it = series_.find(key); it != series_.end()) return it->second.metric;
  if (overflow_series_ >= max_series_) {
    // Too many workloads as well: fold everything.
    for (size_t i = 0; i < values.size(); ++i) folded[i] = kOverflowLabelValue;
    if (auto it = series_.find(key); it != series_.end()) return it->second.metric;
  }
  ++overflow_series_;
  return Create(key);
}

template <typename T>
T& Family<T>::Create(std::span<const std::string_view> values) {
  std::string labels;
  AppendLabels(label_names_, values, &labels);
  std::vector<std::string> key(values.begin(), values.end());
  if constexpr (std::is_same_v<T, Histogram>) {
    return series_.try_emplace(std::move(key), std::move(labels), &buckets_)
        .first->second.metric;
  } else {
    return series_.try_emplace(std::move(key), std::move(labels)).first->second.metric;
  }
}

template <typename T>
size_t Family<T>::series_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return series_.size();
}

template <typename T>
void Family<T>::Render(std::string* out) const {
  AppendHeader(out);
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& [key, series] : series_) {
    if constexpr (std::is_same_v<T, Histogram>) {
      const Histogram::Snapshot snap = series.metric.Take();
      std::string labels = series.labels;
      if (!labels.empty()) labels.push_back(',');
      labels.append("le=\"");
      const size_t prefix = labels.size();
      for (size_t i = 0; i < le_values_.size(); ++i) {
        labels.resize(prefix);
        labels.append(le_values_[i]).push_back('"');
        AppendSample(name_, "_bucket", labels, static_cast<double>(snap.cumulative[i]), out);
      }
      AppendSample(name_, "_sum", series.labels, snap.sum, out);
      AppendSample(name_, "_count", series.labels, static_cast<double>(snap.count), out);
    } else {
      AppendSample(name_, "", series.labels, series.metric.Value(), out);
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

// ---------------------------------------------------------------------------
// Registry

Registry::Registry() {
  overflow_family_ = &Add<Counter>(
      MetricType::kCounter, std::string(kSeriesOverflowMetric),
      "Label value sets folded into an overflow series because the metric reached its "
      "series cap.",
      {"metric"}, 0, {});
}

CounterFamily& Registry::AddCounter(std::string name, std::string help,
                                    std::vector<std::string> label_names, size_t max_series) {
  if (!name.ends_with("_total")) Fatal(name + ": counter names must end in _total");
  return Add<Counter>(MetricType::kCounter, std::move(name), std::move(help),
                      std::move(label_names), max_series, {});
}

GaugeFamily& Registry::AddGauge(std::string name, std::string help,
                                std::vector<std::string> label_names, size_t max_series) {
  return Add<Gauge>(MetricType::kGauge, std::move(name), std::move(help),
                    std::move(label_names), max_series, {});
}

HistogramFamily& Registry::AddHistogram(std::string name, std::string help,
                                        std::vector<std::string> label_names,
                                        std::vector<double> buckets, size_t max_series) {
  if (!buckets.empty() && std::isinf(buckets.back()) && buckets.back() > 0) buckets.pop_back();
  for (size_t i = 0; i < buckets.size(); ++i) {
    if (!std::isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1]))) {
      Fatal(name + ": histogram buckets must be finite and strictly increasing");
    }
  }
  for (const auto& l : label_names) {
    if (l == "le") Fatal(name + ": histograms cannot have a label named le");
  }
  return Add<Histogram>(MetricType::kHistogram, std::move(name), std::move(help),
                        std::move(label_names), max_series, std::move(buckets));
}

template <typename T>
Family<T>& Registry::Add(MetricType type, std::string name, std::string help,
                         std::vector<std::string> label_names, size_t max_series,
                         std::vector<double> buckets) {
  if (!IsValidMetricName(name)) Fatal("invalid metric name '" + name + "'");
  if (label_names.size() > kMaxLabels) Fatal(name + ": too many labels");
  std::set<std::string_view> seen;
  for (const auto& l : label_names) {
    if (!IsValidLabelName(l)) Fatal(name + ": invalid label name '" + l + "'");
    if (!seen.insert(l).second) Fatal(name + ": duplicate label name '" + l + "'");
  }

  Family<T>* family = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& f : families_) {
      if (f->name() != name) continue;
      auto* same = dynamic_cast<Family<T>*>(f.get());
      if (same == nullptr || same->label_names() != label_names ||
          same->max_series() != max_series || same->buckets_ != buckets) {
        Fatal(name + ": registered twice with different type, labels, cap or buckets");
      }
      return *same;
    }
    family = new Family<T>(type, std::move(name), std::move(help), std::move(label_names),
                           max_series, std::move(buckets));
    if (max_series > 0) {
      // Set before the family is visible. Lock order: mu_, then a family's mutex.
      family->overflow_counter_ = &overflow_family_->WithLabels({family->name()});
    }
    families_.emplace_back(family);
  }
  return *family;
}

uint64_t Registry::AddCollectHook(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(mu_);
  uint64_t id = next_hook_id_++;
  hooks_.emplace_back(id, std::move(hook));
  return id;
}

void Registry::RemoveCollectHook(uint64_t id) {
  std::lock_guard<std::mutex> render(render_mu_);
  std::lock_guard<std::mutex> lock(mu_);
  std::erase_if(hooks_, [id](const auto& h) { return h.first == id; });
}

std::string Registry::Render() {
  std::string out;
  RenderTo(&out);
  return out;
}

void Registry::RenderTo(std::string* out) {
  std::lock_guard<std::mutex> render_lock(render_mu_);
  std::vector<std::pair<uint64_t, std::function<void()>>> hooks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hooks = hooks_;
  }
  for (const auto& [id, hook] : hooks) hook();

  std::vector<const FamilyBase*> families;
  {
    std::lock_guard<std::mutex> lock(mu_);
    families.reserve(families_.size());
    for (const auto& f : families_) families.push_back(f.get());
  }
  for (const FamilyBase* f : families) f->Render(out);
}

}  // namespace fraiseql::metrics
