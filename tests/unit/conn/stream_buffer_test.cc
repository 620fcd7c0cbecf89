#include "conn/stream_buffer.h"

#include <gtest/gtest.h>

#include <string>

namespace fraiseql::conn {
namespace {

TEST(StreamBufferTest, FirstAddFixesHeadMidStream) {
  StreamBuffer buf;
  EXPECT_TRUE(buf.empty());
  buf.Add(1000, "hello", 5, 7);
  EXPECT_FALSE(buf.empty());
  EXPECT_EQ(buf.head(), 1000u);
  EXPECT_EQ(buf.end(), 1005u);
  EXPECT_EQ(buf.Contiguous(), "hello");
  EXPECT_FALSE(buf.HeadInHole());
  EXPECT_EQ(buf.TimestampAt(1004), 7u);
}

TEST(StreamBufferTest, AdjacentEventsAreContiguous) {
  StreamBuffer buf;
  buf.Add(0, "abc", 3, 1);
  buf.Add(3, "def", 3, 2);
  EXPECT_EQ(buf.Contiguous(), "abcdef");
  EXPECT_EQ(buf.TimestampAt(2), 1u);
  EXPECT_EQ(buf.TimestampAt(3), 2u);
  buf.Consume(4);
  EXPECT_EQ(buf.head(), 4u);
  EXPECT_EQ(buf.Contiguous(), "ef");
  EXPECT_EQ(buf.gap_bytes(), 0u);
}

TEST(StreamBufferTest, TruncatedEventLeavesHole) {
  StreamBuffer buf;
  buf.Add(0, "abcd", 10, 1);  // 10 bytes moved, 4 copied
  buf.Add(10, "XYZ", 3, 2);
  EXPECT_EQ(buf.end(), 13u);
  EXPECT_EQ(buf.Contiguous(), "abcd");
  buf.Consume(4);
  EXPECT_TRUE(buf.HeadInHole());
  EXPECT_EQ(buf.Contiguous(), "");
  EXPECT_EQ(buf.NextKnown(), 10u);
  EXPECT_EQ(buf.TimestampAt(7), 1u);  // carried by the truncated event
  buf.SkipToNextKnown();
  EXPECT_EQ(buf.head(), 10u);
  EXPECT_EQ(buf.gap_bytes(), 6u);
  EXPECT_EQ(buf.Contiguous(), "XYZ");
}

TEST(StreamBufferTest, LostEventIsAHoleAndConsumeCrossesIt) {
  StreamBuffer buf;
  buf.Add(0, "ab", 2, 1);
  buf.Add(5, "fgh", 3, 3);  // [2,5) lost
  EXPECT_EQ(buf.Contiguous(), "ab");
  buf.Consume(4);  // crosses 3 unknown positions
  EXPECT_EQ(buf.head(), 4u);
  EXPECT_EQ(buf.gap_bytes(), 2u);
  EXPECT_TRUE(buf.HeadInHole());
  EXPECT_EQ(buf.TimestampAt(4), 1u);  // nobody carried it: closest earlier event
  buf.Consume(2);
  EXPECT_EQ(buf.Contiguous(), "gh");
  EXPECT_EQ(buf.gap_bytes(), 3u);
}

TEST(StreamBufferTest, LateEventFillsHole) {
  StreamBuffer buf;
  buf.Add(0, "ab", 2, 1);
  buf.Add(4, "ef", 2, 3);
  EXPECT_EQ(buf.Contiguous(), "ab");
  buf.Add(2, "cd", 2, 2);  // out of order, still >= head
  EXPECT_EQ(buf.Contiguous(), "abcdef");
  EXPECT_EQ(buf.TimestampAt(3), 2u);
}

TEST(StreamBufferTest, DuplicatesAndOverlapsIgnoredFirstCopyWins) {
  StreamBuffer buf;
  buf.Add(0, "abcd", 4, 1);
  buf.Add(0, "abcd", 4, 1);
  buf.Add(2, "XXYY", 4, 2);  // overlaps [2,4), extends [4,6)
  EXPECT_EQ(buf.Contiguous(), "abcdYY");
  EXPECT_EQ(buf.buffered_bytes(), 6u);
  buf.Add(8, "ij", 2, 3);
  buf.Add(5, "QRSTUVW", 7, 4);  // overlaps [5,6) and [8,10), fills [6,8), extends [10,12)
  EXPECT_EQ(buf.Contiguous(), "abcdYYRSijVW");
  EXPECT_EQ(buf.buffered_bytes(), 12u);
}

TEST(StreamBufferTest, DataBeforeHeadIgnored) {
  StreamBuffer buf;
  buf.Add(0, "abcdef", 6, 1);
  buf.Consume(4);
  buf.Add(0, "zzzz", 4, 9);    // all consumed
  buf.Add(2, "zzzzgh", 6, 9);  // straddles head: only [6,8) is new
  EXPECT_EQ(buf.Contiguous(), "efgh");
}

TEST(StreamBufferTest, ConsumePastEndDragsEnd) {
  StreamBuffer buf;
  buf.Add(0, "ab", 2, 1);
  buf.Consume(10);
  EXPECT_EQ(buf.head(), 10u);
  EXPECT_EQ(buf.end(), 10u);
  EXPECT_EQ(buf.gap_bytes(), 8u);
  buf.Add(5, "0123456789", 10, 2);  // [5,10) ignored
  EXPECT_EQ(buf.Contiguous(), "56789");
}

TEST(StreamBufferTest, MemoryCapEvictsFromHead) {
  StreamBuffer buf(100);
  const std::string chunk(60, 'x');
  buf.Add(0, chunk, 60, 1);
  buf.Add(60, chunk, 60, 2);
  EXPECT_LE(buf.buffered_bytes(), 100u);
  EXPECT_EQ(buf.dropped_bytes(), 20u);
  EXPECT_EQ(buf.head(), 20u);
  EXPECT_EQ(buf.Contiguous().size(), 100u);
  buf.Add(200, std::string(90, 'y'), 90, 3);  // [110,120) + [200,290) remain
  EXPECT_EQ(buf.buffered_bytes(), 100u);
  EXPECT_EQ(buf.dropped_bytes(), 20u + 90u);
  EXPECT_EQ(buf.head(), 110u);
  EXPECT_EQ(buf.gap_bytes(), 0u);
  // Eviction across a hole counts the hole as gap, the known bytes as dropped.
  buf.Add(290, std::string(20, 'z'), 20, 4);
  EXPECT_EQ(buf.buffered_bytes(), 100u);
  EXPECT_EQ(buf.dropped_bytes(), 20u + 90u + 20u);
  EXPECT_EQ(buf.head(), 210u);
  EXPECT_EQ(buf.gap_bytes(), 80u);
  EXPECT_EQ(buf.Contiguous(), std::string(80, 'y') + std::string(20, 'z'));
}

TEST(StreamBufferTest, ManySmallConsumesOfBigRunStayCorrect) {
  StreamBuffer buf;
  std::string data;
  for (int i = 0; i < 100000; ++i) data.push_back(static_cast<char>('a' + i % 26));
  buf.Add(0, data, data.size(), 1);
  for (size_t off = 0; off < data.size(); off += 7) {
    ASSERT_EQ(buf.Contiguous(), std::string_view(data).substr(off)) << off;
    buf.Consume(7);
  }
  EXPECT_EQ(buf.buffered_bytes(), 0u);
  EXPECT_EQ(buf.gap_bytes(), 2u);  // 100000 % 7 == 5: the last Consume(7) went 2 past end
}

TEST(StreamBufferTest, TimestampOfConsumedLastByteSurvives) {
  StreamBuffer buf;
  buf.Add(0, "aaaa", 4, 10);
  buf.Add(4, "bbbb", 4, 20);
  buf.Add(8, "cccc", 4, 30);
  buf.Consume(8);
  EXPECT_EQ(buf.TimestampAt(7), 20u);
  EXPECT_EQ(buf.TimestampAt(8), 30u);
}

}  // namespace
}  // namespace fraiseql::conn
