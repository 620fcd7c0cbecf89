// CPython context attribution (bpf/python.bpf.[ch], loader/python_probes): runs a real asyncio
// program (py_ctx_workload.py: an echo server and N client tasks, some spawning child tasks)
// under /usr/bin/python3 (and any pyenv CPython found, and uvloop when installed), watches it
// with DetectPython + WatchPython, and checks that every client send carries the context of
// the task that made it and that child tasks' births name their spawning task's context.
// The pure tests (offsets re-derived from headers, name parsing, decoding, v1 replays) run
// unprivileged; the rest needs root (ctest -L bpf).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bpf_test_util.h"
#include "decoder/decoder.h"
#include "fraiseql/abi/events.h"
#include "loader/loader.h"
#include "loader/python_probes.h"
#include "source/event_builder.h"
#include "source/replay_source.h"

namespace fraiseql::loader {
namespace {

namespace fs = std::filesystem;

constexpr const char* kSystemPython = "/usr/bin/python3";
const std::string kWorkload = std::string(FQL_TEST_SOURCE_DIR) + "/py_ctx_workload.py";

std::string Shell(const std::string& cmd, int* rc) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) {
    *rc = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  *rc = pclose(p);
  return out;
}

// Every CPython we can run here: the system one, then pyenv builds (libpython, PIE bias).
std::vector<std::string> Interpreters() {
  std::vector<std::string> out = {kSystemPython};
  const char* home = getenv("HOME");
  const fs::path root = fs::path(home ? home : "/root") / ".pyenv/versions";
  std::error_code ec;
  if (!fs::is_directory(root, ec)) return out;
  std::vector<std::string> found;
  for (const auto& d : fs::directory_iterator(root, ec)) {
    const std::string v = d.path().filename().string();
    const size_t dot = v.find('.', 2);
    if (v.rfind("3.", 0) != 0 || dot == std::string::npos) continue;
    const fs::path bin = d.path() / "bin" / ("python" + v.substr(0, dot));
    const auto mm = PythonVersionFromName(bin.filename().string());
    if (mm && PyOffsetsFor(mm->first, mm->second) && fs::exists(bin, ec)) {
      found.push_back(bin.string());
    }
  }
  std::sort(found.begin(), found.end());
  out.insert(out.end(), found.begin(), found.end());
  return out;
}

// ---- pure ---------------------------------------------------------------------------------

TEST(PythonNames, VersionFromFileName) {
  using V = std::optional<std::pair<int, int>>;
  EXPECT_EQ(PythonVersionFromName("python3.11"), V({3, 11}));
  EXPECT_EQ(PythonVersionFromName("libpython3.12.so.1.0"), V({3, 12}));
  EXPECT_EQ(PythonVersionFromName("libpython3.13t.so"), V({3, 13}));
  EXPECT_EQ(PythonVersionFromName("python3.9"), V({3, 9}));
  EXPECT_EQ(PythonVersionFromName("python3"), std::nullopt);
  EXPECT_EQ(PythonVersionFromName("bash"), std::nullopt);
  EXPECT_TRUE(IsPythonCandidateName("libpython3.11.so.1.0"));
  EXPECT_TRUE(IsPythonCandidateName("python3.11"));
  EXPECT_FALSE(IsPythonCandidateName("libpq.so.5"));
  EXPECT_FALSE(PyOffsetsFor(3, 8).has_value());
  EXPECT_FALSE(PyOffsetsFor(3, 14).has_value());
}

TEST(PythonMaps, LoadBiasOfPieAndNonPie) {
  ElfImage exec;
  exec.type = 2;  // ET_EXEC: vaddr 0x400000 mapped at 0x400000
  exec.loads = {{0x400000, 0, 0x1000, 0x1000, 0x1000}, {0x401000, 0x1000, 0x5000, 0x5000, 0x1000}};
  MapsEntry m;
  m.start = 0x400000;
  m.offset = 0;
  EXPECT_EQ(LoadBias(exec, m), 0u);
  ElfImage dyn;
  dyn.type = 3;
  dyn.loads = {{0, 0, 0x2000, 0x2000, 0x1000}, {0x3010, 0x2010, 0x100, 0x200, 0x1000}};
  m.start = 0x7f0000000000;
  EXPECT_EQ(LoadBias(dyn, m), 0x7f0000000000u);
  m.start = 0x7f0000003000;  // second segment: file page 0x2000 at vaddr page 0x3000
  m.offset = 0x2000;
  EXPECT_EQ(LoadBias(dyn, m), 0x7f0000000000u);
}

// Re-derives the offsets table from each installed CPython's own headers (the program that
// produced the numbers in python_probes.cc).
TEST(PyOffsetsTable, MatchesHeaders) {
  struct Inc {
    int minor;
    std::string dir;
  };
  std::vector<Inc> incs;
  if (fs::exists("/usr/include/python3.11/internal/pycore_runtime.h")) {
    incs.push_back({11, "/usr/include/python3.11"});
  }
  for (const std::string& py : Interpreters()) {
    if (py == kSystemPython) continue;
    const fs::path bin(py);
    const std::string name = bin.filename().string();  // python3.X
    const auto v = PythonVersionFromName(name);
    const fs::path inc = bin.parent_path().parent_path() / "include" / name;
    if (v && fs::exists(inc / "internal/pycore_runtime.h")) incs.push_back({v->second, inc});
  }
  if (incs.empty()) GTEST_SKIP() << "no CPython internal headers installed";
  const std::string dir = "/tmp/fql_pyoff_" + std::to_string(getpid());
  fs::create_directories(dir);
  for (const Inc& inc : incs) {
    SCOPED_TRACE("3." + std::to_string(inc.minor) + " " + inc.dir);
    const bool old = inc.minor <= 10;
    const std::string src = dir + "/off" + std::to_string(inc.minor) + ".c";
    std::ofstream(src) << "#define Py_BUILD_CORE 1\n#include <Python.h>\n"
                          "#include <internal/pycore_runtime.h>\n"
                          "#include <internal/pycore_interp.h>\n#include <stddef.h>\n"
                          "#include <stdio.h>\n"
                          "int main(void) { printf(\"%zu %zu %zu %zu %zu\\n\",\n"
                          " offsetof(_PyRuntimeState, interpreters.main),\n"
                       << (old ? " offsetof(PyInterpreterState, tstate_head),\n"
                               : " offsetof(PyInterpreterState, threads.head),\n")
                       << " offsetof(PyThreadState, next),\n"
                       << (old ? " offsetof(PyThreadState, thread_id),\n"
                               : " offsetof(PyThreadState, native_thread_id),\n")
                       << " offsetof(PyThreadState, context)); return 0; }\n";
    int rc = 0;
    const std::string exe = dir + "/off" + std::to_string(inc.minor);
    const std::string log =
        Shell("cc -I" + inc.dir + " -I" + inc.dir + "/internal " + src + " -o " + exe + " 2>&1", &rc);
    if (rc != 0) {
      ADD_FAILURE() << "cannot compile the offsets program against " << inc.dir << ":\n" << log;
      continue;
    }
    const std::string got = Shell(exe, &rc);
    auto o = PyOffsetsFor(3, inc.minor);
    ASSERT_TRUE(o.has_value());
    char want[128];
    snprintf(want, sizeof(want), "%u %u %u %u %u\n", o->runtime_interp_main,
             o->interp_threads_head, o->tstate_next, o->tstate_thread_id, o->tstate_context);
    EXPECT_EQ(got, want);
    EXPECT_EQ(o->match_pthread, old);
  }
  fs::remove_all(dir);
}

// The _asyncio Task birth site, found in every installed _asyncio module (stripped; PLT
// calls). For Debian's 3.11 the three sites are known from objdump: 0x7407 is task_init's
// (`mov %rax,0x98(%rbx)`: self->task_context), 0x7880/0x798f are Future.add_done_callback's
// two argument-parsing paths.
TEST(AsyncioSites, TaskInitSiteInInstalledModules) {
  std::vector<std::string> mods;
  const std::string deb = "/usr/lib/python3.11/lib-dynload/_asyncio.cpython-311-x86_64-linux-gnu.so";
  if (fs::exists(deb)) mods.push_back(deb);
  for (const std::string& py : Interpreters()) {
    if (py == kSystemPython) continue;
    const fs::path lib = fs::path(py).parent_path().parent_path() / "lib" /
                         fs::path(py).filename() / "lib-dynload";
    std::error_code ec;
    for (const auto& d : fs::directory_iterator(lib, ec)) {
      if (d.path().filename().string().rfind("_asyncio.", 0) == 0) mods.push_back(d.path());
    }
  }
  if (mods.empty()) GTEST_SKIP() << "no _asyncio module installed";
  for (const std::string& m : mods) {
    SCOPED_TRACE(m);
    std::string img;
    ASSERT_TRUE(ReadWholeFile(m, &img));
    auto s = AsyncioSitesFromImage(img);
    ASSERT_TRUE(s.ok()) << s.status().message();
    std::printf("  %s: %s; sites", m.c_str(), s->rule.c_str());
    for (size_t i = 0; i < s->all.size(); ++i) {
      const uint64_t o = s->all[i];
      const bool t = std::find(s->task.begin(), s->task.end(), o) != s->task.end();
      std::printf(" %#lx%s->probe %#lx", (unsigned long)o, t ? "(task)" : "",
                  (unsigned long)s->probe_at[i]);
    }
    std::printf("\n");
    EXPECT_GE(s->all.size(), 2u);
    EXPECT_EQ(s->task.size(), 1u) << s->rule;
    EXPECT_EQ(s->excluded.size() + s->task.size(), s->all.size());
    ASSERT_EQ(s->probe_at.size(), s->all.size());
    if (m == deb) {
      EXPECT_EQ(s->all, (std::vector<uint64_t>{0x7407, 0x7880, 0x798f}));
      EXPECT_EQ(s->task, (std::vector<uint64_t>{0x7407}));
      // mov %rax,0x98(%rbx); test %r15,%r15; jne: probed on the (emulated) jne.
      EXPECT_EQ(s->probe_at[0], 0x7411u);
    }
  }
  std::string self;
  ASSERT_TRUE(ReadWholeFile("/proc/self/exe", &self));
  EXPECT_FALSE(AsyncioSitesFromImage(self).ok());  // does not import PyContext_CopyCurrent
}

TEST(PyCtxDecode, BirthAndDataEvents) {
  fql_py_ctx_event b{};
  b.h.kind = FQL_EV_PY_CTX;
  b.h.tgid = 7;
  b.h.tid = 8;
  b.h.fd = -1;
  b.parent = 0x1000;
  b.child = 0x2000;
  std::vector<uint8_t> rec(sizeof(b));
  std::memcpy(rec.data(), &b, sizeof(b));
  Decoder d;
  Event ev;
  ASSERT_EQ(d.Decode(rec, &ev), DecodeError::kNone);
  const auto* p = std::get_if<PyCtxEvent>(&ev);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->parent, 0x1000u);
  EXPECT_EQ(p->child, 0x2000u);
  EXPECT_EQ(p->tid, 8u);
  rec.push_back(0);  // trailing byte: rejected
  EXPECT_EQ(d.Decode(rec, &ev), DecodeError::kBadLength);
}

