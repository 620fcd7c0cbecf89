#include "metrics/registry.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <span>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace fraiseql::metrics {
namespace {

// The internal overflow family always comes first.
constexpr std::string_view kOverflowHeader =
    "# HELP fraiseql_collector_series_overflow_total Label value sets folded into an "
    "overflow series because the metric reached its series cap.\n"
    "# TYPE fraiseql_collector_series_overflow_total counter\n";

std::string WithoutOverflowHeader(const std::string& text) {
  EXPECT_EQ(text.substr(0, kOverflowHeader.size()), kOverflowHeader);
  return text.substr(kOverflowHeader.size());
}

TEST(RegistryTest, EmptyRegistryRendersOnlyTheOverflowHeader) {
  Registry r;
  EXPECT_EQ(r.Render(), kOverflowHeader);
}

TEST(RegistryTest, CounterRendering) {
  Registry r;
  auto& f = r.AddCounter("fraiseql_http_requests_total", "HTTP requests.",
                         {"service_name", "method", "status"});
  f.WithLabels({"api", "POST", "200"}).Inc();
  f.WithLabels({"api", "POST", "200"}).Inc(2);
  f.WithLabels({"api", "GET", "500"}).Inc(0.5);
  f.WithLabels({"api", "GET", "500"}).Inc(-1);  // ignored
  EXPECT_EQ(WithoutOverflowHeader(r.Render()),
            "# HELP fraiseql_http_requests_total HTTP requests.\n"
            "# TYPE fraiseql_http_requests_total counter\n"
            "fraiseql_http_requests_total{service_name=\"api\",method=\"GET\",status=\"500\"} "
            "0.5\n"
            "fraiseql_http_requests_total{service_name=\"api\",method=\"POST\",status=\"200\"} "
            "3\n");
}

TEST(RegistryTest, CounterSetTotal) {
  Registry r;
  auto& c = r.AddCounter("fraiseql_collector_events_lost_total", "Lost.", {}).WithLabels({});
  c.SetTotal(1234567);
  EXPECT_EQ(c.Value(), 1234567);
  EXPECT_NE(r.Render().find("\nfraiseql_collector_events_lost_total 1234567\n"),
            std::string::npos);
}

TEST(RegistryTest, GaugeRenderingWithoutLabels) {
  Registry r;
  auto& g = r.AddGauge("fraiseql_http_requests_in_flight", "In flight.", {}).WithLabels({});
  g.Set(5);
  g.Inc();
  g.Dec(3);
  g.Inc(0.25);
  EXPECT_EQ(WithoutOverflowHeader(r.Render()),
            "# HELP fraiseql_http_requests_in_flight In flight.\n"
            "# TYPE fraiseql_http_requests_in_flight gauge\n"
            "fraiseql_http_requests_in_flight 3.25\n");
}

TEST(RegistryTest, HistogramRendering) {
  Registry r;
  auto& f = r.AddHistogram("fraiseql_db_query_duration_seconds", "Query time.", {"query_type"},
                           {0.001, 0.5, 1});
  auto& h = f.WithLabels({"select"});
  h.Observe(0.0005);
  h.Observe(0.001);  // le is inclusive
  h.Observe(0.75);
  h.Observe(30);
  h.Observe(std::nan(""));  // ignored
  EXPECT_EQ(WithoutOverflowHeader(r.Render()),
            "# HELP fraiseql_db_query_duration_seconds Query time.\n"
            "# TYPE fraiseql_db_query_duration_seconds histogram\n"
            "fraiseql_db_query_duration_seconds_bucket{query_type=\"select\",le=\"0.001\"} 2\n"
            "fraiseql_db_query_duration_seconds_bucket{query_type=\"select\",le=\"0.5\"} 2\n"
            "fraiseql_db_query_duration_seconds_bucket{query_type=\"select\",le=\"1\"} 3\n"
            "fraiseql_db_query_duration_seconds_bucket{query_type=\"select\",le=\"+Inf\"} 4\n"
            "fraiseql_db_query_duration_seconds_sum{query_type=\"select\"} 30.7515\n"
            "fraiseql_db_query_duration_seconds_count{query_type=\"select\"} 4\n");
}

TEST(RegistryTest, HistogramWithoutLabelsAndLatencyBuckets) {
  Registry r;
  auto& h = r.AddHistogram("fraiseql_db_transaction_duration_seconds", "Tx.", {},
                           LatencyBuckets())
                .WithLabels({});
  h.Observe(0.003);
  const std::string text = r.Render();
  const char* want =
      "fraiseql_db_transaction_duration_seconds_bucket{le=\"0.0005\"} 0\n"
      "fraiseql_db_transaction_duration_seconds_bucket{le=\"0.001\"} 0\n"
      "fraiseql_db_transaction_duration_seconds_bucket{le=\"0.0025\"} 0\n"
      "fraiseql_db_transaction_duration_seconds_bucket{le=\"0.005\"} 1\n"
      "fraiseql_db_transaction_duration_seconds_bucket{le=\"0.01\"} 1\n"
      "fraiseql_db_transaction_duration_seconds_bucket{le=\"0.025\"} 1\n"
      "fraiseql_db_transaction_duration_seconds_bucket{le=\"0.05\"} 1\n"
      "fraiseql_db_transaction_duration_seconds_bucket{le=\"0.1\"} 1\n"
      "fraiseql_db_transaction_duration_seconds_bucket{le=\"0.25\"} 1\n"
      "fraiseql_db_transaction_duration_seconds_bucket{le=\"0.5\"} 1\n"
      "fraiseql_db_transaction_duration_seconds_bucket{le=\"1\"} 1\n"
      "fraiseql_db_transaction_duration_seconds_bucket{le=\"2.5\"} 1\n"
      "fraiseql_db_transaction_duration_seconds_bucket{le=\"5\"} 1\n"
      "fraiseql_db_transaction_duration_seconds_bucket{le=\"10\"} 1\n"
      "fraiseql_db_transaction_duration_seconds_bucket{le=\"+Inf\"} 1\n"
      "fraiseql_db_transaction_duration_seconds_sum 0.003\n"
      "fraiseql_db_transaction_duration_seconds_count 1\n";
  EXPECT_NE(text.find(want), std::string::npos) << text;
}

TEST(RegistryTest, TrailingInfBucketIsAccepted) {
  Registry r;
  auto& f = r.AddHistogram("x_seconds", "x", {}, {1, std::numeric_limits<double>::infinity()});
  f.WithLabels({}).Observe(2);
  const std::string text = r.Render();
  EXPECT_NE(text.find("x_seconds_bucket{le=\"1\"} 0\nx_seconds_bucket{le=\"+Inf\"} 1\n"),
            std::string::npos)
      << text;
}

TEST(RegistryTest, EscapingOfLabelValuesAndHelp) {
  Registry r;
  auto& f = r.AddCounter("fraiseql_graphql_queries_total", "Queries \\ with\nnewline \"q\".",
                         {"operation_name"});
  f.WithLabels({"a\\b\"c\nd"}).Inc();
  EXPECT_EQ(WithoutOverflowHeader(r.Render()),
            "# HELP fraiseql_graphql_queries_total Queries \\\\ with\\nnewline \"q\".\n"
            "# TYPE fraiseql_graphql_queries_total counter\n"
            "fraiseql_graphql_queries_total{operation_name=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(RegistryTest, OrderIsRegistrationThenSortedLabels) {
  Registry r;
  auto& b = r.AddGauge("b_gauge", "b", {"k"});
  auto& a = r.AddGauge("a_gauge", "a", {"k"});
  b.WithLabels({"z"}).Set(1);
  b.WithLabels({"a"}).Set(2);
  a.WithLabels({"m"}).Set(3);
  EXPECT_EQ(WithoutOverflowHeader(r.Render()),
            "# HELP b_gauge b\n# TYPE b_gauge gauge\n"
            "b_gauge{k=\"a\"} 2\nb_gauge{k=\"z\"} 1\n"
            "# HELP a_gauge a\n# TYPE a_gauge gauge\n"
            "a_gauge{k=\"m\"} 3\n");
}

TEST(RegistryTest, ReferencesAreStableAndLabelOverloadsAgree) {
  Registry r;
  auto& f = r.AddCounter("c_total", "c", {"a", "b"});
  Counter* first = &f.WithLabels({"x", "y"});
  for (int i = 0; i < 1000; ++i) f.WithLabels({std::to_string(i), "y"});
  EXPECT_EQ(first, &f.WithLabels({"x", "y"}));
  EXPECT_EQ(first, &f.WithLabels(std::vector<std::string>{"x", "y"}));
  const std::string_view views[] = {"x", "y"};
  EXPECT_EQ(first, &f.WithLabels(std::span<const std::string_view>(views)));
  EXPECT_EQ(f.series_count(), 1001u);
}

TEST(RegistryTest, SameRegistrationReturnsSameFamily) {
  Registry r;
  auto& a = r.AddCounter("c_total", "c", {"a"}, 5);
  auto& b = r.AddCounter("c_total", "c", {"a"}, 5);
  EXPECT_EQ(&a, &b);
}

TEST(RegistryDeathTest, MisuseAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("c", "c", {});
      },
      "must end in _total");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("c_total", "c", {"a"});
        r.AddGauge("c_total", "c", {"a"});
      },
      "registered twice");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("c_total", "c", {"a"}).WithLabels({"x", "y"});
      },
      "2 label values, expected 1");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddGauge("g", "g", {"a-b"});
      },
      "invalid label name");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddHistogram("h", "h", {}, {2, 1});
      },
      "strictly increasing");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddHistogram("h", "h", {"le"}, {1});
      },
      "label named le");
}

