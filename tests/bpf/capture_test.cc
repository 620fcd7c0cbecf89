// Loads the production Loader and BPF programs, makes real loopback TCP syscalls in a
// forked (watched) child, and asserts the decoded ABI records. Root only (ctest -L bpf).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bpf_test_util.h"
#include "fraiseql/abi/events.h"
#include "loader/doctor.h"
#include "loader/loader.h"

namespace fraiseql::loader {
namespace {

using Bytes = std::vector<uint8_t>;

Bytes Pattern(uint32_t seed, size_t n) {
  Bytes b(n);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    b[i] = static_cast<uint8_t>(x >> 16);
  }
  return b;
}

Bytes Cat(std::initializer_list<const Bytes*> parts) {
  Bytes out;
  for (const Bytes* p : parts) out.insert(out.end(), p->begin(), p->end());
  return out;
}

// ---- child side (no gtest macros: failures exit with a distinct code) ----------------

[[noreturn]] void Die(int code) { _exit(code); }

void WriteAll(int fd, const void* p, size_t n) {
  const auto* c = static_cast<const uint8_t*>(p);
  while (n > 0) {
    ssize_t r = write(fd, c, n);
    if (r <= 0) Die(10);
    c += r;
    n -= static_cast<size_t>(r);
  }
}

void ReadAll(int fd, void* p, size_t n) {
  auto* c = static_cast<uint8_t*>(p);
  while (n > 0) {
    ssize_t r = read(fd, c, n);
    if (r <= 0) Die(11);
    c += r;
    n -= static_cast<size_t>(r);
  }
}

// Receives exactly want.size() bytes with the given syscall flavour and checks them.
enum class Rx { kRead, kReadv, kRecvfrom, kRecvmsg };
void ReceiveExact(int fd, const Bytes& want, Rx how) {
  Bytes got(want.size());
  size_t off = 0;
  while (off < got.size()) {
    size_t left = got.size() - off;
    ssize_t r = -1;
    switch (how) {
      case Rx::kRead: r = read(fd, got.data() + off, left); break;
      case Rx::kReadv: {
        size_t half = left / 2;
        iovec iov[2] = {{got.data() + off, half}, {got.data() + off + half, left - half}};
        r = readv(fd, iov, 2);
        break;
      }
      case Rx::kRecvfrom: r = recvfrom(fd, got.data() + off, left, 0, nullptr, nullptr); break;
      case Rx::kRecvmsg: {
        size_t half = left / 2;
        iovec iov[2] = {{got.data() + off, half}, {got.data() + off + half, left - half}};
        msghdr m{};
        m.msg_iov = iov;
        m.msg_iovlen = 2;
        r = recvmsg(fd, &m, 0);
        break;
      }
    }
    if (r <= 0) Die(12);
    off += static_cast<size_t>(r);
  }
  if (got != want) Die(13);
}

uint16_t LocalPort(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof(ss);
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) Die(14);
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
}

// Listener + connected client + accepted server socket on loopback.
struct Pair {
  int listener = -1, client = -1, server = -1;
  uint16_t lport = 0, cport = 0;
};

Pair MakePair(int family) {
  Pair p;
  p.listener = socket(family, SOCK_STREAM, 0);
  if (p.listener < 0) Die(20);
  sockaddr_storage ss{};
  socklen_t len;
  if (family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&ss);
    a->sin_family = AF_INET;
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
    a->sin6_family = AF_INET6;
    a->sin6_addr = in6addr_loopback;
    len = sizeof(*a);
  }
  if (bind(p.listener, reinterpret_cast<sockaddr*>(&ss), len) != 0) Die(21);
  if (listen(p.listener, 4) != 0) Die(22);
  p.lport = LocalPort(p.listener);
  if (family == AF_INET) {
    reinterpret_cast<sockaddr_in*>(&ss)->sin_port = htons(p.lport);
  } else {
    reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port = htons(p.lport);
  }
  p.client = socket(family, SOCK_STREAM, 0);
  if (p.client < 0) Die(23);
  if (connect(p.client, reinterpret_cast<sockaddr*>(&ss), len) != 0) Die(24);
  p.server = accept4(p.listener, nullptr, nullptr, SOCK_CLOEXEC);
  if (p.server < 0) Die(25);
  p.cport = LocalPort(p.client);
  return p;
}

