// Attributor: which request owns each outbound call, under the three methods, with the traps
// (shared contexts, reused context addresses, calls after their request ended).
#include "correlator/attribution.h"

#include <gtest/gtest.h>

#include <regex>
#include <string>

#include <memory>

namespace fraiseql::correlator {
namespace {

constexpr uint32_t kPid = 100;

Call Db(const std::string& what, uint64_t start, uint64_t end) {
  auto shape = std::make_shared<records::SqlShape>();
  shape->normalized = what;
  Call c;
  c.shape = shape;
  c.start_ns = start;
  c.end_ns = end;
  return c;
}

Origin At(uint64_t ts, uint32_t tid, uint64_t ctx = 0) {
  return Origin{.ts_ns = ts, .tid = tid, .py_ctx = ctx};
}

double Count(const Attributor& a, const std::string& result) {
  const AttributionStats& s = a.stats();
  if (result == "exact") return double(s.exact.load());
  if (result == "ambiguous") return double(s.ambiguous.load());
  if (result == "orphan") return double(s.orphan.load());
  return -1;
}

std::vector<std::string> Whats(const std::vector<Call>& calls) {
  std::vector<std::string> out;
  for (const auto& c : calls) out.push_back(std::string(c.what()));
  return out;
}

using V = std::vector<std::string>;

// A request read in one syscall on its own connection.
uint64_t Start(Attributor& a, const Origin& o) { return a.OnRequestStart(kPid, o); }

TEST(AttributionTest, ContextTreeUnderConcurrency) {
  Attributor a({});
  const uint64_t kLoop = 0x1000, kReader1 = 0x2000, kReader2 = 0x3000;
  a.OnContextBirth(kPid, 1, kLoop, kReader1);  // connection readers, born before requests
  a.OnContextBirth(kPid, 2, kLoop, kReader2);
  uint64_t r1 = Start(a, At(10, 7, kReader1));
  uint64_t r2 = Start(a, At(11, 7, kReader2));
  // Each request's task, then the endpoint's child task (BaseHTTPMiddleware), then gathered
  // grandchildren for request 2.
  a.OnContextBirth(kPid, 12, kReader1, 0xA0);
  a.OnContextBirth(kPid, 13, kReader2, 0xB0);
  a.OnContextBirth(kPid, 14, 0xA0, 0xA1);
  a.OnContextBirth(kPid, 15, 0xB0, 0xB1);
  a.OnContextBirth(kPid, 16, 0xB1, 0xB2);
  a.OnContextBirth(kPid, 17, 0xB1, 0xB3);
  a.OnCall(kPid, At(20, 7, 0xA1), Db("a1", 20, 25));
  a.OnCall(kPid, At(21, 7, 0xB2), Db("b2", 21, 26));
  a.OnCall(kPid, At(22, 7, 0xB3), Db("b3", 22, 27));
  a.OnCall(kPid, At(23, 7, 0xA1), Db("a1-again", 23, 28));
  a.OnCall(kPid, At(24, 7, 0xB1), Db("b1", 24, 29));
  // Responses are written by the request tasks (the parents), request 2 first.
  EXPECT_EQ(Whats(a.OnRequestEnd(kPid, r2, At(30, 7, 0xB0))), (V{"b2", "b3", "b1"}));
  EXPECT_EQ(Whats(a.OnRequestEnd(kPid, r1, At(31, 7, 0xA0))), (V{"a1", "a1-again"}));
  EXPECT_EQ(Count(a, "exact"), 5);
  EXPECT_EQ(Count(a, "ambiguous"), 0);
  EXPECT_EQ(Count(a, "orphan"), 0);
}

TEST(AttributionTest, ReusedContextAddressKeepsTheOldAncestry) {
  Attributor a({});
  uint64_t r1 = Start(a, At(10, 7, 0x1));
  uint64_t r2 = Start(a, At(11, 7, 0x1));
  a.OnContextBirth(kPid, 12, 0x1, 0xA0);
  a.OnContextBirth(kPid, 13, 0x1, 0xB0);
  a.OnContextBirth(kPid, 14, 0xA0, 0xCC);  // child of request 1 ...
  a.OnCall(kPid, At(15, 7, 0xCC), Db("from-1", 15, 16));
  a.OnContextBirth(kPid, 17, 0xB0, 0xCC);  // ... freed; the address now belongs to request 2
  a.OnCall(kPid, At(18, 7, 0xCC), Db("from-2", 18, 19));
  EXPECT_EQ(Whats(a.OnRequestEnd(kPid, r2, At(20, 7, 0xB0))), (V{"from-2"}));
  EXPECT_EQ(Whats(a.OnRequestEnd(kPid, r1, At(21, 7, 0xA0))), (V{"from-1"}));
  EXPECT_EQ(Count(a, "exact"), 2);
}

TEST(AttributionTest, ASharedWriterContextClaimsNothing) {
  Attributor a({});
  // The response is written from a context born before the request (a connection's or the
  // loop's): it may hold other requests' calls, so it proves nothing.
  a.OnContextBirth(kPid, 1, 0x1, 0x50);
  uint64_t r1 = Start(a, At(10, 7, 0x50));
  uint64_t r2 = Start(a, At(11, 7, 0x50));
  a.OnContextBirth(kPid, 12, 0x50, 0x51);
  a.OnCall(kPid, At(13, 7, 0x51), Db("q", 13, 14));
  EXPECT_TRUE(a.OnRequestEnd(kPid, r1, At(20, 7, 0x50)).empty());
  EXPECT_TRUE(a.OnRequestEnd(kPid, r2, At(21, 7, 0x50)).empty());
  EXPECT_EQ(Count(a, "exact"), 0);
  EXPECT_EQ(Count(a, "ambiguous"), 1);
}

TEST(AttributionTest, CallsOutsideRequestsAreOrphans) {
  Attributor a({});
  a.OnContextBirth(kPid, 1, 0x1, 0xA0);
  a.OnCall(kPid, At(5, 7, 0xA0), Db("startup", 5, 6));  // nothing in flight
  uint64_t r1 = Start(a, At(10, 7, 0x1));
  a.OnContextBirth(kPid, 11, 0x1, 0xB0);
  a.OnContextBirth(kPid, 12, 0xB0, 0xB1);  // fire-and-forget task of the request
  EXPECT_TRUE(a.OnRequestEnd(kPid, r1, At(20, 7, 0xB0)).empty());
  a.OnCall(kPid, At(21, 7, 0xB1), Db("after", 21, 22));  // its request already answered
  EXPECT_EQ(Count(a, "orphan"), 2);
  EXPECT_EQ(Count(a, "exact"), 0);
}

TEST(AttributionTest, CallsMadeBeforeTheRequestStartedAreNotItsOwn) {
  Attributor a({});
  uint64_t r0 = Start(a, At(5, 7, 0x1));
  a.OnContextBirth(kPid, 6, 0x1, 0xA0);
  a.OnCall(kPid, At(8, 7, 0xA0), Db("q0", 8, 9));
  uint64_t r1 = Start(a, At(10, 7, 0x1));
  EXPECT_EQ(Whats(a.OnRequestEnd(kPid, r0, At(11, 7, 0xA0))), (V{"q0"}));
  EXPECT_TRUE(a.OnRequestEnd(kPid, r1, At(12, 7, 0xA0)).empty());
}

TEST(AttributionTest, ResponseStreamedByASiblingTask) {
  // Starlette's BaseHTTPMiddleware: the endpoint runs in one child task of the request's task,
  // the response is streamed by another: the writer's topmost ancestor born after the request
  // started is the request's task.
  Attributor a({});
  a.OnContextBirth(kPid, 1, 0x1, 0x10);  // the connection's reader
  uint64_t r1 = Start(a, At(10, 7, 0x10));
  uint64_t r2 = Start(a, At(11, 7, 0x10));
  a.OnContextBirth(kPid, 12, 0x10, 0xA0);  // request tasks
  a.OnContextBirth(kPid, 12, 0x10, 0xB0);
  a.OnContextBirth(kPid, 13, 0xA0, 0xA1);  // endpoints
  a.OnContextBirth(kPid, 13, 0xB0, 0xB1);
  a.OnCall(kPid, At(14, 7, 0xA1), Db("a", 14, 15));
  a.OnCall(kPid, At(14, 7, 0xB1), Db("b", 14, 15));
  a.OnContextBirth(kPid, 16, 0xA0, 0xA2);  // streamers
  a.OnContextBirth(kPid, 16, 0xB0, 0xB2);
  EXPECT_EQ(Whats(a.OnRequestEnd(kPid, r1, At(17, 7, 0xA2))), (V{"a"}));
  EXPECT_EQ(Whats(a.OnRequestEnd(kPid, r2, At(18, 7, 0xB2))), (V{"b"}));
}

TEST(AttributionTest, KeepAliveChainsTheNextRequestUnderThePreviousOne) {
  // uvicorn creates the next request's task (when its bytes arrived early) in the previous
  // request's Context once that one's response is written: the next request's calls descend
  // from the previous request's root, but through a Context born after its response began.
  Attributor a({});
  a.OnContextBirth(kPid, 1, 0x1, 0x10);
  uint64_t r1 = Start(a, At(10, 7, 0x10));
  a.OnContextBirth(kPid, 11, 0x10, 0xA0);
  a.OnCall(kPid, At(12, 7, 0xA0), Db("a", 12, 13));
  a.OnContextBirth(kPid, 14, 0xA0, 0xA1);  // the streamer
  uint64_t r2 = Start(a, At(15, 7, 0x10));
  a.OnContextBirth(kPid, 17, 0xA1, 0xB0);  // request 2's task, after r1's first write (16)
  a.OnCall(kPid, At(18, 7, 0xB0), Db("b", 18, 19));
  EXPECT_EQ(Whats(a.OnRequestEnd(kPid, r1, At(16, 7, 0xA1))), (V{"a"}));
  EXPECT_EQ(Whats(a.OnRequestEnd(kPid, r2, At(20, 7, 0xB0))), (V{"b"}));
  EXPECT_EQ(Count(a, "exact"), 2);
}

TEST(AttributionTest, LongKeepAliveChainsStayShort) {
  // 10,000 requests on one connection, each task born in the previous one's Context: every
  // request still gets its call (ancestry above the oldest request in flight is cut).
  Attributor a({});
  uint64_t ctx = 0x10, t = 10;
  a.OnContextBirth(kPid, 1, 0x1, ctx);
  for (int i = 0; i < 10000; ++i) {
    uint64_t r = Start(a, At(t, 7, ctx));
    uint64_t task = 0x1000 + (i % 2) * 0x100;  // addresses reused
    a.OnContextBirth(kPid, t + 1, ctx, task);
    a.OnCall(kPid, At(t + 2, 7, task), Db("q", t + 2, t + 3));
    ASSERT_EQ(a.OnRequestEnd(kPid, r, At(t + 4, 7, task)).size(), 1u) << i;
    ctx = task;
    t += 10;
  }
  EXPECT_EQ(Count(a, "exact"), 10000);
}

TEST(AttributionTest, DeferredWritesFallBackToTheRequestAloneInFlight) {
  // uvloop: transports write at the end of the loop iteration, outside any task: the writer's
  // Context is the loop's (never born), so no root. Overlapping requests get nothing (their
  // calls are ambiguous, never guessed); a request alone in flight gets every call.
  Attributor a({});
  const uint64_t kLoop = 0x1;
  uint64_t r1 = Start(a, At(10, 7, kLoop));
  uint64_t r2 = Start(a, At(12, 7, kLoop));
  a.OnContextBirth(kPid, 13, 0x10, 0xA0);
  a.OnContextBirth(kPid, 13, 0x20, 0xB0);
  a.OnCall(kPid, At(16, 7, 0xA0), Db("a", 16, 17));
  a.OnCall(kPid, At(16, 7, kLoop), Db("deferred", 16, 17));
  EXPECT_TRUE(a.OnRequestEnd(kPid, r2, At(20, 7, kLoop)).empty());
  EXPECT_TRUE(a.OnRequestEnd(kPid, r1, At(21, 7, kLoop)).empty());
  EXPECT_EQ(Count(a, "exact"), 0);
  EXPECT_EQ(Count(a, "ambiguous"), 2);
  uint64_t r3 = Start(a, At(30, 7, kLoop));
  a.OnContextBirth(kPid, 31, 0x10, 0xC0);
  a.OnCall(kPid, At(32, 7, 0xC0), Db("task", 32, 33));
  a.OnCall(kPid, At(33, 7, kLoop), Db("loop", 33, 34));
  EXPECT_EQ(Whats(a.OnRequestEnd(kPid, r3, At(35, 7, kLoop))), (V{"task", "loop"}));
  EXPECT_EQ(Count(a, "exact"), 2);
}

TEST(AttributionTest, SingleInFlightWithoutContexts) {
  Attributor a({});
  uint64_t r1 = Start(a, At(10, 7));
  a.OnCall(kPid, At(11, 8), Db("alone", 11, 12));
  uint64_t r2 = Start(a, At(13, 7));  // same thread: not thread-per-request
  a.OnCall(kPid, At(14, 7), Db("two-in-flight", 14, 15));
  EXPECT_EQ(Whats(a.OnRequestEnd(kPid, r1, At(16, 7))), (V{"alone"}));
  EXPECT_TRUE(a.OnRequestEnd(kPid, r2, At(17, 7)).empty());
  EXPECT_EQ(Count(a, "exact"), 1);
  EXPECT_EQ(Count(a, "ambiguous"), 1);
}

TEST(AttributionTest, ThreadPerRequest) {
  Attributor a({});
  uint64_t r1 = Start(a, At(10, 21));
  uint64_t r2 = Start(a, At(11, 22));
  a.OnCall(kPid, At(12, 22), Db("t22", 12, 13));
  a.OnCall(kPid, At(14, 21), Db("t21", 14, 15));
  a.OnCall(kPid, At(14, 23), Db("t23", 14, 15));  // a thread with no request: not guessed
  EXPECT_EQ(Whats(a.OnRequestEnd(kPid, r1, At(16, 21))), (V{"t21"}));
  EXPECT_EQ(Whats(a.OnRequestEnd(kPid, r2, At(17, 22))), (V{"t22"}));
  EXPECT_EQ(Count(a, "ambiguous"), 1);
  // Two requests read on one thread: the rule is off for good.
  uint64_t r3 = Start(a, At(20, 21));
  uint64_t r4 = Start(a, At(21, 21));
  uint64_t r5 = Start(a, At(22, 22));
  a.OnCall(kPid, At(23, 22), Db("t22-late", 23, 24));
  a.OnRequestEnd(kPid, r3, At(25, 21));
  a.OnRequestEnd(kPid, r4, At(25, 21));
  EXPECT_TRUE(a.OnRequestEnd(kPid, r5, At(26, 22)).empty());
  EXPECT_EQ(Count(a, "ambiguous"), 2);
}

TEST(AttributionTest, AbandonedRequestsReleaseTheirPendingCalls) {
  Attributor a({});
  a.OnContextBirth(kPid, 1, 0x1, 0x2);
  uint64_t r1 = Start(a, At(10, 7, 0x2));
  a.OnContextBirth(kPid, 11, 0x2, 0xA0);
  a.OnCall(kPid, At(12, 7, 0xA0), Db("q", 12, 13));
  a.OnRequestAbandoned(kPid, r1);
  EXPECT_EQ(Count(a, "ambiguous"), 1);
  a.ForgetProcess(kPid);
}

}  // namespace
}  // namespace fraiseql::correlator
