// libpq uprobes end to end: a throwaway PostgreSQL 15 with ssl=on (self-signed cert made
// here; the shared 5432 server is untouched), /usr/bin/python3 + psycopg 3 (over the system
// libpq) connecting with sslmode=require in a watched child, and the FQL_EV_PQ_CALL records
// asserted: SQL text, statement names, results (status, cmdStatus, SQLSTATE), counts per
// call, no bind value anywhere, no plaintext SQL on the (TLS) socket, fd = the socket's fd,
// and one attachment per libpq inode. Root only (ctest -L bpf). The pure helpers of
// libpq_probes.h are tested first (no privileges needed).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "bpf_test_util.h"
#include "fraiseql/abi/events.h"
#include "loader/libpq_probes.h"
#include "loader/loader.h"

namespace fraiseql::loader {
namespace {

static_assert(sizeof(fql_pq_event) == 200);
static_assert(offsetof(fql_pq_event, conn_ptr) == 32);
static_assert(offsetof(fql_pq_event, fn) == 40);
static_assert(offsetof(fql_pq_event, flags) == 42);
static_assert(offsetof(fql_pq_event, nparams) == 44);
static_assert(offsetof(fql_pq_event, text_len) == 48);
static_assert(offsetof(fql_pq_event, text_orig_len) == 52);
static_assert(offsetof(fql_pq_event, result_status) == 56);
static_assert(offsetof(fql_pq_event, ntuples) == 60);
static_assert(offsetof(fql_pq_event, sqlstate) == 64);
static_assert(offsetof(fql_pq_event, stmt_name) == 72);
static_assert(offsetof(fql_pq_event, cmd_status) == 136);

// ---- pure helpers -------------------------------------------------------------------------

TEST(LibpqHelpersTest, LibpqBasenames) {
  EXPECT_TRUE(IsLibpqBasename("libpq.so.5"));
  EXPECT_TRUE(IsLibpqBasename("libpq.so.5.15"));
  EXPECT_TRUE(IsLibpqBasename("libpq-2e9a1c8d.so.5.16"));
  EXPECT_FALSE(IsLibpqBasename("libpqwalreceiver.so"));
  EXPECT_FALSE(IsLibpqBasename("libpq.a"));
  EXPECT_FALSE(IsLibpqBasename("libpgtypes.so.3"));
  EXPECT_FALSE(IsLibpqBasename("libpq"));
}

TEST(LibpqHelpersTest, FindsLibpqInMaps) {
  const char* maps =
      "55d0-55d1 r--p 00000000 fd:01 100 /usr/bin/python3.11\n"
      "7f00-7f01 r--p 00000000 fd:01 4242 /usr/lib/x86_64-linux-gnu/libpq.so.5.15\n"
      "7f01-7f02 r-xp 00008000 fd:01 4242 /usr/lib/x86_64-linux-gnu/libpq.so.5.15\n"
      "7f10-7f11 r-xp 00000000 fd:01 77 /srv/venv/lib/python3.11/site-packages/"
      "psycopg_binary.libs/libpq-2e9a1c8d.so.5.16 (deleted)\n"
      "7f20-7f21 r-xp 00000000 fd:01 78 /usr/lib/postgresql/15/lib/libpqwalreceiver.so\n"
      "7f30-7f31 rw-p 00000000 00:00 0 \n"
      "7ffc-7ffd rw-p 00000000 00:00 0                          [stack]\n"
      "7f40-7f41 r-xp 00000000 fd:01 79 /opt/my dir/libpq.so.5\n";
  auto libs = FindLibpqMappings(maps);
  ASSERT_EQ(libs.size(), 3u);
  EXPECT_EQ(libs[0].path, "/usr/lib/x86_64-linux-gnu/libpq.so.5.15");
  EXPECT_EQ(libs[0].range, "7f00-7f01");
  EXPECT_EQ(libs[0].inode, 4242u);
  EXPECT_FALSE(libs[0].deleted);
  EXPECT_EQ(libs[1].path,
            "/srv/venv/lib/python3.11/site-packages/psycopg_binary.libs/libpq-2e9a1c8d.so.5.16");
  EXPECT_TRUE(libs[1].deleted);
  EXPECT_EQ(libs[2].path, "/opt/my dir/libpq.so.5");
  EXPECT_TRUE(FindLibpqMappings("").empty());
  EXPECT_TRUE(FindLibpqMappings("garbage\n\n7f-7f r\n").empty());
}

TEST(LibpqHelpersTest, SockOffsetFromPQsocketCode) {
  // libpq 15 (Debian): test rdi,rdi; je +7; mov eax,[rdi+0x1b8]; ret; mov eax,-1; ret
  const std::vector<uint8_t> pg15 = {0x48, 0x85, 0xff, 0x74, 0x07, 0x8b, 0x87, 0xb8, 0x01,
                                     0x00, 0x00, 0xc3, 0xb8, 0xff, 0xff, 0xff, 0xff, 0xc3};
  EXPECT_EQ(SockOffsetFromPQsocket(pg15), 0x1b8);
  std::vector<uint8_t> cet = {0xf3, 0x0f, 0x1e, 0xfa};
  cet.insert(cet.end(), pg15.begin(), pg15.end());
  EXPECT_EQ(SockOffsetFromPQsocket(cet), 0x1b8);
  const std::vector<uint8_t> disp8 = {0x48, 0x85, 0xff, 0x74, 0x04, 0x8b, 0x47, 0x40, 0xc3};
  EXPECT_EQ(SockOffsetFromPQsocket(disp8), 0x40);
  EXPECT_EQ(SockOffsetFromPQsocket(std::vector<uint8_t>{0x55, 0x48, 0x89, 0xe5}), std::nullopt);
  EXPECT_EQ(SockOffsetFromPQsocket(std::vector<uint8_t>{0x48, 0x85, 0xff, 0x74}), std::nullopt);
  EXPECT_EQ(SockOffsetFromPQsocket(std::vector<uint8_t>{}), std::nullopt);
}

TEST(LibpqHelpersTest, ReadsSystemLibpqElf) {
  const std::string path = "/usr/lib/x86_64-linux-gnu/libpq.so.5";
  if (access(path.c_str(), R_OK) != 0) GTEST_SKIP() << "no system libpq";
  auto elf = ReadLibpqElf(path, {"PQsendQuery", "PQgetResult", "PQnoSuchFunction"});
  ASSERT_TRUE(elf.ok()) << elf.status().message();
  EXPECT_EQ(elf->functions, (std::vector<std::string>{"PQsendQuery", "PQgetResult"}));
  EXPECT_TRUE(elf->sock_offset.has_value());
  EXPECT_FALSE(ReadLibpqElf("/etc/hostname", {"PQexec"}).ok());
}

// ---- privileged: a TLS PostgreSQL, psycopg, the real probes ---------------------------------

constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kPgBin = "/usr/lib/postgresql/15/bin";

int Sh(const std::string& cmd) {
  int rc = std::system(cmd.c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

uint16_t FreePort() {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(s, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  close(s);
  return ntohs(a.sin_port);
}

// A throwaway cluster: initdb + pg_ctl as the postgres user, ssl=on, TLS-only pg_hba.
class TlsPostgres {
 public:
  ~TlsPostgres() { Stop(); }
  bool Start(std::string* why) {
    if (access((std::string(kPgBin) + "/initdb").c_str(), X_OK) != 0 || getpwnam("postgres") == nullptr) {
      *why = "PostgreSQL 15 binaries or the postgres user missing";
      return false;
    }
    char tmpl[] = "/tmp/fql-pgtls-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      *why = "mkdtemp";
      return false;
    }
    dir_ = tmpl;
    port_ = FreePort();
    const std::string as_pg = "runuser -u postgres -- ";
    const std::string setup =
        "set -e; cd " + dir_ + "; " +
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout server.key -out server.crt "
        "-days 2 -subj /CN=localhost >openssl.log 2>&1; "
        "chown -R postgres:postgres " + dir_ + "; chmod 700 " + dir_ + "; chmod 600 server.key; " +
        as_pg + kPgBin + "/initdb -D " + dir_ + "/data -A trust -U postgres >initdb.log 2>&1; " +
        "printf 'local all all trust\\nhostssl all all 127.0.0.1/32 trust\\n' > data/pg_hba.conf; " +
        "printf \"port = " + std::to_string(port_) +
        "\\nlisten_addresses = '127.0.0.1'\\nunix_socket_directories = '" + dir_ +
        "'\\nssl = on\\nssl_cert_file = '" + dir_ + "/server.crt'\\nssl_key_file = '" + dir_ +
        "/server.key'\\nfsync = off\\nshared_buffers = 16MB\\nmax_connections = 20\\n\" >> "
        "data/postgresql.conf; chown postgres:postgres data/pg_hba.conf; " +
        as_pg + kPgBin + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/pg.log -w -t 60 start "
        ">pgctl.log 2>&1";
    if (Sh(setup) != 0) {
      *why = "setup failed; see logs in " + dir_;
      keep_ = true;
      return false;
    }
    started_ = true;
    return true;
  }
  void Stop() {
    if (started_) {
      Sh("runuser -u postgres -- " + std::string(kPgBin) + "/pg_ctl -D " + dir_ +
         "/data -m immediate -w stop >/dev/null 2>&1");
      started_ = false;
    }
    if (!dir_.empty() && !keep_) Sh("rm -rf " + dir_);
  }
  uint16_t port() const { return port_; }
  const std::string& dir() const { return dir_; }
  std::string Dsn() const {
    return "host=127.0.0.1 port=" + std::to_string(port_) +
           " dbname=postgres user=postgres sslmode=require";
  }

 private:
  std::string dir_;
  uint16_t port_ = 0;
  bool started_ = false;
  bool keep_ = false;
};

// The workload. Prints "ready" once psycopg (hence libpq) is loaded, waits for a line on
// stdin, runs, prints one result line. Markers make every statement easy to find.
constexpr const char* kWorkload = R"PY(
import json, sys
import psycopg
from psycopg import errors
print("ready", flush=True)
if sys.stdin.readline().strip() != "go":
    sys.exit(3)
out = {}
with psycopg.connect(sys.argv[1], autocommit=True) as conn:
    out["ssl"] = bool(conn.pgconn.ssl_in_use)
    if sys.argv[2] == "full":
        cur = conn.cursor()
        cur.execute("SELECT 'fql_simple_marker' AS m")
        cur.fetchall()
        cur.execute("SELECT %s::text AS fql_param", ("fql_secret_bind_value",))
        cur.fetchall()
        for i in range(10):
            cur.execute("SELECT %s::int + 1 AS fql_repeat", (i,))
        try:
            cur.execute("SELECT 1/0 AS fql_fail")
        except errors.DivisionByZero as e:
            out["sqlstate"] = e.sqlstate
        with conn.pipeline():
            cur.execute("SELECT %s::int AS fql_pipe_a", (1,))
            cur.execute("SELECT %s::int AS fql_pipe_b", (2,))
            cur.execute("SELECT %s::int AS fql_pipe_c", (3,))
        pg = conn.pgconn
        r = pg.exec_(b"SELECT 'fql_exec_marker' AS m")
        out["exec"] = r.status
        r = pg.exec_params(b"SELECT $1::text AS fql_exec_params", [b"fql_secret_two"])
        out["exec_params"] = r.status
        r = pg.prepare(b"fql_stmt", b"SELECT $1::int * 2 AS fql_prep")
        out["prepare"] = r.status
        r = pg.exec_prepared(b"fql_stmt", [b"21"])
        out["exec_prepared"] = r.status
    else:
        conn.execute("SELECT 'fql_second_process' AS m").fetchall()
print(json.dumps(out), flush=True)
)PY";

std::unique_ptr<testutil::SpawnedChild> SpawnPython(const std::string& script,
                                                    const std::string& dsn,
                                                    const std::string& mode) {
  return testutil::SpawnedChild::Start({kPython, script, dsn, mode});
}

// ---- decoded records --------------------------------------------------------------------

struct PqEv {
  fql_pq_event ev;
  std::string text;
  bool result() const { return (ev.flags & FQL_PQ_F_RESULT) != 0; }
  std::string name() const { return std::string(ev.stmt_name, strnlen(ev.stmt_name, 64)); }
  std::string cmd() const { return std::string(ev.cmd_status, strnlen(ev.cmd_status, 64)); }
  std::string sqlstate() const { return std::string(ev.sqlstate, strnlen(ev.sqlstate, 8)); }
  std::string ToString() const {
    char buf[512];
    snprintf(buf, sizeof(buf), "%s fn=%u tgid=%u fd=%d conn=%#llx flags=%#x np=%d status=%d "
             "ntup=%d state='%s' name='%s' cmd='%s' text='%s'",
             result() ? "RESULT" : "CALL  ", ev.fn, ev.h.tgid, ev.h.fd,
             static_cast<unsigned long long>(ev.conn_ptr), ev.flags, ev.nparams,
             ev.result_status, ev.ntuples, sqlstate().c_str(), name().c_str(), cmd().c_str(),
             text.c_str());
    return buf;
  }
};

struct Records {
  std::vector<PqEv> pq;
  std::vector<fql_conn_event> opens;
  std::map<uint32_t, std::vector<std::pair<fql_data_event, std::string>>> data;  // by tgid
  size_t bad = 0;
};

void Collect(std::span<const uint8_t> rec, Records* r) {
  fql_event_header h;
  if (rec.size() < sizeof(h)) {
    ++r->bad;
    return;
  }
  std::memcpy(&h, rec.data(), sizeof(h));
  if (h.kind == FQL_EV_PQ_CALL) {
    PqEv e;
    if (rec.size() < sizeof(e.ev)) {
      ++r->bad;
      return;
    }
    std::memcpy(&e.ev, rec.data(), sizeof(e.ev));
    if (rec.size() != sizeof(e.ev) + e.ev.text_len) {
      ++r->bad;
      return;
    }
    e.text.assign(reinterpret_cast<const char*>(rec.data()) + sizeof(e.ev), e.ev.text_len);
    r->pq.push_back(std::move(e));
  } else if (h.kind == FQL_EV_CONN_OPEN && rec.size() >= sizeof(fql_conn_event)) {
    fql_conn_event c;
    std::memcpy(&c, rec.data(), sizeof(c));
    r->opens.push_back(c);
  } else if (h.kind == FQL_EV_DATA && rec.size() >= sizeof(fql_data_event)) {
    fql_data_event d;
    std::memcpy(&d, rec.data(), sizeof(d));
    r->data[h.tgid].emplace_back(
        d, std::string(reinterpret_cast<const char*>(rec.data()) + sizeof(d),
                       rec.size() - sizeof(d)));
  }
}

// Collects until the processes `exits` have exited and `tgids` have been quiet a while.
::testing::AssertionResult Drain(source::EventSource* src, Records* r,
                                 const std::set<uint32_t>& tgids,
                                 const std::set<uint32_t>& exits, const std::string& what) {
  return testutil::DrainWatched(src, [r](std::span<const uint8_t> rec) { Collect(rec, r); },
                                {.what = what, .tgids = tgids, .exits = exits});
}

class LibpqProbeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    if (access(kPython, X_OK) != 0 ||
        Sh(std::string(kPython) + " -c 'import psycopg' >/dev/null 2>&1") != 0) {
      skip_ = "python3 with psycopg 3 not available";
      return;
    }
    auto l = Loader::Open(LoaderOptions{});
    if (!l.ok()) {
      skip_ = "loader: " + l.status().message();
      return;
    }
    loader_ = std::move(l.value()).release();
    pg_ = new TlsPostgres();
    std::string why;
    if (!pg_->Start(&why)) {
      skip_ = "TLS PostgreSQL: " + why;
      return;
    }
    char path[] = "/tmp/fql-libpq-workload-XXXXXX.py";
    int fd = mkstemps(path, 3);
    if (fd < 0) {
      skip_ = "mkstemps";
      return;
    }
    (void)!write(fd, kWorkload, strlen(kWorkload));
    close(fd);
    script_ = path;
  }
  static void TearDownTestSuite() {
    delete loader_;
    loader_ = nullptr;
    delete pg_;
    pg_ = nullptr;
    if (!script_.empty()) unlink(script_.c_str());
    script_.clear();
  }
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    if (!skip_.empty()) GTEST_SKIP() << skip_;
  }
  static Loader* loader_;
  static TlsPostgres* pg_;
  static std::string script_;
  static std::string skip_;
};
Loader* LibpqProbeTest::loader_ = nullptr;
TlsPostgres* LibpqProbeTest::pg_ = nullptr;
std::string LibpqProbeTest::script_;
std::string LibpqProbeTest::skip_;