// What every family's exchange sends; both processes compute it the same way.
struct Script {
  Bytes a, b1, b2, b3, c, d1, d2, big;
  explicit Script(uint32_t fam) {
    a = Pattern(fam * 100 + 1, 1000);
    b1 = Pattern(fam * 100 + 2, 300);
    b2 = Pattern(fam * 100 + 3, 500);
    b3 = Pattern(fam * 100 + 4, 700);
    c = Pattern(fam * 100 + 5, 2000);
    d1 = Pattern(fam * 100 + 6, 111);
    d2 = Pattern(fam * 100 + 7, 222);
    big = Pattern(fam * 100 + 8, 40 * 1024);
  }
  Bytes ClientEgress() const { return Cat({&a, &c, &big}); }
  Bytes ServerEgress() const { return Cat({&b1, &b2, &b3, &d1, &d2}); }
};

const Bytes kPreOut = Pattern(900, 321);   // pre-existing client -> server
const Bytes kPreBack = Pattern(901, 123);  // pre-existing server -> client

void Exchange(const Pair& p, const Script& s) {
  // write -> read
  WriteAll(p.client, s.a.data(), s.a.size());
  ReceiveExact(p.server, s.a, Rx::kRead);
  // writev (3 iovecs) -> readv
  iovec wv[3] = {{const_cast<uint8_t*>(s.b1.data()), s.b1.size()},
                 {const_cast<uint8_t*>(s.b2.data()), s.b2.size()},
                 {const_cast<uint8_t*>(s.b3.data()), s.b3.size()}};
  if (writev(p.server, wv, 3) != static_cast<ssize_t>(s.b1.size() + s.b2.size() + s.b3.size()))
    Die(30);
  ReceiveExact(p.client, Cat({&s.b1, &s.b2, &s.b3}), Rx::kReadv);
  // sendto -> recvfrom
  if (sendto(p.client, s.c.data(), s.c.size(), 0, nullptr, 0) != static_cast<ssize_t>(s.c.size()))
    Die(31);
  ReceiveExact(p.server, s.c, Rx::kRecvfrom);
  // sendmsg (2 iovecs) -> recvmsg
  iovec mv[2] = {{const_cast<uint8_t*>(s.d1.data()), s.d1.size()},
                 {const_cast<uint8_t*>(s.d2.data()), s.d2.size()}};
  msghdr m{};
  m.msg_iov = mv;
  m.msg_iovlen = 2;
  if (sendmsg(p.server, &m, 0) != static_cast<ssize_t>(s.d1.size() + s.d2.size())) Die(32);
  ReceiveExact(p.client, Cat({&s.d1, &s.d2}), Rx::kRecvmsg);
  // one 40 KiB write: beyond the 16 KiB cap
  if (write(p.client, s.big.data(), s.big.size()) != static_cast<ssize_t>(s.big.size())) Die(33);
  ReceiveExact(p.server, s.big, Rx::kRead);
}

struct ChildReport {
  int fd_client[2], fd_server[2];
  uint16_t lport[2], cport[2];
  int pre_client, pre_server;
  uint16_t pre_lport, pre_cport;
  int thread_tid;
  int grandchild;
};

void* ThreadMain(void* arg) {
  *static_cast<int*>(arg) = static_cast<int>(syscall(SYS_gettid));
  return nullptr;
}

// The watched process. to_child: parent -> child commands; from_child: reports.
[[noreturn]] void ChildMain(int to_child, int from_child) {
  ChildReport rep{};
  // A connection that exists before the parent calls Watch.
  Pair pre = MakePair(AF_INET);
  rep.pre_client = pre.client;
  rep.pre_server = pre.server;
  rep.pre_lport = pre.lport;
  rep.pre_cport = pre.cport;
  char c = 'r';
  WriteAll(from_child, &c, 1);
  ReadAll(to_child, &c, 1);  // parent has watched us
  if (c != 'w') Die(40);

  Pair pairs[2];
  const int families[2] = {AF_INET, AF_INET6};
  for (int i = 0; i < 2; ++i) {
    pairs[i] = MakePair(families[i]);
    Exchange(pairs[i], Script(static_cast<uint32_t>(i)));
    rep.fd_client[i] = pairs[i].client;
    rep.fd_server[i] = pairs[i].server;
    rep.lport[i] = pairs[i].lport;
    rep.cport[i] = pairs[i].cport;
  }
  // Traffic on the pre-existing sockets.
  WriteAll(pre.client, kPreOut.data(), kPreOut.size());
  ReceiveExact(pre.server, kPreOut, Rx::kRead);
  WriteAll(pre.server, kPreBack.data(), kPreBack.size());
  ReceiveExact(pre.client, kPreBack, Rx::kRead);

  for (const Pair& p : pairs) {
    close(p.client);
    close(p.server);
    close(p.listener);
  }
  close(pre.client);
  close(pre.server);
  close(pre.listener);

  // A thread is not a process: no PROC_FORK for it.
  pthread_t th;
  if (pthread_create(&th, nullptr, ThreadMain, &rep.thread_tid) != 0) Die(41);
  pthread_join(th, nullptr);

  // A forked process is followed; it waits for the parent, then execs /bin/true.
  pid_t g = fork();
  if (g < 0) Die(42);
  if (g == 0) {
    char cmd = 0;
    ReadAll(to_child, &cmd, 1);
    execl("/bin/true", "true", static_cast<char*>(nullptr));
    _exit(43);
  }
  rep.grandchild = g;
  WriteAll(from_child, &rep, sizeof(rep));
  int st = 0;
  if (waitpid(g, &st, 0) != g || !WIFEXITED(st) || WEXITSTATUS(st) != 0) Die(44);
  _exit(0);
}