// A recording of ABI 1 (56-byte data events, no py_ctx) still replays.
TEST(PyCtxDecode, V1RecordingsReplayWithZeroPyCtx) {
  source::EventBuilder b;
  const source::EventBuilder::Conn c{42, 5, 1};
  std::vector<std::vector<uint8_t>> v2 = {b.Open(c, FQL_ROLE_SERVER, 8000, 5555, 1),
                                          b.Data(c, FQL_DIR_INGRESS, 0, "GET /", 5, 2)};
  // Make the v1 form: drop py_ctx (8 bytes at offset 56) from the data event.
  std::vector<uint8_t> v1data = v2[1];
  v1data.erase(v1data.begin() + 56, v1data.begin() + 64);
  const std::string path = "/tmp/fql_v1_" + std::to_string(getpid()) + ".fqlrec";
  {
    std::ofstream out(path, std::ios::binary);
    const uint32_t hdr[2] = {1, 0};
    out.write(source::kRecordMagic, 8);
    out.write(reinterpret_cast<const char*>(hdr), sizeof(hdr));
    for (const auto* r : {&v2[0], &v1data}) {
      const uint32_t len = static_cast<uint32_t>(r->size());
      out.write(reinterpret_cast<const char*>(&len), 4);
      out.write(reinterpret_cast<const char*>(r->data()), len);
    }
  }
  auto src = source::ReplaySource::Open(path);
  fs::remove(path);
  ASSERT_TRUE(src.ok()) << src.status().message();
  Decoder d;
  std::vector<DataEvent> data;
  std::vector<std::string> payloads;
  auto n = (*src)->Poll(0, [&](std::span<const uint8_t> rec) {
    Event ev;
    ASSERT_EQ(d.Decode(rec, &ev), DecodeError::kNone);
    if (auto* e = std::get_if<DataEvent>(&ev)) {
      data.push_back(*e);
      payloads.emplace_back(e->data);
    }
  });
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2u);
  ASSERT_EQ(data.size(), 1u);
  EXPECT_EQ(data[0].py_ctx, 0u);
  EXPECT_EQ(payloads[0], "GET /");
}

