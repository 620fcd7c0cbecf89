// Status codes and the RETURN_IF_ERROR / ASSIGN_OR_RETURN macros the loader, discovery and
// control error paths use.
#include <gtest/gtest.h>

#include <cerrno>
#include <memory>
#include <string>

#include "common/status.h"

namespace fraiseql {
namespace {

StatusOr<int> Half(int n) {
  if (n % 2 != 0) return Status::Error(StatusCode::kInvalidArgument, "odd " + std::to_string(n));
  return n / 2;
}

StatusOr<int> Quarter(int n) {
  ASSIGN_OR_RETURN(int h, Half(n));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status Check(int n) {
  RETURN_IF_ERROR(Quarter(n));
  RETURN_IF_ERROR(Status::Ok());
  return Status::Ok();
}

StatusOr<std::unique_ptr<int>> Boxed(int n) {
  ASSIGN_OR_RETURN(auto q, Quarter(n));
  return std::make_unique<int>(q);
}

TEST(StatusTest, ErrnoMapsToACode) {
  EXPECT_EQ(Status::Errno("open", ENOENT).code(), StatusCode::kNotFound);
  EXPECT_EQ(Status::Errno("kill", ESRCH).code(), StatusCode::kNotFound);
  EXPECT_EQ(Status::Errno("bpf", EPERM).code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(Status::Errno("bpf", EOPNOTSUPP).code(), StatusCode::kUnavailable);
  EXPECT_EQ(Status::Errno("x", EIO).code(), StatusCode::kInternal);
  // errno 0 is still an error: the caller asked for one.
  EXPECT_FALSE(Status::Errno("x", 0).ok());
  EXPECT_EQ(Status::Errno("open /x", ENOENT).message(), "open /x: No such file or directory");
}

TEST(StatusTest, ToStringAndContext) {
  EXPECT_EQ(Status::Ok().ToString(), "ok");
  Status s = Status::Error(StatusCode::kNotFound, "no libpq mapped");
  EXPECT_EQ(s.ToString(), "NOT_FOUND: no libpq mapped");
  Status c = s.WithContext("attach 42");
  EXPECT_EQ(c.code(), StatusCode::kNotFound);
  EXPECT_EQ(c.message(), "attach 42: no libpq mapped");
  EXPECT_TRUE(Status::Ok().WithContext("x").ok());
  EXPECT_FALSE(Status::Error(StatusCode::kOk, "not ok").ok());
}

TEST(StatusTest, StatusOrFromOkStatusIsAnError) {
  StatusOr<int> v(Status::Ok());
  EXPECT_FALSE(v.ok());
  EXPECT_EQ(v.code(), StatusCode::kInternal);
}

TEST(StatusTest, MacrosPropagateTheFirstError) {
  auto q = Quarter(12);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(*q, 3);
  auto bad = Quarter(6);  // 6 -> 3 -> odd
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "odd 3");
  EXPECT_TRUE(Check(8).ok());
  EXPECT_EQ(Check(5).message(), "odd 5");
}

TEST(StatusTest, AssignOrReturnMovesMoveOnlyValues) {
  auto b = Boxed(16);
  ASSERT_TRUE(b.ok());
  std::unique_ptr<int> p = std::move(b).value();
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 4);
  EXPECT_FALSE(Boxed(2).ok());
}

}  // namespace
}  // namespace fraiseql