// ---- parent side: decoding -------------------------------------------------------------

struct DataEv {
  fql_data_event ev;
  Bytes payload;
};

struct Decoded {
  std::vector<fql_conn_event> opens, closes;
  std::vector<DataEv> data;
  std::vector<fql_proc_event> forks, execs, exits;
  size_t bad = 0;
};

void DecodeInto(std::span<const uint8_t> rec, Decoded* d) {
  if (rec.size() < sizeof(fql_event_header)) {
    ++d->bad;
    return;
  }
  fql_event_header h;
  std::memcpy(&h, rec.data(), sizeof(h));
  switch (h.kind) {
    case FQL_EV_DATA: {
      DataEv e;
      if (rec.size() < sizeof(e.ev)) break;
      std::memcpy(&e.ev, rec.data(), sizeof(e.ev));
      if (rec.size() < sizeof(e.ev) + e.ev.copied) {
        ++d->bad;
        return;
      }
      e.payload.assign(rec.begin() + sizeof(e.ev), rec.begin() + sizeof(e.ev) + e.ev.copied);
      d->data.push_back(std::move(e));
      return;
    }
    case FQL_EV_CONN_OPEN:
    case FQL_EV_CONN_CLOSE: {
      fql_conn_event e;
      if (rec.size() < sizeof(e)) break;
      std::memcpy(&e, rec.data(), sizeof(e));
      (h.kind == FQL_EV_CONN_OPEN ? d->opens : d->closes).push_back(e);
      return;
    }
    case FQL_EV_PROC_FORK:
    case FQL_EV_PROC_EXEC:
    case FQL_EV_PROC_EXIT: {
      fql_proc_event e;
      if (rec.size() < sizeof(e)) break;
      std::memcpy(&e, rec.data(), sizeof(e));
      (h.kind == FQL_EV_PROC_FORK ? d->forks : h.kind == FQL_EV_PROC_EXEC ? d->execs : d->exits)
          .push_back(e);
      return;
    }
  }
  ++d->bad;
}

// Collects until the watched processes `tgids` have exited and been quiet for a while.
::testing::AssertionResult Drain(source::EventSource* src, Decoded* d,
                                 const std::set<uint32_t>& tgids, const std::string& what) {
  return testutil::DrainWatched(src, [d](std::span<const uint8_t> rec) { DecodeInto(rec, d); },
                                {.what = what, .tgids = tgids, .exits = tgids});
}

class CaptureTest : public SharedLoaderTest<CaptureTest> {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) GTEST_FAIL() << "BPF tests need root (run `ctest -L unit` without it)";
    OpenLoader(LoaderOptions{.capture_cap = 16384});
  }
  void SetUp() override {
    if (loader_ == nullptr) GTEST_FAIL() << "loader not available (needs root)";
  }
};

TEST(DoctorTest, RequirementsMetHere) {
  if (geteuid() != 0) GTEST_FAIL() << "BPF tests need root (run `ctest -L unit` without it)";
  Status s = CheckRequirements();
  EXPECT_TRUE(s.ok()) << s.message();
  bool saw_kprobe = false;
  for (const Check& c : RunDoctorChecks()) {
    EXPECT_FALSE(c.detail.empty()) << c.name;
    if (!c.required) saw_kprobe = true;
    if (c.required) {
      EXPECT_TRUE(c.ok) << c.name << ": " << c.detail;
    }
  }
  EXPECT_TRUE(saw_kprobe);
}