TEST(DetectPython, NonPythonProcessIsNotPython) {
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/bin/sleep", "sleep", "5", static_cast<char*>(nullptr));
    _exit(127);
  }
  usleep(100 * 1000);
  auto r = DetectPython(static_cast<uint32_t>(pid));
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_FALSE(r->has_value());
  auto self = DetectPython(static_cast<uint32_t>(getpid()));  // this C++ test binary
  ASSERT_TRUE(self.ok());
  EXPECT_FALSE(self->has_value());
  EXPECT_FALSE(DetectPython(0x7ffffff0).ok());  // no such process
}

// ---- the workload --------------------------------------------------------------------------

// The workload script under a Python, with its stdin/stdout on pipes (testutil::SpawnedChild).
struct Workload {
  std::string script = kWorkload;
  std::string last;  // the last line read
  pid_t pid = -1;
  int to = -1;       // its stdin
  std::unique_ptr<testutil::SpawnedChild> child;

  bool Start(const std::string& python, const std::string& loop, int n) {
    std::vector<std::string> argv = {python, script, loop};
    if (n >= 0) argv.push_back(std::to_string(n));
    child = testutil::SpawnedChild::Start(argv);
    if (!child) return false;
    pid = child->pid();
    to = child->stdin_fd();
    return true;
  }
  // Waits for a line equal to `want` (empty: any line); false on timeout or EOF.
  bool WaitLine(const std::string& want, int timeout_ms = 20000) {
    if (!child) return false;
    const bool ok = child->WaitLine(want, timeout_ms);
    last = child->last();
    return ok;
  }
  int Finish() {
    to = -1;
    pid = -1;
    return child ? child->Finish() : -1;
  }
};

struct Observed {
  std::map<uint64_t, ConnRole> roles;  // gen -> role (this pid)
  struct Data {
    uint64_t gen, ts, py_ctx;
    Direction dir;
    std::string bytes;
  };
  std::vector<Data> data;
  std::vector<PyCtxEvent> births;  // this pid
  std::set<uint64_t> birth_tids;
};

class PythonCtxTest : public SharedLoaderTest<PythonCtxTest> {
 protected:
  static void SetUpTestSuite() {
    if (geteuid() != 0) return;
    OpenLoader(LoaderOptions{});
  }
  void SetUp() override {
    if (geteuid() != 0) GTEST_FAIL() << "BPF tests need root (run `ctest -L unit` without it)";
    ASSERT_NE(loader_, nullptr);
  }

