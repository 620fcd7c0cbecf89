#include "discovery/discovery.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "fake_proc.h"

namespace fraiseql::discovery {
namespace {

using testing::FakeProc;
using testing::FakeProcess;

const char* const kPython = "/usr/bin/python3.11";

FakeProcess Python(uint32_t pid, std::vector<std::string> argv, uint32_t ppid = 1) {
  FakeProcess p;
  p.pid = pid;
  p.ppid = ppid;
  p.comm = "python3";
  p.exe = kPython;
  p.argv = std::move(argv);
  return p;
}

FakeProcess Native(uint32_t pid, const std::string& exe, std::vector<std::string> argv) {
  FakeProcess p;
  p.pid = pid;
  p.comm = exe.substr(exe.rfind('/') + 1).substr(0, 15);
  p.exe = exe;
  p.argv = std::move(argv);
  return p;
}

std::vector<uint32_t> Pids(const std::vector<Target>& targets) {
  std::vector<uint32_t> out;
  for (const auto& t : targets) out.push_back(t.tgid);
  return out;
}

const Target* Find(const std::vector<Target>& targets, uint32_t pid) {
  for (const auto& t : targets) {
    if (t.tgid == pid) return &t;
  }
  return nullptr;
}

// A small host: a FraiseQL v1 uvicorn app, a FraiseQL v2 server, the collector, unrelated
// processes, a kernel thread.
class FakeHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    FakeProcess init = Native(1, "/usr/lib/systemd/systemd", {"/sbin/init", "splash"});
    init.ppid = 0;
    proc_.Add(init);
    FakeProcess kthread;
    kthread.pid = 2;
    kthread.ppid = 0;
    kthread.comm = "kthreadd";
    kthread.kernel_thread = true;
    proc_.Add(kthread);
    FakeProcess kworker = kthread;
    kworker.pid = 3;
    kworker.ppid = 2;
    kworker.comm = "fraiseql-kworker";  // a kernel thread is never a target, whatever its name
    proc_.Add(kworker);

    // v1: python -m uvicorn fraiseql_demo.app:app, listening on 8000 (IPv4).
    FakeProcess v1 = Python(100, {"/usr/bin/python3", "-m", "uvicorn", "fraiseql_demo.app:app",
                                  "--host", "0.0.0.0", "--port", "8000"});
    v1.sockets = {5001, 5002};
    proc_.Add(v1);
    proc_.AddTcp(false, 8000, 5001);
    proc_.AddTcp(false, 5432, 5002, 0x01);  // its pool connection to PostgreSQL: ESTABLISHED

    // v2: Rust server listening on 8080 (IPv6 dual stack).
    FakeProcess v2 = Native(200, "/usr/local/bin/fraiseql-server",
                            {"/usr/local/bin/fraiseql-server", "--config", "/etc/fq.toml"});
    v2.sockets = {6001};
    proc_.Add(v2);
    proc_.AddTcp(true, 8080, 6001);

    // The collector (another instance, by name) and unrelated processes.
    proc_.Add(Native(300, "/usr/local/bin/fraiseql-collector",
                     {"/usr/local/bin/fraiseql-collector", "--port", "9464"}));
    FakeProcess nginx = Native(400, "/usr/sbin/nginx", {"nginx: master process"});
    nginx.sockets = {7001};
    proc_.Add(nginx);
    proc_.AddTcp(false, 80, 7001);
    proc_.Add(Native(401, "/usr/bin/vim", {"vim", "fraiseql_demo/app.py"}));
    // Python serving HTTP but not FraiseQL.
    FakeProcess other_py = Python(500, {"/usr/bin/python3", "-m", "http.server", "9000"});
    other_py.sockets = {8001};
    proc_.Add(other_py);
    proc_.AddTcp(false, 9000, 8001);
  }

  FakeProc proc_;
};

