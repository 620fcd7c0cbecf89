// Building blocks of the Prometheus text exposition format 0.0.4
// (https://prometheus.io/docs/instrumenting/exposition_formats/).
#pragma once

#include <string>
#include <string_view>

namespace fraiseql::metrics {

// Appends `value` in a form Prometheus' parser (Go strconv.ParseFloat) accepts:
// "NaN", "+Inf", "-Inf"; integral values below 2^53 as plain integers ("42", "-3",
// never "4.2e+01"); other values in shortest round-trip form, fixed notation for
// 1e-4 <= |v| < 1e15 ("0.0005", "2.5") and scientific otherwise ("1e-05").
void AppendDouble(double value, std::string* out);
std::string FormatDouble(double value);

// Appends a label value escaped for use inside double quotes: backslash, double
// quote and line feed become \\, \" and \n. Invalid UTF-8 (possible in values taken
// from the wire) is replaced by U+FFFD, because Prometheus rejects it.
void AppendEscapedLabelValue(std::string_view value, std::string* out);

// Appends HELP text escaped: backslash and line feed become \\ and \n.
void AppendEscapedHelp(std::string_view help, std::string* out);

// Name rules of the data model.
bool IsValidMetricName(std::string_view name);  // [a-zA-Z_:][a-zA-Z0-9_:]*
bool IsValidLabelName(std::string_view name);   // [a-zA-Z_][a-zA-Z0-9_]*, not "__*"

}  // namespace fraiseql::metrics