TEST(CardinalityCapTest, FoldsAllButIdentityLabels) {
  Registry r;
  auto& f = r.AddCounter("fraiseql_http_requests_total", "HTTP requests.",
                         {"service_name", "k8s_pod_name", "method", "endpoint"}, 2);
  f.WithLabels({"api", "p1", "GET", "/a"}).Inc();
  f.WithLabels({"api", "p1", "GET", "/b"}).Inc();
  f.WithLabels({"api", "p1", "GET", "/c"}).Inc();   // folded
  f.WithLabels({"api", "p1", "POST", "/d"}).Inc();  // folded, same overflow series
  f.WithLabels({"web", "p2", "GET", "/e"}).Inc(5);  // folded, its own overflow series
  f.WithLabels({"api", "p1", "GET", "/a"}).Inc();   // existing series still update
  EXPECT_EQ(f.series_count(), 4u);
  EXPECT_EQ(r.Render(),
            std::string(kOverflowHeader) +
                "fraiseql_collector_series_overflow_total{metric=\"fraiseql_http_requests_"
                "total\"} 3\n"
                "# HELP fraiseql_http_requests_total HTTP requests.\n"
                "# TYPE fraiseql_http_requests_total counter\n"
                "fraiseql_http_requests_total{service_name=\"api\",k8s_pod_name=\"p1\","
                "method=\"GET\",endpoint=\"/a\"} 2\n"
                "fraiseql_http_requests_total{service_name=\"api\",k8s_pod_name=\"p1\","
                "method=\"GET\",endpoint=\"/b\"} 1\n"
                "fraiseql_http_requests_total{service_name=\"api\",k8s_pod_name=\"p1\","
                "method=\"other\",endpoint=\"other\"} 2\n"
                "fraiseql_http_requests_total{service_name=\"web\",k8s_pod_name=\"p2\","
                "method=\"other\",endpoint=\"other\"} 5\n");
}

