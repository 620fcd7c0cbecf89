// OriginLog: who moved the bytes of a message, found from the timestamp of its first byte.
#include "conn/stream_pair.h"

#include <gtest/gtest.h>

namespace fraiseql::conn {
namespace {

Origin At(uint64_t ts, uint32_t tid, uint64_t ctx = 0) {
  return Origin{.ts_ns = ts, .tid = tid, .py_ctx = ctx};
}

TEST(OriginLogTest, FindsTheEventOfAMessage) {
  OriginLog log;
  log.Add(At(10, 1, 0xA));
  log.Add(At(10, 1, 0xA));  // another chunk of the same syscall
  log.Add(At(20, 2, 0xB));
  EXPECT_EQ(log.Find(10).py_ctx, 0xAu);
  EXPECT_EQ(log.Find(15).py_ctx, 0xAu);
  EXPECT_EQ(log.Find(20).tid, 2u);
  EXPECT_EQ(log.Find(5).ts_ns, 0u);
}

}  // namespace
}  // namespace fraiseql::conn
