// The metric catalog: every family well-formed per the metric contract, registrable, and
// docs/metrics.md's reference table exactly what the catalog renders (fails on drift).
#include "metrics/catalog.h"

#include <set>
#include <string>

#include <gtest/gtest.h>

#include "../common/fixture_dir.h"

namespace fraiseql::metrics {
namespace {

TEST(CatalogTest, EveryFamilyFollowsTheContract) {
  std::set<std::string_view> names;
  for (const FamilyDef& d : Catalog()) {
    EXPECT_TRUE(names.insert(d.name).second) << "defined twice: " << d.name;
    EXPECT_EQ(d.name.rfind("fraiseql_", 0), 0u) << d.name;
    bool total = d.name.size() > 6 && d.name.substr(d.name.size() - 6) == "_total";
    EXPECT_EQ(total, d.type == MetricType::kCounter) << d.name;
    EXPECT_EQ(d.type == MetricType::kHistogram, d.buckets != Buckets::kNone) << d.name;
    EXPECT_FALSE(d.help.empty()) << d.name;
    EXPECT_FALSE(d.owner.empty()) << d.name;
    bool app = d.component != "collector";
    if (app) {
      ASSERT_FALSE(d.labels.empty()) << d.name;
      EXPECT_EQ(d.labels[0], "service_name") << d.name << ": application series carry it";
      EXPECT_GT(d.max_series, 0u) << d.name << ": application families are capped";
      EXPECT_EQ(std::find(d.labels.begin(), d.labels.end(), "pid"), d.labels.end()) << d.name;
    } else {
      EXPECT_EQ(d.name.rfind("fraiseql_collector_", 0), 0u) << d.name;
    }
    std::set<std::string_view> labels(d.labels.begin(), d.labels.end());
    EXPECT_EQ(labels.size(), d.labels.size()) << d.name;
  }
}

TEST(CatalogTest, EveryFamilyRegisters) {
  Registry r;
  for (const FamilyDef& d : Catalog()) {
    switch (d.type) {
      case MetricType::kCounter: EXPECT_EQ(CounterOf(r, d.id).name(), d.name); break;
      case MetricType::kGauge: EXPECT_EQ(GaugeOf(r, d.id).name(), d.name); break;
      case MetricType::kHistogram: EXPECT_EQ(HistogramOf(r, d.id).name(), d.name); break;
    }
    EXPECT_EQ(FindFamily(d.name), &d);
  }
  EXPECT_EQ(FindFamily("fraiseql_nope"), nullptr);
}

TEST(CatalogTest, DocsMetricsMdMatchesTheCatalog) {
  const std::string doc = testing::ReadFile(std::string(FQL_SOURCE_DIR) + "/docs/metrics.md");
  const std::string begin = "<!-- BEGIN CATALOG (generated: do not edit by hand) -->\n";
  const std::string end = "<!-- END CATALOG -->";
  size_t b = doc.find(begin);
  size_t e = doc.find(end);
  ASSERT_NE(b, std::string::npos);
  ASSERT_NE(e, std::string::npos);
  EXPECT_EQ(doc.substr(b + begin.size(), e - b - begin.size()), RenderCatalogMarkdown())
      << "docs/metrics.md is out of date: regenerate the table with "
         "`fraiseql-collector catalog --format md`";
}

}  // namespace
}  // namespace fraiseql::metrics