bool Contains(const std::string& hay, const std::string& needle) {
  return hay.find(needle) != std::string::npos;
}

TEST_F(LibpqProbeTest, PsycopgOverTlsIsSeenThroughLibpq) {
  auto made = loader_->MakeEventSource();
  ASSERT_TRUE(made.ok()) << made.status().message();
  auto src = std::move(made).value();
  ASSERT_TRUE(testutil::DrainLeftovers(src.get()));
  Records r;
  const auto before = loader_->ReadCounters();

  // 1. The watched process: attach, watch, run.
  auto c1 = SpawnPython(script_, pg_->Dsn(), "full");
  ASSERT_NE(c1, nullptr);
  ASSERT_EQ(c1->ReadLine(), "ready");
  const auto t1 = static_cast<uint32_t>(c1->pid());
  ASSERT_TRUE(loader_->Watch(t1).ok());
  Status a1 = loader_->AttachLibpq(t1);
  ASSERT_TRUE(a1.ok()) << a1.message();
  const auto libs = loader_->LibpqLibraries();
  ASSERT_EQ(libs.size(), 1u);
  EXPECT_TRUE(Contains(libs[0].path, "libpq.so.5")) << libs[0].path;
  EXPECT_EQ(libs[0].probes.size(), 14u);
  EXPECT_TRUE(libs[0].missing.empty());
  EXPECT_TRUE(libs[0].failed.empty());
  EXPECT_GT(libs[0].sock_offset, 0);
  const size_t links = loader_->LibpqLinkCount();
  EXPECT_EQ(links, 14u);
  EXPECT_EQ(loader_->LibpqAttachments(), std::vector<std::string>{libs[0].path});

  c1->Send("go");
  const std::string result1 = c1->ReadLine();
  EXPECT_EQ(c1->Finish(), 0) << result1;
  EXPECT_TRUE(Contains(result1, "\"ssl\": true")) << result1;
  EXPECT_TRUE(Contains(result1, "\"sqlstate\": \"22012\"")) << result1;

  // 2. A second process mapping the same libpq: nothing new attached; it is not watched,
  // so its queries (which do hit the probes) produce no records.
  auto c2 = SpawnPython(script_, pg_->Dsn(), "second");
  ASSERT_NE(c2, nullptr);
  ASSERT_EQ(c2->ReadLine(), "ready");
  const auto t2 = static_cast<uint32_t>(c2->pid());
  Status a2 = loader_->AttachLibpq(t2);
  EXPECT_TRUE(a2.ok()) << a2.message();
  EXPECT_EQ(loader_->LibpqLinkCount(), links);
  EXPECT_EQ(loader_->LibpqLibraries().size(), 1u);
  EXPECT_EQ(loader_->LibpqLibraries()[0].tgid, t1);
  c2->Send("go");
  const std::string result2 = c2->ReadLine();
  EXPECT_EQ(c2->Finish(), 0) << result2;

  ASSERT_TRUE(Drain(src.get(), &r, {t1, t2}, {t1}, "the watched psycopg process's events"));
  ASSERT_EQ(r.bad, 0u);
  std::string dump;
  for (const PqEv& e : r.pq) dump += e.ToString() + "\n";
  SCOPED_TRACE(dump);

  // No record from the unwatched process; none reveals a bind value.
  for (const PqEv& e : r.pq) {
    EXPECT_EQ(e.ev.h.tgid, t1) << e.ToString();
    EXPECT_FALSE(Contains(e.text, "fql_secret")) << e.ToString();
    EXPECT_EQ(e.ev.h.kind, static_cast<uint32_t>(FQL_EV_PQ_CALL));
    EXPECT_EQ(e.ev.h.gen, 0u);
  }

  // fd: the PostgreSQL socket the capture object tracked for this process.
  std::set<int32_t> pg_fds;
  for (const fql_conn_event& o : r.opens) {
    if (o.h.tgid == t1 && o.rport == pg_->port()) pg_fds.insert(o.h.fd);
  }
  ASSERT_EQ(pg_fds.size(), 1u);
  const int32_t pg_fd = *pg_fds.begin();
  for (const PqEv& e : r.pq) EXPECT_EQ(e.ev.h.fd, pg_fd) << e.ToString();

  // The wire is TLS: bytes were captured on that socket, none of them plaintext SQL.
  size_t wire_bytes = 0;
  for (const auto& [d, payload] : r.data[t1]) {
    if (d.h.fd != pg_fd) continue;
    wire_bytes += payload.size();
    EXPECT_FALSE(Contains(payload, "fql_")) << "plaintext on the TLS socket";
    EXPECT_FALSE(Contains(payload, "SELECT"));
  }
  EXPECT_GT(wire_bytes, 1000u);

  // Calls, by function.
  auto calls = [&](uint16_t fn, const std::string& text_part) {
    std::vector<const PqEv*> out;
    for (const PqEv& e : r.pq) {
      if (!e.result() && e.ev.fn == fn && Contains(e.text, text_part)) out.push_back(&e);
    }
    return out;
  };
  auto n_calls = [&](uint16_t fn, const std::string& text_part) {
    return calls(fn, text_part).size();
  };
  // Simple query (no params: simple protocol).
  ASSERT_EQ(n_calls(FQL_PQ_SEND_QUERY, "fql_simple_marker"), 1u);
  EXPECT_EQ(calls(FQL_PQ_SEND_QUERY, "fql_simple_marker")[0]->text,
            "SELECT 'fql_simple_marker' AS m");
  // Parameterised: $1 in the text, nparams 1, the value nowhere.
  ASSERT_EQ(n_calls(FQL_PQ_SEND_QUERY_PARAMS, "fql_param"), 1u);
  {
    const PqEv* e = calls(FQL_PQ_SEND_QUERY_PARAMS, "fql_param")[0];
    EXPECT_EQ(e->text, "SELECT $1::text AS fql_param");
    EXPECT_EQ(e->ev.nparams, 1);
    EXPECT_EQ(e->ev.text_orig_len, e->ev.text_len);
    EXPECT_EQ(e->ev.flags, 0);
  }
  // Run 10 times: psycopg prepares it after 5 (PQsendPrepare _pg3_N, then prepared runs).
  const std::string rep = "SELECT $1::int + 1 AS fql_repeat";
  const size_t unprepared = n_calls(FQL_PQ_SEND_QUERY_PARAMS, "fql_repeat");
  ASSERT_EQ(n_calls(FQL_PQ_SEND_PREPARE, "fql_repeat"), 1u);
  const PqEv* prep = calls(FQL_PQ_SEND_PREPARE, "fql_repeat")[0];
  EXPECT_EQ(prep->text, rep);
  EXPECT_EQ(prep->name().rfind("_pg3_", 0), 0u) << prep->name();
  size_t prepared_runs = 0;
  for (const PqEv& e : r.pq) {
    if (!e.result() && e.ev.fn == FQL_PQ_SEND_QUERY_PREPARED && e.name() == prep->name()) {
      ++prepared_runs;
      EXPECT_EQ(e.ev.text_len, 0u);
      EXPECT_EQ(e.ev.nparams, 1);
    }
  }
  EXPECT_EQ(unprepared, 5u);
  EXPECT_EQ(prepared_runs, 5u);
  EXPECT_EQ(unprepared + prepared_runs, 10u);
  // Failing query; pipeline.
  EXPECT_EQ(n_calls(FQL_PQ_SEND_QUERY, "fql_fail"), 1u);
  for (const char* p : {"fql_pipe_a", "fql_pipe_b", "fql_pipe_c"}) {
    EXPECT_EQ(n_calls(FQL_PQ_SEND_QUERY_PARAMS, p), 1u) << p;
  }
  // Synchronous functions: one CALL each, their inner PQsendQuery/PQgetResult suppressed.
  EXPECT_EQ(n_calls(FQL_PQ_EXEC, "fql_exec_marker"), 1u);
  EXPECT_EQ(n_calls(FQL_PQ_SEND_QUERY, "fql_exec_marker"), 0u);
  EXPECT_EQ(n_calls(FQL_PQ_EXEC_PARAMS, "fql_exec_params"), 1u);
  EXPECT_EQ(n_calls(FQL_PQ_SEND_QUERY_PARAMS, "fql_exec_params"), 0u);
  ASSERT_EQ(n_calls(FQL_PQ_PREPARE, "fql_prep"), 1u);
  EXPECT_EQ(calls(FQL_PQ_PREPARE, "fql_prep")[0]->name(), "fql_stmt");
  EXPECT_EQ(n_calls(FQL_PQ_SEND_PREPARE, "fql_prep"), 0u);
  ASSERT_EQ(n_calls(FQL_PQ_EXEC_PREPARED, ""), 1u);
  EXPECT_EQ(calls(FQL_PQ_EXEC_PREPARED, "")[0]->name(), "fql_stmt");
  EXPECT_EQ(calls(FQL_PQ_EXEC_PREPARED, "")[0]->ev.nparams, 1);

  // Pair results with calls the way userspace will: a FIFO of async calls per PGconn;
  // results attach to the head, a NULL result pops it, PIPELINE_SYNC belongs to no call.
  // Sync functions carry their own result right after their call.
  struct Outcome {
    const PqEv* call;
    std::vector<const PqEv*> results;
  };
  std::vector<Outcome> outcomes;
  std::map<uint64_t, std::deque<size_t>> pending;
  size_t syncs = 0, stray_nulls = 0;
  std::map<uint16_t, size_t> sync_open;
  // What the previous event on each PGconn was: a NULL with nothing pending is expected
  // only before the connection's first call (psycopg's connect drains it once) or right
  // after a PIPELINE_SYNC (psycopg's pipeline exit reads until NULL). Whether either shows
  // up depends on timing (the connect may finish before the probes attach), so they are
  // allowed, never required; any other NULL with nothing pending is a pairing bug.
  std::map<uint64_t, bool> seen_call, after_sync;
  for (const PqEv& e : r.pq) {
    const bool prev_sync = after_sync[e.ev.conn_ptr];
    after_sync[e.ev.conn_ptr] =
        e.result() && e.ev.result_status == FQL_PGRES_PIPELINE_SYNC;
    if (!e.result()) {
      seen_call[e.ev.conn_ptr] = true;
      outcomes.push_back({&e, {}});
      if (e.ev.fn <= FQL_PQ_SEND_QUERY_PREPARED) {
        pending[e.ev.conn_ptr].push_back(outcomes.size() - 1);
      } else {
        sync_open[e.ev.fn] = outcomes.size() - 1;
      }
      continue;
    }
    if (e.ev.fn != FQL_PQ_GET_RESULT) {
      ASSERT_EQ(sync_open.count(e.ev.fn), 1u) << e.ToString();
      outcomes[sync_open[e.ev.fn]].results.push_back(&e);
      sync_open.erase(e.ev.fn);
      continue;
    }
    auto& q = pending[e.ev.conn_ptr];
    if (e.ev.result_status == FQL_PGRES_PIPELINE_SYNC) {
      ++syncs;
    } else if (e.ev.flags & FQL_PQ_F_NULL_RESULT) {
      if (q.empty()) {
        if (seen_call[e.ev.conn_ptr] && !prev_sync) ++stray_nulls;
      } else {
        q.pop_front();
      }
    } else {
      ASSERT_FALSE(q.empty()) << "result with no call: " << e.ToString();
      outcomes[q.front()].results.push_back(&e);
    }
  }
  EXPECT_EQ(syncs, 1u);
  // Expected idle NULLs are documented in events.h: userspace ignores them.
  EXPECT_EQ(stray_nulls, 0u);
  for (auto& [conn, q] : pending) EXPECT_TRUE(q.empty());
  EXPECT_TRUE(sync_open.empty());
  // Every call got exactly one PGresult, with the status and cmdStatus of its statement.
  size_t errors = 0;
  for (const Outcome& o : outcomes) {
    ASSERT_EQ(o.results.size(), 1u) << o.call->ToString();
    const PqEv& res = *o.results[0];
    EXPECT_EQ(res.ev.conn_ptr, o.call->ev.conn_ptr);
    EXPECT_GE(res.ev.h.ts_ns, o.call->ev.h.ts_ns);
    const uint16_t fn = o.call->ev.fn;
    const std::string& t = o.call->text;
    if (Contains(t, "fql_fail")) {
      ++errors;
      EXPECT_EQ(res.ev.result_status, FQL_PGRES_FATAL_ERROR);
      EXPECT_EQ(res.sqlstate(), "22012");
      EXPECT_TRUE(res.ev.flags & FQL_PQ_F_SQLSTATE);
      EXPECT_EQ(res.cmd(), "");
    } else if (fn == FQL_PQ_SEND_PREPARE || fn == FQL_PQ_PREPARE) {
      EXPECT_EQ(res.ev.result_status, FQL_PGRES_COMMAND_OK) << o.call->ToString();
      EXPECT_EQ(res.sqlstate(), "");
    } else {
      EXPECT_EQ(res.ev.result_status, FQL_PGRES_TUPLES_OK) << o.call->ToString();
      EXPECT_EQ(res.cmd(), "SELECT 1") << o.call->ToString();
      EXPECT_EQ(res.ev.ntuples, 1);
      EXPECT_FALSE(res.ev.flags & FQL_PQ_F_SQLSTATE);
    }
  }
  EXPECT_EQ(errors, 1u);
  // 1 simple + 1 param + 10 repeat + 1 prepare + 1 fail + 3 pipeline + 4 sync = 21
  EXPECT_EQ(outcomes.size(), 21u);

  // The libpq programs show up in the per-program stats, with runs.
  bool saw_getres = false;
  for (const ProgramStat& ps : loader_->ProgramStats()) {
    if (ps.name == "fql_pq_get_result_ret") {
      saw_getres = true;
      if (loader_->RunTimeStatsEnabled()) {
        EXPECT_GT(ps.run_cnt, 0u);
      }
    }
  }
  EXPECT_TRUE(saw_getres);

  const auto after = loader_->ReadCounters();
  EXPECT_EQ(after[FQL_CNT_PQ_EVENTS] - before[FQL_CNT_PQ_EVENTS], r.pq.size());
  EXPECT_EQ(after[FQL_CNT_PQ_STATE_FULL], before[FQL_CNT_PQ_STATE_FULL]);
  EXPECT_EQ(after[FQL_CNT_RINGBUF_FULL], before[FQL_CNT_RINGBUF_FULL]);
  EXPECT_TRUE(loader_->Unwatch(t1).ok());
}