TEST_F(FakeHostTest, AutoDetectFindsV1AndV2Only) {
  Discovery d(Selectors{}, proc_.root());
  ASSERT_TRUE(d.status().ok());
  std::vector<Target> targets = d.Scan();
  EXPECT_EQ(Pids(targets), (std::vector<uint32_t>{100, 200}));

  const Target* v1 = Find(targets, 100);
  ASSERT_NE(v1, nullptr);
  EXPECT_EQ(v1->runtime, Runtime::kPython);
  EXPECT_EQ(v1->exe, kPython);
  EXPECT_EQ(v1->comm, "python3");
  EXPECT_EQ(v1->ppid, 1u);
  EXPECT_EQ(v1->cmdline,
            "/usr/bin/python3 -m uvicorn fraiseql_demo.app:app --host 0.0.0.0 --port 8000");
  EXPECT_EQ(v1->service_name, "fraiseql_demo");
  EXPECT_NE(v1->reason.find("FraiseQL v1"), std::string::npos) << v1->reason;
  EXPECT_NE(v1->reason.find("uvicorn in cmdline"), std::string::npos) << v1->reason;

  const Target* v2 = Find(targets, 200);
  ASSERT_NE(v2, nullptr);
  EXPECT_EQ(v2->runtime, Runtime::kNative);
  EXPECT_EQ(v2->service_name, "fraiseql-server");
  EXPECT_NE(v2->reason.find("FraiseQL v2"), std::string::npos) << v2->reason;
}

TEST_F(FakeHostTest, CheckMatchesScan) {
  Discovery d(Selectors{}, proc_.root());
  EXPECT_TRUE(d.Check(100).has_value());
  EXPECT_TRUE(d.Check(200).has_value());
  for (uint32_t pid : {1u, 2u, 3u, 300u, 400u, 401u, 500u, 999u}) {
    EXPECT_FALSE(d.Check(pid).has_value()) << pid;
  }
}

TEST_F(FakeHostTest, PidSelector) {
  Selectors s;
  s.pids = {400, 999};  // 999 does not exist
  Discovery d(s, proc_.root());
  std::vector<Target> targets = d.Scan();
  ASSERT_EQ(Pids(targets), (std::vector<uint32_t>{400}));
  EXPECT_EQ(targets[0].reason, "pid 400");
  EXPECT_EQ(targets[0].service_name, "nginx");
  EXPECT_EQ(targets[0].runtime, Runtime::kNative);
  EXPECT_FALSE(d.Check(100).has_value());  // explicit selectors turn auto-detect off
  EXPECT_FALSE(d.Check(999).has_value());
}

TEST_F(FakeHostTest, PidSelectorNeverSelectsKernelThreads) {
  Selectors s;
  s.pids = {2, 3};
  Discovery d(s, proc_.root());
  EXPECT_TRUE(d.Scan().empty());
}

TEST_F(FakeHostTest, CmdlineSelectorSearchesArgsJoinedBySpaces) {
  Selectors s;
  s.cmdline_regexes = {"http\\.server 9000$"};
  Discovery d(s, proc_.root());
  std::vector<Target> targets = d.Scan();
  ASSERT_EQ(Pids(targets), (std::vector<uint32_t>{500}));
  EXPECT_EQ(targets[0].reason, "cmdline ~ /http\\.server 9000$/");
  EXPECT_EQ(targets[0].service_name, "http");  // python -m http.server -> top-level package
}

TEST_F(FakeHostTest, PortSelectorIpv4AndIpv6ListenOnly) {
  Selectors s;
  s.ports = {8000, 8080, 5432};  // 5432 is only an ESTABLISHED client socket here
  Discovery d(s, proc_.root());
  std::vector<Target> targets = d.Scan();
  ASSERT_EQ(Pids(targets), (std::vector<uint32_t>{100, 200}));
  EXPECT_EQ(targets[0].reason, "listening on port 8000");
  EXPECT_EQ(targets[1].reason, "listening on port 8080");
}

