// The chain end to end without a kernel: a real recording (PostgreSQL, Redis, GraphQL and
// Python Context births under concurrency 8) replayed through decoder → tracker → handlers →
// correlator → sinks gives exactly the values the pre-chain pipeline gave (golden file), and a
// component switched off parses nothing of its protocol and exports none of its families.
#include <map>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "../common/fixture_dir.h"
#include "metrics/registry.h"
#include "pipeline/pipeline.h"
#include "source/replay_source.h"

namespace fraiseql::pipeline {
namespace {

const std::string kRecording = std::string(FQL_FIXTURE_DIR) + "/replay/graphql_c8.fqlrec";

// Every sample line of a scrape (comments dropped): "name{labels}" → value.
std::map<std::string, std::string> Samples(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.rfind(' ');
    out[line.substr(0, sp)] = line.substr(sp + 1);
  }
  return out;
}

std::string Replay(const PipelineOptions& options) {
  auto src = source::ReplaySource::Open(kRecording);
  EXPECT_TRUE(src.ok()) << src.status().message();
  if (!src.ok()) return "";
  metrics::Registry registry;
  Pipeline pipeline(registry, options);
  while (!(*src)->Exhausted()) {
    EXPECT_TRUE((*src)->Poll(0, [&](std::span<const uint8_t> r) { pipeline.OnRecord(r); }).ok());
  }
  pipeline.Finish();
  return registry.Render();
}

bool HasFamily(const std::map<std::string, std::string>& samples, const std::string& prefix) {
  for (const auto& [k, v] : samples) {
    if (k.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

TEST(ChainReplay, ValuesIdenticalToThePreChainPipeline) {
  auto got = Samples(Replay(PipelineOptions{}));
  auto golden = Samples(testing::ReadFile(std::string(FQL_FIXTURE_DIR) +
                                          "/replay/graphql_c8.prom"));
  ASSERT_GT(golden.size(), 600u);
  size_t checked = 0;
  for (const auto& [series, value] : golden) {
    auto it = got.find(series);
    ASSERT_NE(it, got.end()) << series << " missing";
    EXPECT_EQ(it->second, value) << series;
    ++checked;
  }
  EXPECT_EQ(checked, golden.size());
  // Application series are exactly the golden ones (no new, none lost).
  for (const auto& [series, value] : got) {
    if (series.rfind("fraiseql_collector_", 0) == 0) continue;
    EXPECT_TRUE(golden.count(series)) << "new series " << series;
  }
}

TEST(ChainReplay, DatabaseMonitoringOffParsesNoPostgresAndExportsNoDbFamilies) {
  PipelineOptions o;
  o.database = false;
  auto got = Samples(Replay(o));
  EXPECT_FALSE(HasFamily(got, "fraiseql_db_"));
  EXPECT_FALSE(got.count("fraiseql_collector_parse_errors_total{protocol=\"pgsql\"}"));
  EXPECT_FALSE(HasFamily(got, "fraiseql_cache_hits_total{service_name=\"unknown_service\","
                              "cache_type=\"postgres\"}"));
  // The rest is still observed.
  EXPECT_TRUE(HasFamily(got, "fraiseql_http_requests_total{"));
  EXPECT_TRUE(HasFamily(got, "fraiseql_redis_commands_total{"));
  EXPECT_TRUE(HasFamily(got, "fraiseql_graphql_queries_total{"));
  EXPECT_EQ(got["fraiseql_collector_tracked_connections{protocol=\"other\"}"] != "", true);
}

TEST(ChainReplay, CacheMonitoringOffParsesNoRedis) {
  PipelineOptions o;
  o.cache = false;
  auto got = Samples(Replay(o));
  EXPECT_FALSE(HasFamily(got, "fraiseql_redis_"));
  EXPECT_FALSE(HasFamily(got, "fraiseql_cache_"));
  EXPECT_FALSE(got.count("fraiseql_collector_parse_errors_total{protocol=\"redis\"}"));
  EXPECT_TRUE(HasFamily(got, "fraiseql_db_queries_total{"));
}

TEST(ChainReplay, MetricsOffExportsSelfMetricsOnly) {
  PipelineOptions o;
  o.metrics = false;
  auto got = Samples(Replay(o));
  for (const auto& [series, value] : got) {
    EXPECT_EQ(series.rfind("fraiseql_collector_", 0), 0u) << series;
  }
  EXPECT_TRUE(HasFamily(got, "fraiseql_collector_events_total{"));
}

TEST(ChainReplay, SamplingKeepsCountersExactAndSamplesGraphql) {
  PipelineOptions all;
  PipelineOptions half;
  half.correlator.sample_rate = 0.5;
  auto a = Samples(Replay(all));
  auto h = Samples(Replay(half));
  for (const auto& [series, value] : a) {
    if (series.rfind("fraiseql_http_requests_total", 0) == 0 ||
        series.rfind("fraiseql_db_queries_total", 0) == 0 ||
        series.rfind("fraiseql_redis_commands_total", 0) == 0 ||
        series.rfind("fraiseql_cache_", 0) == 0) {
      EXPECT_EQ(h[series], value) << series;
    }
  }
  double sampled = std::stod(h["fraiseql_collector_sampled_requests_total{decision=\"sampled\"}"]);
  double skipped = std::stod(h["fraiseql_collector_sampled_requests_total{decision=\"skipped\"}"]);
  EXPECT_GT(sampled, 0);
  EXPECT_NEAR(sampled, skipped, 1.0);
}

}  // namespace
}  // namespace fraiseql::pipeline
