// Opt-in identity: FraiseQL's SET LOCAL app.user_id / app.tenant_id and a bearer JWT's sub
// (what the request log then carries: tests/unit/sinks/request_log_test.cc).
#include "handlers/identity.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>


namespace fraiseql::handlers {
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

}  // namespace
}  // namespace fraiseql::handlers
