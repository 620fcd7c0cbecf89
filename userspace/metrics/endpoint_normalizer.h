// Turns HTTP request targets into bounded `endpoint` label values and methods into
// a fixed set, per the metric contract.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace fraiseql::metrics {

// One of GET HEAD POST PUT DELETE CONNECT OPTIONS TRACE PATCH (exact, case-sensitive
// match as methods are case-sensitive), else "OTHER".
std::string_view NormalizeMethod(std::string_view method);

// Placeholder for an ID-like path segment.
inline constexpr std::string_view kIdSegment = "{id}";

// Normalize(service, target):
//  - "*" (asterisk-form) stays "*"; absolute-form "scheme://authority/path" is
//    reduced to its path; any other target that does not start with '/'
//    (authority-form, garbage) becomes "other";
//  - the query string ('?') and fragment ('#') are dropped; no percent-decoding;
//  - empty segments are dropped ("//" collapses to "/"); one trailing '/' is kept;
//    an empty path is "/";
//  - ID-like segments become "{id}": all digits; a UUID (8-4-4-4-12 hex); hex
//    digits only, at least 16 long; or at least 20 characters of [A-Za-z0-9_-]
//    with at least one digit (tokens, ULIDs, base64url IDs);
//  - endpoints longer than 256 bytes become "other";
//  - at most max_per_service distinct endpoints per service are returned; any
//    further endpoint becomes "other" (which is not counted against the cap).
// Thread-safe (internally locked); meant for the pipeline thread.
class EndpointNormalizer {
 public:
  static constexpr size_t kMaxEndpointLength = 256;

  explicit EndpointNormalizer(size_t max_per_service = 100);

  std::string Normalize(std::string_view service, std::string_view target);

  // Path normalization alone, without the per-service cap.
  static std::string NormalizePath(std::string_view target);
  static bool IsIdSegment(std::string_view segment);

 private:
  const size_t max_per_service_;
  std::mutex mu_;
  std::unordered_map<std::string, std::unordered_set<std::string>> seen_;
};

}  // namespace fraiseql::metrics