TEST_F(FakeHostTest, SelectorsCombineAsUnion) {
  Selectors s;
  s.pids = {401};
  s.cmdline_regexes = {"nginx"};
  s.ports = {8080, 80};
  Discovery d(s, proc_.root());
  std::vector<Target> targets = d.Scan();
  ASSERT_EQ(Pids(targets), (std::vector<uint32_t>{200, 400, 401}));
  EXPECT_EQ(Find(targets, 400)->reason, "cmdline ~ /nginx/; listening on port 80");
  EXPECT_EQ(Find(targets, 401)->reason, "pid 401");
}

TEST_F(FakeHostTest, ListeningPorts) {
  EXPECT_EQ(ListeningPorts(100, proc_.root()), (std::vector<uint16_t>{8000}));
  EXPECT_EQ(ListeningPorts(200, proc_.root()), (std::vector<uint16_t>{8080}));
  EXPECT_TRUE(ListeningPorts(401, proc_.root()).empty());
  EXPECT_TRUE(ListeningPorts(999, proc_.root()).empty());
  Discovery d(Selectors{}, proc_.root());
  EXPECT_EQ(d.ListeningPorts(400), (std::vector<uint16_t>{80}));
}

TEST_F(FakeHostTest, ServiceNameOverride) {
  Selectors s;
  s.service_name = "shop-api";
  Discovery d(s, proc_.root());
  ASSERT_TRUE(s.AutoDetect());
  for (const Target& t : d.Scan()) EXPECT_EQ(t.service_name, "shop-api");
  EXPECT_EQ(d.Scan().size(), 2u);
}

TEST_F(FakeHostTest, NeverSelectsItself) {
  uint32_t self = static_cast<uint32_t>(::getpid());
  FakeProcess me = Native(self, "/usr/local/bin/fraiseql-server", {"fraiseql-server"});
  proc_.Add(me);
  Selectors s;
  s.pids = {self};
  s.cmdline_regexes = {"fraiseql-(server|collector)"};
  Discovery explicit_sel(s, proc_.root());
  EXPECT_EQ(Pids(explicit_sel.Scan()), (std::vector<uint32_t>{200, 300}));
  EXPECT_FALSE(explicit_sel.Check(self).has_value());
  Discovery autodetect(Selectors{}, proc_.root());
  EXPECT_EQ(Pids(autodetect.Scan()), (std::vector<uint32_t>{100, 200}));
}

TEST_F(FakeHostTest, ThreadIdsAreNotTargets) {
  FakeProcess thread = Native(201, "/usr/local/bin/fraiseql-server", {"fraiseql-server"});
  thread.tgid = 200;
  proc_.Add(thread);
  Discovery d(Selectors{}, proc_.root());
  EXPECT_FALSE(d.Check(201).has_value());
  EXPECT_TRUE(d.Check(200).has_value());
}

TEST_F(FakeHostTest, HugeCommandLinesDoNotOverflowTheRegexStack) {
  // ~200 KB classpath: std::regex would recurse once per character without the cap.
  std::string classpath(200000, 'a');
  proc_.Add(Native(600, "/usr/bin/java", {"java", "-cp", classpath, "fraiseql.Main:x"}));
  FakeProcess setproctitle = Python(601, {classpath + ":" + classpath});
  setproctitle.exe = "";  // unreadable exe: argv[0] is used for the interpreter check
  proc_.Add(setproctitle);
  Selectors s;
  s.cmdline_regexes = {"^java -cp a.*b", "^java -cp a+"};
  Discovery d(s, proc_.root());
  std::vector<Target> targets = d.Scan();
  ASSERT_EQ(Pids(targets), (std::vector<uint32_t>{600}));
  EXPECT_EQ(targets[0].reason, "cmdline ~ /^java -cp a+/");
  EXPECT_EQ(targets[0].runtime, Runtime::kOther);
  EXPECT_EQ(targets[0].cmdline.size(), 9 + 200000 + 16);  // kept whole
  Discovery autodetect(Selectors{}, proc_.root());
  EXPECT_EQ(Pids(autodetect.Scan()), (std::vector<uint32_t>{100, 200}));
}

