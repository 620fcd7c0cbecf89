#include "protocols/common/byte_cursor.h"

#include <gtest/gtest.h>

#include <string>

namespace fraiseql::protocols {
namespace {

using std::string_literals::operator""s;

TEST(ByteCursorTest, BigEndianIntegers) {
  const std::string data = "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f";
  ByteCursor c(data);
  uint8_t u8 = 0;
  uint16_t u16 = 0;
  uint32_t u32 = 0;
  uint64_t u64 = 0;
  ASSERT_EQ(c.ReadU8(&u8), ParseState::kSuccess);
  ASSERT_EQ(c.ReadBe16(&u16), ParseState::kSuccess);
  ASSERT_EQ(c.ReadBe32(&u32), ParseState::kSuccess);
  ASSERT_EQ(c.ReadBe64(&u64), ParseState::kSuccess);
  EXPECT_EQ(u64, 0x08090a0b0c0d0e0fULL);
  EXPECT_EQ(c.ReadU8(&u8), ParseState::kNeedsMoreData);
  EXPECT_EQ(u8, 0x01);
  EXPECT_EQ(u16, 0x0203);
  EXPECT_EQ(u32, 0x04050607u);
  EXPECT_EQ(c.position(), 15u);
}

TEST(ByteCursorTest, NotEnoughBytesLeavesCursorAlone) {
  const std::string data = "\xff\xfe\xfd";
  ByteCursor c(data);
  uint32_t v = 42;
  EXPECT_EQ(c.ReadBe32(&v), ParseState::kNeedsMoreData);
  EXPECT_EQ(v, 42u);
  EXPECT_EQ(c.position(), 0u);
  std::string_view sv;
  EXPECT_EQ(c.ReadBytes(4, &sv), ParseState::kNeedsMoreData);
  EXPECT_EQ(c.ReadBytes(3, &sv), ParseState::kSuccess);
  EXPECT_EQ(sv, "\xff\xfe\xfd");
  EXPECT_TRUE(c.empty());
  uint8_t b = 0;
  EXPECT_EQ(c.ReadU8(&b), ParseState::kNeedsMoreData);
  EXPECT_EQ(c.Skip(1), ParseState::kNeedsMoreData);
}

TEST(ByteCursorTest, CString) {
  const std::string data = "user\0postgres\0tail"s;  // owns the bytes the cursor views
  ByteCursor c(data);
  std::string_view s;
  ASSERT_EQ(c.ReadCString(&s), ParseState::kSuccess);
  EXPECT_EQ(s, "user");
  ASSERT_EQ(c.ReadCString(&s), ParseState::kSuccess);
  EXPECT_EQ(s, "postgres");
  EXPECT_EQ(c.ReadCString(&s), ParseState::kNeedsMoreData);
  EXPECT_EQ(c.rest(), "tail");
  EXPECT_EQ(c.ReadCString(&s, 3), ParseState::kInvalid);  // no NUL within 3 bytes
  EXPECT_EQ(c.ReadCString(&s, 10), ParseState::kNeedsMoreData);
  EXPECT_EQ(c.rest(), "tail");
}

TEST(ByteCursorTest, Lines) {
  ByteCursor c("GET / HTTP/1.1\r\n\r\npartial\r");
  std::string_view line;
  ASSERT_EQ(c.ReadLine(&line), ParseState::kSuccess);
  EXPECT_EQ(line, "GET / HTTP/1.1");
  ASSERT_EQ(c.ReadLine(&line), ParseState::kSuccess);
  EXPECT_EQ(line, "");
  EXPECT_EQ(c.ReadLine(&line), ParseState::kNeedsMoreData);
  EXPECT_EQ(c.rest(), "partial\r");
  EXPECT_EQ(c.ReadLine(&line, 7), ParseState::kNeedsMoreData);  // "partial" fits, CRLF may follow
  EXPECT_EQ(c.ReadLine(&line, 6), ParseState::kInvalid);
  ByteCursor exact("abc\r\n");
  EXPECT_EQ(exact.ReadLine(&line, 3), ParseState::kSuccess);
  EXPECT_EQ(line, "abc");
}

}  // namespace
}  // namespace fraiseql::protocols