TEST(CardinalityCapTest, OverflowSeriesAreCappedToo) {
  Registry r;
  auto& f = r.AddGauge("g", "g", {"service_name", "x"}, 2);
  for (int i = 0; i < 100; ++i) f.WithLabels({"s" + std::to_string(i), "v"}).Inc();
  // 2 regular + 2 overflow with a kept service + 1 fully folded.
  EXPECT_EQ(f.series_count(), 5u);
  const std::string text = r.Render();
  EXPECT_NE(text.find("g{service_name=\"other\",x=\"other\"} 96\n"), std::string::npos) << text;
  EXPECT_NE(text.find("fraiseql_collector_series_overflow_total{metric=\"g\"} 98\n"),
            std::string::npos)
      << text;
}

TEST(CardinalityCapTest, FoldMergesIntoExistingOtherSeries) {
  Registry r;
  auto& f = r.AddCounter("c_total", "c", {"service_name", "endpoint"}, 1);
  f.WithLabels({"api", "other"}).Inc();  // e.g. EndpointNormalizer overflow
  f.WithLabels({"api", "/x"}).Inc();     // folded into the same series
  EXPECT_EQ(f.series_count(), 1u);
  EXPECT_EQ(f.WithLabels({"api", "other"}).Value(), 2);
}

TEST(CardinalityCapTest, UncappedFamiliesHaveNoOverflowSeries) {
  Registry r;
  auto& f = r.AddCounter("c_total", "c", {"a"});
  for (int i = 0; i < 50; ++i) f.WithLabels({std::to_string(i)}).Inc();
  EXPECT_EQ(f.series_count(), 50u);
  EXPECT_EQ(r.Render().find("fraiseql_collector_series_overflow_total{"), std::string::npos);
}