// ---- validation ----

TEST(ValidateTest, BadRegexIsAClearError) {
  Selectors s;
  s.cmdline_regexes = {"uvicorn", "(unclosed"};
  Status st = Validate(s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("invalid --cmdline regex \"(unclosed\""), std::string::npos)
      << st.message();

  Discovery d(s, "/nonexistent");
  EXPECT_FALSE(d.status().ok());
  StatusOr<Discovery> created = Discovery::Create(s, "/nonexistent");
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.status().message(), st.message());
}

TEST(ValidateTest, OtherSelectors) {
  EXPECT_TRUE(Validate(Selectors{}).ok());
  Selectors ok;
  ok.pids = {42};
  ok.ports = {8000};
  ok.cmdline_regexes = {"gunicorn.*fraiseql"};
  ok.service_name = "api";
  EXPECT_TRUE(Validate(ok).ok());
  EXPECT_TRUE(Discovery::Create(ok, "/nonexistent").ok());
  Selectors bad_port;
  bad_port.ports = {0};
  EXPECT_FALSE(Validate(bad_port).ok());
  Selectors bad_pid;
  bad_pid.pids = {0};
  EXPECT_FALSE(Validate(bad_pid).ok());
  Selectors bad_name;
  bad_name.service_name = "";
  EXPECT_FALSE(Validate(bad_name).ok());
}

TEST(RuntimeNameTest, Names) {
  EXPECT_STREQ(RuntimeName(Runtime::kPython), "python");
  EXPECT_STREQ(RuntimeName(Runtime::kNative), "native");
  EXPECT_STREQ(RuntimeName(Runtime::kOther), "other");
}

// ---- auto-detect rules, one process at a time ----

class AutoDetectTest : public ::testing::Test {
 protected:
  std::optional<Target> CheckOne(const FakeProcess& p) {
    proc_.Add(p);
    return Discovery(Selectors{}, proc_.root()).Check(p.pid);
  }
  FakeProc proc_;
};

TEST_F(AutoDetectTest, V1ByEnvironment) {
  FakeProcess p = Python(10, {"/usr/bin/python3", "/usr/local/bin/gunicorn", "main:app"});
  p.env = {"PATH=/usr/bin", "FRAISEQL_DATABASE_URL=postgresql://x"};
  auto t = CheckOne(p);
  ASSERT_TRUE(t.has_value());
  EXPECT_NE(t->reason.find("gunicorn in cmdline, FRAISEQL_DATABASE_URL in environ"),
            std::string::npos)
      << t->reason;
  EXPECT_EQ(t->service_name, "main");
}

TEST_F(AutoDetectTest, V1ByMapsAndListeningSocket) {
  // No server word in the cmdline: HTTP is inferred from the LISTEN socket, FraiseQL from
  // the Rust extension mapped in memory.
  FakeProcess p = Python(11, {"python3", "serve.py"});
  p.sockets = {42};
  p.maps = {"/usr/lib/x86_64-linux-gnu/libpq.so.5.15",
            "/srv/venv/lib/python3.11/site-packages/fraiseql_rs/"
            "_fraiseql_rs.cpython-311-x86_64-linux-gnu.so"};
  proc_.AddTcp(true, 8000, 42);
  auto t = CheckOne(p);
  ASSERT_TRUE(t.has_value());
  EXPECT_NE(t->reason.find("listening on port 8000"), std::string::npos) << t->reason;
  EXPECT_NE(t->reason.find("fraiseql in maps (_fraiseql_rs.cpython-311-x86_64-linux-gnu.so)"),
            std::string::npos)
      << t->reason;
  EXPECT_EQ(t->service_name, "serve");
}

