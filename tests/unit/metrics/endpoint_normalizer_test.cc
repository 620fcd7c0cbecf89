#include "metrics/endpoint_normalizer.h"

#include <string>

#include <gtest/gtest.h>

namespace fraiseql::metrics {
namespace {

TEST(NormalizeMethodTest, KnownMethodsAndOther) {
  for (const char* m : {"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
                        "PATCH"}) {
    EXPECT_EQ(NormalizeMethod(m), m);
  }
  EXPECT_EQ(NormalizeMethod("get"), "OTHER");
  EXPECT_EQ(NormalizeMethod("PROPFIND"), "OTHER");
  EXPECT_EQ(NormalizeMethod(""), "OTHER");
  EXPECT_EQ(NormalizeMethod("GETX"), "OTHER");
}

struct Case {
  const char* target;
  const char* want;
};

TEST(EndpointNormalizerTest, PathCases) {
  const Case cases[] = {
      {"/graphql", "/graphql"},
      {"/graphql?query={a}", "/graphql"},
      {"/graphql#frag", "/graphql"},
      {"/a?b#c", "/a"},
      {"", "/"},
      {"?x=1", "/"},
      {"/", "/"},
      {"//", "/"},
      {"//a///b", "/a/b"},
      {"/users/", "/users/"},
      {"/users/123", "/users/{id}"},
      {"/users/123/posts/0", "/users/{id}/posts/{id}"},
      {"/v1/items", "/v1/items"},
      {"/o/550e8400-e29b-41d4-a716-446655440000", "/o/{id}"},
      {"/o/550E8400-E29B-41D4-A716-446655440000/x", "/o/{id}/x"},
      {"/o/550e8400-e29b-41d4-a716-44665544000", "/o/{id}"},  // not a UUID, but a token
      {"/c/0123456789abcdef", "/c/{id}"},          // hex, 16
      {"/c/deadbeefdeadbeef", "/c/{id}"},          // hex letters only, 16
      {"/c/0123456789abcde", "/c/0123456789abcde"},  // hex, 15, has letters: kept
      {"/t/01ARZ3NDEKTSV4RRFFQ69G5FAV", "/t/{id}"},  // ULID
      {"/t/abcdefghij_klmnopq-1", "/t/{id}"},        // 20 chars with a digit
      {"/t/abcdefghijklmnopqrstuvwxyz", "/t/abcdefghijklmnopqrstuvwxyz"},  // no digit
      {"/t/abc1", "/t/abc1"},
      {"/t/abcdefghij_klmnopq1", "/t/abcdefghij_klmnopq1"},  // 19 chars
      {"/files/report.2024.pdf", "/files/report.2024.pdf"},
      {"http://example.com/graphql?x=1", "/graphql"},
      {"https://example.com:8443/a//42", "/a/{id}"},
      {"http://example.com", "/"},
      {"http://example.com?x", "/"},
      {"*", "*"},
      {"example.com:443", "other"},
      {"graphql", "other"},
      {"://x/y", "other"},
  };
  EndpointNormalizer n(1000);
  for (const auto& c : cases) {
    EXPECT_EQ(n.Normalize("svc", c.target), c.want) << "target: " << c.target;
  }
}

TEST(EndpointNormalizerTest, TooLongBecomesOther) {
  EndpointNormalizer n;
  EXPECT_EQ(n.Normalize("svc", "/" + std::string(300, 'g')), "other");
  EXPECT_EQ(n.Normalize("svc", "/" + std::string(255, 'g')), "/" + std::string(255, 'g'));
}

TEST(EndpointNormalizerTest, CapPerService) {
  EndpointNormalizer n(3);
  EXPECT_EQ(n.Normalize("a", "/1x"), "/1x");
  EXPECT_EQ(n.Normalize("a", "/2x"), "/2x");
  EXPECT_EQ(n.Normalize("a", "/3x"), "/3x");
  EXPECT_EQ(n.Normalize("a", "/4x"), "other");
  EXPECT_EQ(n.Normalize("a", "/2x?q"), "/2x");  // known endpoints still pass
  EXPECT_EQ(n.Normalize("a", "/users/77"), "other");
  // IDs collapse before the cap is applied, so they do not consume it.
  EndpointNormalizer m(1);
  EXPECT_EQ(m.Normalize("a", "/users/1"), "/users/{id}");
  EXPECT_EQ(m.Normalize("a", "/users/2"), "/users/{id}");
  EXPECT_EQ(m.Normalize("a", "/other"), "other");
  // Each service has its own budget.
  EXPECT_EQ(n.Normalize("b", "/4x"), "/4x");
}

}  // namespace
}  // namespace fraiseql::metrics
