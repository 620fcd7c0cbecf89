#include "loader/python_probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "python.skel.h"

namespace fraiseql::loader {
namespace {

struct VersionOffsets {
  int major, minor;
  PyOffsets off;
};

// offsetof() values printed by a C program compiled against each version's own headers with
// -DPy_BUILD_CORE (Include/internal/pycore_runtime.h, pycore_interp.h, cpython/pystate.h;
// x86-64, default build): 3.11 from Debian 12's python3.11-dev (/usr/include/python3.11),
// 3.9.18, 3.10.13, 3.12.1 and 3.13.0 from pyenv builds of the release tarballs. The program
// is in tests/bpf/python_ctx_test.cc (PyOffsetsTable.MatchesHeaders), which re-derives them
// whenever those headers are installed. 3.9/3.10 have no native_thread_id: thread_id holds
// pthread_self(). Within a minor release these layouts have not changed (they are part of
// the debugger/profiler contract that 3.13 formalised as _Py_DebugOffsets); 3.13+ runtimes
// are cross-checked against their _Py_DebugOffsets at detection.
constexpr VersionOffsets kPyOffsets[] = {
    //            interp_main threads_head next thread_id context pthread
    {3, 9, {40, 8, 8, 176, 240, true}},
    {3, 10, {40, 8, 8, 176, 240, true}},
    {3, 11, {48, 16, 8, 160, 224, false}},
    {3, 12, {48, 72, 8, 144, 208, false}},
    {3, 13, {640, 7344, 8, 160, 208, false}},
};

// _Py_DebugOffsets (3.13, Include/internal/pycore_runtime.h) at the start of _PyRuntime:
// the prefix we check.
struct DebugOffsetsPrefix {
  char cookie[8];
  uint64_t version;
  uint64_t free_threaded;
  uint64_t runtime_size, runtime_finalizing, runtime_interpreters_head;
  uint64_t interp_size, interp_id, interp_next, interp_threads_head;
  uint64_t interp_more[9];
  uint64_t tstate_size, tstate_prev, tstate_next, tstate_interp, tstate_current_frame,
      tstate_thread_id, tstate_native_thread_id;
};
static_assert(offsetof(DebugOffsetsPrefix, interp_threads_head) == 72);
static_assert(offsetof(DebugOffsetsPrefix, tstate_next) == 168);
static_assert(offsetof(DebugOffsetsPrefix, tstate_native_thread_id) == 200);

std::string_view Basename(std::string_view p) {
  const size_t slash = p.rfind('/');
  return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

bool ReadMem(uint32_t pid, uint64_t addr, void* out, size_t n) {
  const std::string path = "/proc/" + std::to_string(pid) + "/mem";
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  const ssize_t r = pread(fd, out, n, static_cast<off_t>(addr));
  close(fd);
  return r == static_cast<ssize_t>(n);
}

// 3.13+: the runtime describes its own layout; refuse when it disagrees with the table.
Status CheckDebugOffsets(uint32_t pid, const PythonTarget& t) {
  DebugOffsetsPrefix d{};
  if (!ReadMem(pid, t.runtime_addr, &d, sizeof(d))) {
    return Status::Errno(fmt::format("read _Py_DebugOffsets of {}", pid), errno);
  }
  if (std::memcmp(d.cookie, "xdebugpy", 8) != 0) {
    return Status::Error("CPython " + std::to_string(t.major) + "." + std::to_string(t.minor) +
                         ": _PyRuntime does not start with the _Py_DebugOffsets cookie");
  }
  const PyOffsets& o = t.offsets;
  if (d.free_threaded != 0) return Status::Error("free-threaded CPython is not supported");
  // interpreters is {mutex, head, main, ...}: main follows head.
  if (d.runtime_interpreters_head + 8 != o.runtime_interp_main ||
      d.interp_threads_head != o.interp_threads_head || d.tstate_next != o.tstate_next ||
      d.tstate_native_thread_id != o.tstate_thread_id) {
    return Status::Error(fmt::format(
        "CPython {}.{}.{}: _Py_DebugOffsets (interpreters.head {}, threads.head {}, next {}, "
        "native_thread_id {}) disagree with the offsets table: unsupported build",
        t.major, t.minor, t.micro, d.runtime_interpreters_head, d.interp_threads_head,
        d.tstate_next, d.tstate_native_thread_id));
  }
  return Status::Ok();
}

}  // namespace

// ---- pure helpers ------------------------------------------------------------------------

std::optional<PyOffsets> PyOffsetsFor(int major, int minor) {
  for (const VersionOffsets& v : kPyOffsets) {
    if (v.major == major && v.minor == minor) return v.off;
  }
  return std::nullopt;
}

std::optional<std::pair<int, int>> PythonVersionFromName(std::string_view b) {
  if (b.substr(0, 3) == "lib") b.remove_prefix(3);
  if (b.substr(0, 6) != "python") return std::nullopt;
  b.remove_prefix(6);
  auto number = [&b](int* out) {
    size_t n = 0;
    int v = 0;
    while (n < b.size() && n < 4 && b[n] >= '0' && b[n] <= '9') v = v * 10 + (b[n++] - '0');
    if (n == 0) return false;
    b.remove_prefix(n);
    *out = v;
    return true;
  };
  int major = 0, minor = 0;
  if (!number(&major) || b.empty() || b[0] != '.') return std::nullopt;
  b.remove_prefix(1);
  if (!number(&minor)) return std::nullopt;
  return std::make_pair(major, minor);
}

bool IsPythonCandidateName(std::string_view b) {
  return b.substr(0, 6) == "python" || b.substr(0, 9) == "libpython";
}

fql_py_proc PythonTarget::ToConfig() const {
  fql_py_proc c{};
  c.runtime_addr = runtime_addr;
  c.runtime_interp_main = offsets.runtime_interp_main;
  c.interp_threads_head = offsets.interp_threads_head;
  c.tstate_next = offsets.tstate_next;
  c.tstate_thread_id = offsets.tstate_thread_id;
  c.tstate_context = offsets.tstate_context;
  c.flags = offsets.match_pthread ? FQL_PY_F_MATCH_PTHREAD : 0;
  return c;
}

std::string PythonTarget::ToString() const {
  return fmt::format("pid {} CPython {}.{}.{} ({}) {} bias {:#x} _PyRuntime {:#x} "
                     "PyContext_CopyCurrent @{:#x}",
                     pid, major, minor, micro, version_source, object_path, load_bias,
                     runtime_addr, copy_current_offset);
}

StatusOr<std::optional<PythonTarget>> DetectPython(uint32_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::string maps_text;
  if (!ReadWholeFile(proc + "/maps", &maps_text)) {
    return Status::Errno("DetectPython: read " + proc + "/maps", errno);
  }
  const std::vector<MapsEntry> maps = ParseMaps(maps_text);
  char exe_buf[4096];
  const ssize_t n = readlink((proc + "/exe").c_str(), exe_buf, sizeof(exe_buf) - 1);
  std::string exe = n > 0 ? std::string(exe_buf, static_cast<size_t>(n)) : std::string();
  constexpr std::string_view kDeleted = " (deleted)";
  if (exe.size() > kDeleted.size() && exe.ends_with(kDeleted)) exe.resize(exe.size() - kDeleted.size());

  // Candidate files in order of first appearance; the lowest mapping of each gives the bias.
  std::set<std::pair<std::string, uint64_t>> seen;
  const std::vector<std::string> wanted = {"_PyRuntime", "PyContext_CopyCurrent", "Py_Version"};
  for (const MapsEntry& m : maps) {
    if (!(m.path == exe || IsPythonCandidateName(Basename(m.path)))) continue;
    if (!seen.insert({m.path, m.inode}).second) continue;
    auto file = ResolveMappedFile(pid, m.path, m.range, m.inode, m.deleted);
    if (!file.ok()) continue;
    std::string img;
    if (!ReadWholeFile(file->attach_path, &img)) continue;
    auto elf = ParseElf(img, wanted);
    if (!elf.ok()) continue;
    const auto rt = elf->dynsym.find("_PyRuntime");
    const auto cc = elf->dynsym.find("PyContext_CopyCurrent");
    if (rt == elf->dynsym.end() || cc == elf->dynsym.end()) continue;

    PythonTarget t;
    t.pid = pid;
    t.object_path = m.path;
    t.attach_path = file->attach_path;
    t.dev = file->dev;
    t.ino = file->ino;
    auto bias = LoadBias(*elf, m);  // m is this file's first (lowest) mapping
    if (!bias) return Status::Error(m.path + ": cannot compute the load bias from " + m.range);
    t.load_bias = *bias;
    t.runtime_addr = rt->second.value + t.load_bias;
    auto off = elf->FileOffset(cc->second.value);
    if (!off) return Status::Error(m.path + ": PyContext_CopyCurrent is outside the file");
    t.copy_current_offset = *off;
    // Version: Py_Version (3.11+) is authoritative; else the file name.
    const auto pv = elf->dynsym.find("Py_Version");
    uint32_t hex = 0;
    if (pv != elf->dynsym.end() && ReadMem(pid, pv->second.value + t.load_bias, &hex, 4) &&
        (hex >> 24) == 3) {
      t.version_hex = hex;
      t.major = static_cast<int>(hex >> 24);
      t.minor = static_cast<int>((hex >> 16) & 0xff);
      t.micro = static_cast<int>((hex >> 8) & 0xff);
      t.version_source = "Py_Version";
    } else {
      auto v = PythonVersionFromName(Basename(m.path));
      if (!v) v = PythonVersionFromName(Basename(exe));
      if (!v) {
        return Status::Error(m.path + ": CPython of unknown version (no Py_Version, no "
                             "version in the file name)");
      }
      t.major = v->first;
      t.minor = v->second;
      t.version_source = "file name";
    }
    auto offsets = PyOffsetsFor(t.major, t.minor);
    if (!offsets) {
      return Status::Error(
          fmt::format("unsupported CPython version {}.{} (pid {}, {})", t.major, t.minor, pid,
                      m.path));
    }
    t.offsets = *offsets;
    if (t.major > 3 || (t.major == 3 && t.minor >= 13)) {
      if (Status s = CheckDebugOffsets(pid, t); !s.ok()) return s;
    }
    return std::optional<PythonTarget>(std::move(t));
  }
  return std::optional<PythonTarget>();
}

// ---- PythonProbes ------------------------------------------------------------------------

StatusOr<std::unique_ptr<PythonProbes>> PythonProbes::Load(const SharedMaps& maps) {
  std::unique_ptr<PythonProbes> p(new PythonProbes());
  p->skel_ = python_bpf__open();
  if (p->skel_ == nullptr) return Status::Errno("BPF: open python skeleton", errno);
  // Share the capture object's maps: same filter, ring buffer, counters and Python config.
  const std::pair<bpf_map*, int> reuse[] = {
      {p->skel_->maps.fql_watched, maps.watched},
      {p->skel_->maps.fql_events, maps.events},
      {p->skel_->maps.fql_stats, maps.stats},
      {p->skel_->maps.fql_py_procs, maps.py_procs},
      {p->skel_->maps.fql_py_tstate, maps.py_tstate},
  };
  for (const auto& [map, fd] : reuse) {
    if (int err = bpf_map__reuse_fd(map, fd)) {
      return Status::Errno(std::string("BPF: python reuse ") + bpf_map__name(map), -err);
    }
  }
  if (int err = python_bpf__load(p->skel_)) {
    return Status::Errno("BPF: load python.bpf.o (verifier log above, at warn level)", -err);
  }
  if (p->skel_->rodata->fql_abi_version != FQL_ABI_VERSION) {
    return Status::Error("BPF: ABI version mismatch between python.bpf.o and events.h");
  }
  return p;
}

PythonProbes::~PythonProbes() {
  DetachAll();
  python_bpf__destroy(skel_);  // NULL-safe
}

void PythonProbes::DetachAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, f] : files_) bpf_link__destroy(f.second);
  files_.clear();
}

