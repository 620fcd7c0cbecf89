#include "metrics/endpoint_normalizer.h"

#include <algorithm>

#include "metrics/registry.h"

namespace fraiseql::metrics {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHex(char c) {
  return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsSchemeChar(char c) { return IsAlpha(c) || IsDigit(c) || c == '+' || c == '-' || c == '.'; }

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

}  // namespace

std::string_view NormalizeMethod(std::string_view method) {
  static constexpr std::string_view kMethods[] = {"GET",     "HEAD",    "POST",
                                                  "PUT",     "DELETE",  "CONNECT",
                                                  "OPTIONS", "TRACE",   "PATCH"};
  for (std::string_view m : kMethods) {
    if (method == m) return m;
  }
  return "OTHER";
}

bool EndpointNormalizer::IsIdSegment(std::string_view s) {
  if (s.empty()) return false;
  if (std::all_of(s.begin(), s.end(), IsDigit)) return true;
  if (IsUuid(s)) return true;
  if (s.size() >= 16 && std::all_of(s.begin(), s.end(), IsHex)) return true;
  if (s.size() >= 20 &&
      std::all_of(s.begin(), s.end(),
                  [](char c) { return IsAlpha(c) || IsDigit(c) || c == '_' || c == '-'; }) &&
      std::any_of(s.begin(), s.end(), IsDigit)) {
    return true;
  }
  return false;
}

std::string EndpointNormalizer::NormalizePath(std::string_view target) {
  if (target == "*") return "*";
  target = target.substr(0, target.find_first_of("?#"));
  if (target.empty()) return "/";
  if (target.front() != '/') {
    // Absolute-form: scheme "://" authority [path].
    const size_t sep = target.find("://");
    if (sep == std::string_view::npos || sep == 0 || !IsAlpha(target.front()) ||
        !std::all_of(target.begin(), target.begin() + sep, IsSchemeChar)) {
      return std::string(kOverflowLabelValue);
    }
    const size_t slash = target.find('/', sep + 3);
    if (slash == std::string_view::npos) return "/";
    target = target.substr(slash);
  }

  std::string out;
  out.reserve(target.size());
  size_t pos = 0;
  while (pos < target.size()) {
    size_t end = target.find('/', pos);
    if (end == std::string_view::npos) end = target.size();
    const std::string_view segment = target.substr(pos, end - pos);
    if (!segment.empty()) {
      out.push_back('/');
      out.append(IsIdSegment(segment) ? kIdSegment : segment);
    }
    pos = end + 1;
  }
  if (target.back() == '/' || out.empty()) out.push_back('/');
  if (out.size() > kMaxEndpointLength) return std::string(kOverflowLabelValue);
  return out;
}

EndpointNormalizer::EndpointNormalizer(size_t max_per_service)
    : max_per_service_(max_per_service) {}

std::string EndpointNormalizer::Normalize(std::string_view service, std::string_view target) {
  std::string path = NormalizePath(target);
  if (path == kOverflowLabelValue) return path;
  std::lock_guard<std::mutex> lock(mu_);
  auto& seen = seen_[std::string(service)];
  if (seen.contains(path)) return path;
  if (seen.size() >= max_per_service_) return std::string(kOverflowLabelValue);
  seen.insert(path);
  return path;
}

}  // namespace fraiseql::metrics