TEST_F(AutoDetectTest, V1CaseInsensitiveCmdline) {
  auto t = CheckOne(Python(12, {"/usr/bin/python3.12", "-m", "Hypercorn", "FraiseQLApp:app"}));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->service_name, "FraiseQLApp");
}

TEST_F(AutoDetectTest, PythonWithoutHttpIsNotV1) {
  // FraiseQL in the cmdline but no server word and no LISTEN socket: a migration script.
  FakeProcess p = Python(13, {"python3", "-m", "fraiseql.cli", "migrate"});
  p.env = {"FRAISEQL_DATABASE_URL=x"};
  EXPECT_FALSE(CheckOne(p).has_value());
}

TEST_F(AutoDetectTest, PythonServerWithoutFraiseqlIsNotV1) {
  FakeProcess p = Python(14, {"/usr/bin/python3", "/usr/local/bin/uvicorn", "shop.main:app"});
  p.maps = {"/usr/lib/x86_64-linux-gnu/libpq.so.5.15"};
  p.env = {"OTEL_SERVICE_NAME=shop"};
  EXPECT_FALSE(CheckOne(p).has_value());
}

TEST_F(AutoDetectTest, NonPythonNonFraiseqlBinaryIsIgnored) {
  FakeProcess p = Native(15, "/usr/bin/node", {"node", "fraiseql-gateway.js"});
  p.env = {"FRAISEQL_URL=x"};
  EXPECT_FALSE(CheckOne(p).has_value());
}

TEST_F(AutoDetectTest, V2ByCommWhenExeIsGeneric) {
  FakeProcess p = Native(16, "/app/server", {"/app/server"});
  p.comm = "fraiseql";
  auto t = CheckOne(p);
  ASSERT_TRUE(t.has_value());
  EXPECT_NE(t->reason.find("comm fraiseql"), std::string::npos) << t->reason;
  EXPECT_EQ(t->service_name, "server");
}

TEST_F(AutoDetectTest, V2DeletedExeAfterUpgrade) {
  auto t = CheckOne(Native(17, "/usr/bin/fraiseql-server (deleted)", {"fraiseql-server"}));
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->exe, "/usr/bin/fraiseql-server");
  EXPECT_EQ(t->service_name, "fraiseql-server");
}

TEST_F(AutoDetectTest, CollectorExcludedByExeAndTruncatedComm) {
  EXPECT_FALSE(CheckOne(Native(18, "/opt/bin/fraiseql-collector", {"fraiseql-collector"}))
                   .has_value());
  FakeProcess renamed = Native(19, "/opt/bin/fql", {"fql"});
  renamed.comm = "fraiseql-collec";
  EXPECT_FALSE(CheckOne(renamed).has_value());
}

TEST_F(AutoDetectTest, PythonNamedFraiseqlIsNotV2) {
  // setproctitle("fraiseql ...") in a Python process: a v1 candidate, not a v2 binary.
  FakeProcess p = Python(20, {"fraiseql worker"});
  p.comm = "fraiseql";
  EXPECT_FALSE(CheckOne(p).has_value());
}

// ---- service names ----

TEST_F(AutoDetectTest, ServiceNameFromEnvironment) {
  FakeProcess otel = Python(30, {"uvicorn", "fraiseql_demo.app:app"});
  otel.env = {"FRAISEQL_SERVICE_NAME=second", "OTEL_SERVICE_NAME=orders"};
  EXPECT_EQ(CheckOne(otel)->service_name, "orders");
  FakeProcess fq = Python(31, {"uvicorn", "fraiseql_demo.app:app"});
  fq.env = {"OTEL_SERVICE_NAME=", "FRAISEQL_SERVICE_NAME=billing"};  // empty value skipped
  EXPECT_EQ(CheckOne(fq)->service_name, "billing");
}