std::vector<PythonProbeFile> PythonProbes::Files() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PythonProbeFile> out;
  for (const auto& [key, f] : files_) out.push_back(f.first);
  return out;
}

std::vector<std::pair<std::string, int>> PythonProbes::Programs() const {
  std::vector<std::pair<std::string, int>> out;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel_->obj) {
    out.emplace_back(bpf_program__name(prog), bpf_program__fd(prog));
  }
  return out;
}

Status PythonProbes::Attach(const PythonTarget& t) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::pair<uint64_t, uint64_t> key{t.dev, t.ino};
  if (files_.count(key) != 0) return Status::Ok();
  LIBBPF_OPTS(bpf_uprobe_opts, opts);
  opts.retprobe = true;
  bpf_link* link = bpf_program__attach_uprobe_opts(skel_->progs.fql_py_copy_ret, -1,
                                                   t.attach_path.c_str(),
                                                   t.copy_current_offset, &opts);
  if (link == nullptr) {
    return Status::Errno("python: attach PyContext_CopyCurrent%return in " + t.object_path,
                         errno);
  }
  PythonProbeFile f{t.object_path, t.dev, t.ino, t.copy_current_offset, t.pid};
  spdlog::info("python: uretprobe on PyContext_CopyCurrent in {} (dev {}:{} ino {}) via {}",
               t.object_path, major(t.dev), minor(t.dev), t.ino, t.pid);
  files_[key] = {std::move(f), link};
  return Status::Ok();
}

}  // namespace fraiseql::loader