TEST_F(CaptureTest, AttachesEveryProgram) {
  const auto& names = loader_->Attached();
  EXPECT_GE(names.size(), 27u);
  for (const char* want : {"fql_enter_read", "fql_exit_read", "fql_exit_accept4",
                           "fql_exit_connect", "fql_enter_close", "fql_sched_fork",
                           "fql_sched_exec", "fql_sched_exit"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  EXPECT_FALSE(loader_->Watch(static_cast<uint32_t>(getpid())).ok());
}

TEST_F(CaptureTest, LoopbackTcpTrafficIsCapturedExactly) {
  auto made = loader_->MakeEventSource();
  ASSERT_TRUE(made.ok()) << made.status().message();
  auto src = std::move(made).value();
  ASSERT_TRUE(testutil::DrainLeftovers(src.get()));
  Decoded d;
  const auto counters_before = loader_->ReadCounters();

  int to_child[2], from_child[2];
  ASSERT_EQ(pipe(to_child), 0);
  ASSERT_EQ(pipe(from_child), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(to_child[1]);
    close(from_child[0]);
    ChildMain(to_child[0], from_child[1]);
  }
  close(to_child[0]);
  close(from_child[1]);
  const uint32_t cpid = static_cast<uint32_t>(child);

  char c = 0;
  ASSERT_TRUE(testutil::ReadFull(from_child[0], &c, 1, 10000, "the child's ready byte"));
  ASSERT_EQ(c, 'r');
  ASSERT_TRUE(loader_->Watch(cpid).ok());
  {
    auto w = loader_->Watched();
    EXPECT_NE(std::find(w.begin(), w.end(), cpid), w.end());
  }
  c = 'w';
  ASSERT_EQ(write(to_child[1], &c, 1), 1);

  // Unwatched traffic of our own while the child runs: must produce nothing.
  Pair mine = MakePair(AF_INET);
  const Bytes noise = Pattern(777, 4096);
  WriteAll(mine.client, noise.data(), noise.size());
  ReceiveExact(mine.server, noise, Rx::kRead);

  ChildReport rep{};
  ASSERT_TRUE(testutil::ReadFull(from_child[0], &rep, sizeof(rep), 30000,
                                 "the child's report (child died early?)"));
  const uint32_t gpid = static_cast<uint32_t>(rep.grandchild);
  {
    auto w = loader_->Watched();
    EXPECT_NE(std::find(w.begin(), w.end(), gpid), w.end()) << "forked child not watched";
  }
  c = 'g';
  ASSERT_EQ(write(to_child[1], &c, 1), 1);
  int st = 0;
  ASSERT_TRUE(testutil::WaitExit(child, 30000, "the watched child", &st));
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child status " << st;
  close(mine.client);
  close(mine.server);
  close(mine.listener);
  ASSERT_TRUE(Drain(src.get(), &d, {cpid, gpid}, "the child's and grandchild's events"));
  close(to_child[1]);
  close(from_child[0]);

  EXPECT_EQ(d.bad, 0u);

  // Only the watched processes appear (exec events are for every process).
  std::set<uint32_t> ours = {cpid, gpid};
  for (const auto& e : d.opens) EXPECT_TRUE(ours.count(e.h.tgid)) << e.h.tgid;
  for (const auto& e : d.closes) EXPECT_TRUE(ours.count(e.h.tgid)) << e.h.tgid;
  for (const auto& e : d.data) EXPECT_TRUE(ours.count(e.ev.h.tgid)) << e.ev.h.tgid;
  for (const auto& e : d.forks) EXPECT_TRUE(ours.count(e.h.tgid)) << e.h.tgid;
  for (const auto& e : d.exits) EXPECT_TRUE(ours.count(e.h.tgid)) << e.h.tgid;

  // Opens by fd (all child fds are distinct: nothing was closed before the end).
  std::map<int, fql_conn_event> open_by_fd;
  for (const auto& e : d.opens) {
    ASSERT_EQ(e.h.tgid, cpid);
    EXPECT_TRUE(open_by_fd.emplace(e.h.fd, e).second) << "two opens for fd " << e.h.fd;
    EXPECT_NE(e.h.gen, 0u);
  }
  ASSERT_EQ(d.opens.size(), 6u);
  std::map<uint64_t, fql_conn_event> close_by_gen;
  for (const auto& e : d.closes) close_by_gen[e.h.gen] = e;
  EXPECT_EQ(d.closes.size(), 6u);

  struct Expect {
    int fd;
    uint16_t family, role, lport, rport;
    uint32_t flags;
    Bytes in, out;
  };
  std::vector<Expect> expects;
  for (int i = 0; i < 2; ++i) {
    Script s(static_cast<uint32_t>(i));
    const uint16_t fam = i == 0 ? AF_INET : AF_INET6;
    expects.push_back({rep.fd_client[i], fam, FQL_ROLE_CLIENT, rep.cport[i], rep.lport[i], 0,
                       s.ServerEgress(), s.ClientEgress()});
    expects.push_back({rep.fd_server[i], fam, FQL_ROLE_SERVER, rep.lport[i], rep.cport[i], 0,
                       s.ClientEgress(), s.ServerEgress()});
  }
  expects.push_back({rep.pre_client, AF_INET, FQL_ROLE_UNKNOWN, rep.pre_cport, rep.pre_lport,
                     FQL_CONN_F_PREEXISTING, kPreBack, kPreOut});
  expects.push_back({rep.pre_server, AF_INET, FQL_ROLE_UNKNOWN, rep.pre_lport, rep.pre_cport,
                     FQL_CONN_F_PREEXISTING, kPreOut, kPreBack});

  std::set<uint64_t> gens;
  for (const Expect& x : expects) {
    SCOPED_TRACE("fd " + std::to_string(x.fd) + " role " + std::to_string(x.role));
    auto it = open_by_fd.find(x.fd);
    ASSERT_NE(it, open_by_fd.end());
    const fql_conn_event& o = it->second;
    EXPECT_EQ(o.family, x.family);
    EXPECT_EQ(o.role, x.role);
    EXPECT_EQ(o.lport, x.lport);
    EXPECT_EQ(o.rport, x.rport);
    EXPECT_EQ(o.flags, x.flags);
    if (x.family == AF_INET) {
      const uint8_t lo[4] = {127, 0, 0, 1};
      EXPECT_EQ(std::memcmp(o.laddr, lo, 4), 0);
      EXPECT_EQ(std::memcmp(o.raddr, lo, 4), 0);
    } else {
      EXPECT_EQ(std::memcmp(o.laddr, &in6addr_loopback, 16), 0);
      EXPECT_EQ(std::memcmp(o.raddr, &in6addr_loopback, 16), 0);
    }
    EXPECT_TRUE(gens.insert(o.h.gen).second) << "generation reused";

    // Rebuild each direction from positions: contiguous, exact bytes where copied.
    for (int dir : {FQL_DIR_INGRESS, FQL_DIR_EGRESS}) {
      SCOPED_TRACE(dir == FQL_DIR_INGRESS ? "ingress" : "egress");
      const Bytes& want = dir == FQL_DIR_INGRESS ? x.in : x.out;
      std::vector<const DataEv*> evs;
      for (const auto& e : d.data) {
        if (e.ev.h.gen == o.h.gen && e.ev.dir == dir) evs.push_back(&e);
      }
      std::sort(evs.begin(), evs.end(),
                [](const DataEv* a, const DataEv* b) { return a->ev.pos < b->ev.pos; });
      uint64_t pos = 0, copied_bytes = 0;
      for (const DataEv* e : evs) {
        EXPECT_EQ(e->ev.h.fd, x.fd);
        EXPECT_EQ(e->ev.pos, pos);
        EXPECT_LE(e->ev.copied, e->ev.orig_size);
        EXPECT_LE(e->ev.orig_size, e->ev.syscall_total);
        EXPECT_EQ((e->ev.flags & FQL_DATA_F_TRUNCATED) != 0, e->ev.copied < e->ev.orig_size);
        EXPECT_EQ(e->ev.flags & FQL_DATA_F_FAULT, 0);
        const bool ingress_sys = e->ev.syscall == FQL_SYS_READ || e->ev.syscall == FQL_SYS_READV ||
                                 e->ev.syscall == FQL_SYS_RECVFROM ||
                                 e->ev.syscall == FQL_SYS_RECVMSG;
        EXPECT_EQ(ingress_sys, dir == FQL_DIR_INGRESS) << "syscall " << e->ev.syscall;
        ASSERT_LE(pos + e->ev.copied, want.size());
        EXPECT_TRUE(std::equal(e->payload.begin(), e->payload.end(), want.begin() + pos))
            << "bytes differ at pos " << pos;
        pos += e->ev.orig_size;
        copied_bytes += e->ev.copied;
      }
      EXPECT_EQ(pos, want.size()) << "positions must add up to the bytes moved";
      EXPECT_GT(copied_bytes, 0u);
    }

    auto cl = close_by_gen.find(o.h.gen);
    ASSERT_NE(cl, close_by_gen.end()) << "no close";
    EXPECT_EQ(cl->second.h.fd, x.fd);
    EXPECT_EQ(cl->second.bytes_in, x.in.size());
    EXPECT_EQ(cl->second.bytes_out, x.out.size());
  }

  // Per-syscall sums: sum of orig_size over one syscall's events == its return value, and
  // every syscall flavour was seen in both families.
  for (int i = 0; i < 2; ++i) {
    const uint64_t cgen = open_by_fd[rep.fd_client[i]].h.gen;
    const uint64_t sgen = open_by_fd[rep.fd_server[i]].h.gen;
    std::set<uint16_t> seen;
    for (const auto& e : d.data) {
      if (e.ev.h.gen == cgen || e.ev.h.gen == sgen) seen.insert(e.ev.syscall);
    }
    for (uint16_t sys : {FQL_SYS_READ, FQL_SYS_WRITE, FQL_SYS_READV, FQL_SYS_WRITEV,
                         FQL_SYS_RECVFROM, FQL_SYS_SENDTO, FQL_SYS_RECVMSG, FQL_SYS_SENDMSG}) {
      EXPECT_TRUE(seen.count(sys)) << "family " << i << " syscall " << sys;
    }
    // The 40 KiB write: one full 16 KiB chunk, then one copied=0 event for the rest.
    std::vector<const DataEv*> big;
    for (const auto& e : d.data) {
      if (e.ev.h.gen == cgen && e.ev.syscall == FQL_SYS_WRITE && e.ev.syscall_total == 40960)
        big.push_back(&e);
    }
    ASSERT_EQ(big.size(), 2u) << "family " << i;
    std::sort(big.begin(), big.end(),
              [](const DataEv* a, const DataEv* b) { return a->ev.pos < b->ev.pos; });
    EXPECT_EQ(big[0]->ev.copied, 16384u);
    EXPECT_EQ(big[0]->ev.orig_size, 16384u);
    EXPECT_EQ(big[0]->ev.flags, 0);
    EXPECT_EQ(big[1]->ev.copied, 0u);
    EXPECT_EQ(big[1]->ev.orig_size, 40960u - 16384u);
    EXPECT_EQ(big[1]->ev.flags, FQL_DATA_F_TRUNCATED);
    EXPECT_EQ(big[1]->ev.pos, big[0]->ev.pos + 16384);
    EXPECT_EQ(big[0]->ev.h.ts_ns, big[1]->ev.h.ts_ns);
    // writev of 3 iovecs on the server: 3 events, one per iovec, summing to the return.
    uint32_t wsum = 0, wcount = 0;
    for (const auto& e : d.data) {
      if (e.ev.h.gen == sgen && e.ev.syscall == FQL_SYS_WRITEV) {
        wsum += e.ev.orig_size;
        ++wcount;
        EXPECT_EQ(e.ev.syscall_total, 1500u);
      }
    }
    EXPECT_EQ(wsum, 1500u);
    EXPECT_EQ(wcount, 3u);
  }

  // Processes: one fork (the grandchild, not the thread), its exec, both exits.
  ASSERT_EQ(d.forks.size(), 1u);
  EXPECT_EQ(d.forks[0].h.tgid, gpid);
  EXPECT_EQ(d.forks[0].ppid, cpid);
  EXPECT_EQ(d.forks[0].h.fd, -1);
  EXPECT_NE(static_cast<uint32_t>(rep.thread_tid), gpid);
  bool g_exec = false;
  for (const auto& e : d.execs) {
    if (e.h.tgid == gpid) {
      g_exec = true;
      EXPECT_EQ(std::string(e.comm, strnlen(e.comm, sizeof(e.comm))), "true");
    }
  }
  EXPECT_TRUE(g_exec) << "no PROC_EXEC for the grandchild";
  std::set<uint32_t> exited;
  for (const auto& e : d.exits) exited.insert(e.h.tgid);
  EXPECT_EQ(exited, ours);
  auto w = loader_->Watched();
  EXPECT_EQ(std::find(w.begin(), w.end(), cpid), w.end());
  EXPECT_EQ(std::find(w.begin(), w.end(), gpid), w.end());

  // Counters: nothing lost, truncation and data events accounted.
  const auto after = loader_->ReadCounters();
  auto delta = [&](int i) { return after[i] - counters_before[i]; };
  EXPECT_EQ(delta(FQL_CNT_RINGBUF_FULL), 0u);
  EXPECT_EQ(delta(FQL_CNT_READ_FAULT), 0u);
  EXPECT_EQ(delta(FQL_CNT_CONN_TABLE_FULL), 0u);
  EXPECT_EQ(delta(FQL_CNT_DATA_EVENTS), d.data.size());
  EXPECT_GE(delta(FQL_CNT_TRUNCATED_BYTES), 2u * (40960 - 16384));

  // Program stats: the write exit ran (when run-time stats are on).
  if (loader_->RunTimeStatsEnabled()) {
    bool found = false;
    for (const auto& ps : loader_->ProgramStats()) {
      if (ps.name == "fql_exit_write") {
        found = true;
        EXPECT_GT(ps.run_cnt, 0u);
      }
    }
    EXPECT_TRUE(found);
  }
}


// Forks a child that waits until it is watched, runs body, and exits 0; returns what the
// loader captured for it.
template <typename Body>
void RunWatchedChild(Loader* loader, Body body, Decoded* d, uint32_t* pid_out) {
  auto made = loader->MakeEventSource();
  ASSERT_TRUE(made.ok()) << made.status().message();
  auto src = std::move(made).value();
  int go[2];
  ASSERT_EQ(pipe(go), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(go[1]);
    char c;
    ReadAll(go[0], &c, 1);
    body();
    _exit(0);
  }
  close(go[0]);
  ASSERT_TRUE(loader->Watch(static_cast<uint32_t>(child)).ok());
  ASSERT_EQ(write(go[1], "g", 1), 1);
  close(go[1]);
  int st = 0;
  ASSERT_TRUE(testutil::WaitExit(child, 30000, "the watched child", &st));
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << "child status " << st;
  const uint32_t pid = static_cast<uint32_t>(child);
  ASSERT_TRUE(Drain(src.get(), d, {pid}, "the watched child's events"));
  *pid_out = pid;
}

std::vector<const DataEv*> EventsOf(const Decoded& d, int fd, uint16_t sys, uint32_t total) {
  std::vector<const DataEv*> out;
  for (const auto& e : d.data) {
    if (e.ev.h.fd == fd && e.ev.syscall == sys && e.ev.syscall_total == total) out.push_back(&e);
  }
  std::sort(out.begin(), out.end(),
            [](const DataEv* a, const DataEv* b) { return a->ev.pos < b->ev.pos; });
  return out;
}

TEST(CaptureOptionsTest, MaxCapSplitsIntoChunksAndIovOverflowIsCounted) {
  if (geteuid() != 0) GTEST_FAIL() << "BPF tests need root (run `ctest -L unit` without it)";
  LoaderOptions opts;
  opts.capture_cap = 65536;  // 4 full chunks, then the rest uncopied
  opts.ringbuf_bytes = 1u << 20;
  auto l = Loader::Open(opts);
  ASSERT_TRUE(l.ok()) << l.status().message();
  Loader* loader = l.value().get();
  const auto before = loader->ReadCounters();

  static const Bytes big = Pattern(1000, 40 * 1024);
  static const Bytes huge = Pattern(1001, 70000);
  static const Bytes small = Pattern(1002, 1000);
  int client_fd = -1;
  auto body = [&client_fd] {
    Pair p = MakePair(AF_INET);
    client_fd = p.client;
    WriteAll(p.client, big.data(), big.size());
    ReceiveExact(p.server, big, Rx::kRead);
    iovec iov[10];
    for (int i = 0; i < 10; ++i) iov[i] = {const_cast<uint8_t*>(small.data()) + i * 100, 100};
    if (writev(p.client, iov, 10) != 1000) Die(50);
    ReceiveExact(p.server, small, Rx::kRead);
    if (write(p.client, huge.data(), huge.size()) != static_cast<ssize_t>(huge.size())) Die(51);
    ReceiveExact(p.server, huge, Rx::kRead);
    // dup2 onto the client fd closes the socket implicitly; the reused number is a file.
    int devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (devnull < 0 || dup2(devnull, p.client) != p.client) Die(52);
    if (write(p.client, "x", 1) != 1) Die(53);
    close(devnull);
    close(p.client);
    close(p.server);
    close(p.listener);
  };
  Decoded d;
  uint32_t pid = 0;
  RunWatchedChild(loader, body, &d, &pid);
  ASSERT_EQ(d.bad, 0u);
  int cfd = -1;
  for (const auto& o : d.opens) {
    if (o.role == FQL_ROLE_CLIENT) cfd = o.h.fd;
  }
  ASSERT_GE(cfd, 0);

  auto w = EventsOf(d, cfd, FQL_SYS_WRITE, 40960);
  ASSERT_EQ(w.size(), 3u);  // 16384 + 16384 + 8192, all copied
  EXPECT_EQ(w[0]->ev.copied, 16384u);
  EXPECT_EQ(w[1]->ev.copied, 16384u);
  EXPECT_EQ(w[2]->ev.copied, 8192u);
  for (const DataEv* e : w) EXPECT_EQ(e->ev.flags, 0);
  EXPECT_TRUE(std::equal(w[2]->payload.begin(), w[2]->payload.end(), big.begin() + 32768));

  auto v = EventsOf(d, cfd, FQL_SYS_WRITEV, 1000);
  ASSERT_EQ(v.size(), static_cast<size_t>(FQL_MAX_IOV) + 1);
  for (int i = 0; i < FQL_MAX_IOV; ++i) {
    EXPECT_EQ(v[i]->ev.copied, 100u);
    EXPECT_TRUE(std::equal(v[i]->payload.begin(), v[i]->payload.end(), small.begin() + i * 100));
  }
  EXPECT_EQ(v.back()->ev.copied, 0u);
  EXPECT_EQ(v.back()->ev.orig_size, 1000u - 100u * FQL_MAX_IOV);
  EXPECT_EQ(v.back()->ev.flags, FQL_DATA_F_TRUNCATED);

  auto h = EventsOf(d, cfd, FQL_SYS_WRITE, 70000);
  ASSERT_EQ(h.size(), 5u);  // 4 x 16384 copied + 4464 not copied
  uint64_t sum = 0;
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(h[i]->ev.copied, 16384u);
    sum += h[i]->ev.orig_size;
  }
  EXPECT_EQ(h[4]->ev.copied, 0u);
  EXPECT_EQ(h[4]->ev.orig_size, 70000u - 65536u);
  EXPECT_EQ(h[4]->ev.pos, h[0]->ev.pos + 65536);
  EXPECT_EQ(sum + h[4]->ev.orig_size, 70000u);
  EXPECT_TRUE(std::equal(h[3]->payload.begin(), h[3]->payload.end(), huge.begin() + 3 * 16384));

  // The dup2 closed the client conn; the write to /dev/null on that number is not data.
  int client_closes = 0;
  for (const auto& c : d.closes) {
    if (c.h.fd == cfd) {
      ++client_closes;
      EXPECT_EQ(c.bytes_out, 40960u + 1000u + 70000u);
    }
  }
  EXPECT_EQ(client_closes, 1);
  EXPECT_TRUE(EventsOf(d, cfd, FQL_SYS_WRITE, 1).empty());

  const auto after = loader->ReadCounters();
  EXPECT_EQ(after[FQL_CNT_IOV_OVERFLOW] - before[FQL_CNT_IOV_OVERFLOW], 1u);
  EXPECT_GE(after[FQL_CNT_TRUNCATED_BYTES] - before[FQL_CNT_TRUNCATED_BYTES], 4464u);
  EXPECT_EQ(after[FQL_CNT_RINGBUF_FULL] - before[FQL_CNT_RINGBUF_FULL], 0u);
}

TEST(CaptureOptionsTest, RejectsBadOptions) {
  if (geteuid() != 0) GTEST_FAIL() << "BPF tests need root (run `ctest -L unit` without it)";
  LoaderOptions too_big;
  too_big.capture_cap = FQL_MAX_CHUNK * FQL_MAX_CHUNKS_PER_SYSCALL + 1;
  EXPECT_FALSE(Loader::Open(too_big).ok());
  LoaderOptions not_pow2;
  not_pow2.ringbuf_bytes = 3u << 20;
  EXPECT_FALSE(Loader::Open(not_pow2).ok());
}

}  // namespace
}  // namespace fraiseql::loader