  // Runs the workload under `python` with `loop`; fills `obs`; returns counter deltas.
  std::array<uint64_t, FQL_CNT_MAX> RunWorkload(const std::string& python,
                                                const std::string& loop, int n, Observed* obs,
                                                PythonTarget* target, PyBirthHook hook,
                                                PythonProbeFile* probe) {
    std::array<uint64_t, FQL_CNT_MAX> delta{};
    auto made = loader_->MakeEventSource();
    EXPECT_TRUE(made.ok()) << made.status().message();
    if (!made.ok()) return delta;
    auto src = std::move(made).value();
    Decoder dec;
    uint32_t pid = 0;
    auto sink = [&](std::span<const uint8_t> rec) {
      Event ev;
      if (dec.Decode(rec, &ev) != DecodeError::kNone) {
        ADD_FAILURE() << "undecodable record";
        return;
      }
      if (auto* d = std::get_if<DataEvent>(&ev)) {
        if (d->conn.tgid == pid) {
          obs->data.push_back({d->conn.gen, d->ts_ns, d->py_ctx, d->dir, std::string(d->data)});
        }
      } else if (auto* c = std::get_if<ConnEvent>(&ev)) {
        if (c->conn.tgid == pid && c->kind == ConnEvent::Kind::kOpen) {
          obs->roles[c->conn.gen] = c->role;
        }
      } else if (auto* b = std::get_if<PyCtxEvent>(&ev)) {
        if (b->tgid == pid) {
          obs->births.push_back(*b);
          obs->birth_tids.insert(b->tid);
        }
      }
    };
    EXPECT_TRUE(testutil::DrainLeftovers(src.get()));
    Workload w;
    if (!w.Start(python, loop, n) || !w.WaitLine("ready")) {
      ADD_FAILURE() << python << " " << loop << ": workload did not start";
      return delta;
    }
    pid = static_cast<uint32_t>(w.pid);
    auto det = DetectPython(pid);
    EXPECT_TRUE(det.ok()) << det.status().message();
    if (!det.ok() || !det->has_value()) {
      ADD_FAILURE() << python << ": not detected as Python";
      return delta;
    }
    *target = **det;
    const auto before = loader_->ReadCounters();
    EXPECT_TRUE(loader_->Watch(pid).ok());
    Status s = loader_->WatchPython(pid, *target, hook);
    EXPECT_TRUE(s.ok()) << s.message();
    const auto state = loader_->PythonState();
    EXPECT_GE(state.targets, 1u);
    EXPECT_GE(state.probes.size(), 1u);
    for (const PythonProbeFile& f : state.probes) {
      if (f.tgid == pid) *probe = f;
    }
    EXPECT_EQ(probe->tgid, pid) << "no probe attached for the workload";
    if (write(w.to, "go\n", 3) != 3) ADD_FAILURE() << "write go";
    const bool done = w.WaitLine("done", 60000);
    EXPECT_TRUE(done) << python << " " << loop;
    EXPECT_EQ(w.Finish(), 0) << python << " " << loop;
    EXPECT_TRUE(testutil::DrainWatched(
        src.get(), sink, {.what = python + " " + loop + " workload", .tgids = {pid},
                          .exits = {pid}}));
    const auto after = loader_->ReadCounters();
    for (size_t i = 0; i < delta.size(); ++i) delta[i] = after[i] - before[i];
    loader_->UnwatchPython(pid);
    EXPECT_TRUE(loader_->Unwatch(pid).ok());
    return delta;
  }

