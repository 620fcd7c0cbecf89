#include "metrics/text_format.h"

#include <cmath>
#include <limits>

#include <gtest/gtest.h>

namespace fraiseql::metrics {
namespace {

TEST(FormatDoubleTest, IntegersHaveNoExponentOrFraction) {
  EXPECT_EQ(FormatDouble(0), "0");
  EXPECT_EQ(FormatDouble(-0.0), "0");
  EXPECT_EQ(FormatDouble(1), "1");
  EXPECT_EQ(FormatDouble(-3), "-3");
  EXPECT_EQ(FormatDouble(1e6), "1000000");
  EXPECT_EQ(FormatDouble(123456789012345.0), "123456789012345");
  EXPECT_EQ(FormatDouble(9007199254740991.0), "9007199254740991");
}

TEST(FormatDoubleTest, FractionsAreShortestRoundTrip) {
  EXPECT_EQ(FormatDouble(0.0005), "0.0005");
  EXPECT_EQ(FormatDouble(0.001), "0.001");
  EXPECT_EQ(FormatDouble(2.5), "2.5");
  EXPECT_EQ(FormatDouble(0.1), "0.1");
  EXPECT_EQ(FormatDouble(-0.25), "-0.25");
  EXPECT_EQ(FormatDouble(1e-5), "1e-05");
  EXPECT_EQ(FormatDouble(1e20), "1e+20");
  for (double v : {0.1 + 0.2, 1.0 / 3, 12345.678901234, 7e-300}) {
    EXPECT_EQ(std::stod(FormatDouble(v)), v) << FormatDouble(v);
  }
}

TEST(FormatDoubleTest, SpecialValues) {
  EXPECT_EQ(FormatDouble(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatDouble(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatDouble(std::nan("")), "NaN");
}

TEST(EscapeTest, LabelValue) {
  std::string out;
  AppendEscapedLabelValue("a\\b\"c\nd\te", &out);
  EXPECT_EQ(out, "a\\\\b\\\"c\\nd\te");
}

TEST(EscapeTest, LabelValueKeepsUtf8AndReplacesInvalidBytes) {
  std::string out;
  AppendEscapedLabelValue("caf\xC3\xA9", &out);
  EXPECT_EQ(out, "caf\xC3\xA9");
  out.clear();
  AppendEscapedLabelValue("a\xFF" "b\xC3", &out);  // stray byte, truncated sequence
  EXPECT_EQ(out, "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
  out.clear();
  AppendEscapedLabelValue("\xED\xA0\x80", &out);  // UTF-16 surrogate
  EXPECT_EQ(out, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(EscapeTest, HelpEscapesBackslashAndNewlineOnly) {
  std::string out;
  AppendEscapedHelp("a\\b\"c\nd", &out);
  EXPECT_EQ(out, "a\\\\b\"c\\nd");
}

TEST(NameTest, MetricAndLabelNames) {
  EXPECT_TRUE(IsValidMetricName("fraiseql_http_requests_total"));
  EXPECT_TRUE(IsValidMetricName("a:b_c9"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("9abc"));
  EXPECT_FALSE(IsValidMetricName("a-b"));
  EXPECT_TRUE(IsValidLabelName("service_name"));
  EXPECT_TRUE(IsValidLabelName("_x1"));
  EXPECT_FALSE(IsValidLabelName("__name__"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_FALSE(IsValidLabelName("1a"));
  EXPECT_FALSE(IsValidLabelName(""));
}

}  // namespace
}  // namespace fraiseql::metrics
