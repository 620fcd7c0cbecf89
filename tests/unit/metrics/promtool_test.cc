// Checks a rendered registry with the real Prometheus linter/parser:
// `promtool check metrics` must exit 0 with no output. If promtool was not found at
// configure time, the test fails unless FRAISEQL_ALLOW_NO_PROMTOOL=1 is set.
#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <cmath>
#include <limits>

#include <gtest/gtest.h>

#include "metrics/registry.h"

namespace fraiseql::metrics {
namespace {

std::string RenderEverything() {
  Registry r;
  auto& requests = r.AddCounter("fraiseql_http_requests_total", "HTTP requests \\ \"observed\".\nSecond line.",
                                {"service_name", "method", "endpoint", "status"}, 40);
  for (int i = 0; i < 60; ++i) {
    requests.WithLabels({"api", i % 2 ? "GET" : "POST", "/items/" + std::to_string(i) + "/x",
                         std::to_string(200 + i % 5)})
        .Inc(i);
  }
  requests.WithLabels({"we\"ird\\svc\nname", "GET", "/caf\xC3\xA9", "200"}).Inc();
  requests.WithLabels({"bin", "GET", "/\xFF\xFE", "200"}).Inc();
  requests.WithLabels({"empty", "GET", "", "200"}).Inc();

  auto& duration = r.AddHistogram("fraiseql_http_request_duration_seconds", "Request latency.",
                                  {"service_name", "method", "endpoint"}, LatencyBuckets(), 10);
  for (int i = 0; i < 30; ++i) {
    duration.WithLabels({"api", "POST", "/e" + std::to_string(i % 12)}).Observe(0.0003 * i * i);
  }
  r.AddHistogram("fraiseql_db_transaction_duration_seconds", "Transactions.", {},
                 LatencyBuckets())
      .WithLabels({})
      .Observe(12);
  r.AddGauge("fraiseql_http_requests_in_flight", "In flight.", {"service_name"})
      .WithLabels({"api"})
      .Set(-2.5);
  r.AddGauge("fraiseql_collector_tracked_connections", "Tracked connections.", {})
      .WithLabels({})
      .Set(1e20);
  auto& weird = r.AddGauge("fraiseql_collector_weird", "Special values.", {"v"});
  weird.WithLabels({"nan"}).Set(std::nan(""));
  weird.WithLabels({"inf"}).Set(std::numeric_limits<double>::infinity());
  weird.WithLabels({"ninf"}).Set(-std::numeric_limits<double>::infinity());
  weird.WithLabels({"tiny"}).Set(1e-300);
  r.AddCounter("fraiseql_collector_ringbuf_lost_events_total", "Kernel losses.", {})
      .WithLabels({})
      .SetTotal(123456789012.0);
  r.AddCounter("fraiseql_db_errors_total", "DB errors.", {"sqlstate"});  // no series
  return r.Render();
}

TEST(PromtoolTest, CheckMetricsIsClean) {
  std::string promtool = FRAISEQL_PROMTOOL_PATH;
  if (promtool.empty()) {
    const char* allow = std::getenv("FRAISEQL_ALLOW_NO_PROMTOOL");
    if (allow != nullptr && std::string(allow) == "1") {
      GTEST_SKIP() << "promtool not found; skipped because FRAISEQL_ALLOW_NO_PROMTOOL=1";
    }
    FAIL() << "promtool not found at configure time (install prometheus, or set "
              "FRAISEQL_ALLOW_NO_PROMTOOL=1 to skip)";
  }

  const std::string text = RenderEverything();
  const std::string path = ::testing::TempDir() + "fraiseql_promtool_input.prom";
  {
    std::ofstream f(path, std::ios::binary);
    f << text;
    ASSERT_TRUE(f.good());
  }
  const std::string cmd = "'" + promtool + "' check metrics < '" + path + "' 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string output;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) output.append(buf, n);
  const int status = pclose(p);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0) << output << "\n--- input ---\n" << text;
  EXPECT_EQ(output, "") << "\n--- input ---\n" << text;
  std::remove(path.c_str());
}

}  // namespace
}  // namespace fraiseql::metrics