  // Checks everything the brief asks of a run; returns per-tag contexts for extra checks.
  // hook kAuto: births from the _asyncio Task-init uprobe (Task contexts only); reads run in
  // the selector loop's reader Handle contexts, which are no longer reported, so they are
  // not chained back to their task. kCopyCurrentReturn (the fallback): every copy is a
  // birth and every read chains to its task.
  void CheckRun(const std::string& python, const std::string& loop, bool uvloop,
                PyBirthHook hook = PyBirthHook::kAuto) {
    const bool every_copy = hook == PyBirthHook::kCopyCurrentReturn;
    const bool expect_read_chain = !uvloop && every_copy;
    SCOPED_TRACE(python + " " + loop + (every_copy ? " uretprobe" : " task-uprobe"));
    constexpr int kTasks = 20;
    Observed obs;
    PythonTarget t;
    PythonProbeFile probe;
    const auto delta = RunWorkload(python, loop, kTasks, &obs, &t, hook, &probe);
    if (HasFailure()) return;
    std::fflush(stdout);
    std::printf("[ %s %s ] %s\n  probe: %s in %s (%s)%s\n", python.c_str(), loop.c_str(),
                t.ToString().c_str(), probe.mode.c_str(), probe.path.c_str(), probe.rule.c_str(),
                probe.per_pid ? " per process" : " PER FILE");
    EXPECT_EQ(probe.mode, every_copy ? "uretprobe" : "task-uprobe");
    EXPECT_TRUE(probe.per_pid);

    // Contexts per tag (egress of client sockets), and every client event has a context.
    std::map<std::string, std::set<uint64_t>> ctx_of_tag;
    std::map<std::string, uint64_t> first_ts;
    std::map<uint64_t, std::string> tag_of_gen;
    size_t client_events = 0, zero = 0, reads = 0;
    for (const auto& d : obs.data) {
      auto r = obs.roles.find(d.gen);
      if (r == obs.roles.end() || r->second != ConnRole::kClient) continue;
      ++client_events;
      if (d.py_ctx == 0) ++zero;
      if (d.dir == Direction::kIngress) {
        ++reads;
        continue;
      }
      size_t pos = 0;
      while (pos < d.bytes.size()) {
        const size_t colon = d.bytes.find(':', pos), semi = d.bytes.find(';', pos);
        if (colon == std::string::npos || semi == std::string::npos) break;
        const std::string tag = d.bytes.substr(pos, colon - pos);
        ctx_of_tag[tag].insert(d.py_ctx);
        if (!first_ts.count(tag)) first_ts[tag] = d.ts;
        tag_of_gen[d.gen] = tag;
        pos = semi + 1;
      }
    }
    std::printf("  client data events %zu (reads %zu), py_ctx==0: %zu; tags %zu; births %zu "
                "(threads %zu); counters: copy hits %lu, read fails %lu, tstate misses %lu\n",
                client_events, reads, zero, ctx_of_tag.size(), obs.births.size(),
                obs.birth_tids.size(), (unsigned long)delta[FQL_CNT_PY_COPY_HITS],
                (unsigned long)delta[FQL_CNT_PY_CTX_READ_FAIL],
                (unsigned long)delta[FQL_CNT_PY_TSTATE_MISS]);
    // 20 T tags + 5 C + 10 G.
    EXPECT_EQ(ctx_of_tag.size(), 35u);
    EXPECT_GT(client_events, 35u * 3 * 2);
    EXPECT_EQ(zero, 0u);
    if (uvloop) {
      // uvloop 0.17: transport.write() only queues; libuv sends at the end of the loop
      // iteration and reads in its own callbacks, outside every task's context. So every
      // socket syscall carries the thread's base context (never copied: no birth), while
      // tasks are still born through PyContext_CopyCurrent. Asserted so a uvloop that
      // changes this is noticed.
      std::set<uint64_t> all, sends;
      for (const auto& d : obs.data) {
        if (!obs.roles.count(d.gen) || obs.roles[d.gen] != ConnRole::kClient) continue;
        all.insert(d.py_ctx);
        if (d.dir == Direction::kEgress) sends.insert(d.py_ctx);
      }
      std::printf("  uvloop: client syscalls ran in %zu contexts, sends in %zu\n", all.size(),
                  sends.size());
      EXPECT_EQ(sends.size(), 1u) << "uvloop: sends now run in several contexts";
      EXPECT_LE(all.size(), 2u) << "uvloop: socket syscalls now run in several contexts";
      size_t base_births = 0;
      for (const auto& b : obs.births) base_births += all.count(b.child);
      EXPECT_EQ(base_births, 0u);
      EXPECT_GE(obs.births.size(), 35u);  // 20 tasks + 15 children (+ echo tasks)
      EXPECT_EQ(delta[FQL_CNT_PY_COPY_HITS], obs.births.size());
      EXPECT_EQ(delta[FQL_CNT_PY_TSTATE_MISS], 0u);
      return;
    }
    std::map<uint64_t, std::string> owner;
    for (const auto& [tag, ctxs] : ctx_of_tag) {
      EXPECT_EQ(ctxs.size(), 1u) << tag << " sent from several contexts";
      const uint64_t c = *ctxs.begin();
      EXPECT_NE(c, 0u) << tag;
      auto [it, fresh] = owner.emplace(c, tag);
      EXPECT_TRUE(fresh) << tag << " and " << it->second << " share context " << std::hex << c;
    }

    // Births: the birth of address a alive at time ts is its latest birth before ts
    // (addresses are reused once a context is freed). A parent is looked up at its child's
    // birth time, when it was certainly alive.
    std::multimap<uint64_t, const PyCtxEvent*> by_child;
    for (const auto& b : obs.births) by_child.emplace(b.child, &b);
    auto birth_at = [&](uint64_t a, uint64_t ts) -> const PyCtxEvent* {
      const PyCtxEvent* best = nullptr;
      auto [lo, hi] = by_child.equal_range(a);
      for (auto it = lo; it != hi; ++it) {
        if (it->second->ts_ns <= ts && (!best || it->second->ts_ns > best->ts_ns)) best = it->second;
      }
      return best;
    };
    auto parent_at = [&](uint64_t a, uint64_t ts) -> std::optional<uint64_t> {
      const PyCtxEvent* b = birth_at(a, ts);
      if (!b) return std::nullopt;
      return b->parent;
    };
    auto ctx = [&](const std::string& tag) {
      auto it = ctx_of_tag.find(tag);
      return it == ctx_of_tag.end() ? 0 : *it->second.begin();
    };
    std::set<uint64_t> main_ctx;
    for (int i = 0; i < kTasks; ++i) {
      char tag[16];
      snprintf(tag, sizeof(tag), "T%03d", i);
      auto p = parent_at(ctx(tag), first_ts[tag]);
      EXPECT_TRUE(p.has_value()) << tag << ": no birth event";
      if (p) main_ctx.insert(*p);
      std::vector<std::string> kids;
      if (i % 4 == 0) kids.push_back("C" + std::string(tag + 1));
      if (i % 4 == 1) {
        kids.push_back("G" + std::string(tag + 1) + "0");
        kids.push_back("G" + std::string(tag + 1) + "1");
      }
      for (const std::string& k : kids) {
        auto kp = parent_at(ctx(k), first_ts[k]);
        ASSERT_TRUE(kp.has_value()) << k << ": no birth event";
        EXPECT_EQ(*kp, ctx(tag)) << k << " was not born from " << tag;
      }
    }
    EXPECT_EQ(main_ctx.size(), 1u) << "client tasks born from different contexts";
    EXPECT_EQ(main_ctx.count(0), 0u);

    // Reads run in the loop's reader callback: a context descending from the task's.
    size_t chained = 0, unchained = 0;
    for (const auto& d : obs.data) {
      if (d.dir != Direction::kIngress || !tag_of_gen.count(d.gen)) continue;
      const uint64_t want = ctx(tag_of_gen[d.gen]);
      uint64_t a = d.py_ctx, ts = d.ts;
      bool found = a == want;
      for (int depth = 0; depth < 8 && !found && a; ++depth) {
        const PyCtxEvent* b = birth_at(a, ts);
        if (!b) break;
        a = b->parent;
        ts = b->ts_ns;
        found = a == want;
      }
      (found ? chained : unchained)++;
    }
    std::printf("  reads attributed to their task through births: %zu, not: %zu\n", chained,
                unchained);
    std::fflush(stdout);
    if (expect_read_chain) {
      EXPECT_EQ(unchained, 0u);
    } else {
      // Task births only: a read's context (the reader Handle's copy) has no birth.
      EXPECT_GT(unchained, 0u) << "reads chain without Handle births: update the docs";
    }
    if (!every_copy) {
      // Task births only: every birth is a Task context, so a child task's birth names the
      // spawning task's context directly (checked above) and there is one birth per Task:
      // 20 client tasks + 15 children, and per accepted connection (55) the selector loop's
      // _accept_connection2 task and the echo handler task (~147 vs ~1000 copies).
      EXPECT_LE(obs.births.size(), 35u + 2 * 55u + 5u);
    }

    EXPECT_EQ(delta[FQL_CNT_PY_CTX_READ_FAIL], 0u);
    EXPECT_EQ(delta[FQL_CNT_PY_TSTATE_MISS], 0u);
    EXPECT_EQ(delta[FQL_CNT_RINGBUF_FULL], 0u);
    EXPECT_EQ(delta[FQL_CNT_PY_COPY_HITS], obs.births.size());
    EXPECT_GE(obs.births.size(), 35u);
  }
};

