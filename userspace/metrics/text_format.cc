#include "metrics/text_format.h"

#include <charconv>
#include <cmath>
#include <cstdint>

namespace fraiseql::metrics {
namespace {

constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53
constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return 1;
  size_t len;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    len = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    len = 3;
    if (b0 == 0xE0) lo = 0xA0;  // no overlong forms
    if (b0 == 0xED) hi = 0x9F;  // no surrogates
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    len = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;  // <= U+10FFFF
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  const auto b1 = static_cast<unsigned char>(s[i + 1]);
  if (b1 < lo || b1 > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if (b < 0x80 || b > 0xBF) return 0;
  }
  return len;
}

}  // namespace

void AppendDouble(double value, std::string* out) {
  if (std::isnan(value)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(value)) {
    out->append(value > 0 ? "+Inf" : "-Inf");
    return;
  }
  char buf[64];
  std::to_chars_result r;
  if (std::fabs(value) < kMaxExactInteger && value == std::trunc(value)) {
    r = std::to_chars(buf, buf + sizeof(buf), static_cast<int64_t>(value));
  } else {
    const double a = std::fabs(value);
    const auto fmt = (a >= 1e-4 && a < 1e15) ? std::chars_format::fixed
                                             : std::chars_format::scientific;
    r = std::to_chars(buf, buf + sizeof(buf), value, fmt);
  }
  out->append(buf, r.ptr);
}

std::string FormatDouble(double value) {
  std::string s;
  AppendDouble(value, &s);
  return s;
}

void AppendEscapedLabelValue(std::string_view value, std::string* out) {
  for (size_t i = 0; i < value.size();) {
    const char c = value[i];
    switch (c) {
      case '\\': out->append("\\\\"); ++i; continue;
      case '"': out->append("\\\""); ++i; continue;
      case '\n': out->append("\\n"); ++i; continue;
      default: break;
    }
    const size_t len = Utf8SequenceLength(value, i);
    if (len == 0) {
      out->append(kReplacementChar);
      ++i;
    } else {
      out->append(value.substr(i, len));
      i += len;
    }
  }
}

void AppendEscapedHelp(std::string_view help, std::string* out) {
  for (size_t i = 0; i < help.size();) {
    const char c = help[i];
    if (c == '\\') {
      out->append("\\\\");
      ++i;
      continue;
    }
    if (c == '\n') {
      out->append("\\n");
      ++i;
      continue;
    }
    const size_t len = Utf8SequenceLength(help, i);
    if (len == 0) {
      out->append(kReplacementChar);
      ++i;
    } else {
      out->append(help.substr(i, len));
      i += len;
    }
  }
}

bool IsValidMetricName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = IsAlpha(c) || c == '_' || c == ':' || (i > 0 && IsDigit(c));
    if (!ok) return false;
  }
  return true;
}

bool IsValidLabelName(std::string_view name) {
  if (name.empty() || name.starts_with("__")) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool ok = IsAlpha(c) || c == '_' || (i > 0 && IsDigit(c));
    if (!ok) return false;
  }
  return true;
}

}  // namespace fraiseql::metrics