TEST_F(AutoDetectTest, ServiceNameFromAppArgument) {
  EXPECT_EQ(CheckOne(Python(40, {"/usr/bin/python3", "/usr/local/bin/gunicorn", "--bind",
                                 "0.0.0.0:8000", "-k", "uvicorn.workers.UvicornWorker",
                                 "src.fraiseql_shop.main:create_app()"}))
                ->service_name,
            "fraiseql_shop");
  EXPECT_EQ(CheckOne(Python(41, {"/usr/bin/python3", "/usr/local/bin/gunicorn", "-b",
                                 "unix:/run/fraiseql.sock", "--factory", "api:make"}))
                ->service_name,
            "api");
  // setproctitle form: one argv element with spaces.
  EXPECT_EQ(CheckOne(Python(42, {"gunicorn: worker [fraiseql_demo.app:app]"}))->service_name,
            "fraiseql_demo");
  EXPECT_EQ(CheckOne(Python(43, {"/usr/bin/python3", "-m", "granian", "--interface", "asgi",
                                 "fraiseql_demo.app:app"}))
                ->service_name,
            "fraiseql_demo");
}

TEST_F(AutoDetectTest, ServiceNameFallsBackToExeBasename) {
  // A server word but no app argument and no -m module: the exe basename.
  FakeProcess p = Python(44, {"/usr/bin/python3", "/usr/local/bin/uvicorn", "--app-dir", "/srv"});
  p.env = {"FRAISEQL_X=1"};
  EXPECT_EQ(CheckOne(p)->service_name, "python3.11");
}

// gunicorn: the master forks workers that keep the master's cmdline and share its LISTEN
// socket. All of them are targets and aggregate under one service name.
TEST(GunicornTreeTest, WorkersShareTheMastersName) {
  FakeProc proc;
  std::vector<std::string> argv = {"/srv/venv/bin/python3", "/srv/venv/bin/gunicorn", "-w", "2",
                                   "-k", "uvicorn.workers.UvicornWorker", "--bind",
                                   "0.0.0.0:8000", "fraiseql_demo.app:app"};
  FakeProcess master = Python(700, argv);
  master.exe = "/usr/bin/python3.11";
  master.sockets = {9100};
  proc.Add(master);
  for (uint32_t pid : {701u, 702u}) {
    FakeProcess worker = master;
    worker.pid = pid;
    worker.ppid = 700;
    worker.sockets = {9100, 9200 + pid};  // + a pool connection each
    worker.maps = {"/srv/venv/lib/python3.11/site-packages/fraiseql_rs/_fraiseql_rs.so"};
    proc.Add(worker);
    proc.AddTcp(false, 5432, 9200 + pid, 0x01);
  }
  proc.AddTcp(false, 8000, 9100);

  Discovery autodetect(Selectors{}, proc.root());
  std::vector<Target> targets = autodetect.Scan();
  ASSERT_EQ(Pids(targets), (std::vector<uint32_t>{700, 701, 702}));
  for (const Target& t : targets) EXPECT_EQ(t.service_name, "fraiseql_demo") << t.tgid;
  EXPECT_EQ(targets[1].ppid, 700u);

  Selectors by_port;
  by_port.ports = {8000};
  Discovery d(by_port, proc.root());
  EXPECT_EQ(Pids(d.Scan()), (std::vector<uint32_t>{700, 701, 702}));
  EXPECT_EQ(d.ListeningPorts(701), (std::vector<uint16_t>{8000}));
}