TEST_F(PythonCtxTest, DetectsTheSystemPython) {
  Workload w;
  ASSERT_TRUE(w.Start(kSystemPython, "asyncio", 1));
  ASSERT_TRUE(w.WaitLine("ready"));
  auto det = DetectPython(static_cast<uint32_t>(w.pid));
  ASSERT_TRUE(det.ok()) << det.status().message();
  ASSERT_TRUE(det->has_value());
  const PythonTarget& t = **det;
  EXPECT_EQ(t.major, 3);
  EXPECT_EQ(t.minor, 11);
  EXPECT_EQ(t.version_source, "Py_Version");
  EXPECT_EQ(t.load_bias, 0u);  // Debian's python3.11 is not PIE
  int rc = 0;
  const std::string nm = Shell("nm -D " + t.attach_path + " | awk '$3==\"_PyRuntime\"{print $1}'", &rc);
  EXPECT_EQ(std::stoull(nm, nullptr, 16), t.runtime_addr);
  EXPECT_EQ(write(w.to, "go\n", 3), 3);
  EXPECT_TRUE(w.WaitLine("done"));
}

TEST_F(PythonCtxTest, AsyncioTasksOwnTheirSends) {
  for (const std::string& py : Interpreters()) CheckRun(py, "asyncio", false);
}

// The fallback (no _asyncio shared object): the uretprobe on PyContext_CopyCurrent still
// works, and with every copy a birth the reads chain back to their task.
TEST_F(PythonCtxTest, AsyncioTasksOwnTheirSendsUretprobeFallback) {
  CheckRun(kSystemPython, "asyncio", false, PyBirthHook::kCopyCurrentReturn);
}

// A private copy of the system python: uprobes are per inode, so a probe another collector
// attached per file to /usr/bin/python3.11 does not distort the timings below.
std::string PrivatePython() {
  static std::string path;
  if (!path.empty()) return path;
  const std::string dir = "/tmp/fql_pycopy_" + std::to_string(getpid());
  fs::create_directories(dir);
  const std::string p = dir + "/python3.11";
  std::error_code ec;
  fs::copy_file(fs::canonical(kSystemPython), p, fs::copy_options::overwrite_existing, ec);
  if (ec) return kSystemPython;
  chmod(p.c_str(), 0755);
  path = p;
  return path;
}

struct CostRun {
  double ns = 0;                  // per operation
  uint64_t births = 0;            // FQL_EV_PY_CTX of the process
  std::vector<uint64_t> site_hits;  // delta per call-site index
  std::string mode;               // probe mode ("" without a probe)
};

// Runs py_ctx_cost.py `mode` `n` under `python`, watched with `hook` (none: unwatched).
void MeasureCost(Loader* loader, const std::string& python, const std::string& mode, int n,
                 std::optional<PyBirthHook> hook, CostRun* out) {
  auto made = loader->MakeEventSource();
  ASSERT_TRUE(made.ok()) << made.status().message();
  auto src = std::move(made).value();
  Decoder dec;
  uint32_t pid = 0;
  auto sink = [&](std::span<const uint8_t> rec) {
    Event ev;
    if (dec.Decode(rec, &ev) != DecodeError::kNone) return;
    if (auto* b = std::get_if<PyCtxEvent>(&ev); b && b->tgid == pid) ++out->births;
  };
  ASSERT_TRUE(testutil::DrainLeftovers(src.get(), 20));
  Workload w;
  w.script = std::string(FQL_TEST_SOURCE_DIR) + "/py_ctx_cost.py";
  ASSERT_TRUE(w.Start(python, mode, n));
  ASSERT_TRUE(w.WaitLine("ready"));
  pid = static_cast<uint32_t>(w.pid);
  const std::vector<uint64_t> before = loader->PythonSiteHits();
  if (hook) {
    auto det = DetectPython(pid);
    ASSERT_TRUE(det.ok() && det->has_value());
    Status s = loader->WatchPython(pid, **det, *hook);
    ASSERT_TRUE(s.ok()) << s.message();
    for (const auto& f : loader->PythonState().probes) {
      if (f.tgid == pid) out->mode = f.mode;
    }
  }
  ASSERT_EQ(write(w.to, "go\n", 3), 3);
  ASSERT_TRUE(w.WaitLine("", 120000));
  out->ns = std::stod(w.last.substr(0, w.last.find(' ')));
  EXPECT_EQ(w.Finish(), 0);
  // Births only (the process is not watched: no exit event to wait for).
  EXPECT_TRUE(testutil::DrainWatched(src.get(), sink, {.what = "cost run " + mode,
                                                       .tgids = {pid}, .quiet_ms = 100}));
  const std::vector<uint64_t> after = loader->PythonSiteHits();
  out->site_hits.assign(after.size(), 0);
  for (size_t i = 0; i < after.size(); ++i) {
    out->site_hits[i] = after[i] - (i < before.size() ? before[i] : 0);
  }
  if (hook) loader->UnwatchPython(pid);
}

