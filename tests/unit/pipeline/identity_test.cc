// Opt-in identity: FraiseQL's SET LOCAL app.user_id / app.tenant_id and a bearer JWT's sub, and
// what the request log then carries (nothing without the opt-in).
#include "correlator/identity.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "correlator/attribution.h"
#include "correlator/request_tracker.h"
#include "metrics/registry.h"

namespace fraiseql::correlator {
namespace {

TEST(IdentityTest, SettingValueForms) {
  EXPECT_EQ(SettingValue("SET LOCAL app.user_id = 'u-42'", "app.user_id"), "u-42");
  EXPECT_EQ(SettingValue("set local APP.USER_ID to 'u''q'", "app.user_id"), "u'q");
  EXPECT_EQ(SettingValue("SET app.tenant_id = 7", "app.tenant_id"), "7");
  EXPECT_EQ(SettingValue("SET SESSION app.tenant_id = 'acme';", "app.tenant_id"), "acme");
  EXPECT_EQ(SettingValue("SELECT set_config('app.user_id', 'u-9', true)", "app.user_id"), "u-9");
  EXPECT_EQ(SettingValue("SET LOCAL app.user_id_extra = 'x'", "app.user_id"), std::nullopt);
  EXPECT_EQ(SettingValue("SET LOCAL app.user_id = 'unterminated", "app.user_id"), std::nullopt);
  EXPECT_EQ(SettingValue("SELECT 'SET LOCAL app.user_id = 1'", "app.user_id"), std::nullopt);
  EXPECT_EQ(SettingValue("SET LOCAL app.user_id = $1", "app.user_id"), std::nullopt);
  EXPECT_EQ(SettingValue(std::string(10000, 'S'), "app.user_id"), std::nullopt);
  std::string longv = "SET LOCAL app.user_id = '" + std::string(1000, 'a') + "\"\\'";
  EXPECT_EQ(SettingValue(longv, "app.user_id")->size(), 128u);
}

TEST(IdentityTest, JwtSubject) {
  // {"alg":"none"} . {"sub":"alice","role":"admin"} . sig
  EXPECT_EQ(JwtSubject("Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsInJvbGUiOiJhZG1pbiJ9.c2ln"),
            "alice");
  // {"sub":12345}
  EXPECT_EQ(JwtSubject("bearer eyJhbGciOiJub25lIn0.eyJzdWIiOjEyMzQ1fQ.x"), "12345");
  EXPECT_EQ(JwtSubject("Basic dXNlcjpwYXNz"), std::nullopt);
  EXPECT_EQ(JwtSubject("Bearer not-a-jwt"), std::nullopt);
  EXPECT_EQ(JwtSubject("Bearer a.!!!.c"), std::nullopt);
  EXPECT_EQ(JwtSubject("Bearer a.W10.c"), std::nullopt);  // [] : no sub
}

std::string LogLine(bool capture, const std::string& sql_user, const std::string& jwt_sub) {
  metrics::Registry reg;
  Attributor attributor(reg, {});
  std::FILE* f = std::tmpfile();
  RequestOptions o;
  o.request_log = f;
  o.capture_identity = capture;
  RequestTracker tracker(reg, attributor, o);
  uint64_t id = attributor.OnRequestStart(1, Origin{.ts_ns = 10, .tid = 1});
  Call c{.kind = Call::Kind::kDb, .what = "SET LOCAL app.user_id = ?", .start_ns = 11,
         .end_ns = 12};
  c.user_id = sql_user;
  c.tenant_id = capture ? "acme" : "";
  attributor.OnCall(1, Origin{.ts_ns = 11, .tid = 1}, c);
  HttpRequestView v;
  v.tgid = 1;
  v.request_id = id;
  v.method = v.raw_method = "GET";
  v.target = v.endpoint = "/health";
  v.status = 200;
  v.start_ns = 10;
  v.end_ns = 20;
  v.first_write = Origin{.ts_ns = 19, .tid = 1};
  v.jwt_sub = jwt_sub;
  tracker.OnRequest("svc", v);
  std::rewind(f);
  char buf[4096] = {};
  size_t n = std::fread(buf, 1, sizeof(buf) - 1, f);
  std::fclose(f);
  return std::string(buf, n);
}

TEST(IdentityTest, RequestLogCarriesIdentityOnlyWhenAskedFor) {
  auto with = nlohmann::json::parse(LogLine(true, "u-42", "alice"));
  EXPECT_EQ(with["user_id"], "u-42");  // the SQL's wins over the token's
  EXPECT_EQ(with["tenant_id"], "acme");
  EXPECT_EQ(with["db_queries"], 1);
  auto jwt_only = nlohmann::json::parse(LogLine(true, "", "alice"));
  EXPECT_EQ(jwt_only["user_id"], "alice");
  auto without = nlohmann::json::parse(LogLine(false, "", ""));
  EXPECT_FALSE(without.contains("user_id"));
  EXPECT_FALSE(without.contains("tenant_id"));
}

}  // namespace
}  // namespace fraiseql::correlator