TEST_F(LibpqProbeTest, LongSqlIsTruncatedAndFlagged) {
  // A 6000-byte statement through PQexec (psycopg's pgconn.exec_).
  auto made = loader_->MakeEventSource();
  ASSERT_TRUE(made.ok()) << made.status().message();
  auto src = std::move(made).value();
  ASSERT_TRUE(testutil::DrainLeftovers(src.get()));
  Records r;
  char path[] = "/tmp/fql-libpq-long-XXXXXX.py";
  int fd = mkstemps(path, 3);
  ASSERT_GE(fd, 0);
  const std::string py =
      "import sys, psycopg\nprint('ready', flush=True)\nsys.stdin.readline()\n"
      "with psycopg.connect(sys.argv[1], autocommit=True) as c:\n"
      "    q = 'SELECT 1 AS fql_long /*' + 'x' * 6000 + '*/'\n"
      "    r = c.pgconn.exec_(q.encode())\n"
      "    print(r.status, flush=True)\n";
  (void)!write(fd, py.data(), py.size());
  close(fd);
  auto c = SpawnPython(path, pg_->Dsn(), "long");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->ReadLine(), "ready");
  const auto t = static_cast<uint32_t>(c->pid());
  ASSERT_TRUE(loader_->Watch(t).ok());
  ASSERT_TRUE(loader_->AttachLibpq(t).ok());
  c->Send("go");
  EXPECT_EQ(c->ReadLine(), "2");  // PGRES_TUPLES_OK
  EXPECT_EQ(c->Finish(), 0);
  unlink(path);
  ASSERT_TRUE(Drain(src.get(), &r, {t}, {t}, "the long-SQL process's events"));
  std::vector<const PqEv*> mine;
  for (const PqEv& e : r.pq) {
    // (skip the NULL of psycopg's PQgetResult on the idle connection after connect)
    if (e.ev.h.tgid == t && !(e.ev.flags & FQL_PQ_F_NULL_RESULT)) mine.push_back(&e);
  }
  ASSERT_EQ(mine.size(), 2u);
  EXPECT_EQ(mine[0]->ev.fn, FQL_PQ_EXEC);
  EXPECT_EQ(mine[0]->ev.text_len, static_cast<uint32_t>(FQL_PQ_MAX_TEXT - 1));
  EXPECT_EQ(mine[0]->ev.text_orig_len, 0u);
  EXPECT_TRUE(mine[0]->ev.flags & FQL_PQ_F_TEXT_TRUNCATED);
  EXPECT_EQ(mine[0]->text.rfind("SELECT 1 AS fql_long /*xxx", 0), 0u);
  EXPECT_TRUE(mine[1]->result());
  EXPECT_EQ(mine[1]->ev.fn, FQL_PQ_EXEC);
  EXPECT_EQ(mine[1]->ev.result_status, FQL_PGRES_TUPLES_OK);
  EXPECT_EQ(mine[1]->cmd(), "SELECT 1");
  EXPECT_TRUE(loader_->Unwatch(t).ok());
}

TEST_F(LibpqProbeTest, DetachAndReattach) {
  auto c = SpawnPython(script_, pg_->Dsn(), "second");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->ReadLine(), "ready");
  const auto t = static_cast<uint32_t>(c->pid());
  ASSERT_TRUE(loader_->AttachLibpq(t).ok());
  EXPECT_EQ(loader_->LibpqLinkCount(), 14u);
  loader_->DetachLibpq();
  EXPECT_EQ(loader_->LibpqLinkCount(), 0u);
  EXPECT_TRUE(loader_->LibpqAttachments().empty());
  ASSERT_TRUE(loader_->AttachLibpq(t).ok());
  EXPECT_EQ(loader_->LibpqLinkCount(), 14u);
  EXPECT_FALSE(loader_->AttachLibpq(static_cast<uint32_t>(getpid())).ok());
  c->Send("go");
  c->ReadLine();
  EXPECT_EQ(c->Finish(), 0);
  // A process without libpq.
  EXPECT_FALSE(loader_->AttachLibpq(1).ok());
}

}  // namespace
}  // namespace fraiseql::loader