// Which _asyncio call site fires for what: every site probed (kAsyncioAllSites), per-site
// hits for N create_task / N add_done_callback / N call_soon. The rule's task site must take
// the create_task hits and nothing else.
TEST_F(PythonCtxTest, TaskBirthSitesPerSite) {
  constexpr int kN = 2000;
  const std::string py = PrivatePython();
  Workload probe_w;  // to find the sites as mapped
  probe_w.script = std::string(FQL_TEST_SOURCE_DIR) + "/py_ctx_cost.py";
  ASSERT_TRUE(probe_w.Start(py, "call_soon", 1));
  ASSERT_TRUE(probe_w.WaitLine("ready"));
  auto sites = FindAsyncioTaskSites(static_cast<uint32_t>(probe_w.pid));
  ASSERT_EQ(write(probe_w.to, "go\n", 3), 3);
  probe_w.WaitLine("");
  probe_w.Finish();
  ASSERT_TRUE(sites.ok()) << sites.status().message();
  ASSERT_TRUE(sites->has_value());
  const AsyncioSites& as = **sites;
  ASSERT_EQ(as.task.size(), 1u) << as.rule;
  const size_t task_idx = static_cast<size_t>(
      std::find(as.all.begin(), as.all.end(), as.task[0]) - as.all.begin());
  std::map<std::string, CostRun> runs;
  for (const std::string mode : {"create_task", "add_done_callback", "call_soon"}) {
    CostRun r;
    MeasureCost(loader_, py, mode, kN, PyBirthHook::kAsyncioAllSites, &r);
    if (HasFatalFailure()) return;
    std::printf("  %-18s x%d: hits per site", mode.c_str(), kN);
    for (size_t i = 0; i < as.all.size(); ++i) {
      std::printf(" [%zu %#lx%s] %lu", i, (unsigned long)as.all[i], i == task_idx ? " task" : "",
                  (unsigned long)r.site_hits[i]);
    }
    std::printf("; births %lu\n", (unsigned long)r.births);
    runs[mode] = r;
  }
  std::fflush(stdout);
  // create_task: one hit per Task at the task site (+ asyncio.run's main task); gather's
  // add_done_callback per child hits the other sites.
  EXPECT_GE(runs["create_task"].site_hits[task_idx], uint64_t{kN});
  EXPECT_LE(runs["create_task"].site_hits[task_idx], uint64_t{kN} + 2);
  // add_done_callback / call_soon: the task site sees only asyncio.run's own tasks, the
  // other sites only its add_done_callback calls (run_until_complete).
  EXPECT_LE(runs["add_done_callback"].site_hits[task_idx], 2u);
  EXPECT_LE(runs["call_soon"].site_hits[task_idx], 2u);
  uint64_t adc_other = 0, soon_other = 0;
  for (size_t i = 0; i < as.all.size(); ++i) {
    if (i == task_idx) continue;
    adc_other += runs["add_done_callback"].site_hits[i];
    soon_other += runs["call_soon"].site_hits[i];
  }
  EXPECT_GE(adc_other, uint64_t{kN});
  EXPECT_LE(soon_other, 5u);
}

// Cost per operation without a probe, with the old uretprobe, with the Task-init uprobe
// (printed; docs/python-contexts.md), and births per mode: with the Task hook, plain
// loop.call_soon (and copy_context) copies produce no FQL_EV_PY_CTX events.
TEST_F(PythonCtxTest, BirthHookCost) {
  const std::string py = PrivatePython();
  struct Mode {
    std::string name;
    int n;
  };
  const Mode modes[] = {{"copy", 50000}, {"create_task", 20000}, {"call_soon", 50000},
                        {"add_done_callback", 50000}};
  std::printf("  %-18s %12s %12s %12s   births (uret / task)\n", "ns per op", "no probe",
              "uretprobe", "task-uprobe");
  for (const Mode& m : modes) {
    CostRun none, uret, task;
    MeasureCost(loader_, py, m.name, m.n, std::nullopt, &none);
    MeasureCost(loader_, py, m.name, m.n, PyBirthHook::kCopyCurrentReturn, &uret);
    MeasureCost(loader_, py, m.name, m.n, PyBirthHook::kAuto, &task);
    if (HasFatalFailure()) return;
    std::printf("  %-18s %12.0f %12.0f %12.0f   %lu / %lu\n", m.name.c_str(), none.ns, uret.ns,
                task.ns, (unsigned long)uret.births, (unsigned long)task.births);
    std::fflush(stdout);
    EXPECT_EQ(uret.mode, "uretprobe");
    EXPECT_EQ(task.mode, "task-uprobe");
    EXPECT_GE(uret.births, uint64_t(m.n)) << m.name;
    if (m.name == "create_task") {
      EXPECT_GE(task.births, uint64_t(m.n));
      EXPECT_LE(task.births, uint64_t(m.n) + 2);
    } else {
      EXPECT_LE(task.births, 2u) << m.name << ": only asyncio.run's main task is born";
    }
    if (m.name == "call_soon" || m.name == "copy") {
      EXPECT_LT(task.ns, none.ns + 1000) << m.name << " pays for the Task hook";
      EXPECT_GT(uret.ns, task.ns + 1000) << m.name;
    }
  }
}