TEST(RegistryTest, CollectHooksRunBeforeRendering) {
  Registry r;
  auto& lost = r.AddCounter("fraiseql_collector_lost_total", "Lost.", {"reason"});
  int calls = 0;
  r.AddCollectHook([&] {
    ++calls;
    lost.WithLabels({"ringbuf_full"}).SetTotal(calls * 10);
  });
  r.Render();
  const std::string text = r.Render();
  EXPECT_EQ(calls, 2);
  EXPECT_NE(text.find("fraiseql_collector_lost_total{reason=\"ringbuf_full\"} 20\n"),
            std::string::npos)
      << text;
}

// One thread updates and creates series while another renders; run under
// -fsanitize=thread to check the locking, and check the final state exactly.
TEST(RegistryThreadTest, UpdatesConcurrentWithRender) {
  Registry r;
  auto& c = r.AddCounter("c_total", "c", {"k"}, 50);
  auto& h = r.AddHistogram("h_seconds", "h", {"k"}, LatencyBuckets());
  auto& g = r.AddGauge("g", "g", {});
  std::atomic<bool> done{false};
  std::thread renderer([&] {
    while (!done.load()) {
      const std::string text = r.Render();
      ASSERT_FALSE(text.empty());
    }
  });
  constexpr int kIters = 20000;
  for (int i = 0; i < kIters; ++i) {
    const std::string k = std::to_string(i % 100);
    c.WithLabels({k}).Inc();
    h.WithLabels({std::to_string(i % 7)}).Observe(0.001 * (i % 50));
    g.WithLabels({}).Set(i);
    if (i % 1000 == 0) r.AddGauge("late_" + std::to_string(i), "late", {}).WithLabels({}).Inc();
  }
  done = true;
  renderer.join();

  double total = 0;
  for (int i = 0; i < 50; ++i) total += c.WithLabels({std::to_string(i)}).Value();
  total += c.WithLabels({"other"}).Value();
  EXPECT_EQ(total, kIters + 0.0);  // ("other" folds made no new series)
  EXPECT_EQ(c.series_count(), 51u);
  const std::string text = r.Render();
  EXPECT_NE(text.find("g " + std::to_string(kIters - 1) + "\n"), std::string::npos);
  EXPECT_NE(text.find("h_seconds_count{k=\"0\"} 2858\n"), std::string::npos);
  EXPECT_NE(text.find("fraiseql_collector_series_overflow_total{metric=\"c_total\"} 10000\n"),
            std::string::npos);
}

}  // namespace
}  // namespace fraiseql::metrics