// uvicorn --workers N: the workers are multiprocessing-spawned; their cmdline names neither
// uvicorn nor the app, but they hold the inherited LISTEN socket. The resource tracker
// (no socket) is not a target.
TEST(UvicornSpawnTreeTest, WorkersInheritFromTheMaster) {
  FakeProc proc;
  FakeProcess master = Python(800, {"/usr/bin/python3", "-m", "uvicorn", "fraiseql_demo.app:app",
                                    "--workers", "2", "--port", "8000"});
  master.sockets = {9300};
  proc.Add(master);
  proc.AddTcp(false, 8000, 9300);
  FakeProcess tracker = Python(801, {"/usr/bin/python3", "-c",
                                     "from multiprocessing.resource_tracker import main;main(6)"},
                               800);
  proc.Add(tracker);
  FakeProcess worker =
      Python(802,
             {"/usr/bin/python3", "-c",
              "from multiprocessing.spawn import spawn_main; spawn_main(tracker_fd=7, "
              "pipe_handle=9)",
              "--multiprocessing-fork"},
             800);
  worker.sockets = {9300};
  proc.Add(worker);

  Discovery d(Selectors{}, proc.root());
  std::vector<Target> targets = d.Scan();
  ASSERT_EQ(Pids(targets), (std::vector<uint32_t>{800, 802}));
  EXPECT_EQ(targets[1].service_name, "fraiseql_demo");
  EXPECT_NE(targets[1].reason.find("worker of FraiseQL v1 pid 800"), std::string::npos)
      << targets[1].reason;
  EXPECT_TRUE(d.Check(802).has_value());
  EXPECT_FALSE(d.Check(801).has_value());
}

// ---- against the real /proc ----

class ChildListener {
 public:
  // Starts /usr/bin/python3 listening on an ephemeral 127.0.0.1 port; reads the port.
  explicit ChildListener(const std::string& marker) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      const char* script =
          "import socket,sys,time\n"
          "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen()\n"
          "print(s.getsockname()[1], flush=True)\n"
          "time.sleep(60)\n";
      ::execl(FQL_SYSTEM_PYTHON, "python3", "-c", script, marker.c_str(),
              static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    std::string line;
    char c;
    while (::read(fds[0], &c, 1) == 1 && c != '\n') line += c;
    ::close(fds[0]);
    if (!line.empty()) port_ = static_cast<uint16_t>(std::stoi(line));
  }
  ~ChildListener() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  pid_t pid() const { return pid_; }
  uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  uint16_t port_ = 0;
};

TEST(RealProcTest, FindsAPythonListenerByPortAndCmdline) {
  if (::access(FQL_SYSTEM_PYTHON, X_OK) != 0) GTEST_SKIP() << FQL_SYSTEM_PYTHON " missing";
  std::string marker = "fql-discovery-test-" + std::to_string(::getpid());
  ChildListener child(marker);
  ASSERT_GT(child.pid(), 0);
  ASSERT_NE(child.port(), 0) << "the child did not report its port";
  uint32_t pid = static_cast<uint32_t>(child.pid());

  Selectors by_port;
  by_port.ports = {child.port()};
  Discovery d1(by_port);
  std::vector<Target> targets = d1.Scan();
  ASSERT_EQ(Pids(targets), (std::vector<uint32_t>{pid}));
  EXPECT_EQ(targets[0].runtime, Runtime::kPython);
  EXPECT_EQ(targets[0].ppid, static_cast<uint32_t>(::getpid()));
  EXPECT_NE(targets[0].cmdline.find(marker), std::string::npos);
  EXPECT_EQ(d1.ListeningPorts(pid), (std::vector<uint16_t>{child.port()}));
  EXPECT_TRUE(d1.Check(pid).has_value());

  Selectors by_cmdline;
  // The -c script spans lines, and ECMAScript '.' stops at newlines.
  by_cmdline.cmdline_regexes = {"^python3 -c [\\s\\S]* " + marker + "$"};
  Discovery d2(by_cmdline);
  ASSERT_TRUE(d2.status().ok());
  EXPECT_EQ(Pids(d2.Scan()), (std::vector<uint32_t>{pid}));  // not the test itself

  // Auto-detect over the real host must not crash and must not select this process.
  Discovery autodetect(Selectors{});
  for (const Target& t : autodetect.Scan()) {
    EXPECT_NE(t.tgid, static_cast<uint32_t>(::getpid()));
  }
}

}  // namespace
}  // namespace fraiseql::discovery