// Probes are attached per process: another process running the same python (not watched)
// does not trap, even with the every-copy uretprobe on the watched one.
TEST_F(PythonCtxTest, PerProcessAttachSparesOtherProcesses) {
  const std::string py = PrivatePython();
  constexpr int kN = 50000;
  CostRun base, other;
  MeasureCost(loader_, py, "copy", kN, std::nullopt, &base);
  Workload watched;
  watched.script = std::string(FQL_TEST_SOURCE_DIR) + "/py_ctx_cost.py";
  ASSERT_TRUE(watched.Start(py, "copy", 10));
  ASSERT_TRUE(watched.WaitLine("ready"));
  const uint32_t wpid = static_cast<uint32_t>(watched.pid);
  auto det = DetectPython(wpid);
  ASSERT_TRUE(det.ok() && det->has_value());
  ASSERT_TRUE(loader_->WatchPython(wpid, **det, PyBirthHook::kCopyCurrentReturn).ok());
  bool per_pid = false;
  for (const auto& f : loader_->PythonState().probes) {
    if (f.tgid == wpid) per_pid = f.per_pid;
  }
  MeasureCost(loader_, py, "copy", kN, std::nullopt, &other);
  loader_->UnwatchPython(wpid);
  ASSERT_EQ(write(watched.to, "go\n", 3), 3);
  watched.WaitLine("");
  EXPECT_EQ(watched.Finish(), 0);
  std::printf("  copy_context() in an unwatched process: %.0f ns alone, %.0f ns while another "
              "process of the same python has the uretprobe (per process: %s)\n",
              base.ns, other.ns, per_pid ? "yes" : "no");
  EXPECT_TRUE(per_pid);
  EXPECT_LT(other.ns, base.ns + 1000);
}

// How a forked child (gunicorn worker) is handled: per-process probes do not follow a fork,
// so the app calls WatchPython(child, parent's target). Checked here with a second process
// of the same image watched with the first one's target (not a real fork).
TEST_F(PythonCtxTest, WatchPythonWithAnotherProcessTarget) {
  const std::string py = PrivatePython();
  Workload parent;
  parent.script = std::string(FQL_TEST_SOURCE_DIR) + "/py_ctx_cost.py";
  ASSERT_TRUE(parent.Start(py, "create_task", 10));
  ASSERT_TRUE(parent.WaitLine("ready"));
  const uint32_t ppid = static_cast<uint32_t>(parent.pid);
  auto det = DetectPython(ppid);
  ASSERT_TRUE(det.ok() && det->has_value());
  // The "child": another process of the same image, watched with the parent's target.
  {
    auto made = loader_->MakeEventSource();
    ASSERT_TRUE(made.ok()) << made.status().message();
    auto src = std::move(made).value();
    Workload w;
    w.script = parent.script;
    ASSERT_TRUE(w.Start(py, "create_task", 500));
    ASSERT_TRUE(w.WaitLine("ready"));
    const uint32_t cpid = static_cast<uint32_t>(w.pid);
    ASSERT_NE(cpid, ppid);
    Status s = loader_->WatchPython(cpid, **det);
    ASSERT_TRUE(s.ok()) << s.message();
    for (const auto& f : loader_->PythonState().probes) {
      if (f.tgid == cpid) {
        EXPECT_EQ(f.mode, "task-uprobe");
      }
    }
    size_t births = 0;
    Decoder dec;
    ASSERT_EQ(write(w.to, "go\n", 3), 3);
    ASSERT_TRUE(w.WaitLine("", 60000));
    EXPECT_EQ(w.Finish(), 0);
    auto count = [&](std::span<const uint8_t> rec) {
      Event ev;
      if (dec.Decode(rec, &ev) != DecodeError::kNone) return;
      if (auto* b = std::get_if<PyCtxEvent>(&ev); b && b->tgid == cpid) {
        ++births;
      }
    };
    // Births only (the child is not watched: no exit event to wait for).
    EXPECT_TRUE(testutil::DrainWatched(src.get(), count, {.what = "the child's births",
                                                         .tgids = {cpid}, .quiet_ms = 100}));
    loader_->UnwatchPython(cpid);
    EXPECT_GE(births, 500u);
  }
  ASSERT_EQ(write(parent.to, "go\n", 3), 3);
  parent.WaitLine("");
  EXPECT_EQ(parent.Finish(), 0);
}

TEST_F(PythonCtxTest, UnsupportedVersionIsAClearError) {
  const char* home = getenv("HOME");
  const fs::path root = fs::path(home ? home : "/root") / ".pyenv/versions";
  std::error_code ec;
  std::string py38;
  for (const auto& d : fs::directory_iterator(root, ec)) {
    if (d.path().filename().string().rfind("3.8.", 0) == 0) py38 = (d.path() / "bin/python3.8").string();
  }
  if (py38.empty()) GTEST_SKIP() << "no CPython 3.8 here";
  Workload w;
  ASSERT_TRUE(w.Start(py38, "asyncio", 1));
  ASSERT_TRUE(w.WaitLine("ready"));
  auto det = DetectPython(static_cast<uint32_t>(w.pid));
  ASSERT_FALSE(det.ok());
  EXPECT_NE(det.status().message().find("unsupported CPython version 3.8"), std::string::npos)
      << det.status().message();
  EXPECT_EQ(write(w.to, "go\n", 3), 3);
  EXPECT_TRUE(w.WaitLine("done"));
}

TEST_F(PythonCtxTest, UvloopSyscallsRunOutsideTaskContexts) {
  int rc = 0;
  Shell(std::string(kSystemPython) + " -c 'import uvloop' 2>/dev/null", &rc);
  if (rc != 0) GTEST_SKIP() << "python3-uvloop not installed";
  CheckRun(kSystemPython, "uvloop", true);
}

}  // namespace
}  // namespace fraiseql::loader
