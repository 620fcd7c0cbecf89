#include "loader/python_runtime.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

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

// ---- _asyncio Task birth sites -----------------------------------------------------------

namespace {

// [start, end) of the function starting at `f` (next .eh_frame_hdr start); nullopt when `f`
// is not a described function start.
std::optional<std::pair<uint64_t, uint64_t>> Extent(const std::vector<uint64_t>& starts,
                                                    uint64_t f) {
  auto it = std::lower_bound(starts.begin(), starts.end(), f);
  if (it == starts.end() || *it != f) return std::nullopt;
  auto next = std::upper_bound(starts.begin(), starts.end(), f);
  if (next == starts.end()) return std::nullopt;
  return std::make_pair(f, *next);
}

// From the return point `ret` (vaddr) of a call whose result is in rax, walks at most 3
// instructions of a small whitelist that leave rax alone (REX? + 89/8b/85/39/3b with a ModRM
// operand: mov/test/cmp) to the first jcc (0x70-0x7f rel8, 0x0f 0x80-0x8f rel32), which
// x86 uprobes emulate instead of single-stepping. rax still holds the call's result there on
// both outcomes. Refused (returns `ret`) if anything else comes first, or if any direct
// branch in the executable sections (byte scan: conservative) targets an instruction after
// `ret` up to the jcc (another path could arrive there with another rax).
uint64_t SlideToEmulated(std::string_view img, const ElfImage& elf, uint64_t ret) {
  std::vector<uint64_t> starts;  // instruction starts after ret, up to the jcc
  uint64_t at = ret;
  for (int n = 0; n < 4; ++n) {
    auto off = elf.FileOffset(at);
    if (!off || *off + 16 > img.size()) return ret;
    const auto* b = reinterpret_cast<const uint8_t*>(img.data() + *off);
    size_t i = 0;
    uint8_t rex = 0;
    if ((b[0] & 0xf0) == 0x40) rex = b[i++];
    const uint8_t op = b[i++];
    if (rex == 0 && ((op >= 0x70 && op <= 0x7f) || (op == 0x0f && b[i] >= 0x80 && b[i] <= 0x8f))) {
      if (at == ret) return ret;  // already emulated
      break;
    }
    if (op != 0x89 && op != 0x8b && op != 0x85 && op != 0x39 && op != 0x3b) return ret;
    const uint8_t modrm = b[i++];
    const uint8_t mod = modrm >> 6, reg = (modrm >> 3) & 7, rm = modrm & 7;
    if (op == 0x89 && mod == 3 && rm == 0 && !(rex & 1)) return ret;  // writes rax
    if (op == 0x8b && reg == 0 && !(rex & 4)) return ret;              // writes rax
    if (mod != 3 && rm == 4) {
      const uint8_t sib = b[i++];
      if (mod == 0 && (sib & 7) == 5) i += 4;
    }
    if (mod == 1) i += 1;
    if (mod == 2 || (mod == 0 && rm == 5)) i += 4;
    at += i;
    starts.push_back(at);
    if (n == 3) return ret;
  }
  if (starts.empty()) return ret;
  for (const ElfSection& s : ElfSections(img)) {
    if (!(s.flags & SHF_EXECINSTR) || s.type == SHT_NOBITS || s.offset + s.size > img.size()) {
      continue;
    }
    const auto* b = reinterpret_cast<const uint8_t*>(img.data() + s.offset);
    for (uint64_t k = 0; k + 2 <= s.size; ++k) {
      std::vector<uint64_t> targets;
      if (b[k] == 0xeb || (b[k] >= 0x70 && b[k] <= 0x7f)) {
        targets.push_back(s.addr + k + 2 + static_cast<int8_t>(b[k + 1]));
      }
      int32_t d;
      if ((b[k] == 0xe8 || b[k] == 0xe9) && k + 5 <= s.size) {
        std::memcpy(&d, b + k + 1, 4);
        targets.push_back(s.addr + k + 5 + static_cast<int64_t>(d));
      }
      if (b[k] == 0x0f && b[k + 1] >= 0x80 && b[k + 1] <= 0x8f && k + 6 <= s.size) {
        std::memcpy(&d, b + k + 2, 4);
        targets.push_back(s.addr + k + 6 + static_cast<int64_t>(d));
      }
      for (uint64_t t : targets) {
        if (std::find(starts.begin(), starts.end(), t) != starts.end()) return ret;
      }
    }
  }
  return at;
}

}  // namespace

StatusOr<AsyncioSites> AsyncioSitesFromImage(std::string_view img) {
  auto elf = ParseElf(img, {});
  if (!elf.ok()) return elf.status();
  auto calls = FindImportCalls(img, "PyContext_CopyCurrent");
  if (!calls.ok()) return calls.status();
  if (calls->calls.empty()) {
    return Status::Error(calls->got_slot == 0
                             ? "does not import PyContext_CopyCurrent"
                             : "no call to PyContext_CopyCurrent found");
  }
  AsyncioSites out;
  out.tail_jumps = calls->tail_jumps;
  std::vector<uint64_t> all_vaddr;
  for (const ImportCall& c : calls->calls) {
    auto off = elf->FileOffset(c.return_vaddr);
    if (!off) return Status::Error("call site outside the file's loaded bytes");
    out.all.push_back(*off);
    all_vaddr.push_back(c.call_vaddr);
  }
  // Future.add_done_callback: PyMethodDef {ml_name, ml_meth, ...} whose ml_name points at
  // "add_done_callback" (both pointers are RELATIVE relocations in a shared object).
  const std::vector<uint64_t> names = FindCString(img, "add_done_callback");
  const std::map<uint64_t, uint64_t> rel = RelativeRelocations(img);
  const std::vector<uint64_t> starts = EhFrameFunctionStarts(img);
  std::set<uint64_t> meths;
  for (const auto& [where, value] : rel) {
    if (std::find(names.begin(), names.end(), value) == names.end()) continue;
    auto m = rel.find(where + 8);
    if (m != rel.end()) meths.insert(m->second);
  }
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (uint64_t f : meths) {
    auto ext = Extent(starts, f);
    if (!ext) continue;
    ranges.push_back(*ext);
    // Functions it calls directly (an _impl the compiler did not inline): `call rel32`
    // whose target is exactly a described function start.
    auto lo = elf->FileOffset(ext->first), hi = elf->FileOffset(ext->second - 1);
    if (!lo || !hi || *hi + 1 > img.size()) continue;
    for (uint64_t o = *lo; o + 5 <= *hi + 1; ++o) {
      if (static_cast<uint8_t>(img[o]) != 0xe8) continue;
      int32_t d;
      std::memcpy(&d, img.data() + o + 1, 4);
      const uint64_t target = ext->first + (o - *lo) + 5 + static_cast<int64_t>(d);
      if (target == f) continue;
      if (auto callee = Extent(starts, target)) ranges.push_back(*callee);
    }
  }
  for (size_t i = 0; i < all_vaddr.size(); ++i) {
    bool in = false;
    for (const auto& [a, b] : ranges) in = in || (all_vaddr[i] >= a && all_vaddr[i] < b);
    (in ? out.excluded : out.task).push_back(out.all[i]);
  }
  if (meths.empty() || ranges.empty()) {
    out.task = out.all;
    out.excluded.clear();
    out.rule = fmt::format("all {} call sites (no add_done_callback method table/extent found)",
                           out.all.size());
  } else if (out.task.empty()) {
    out.task = out.all;
    out.excluded.clear();
    out.rule = fmt::format("all {} call sites (every one is inside add_done_callback?)",
                           out.all.size());
  } else {
    out.rule = fmt::format("{} of {} call sites ({} inside Future.add_done_callback excluded)",
                           out.task.size(), out.all.size(), out.excluded.size());
  }
  size_t slid = 0;
  for (size_t i = 0; i < out.all.size(); ++i) {
    const uint64_t ret = calls->calls[i].return_vaddr;
    const uint64_t at = SlideToEmulated(img, *elf, ret);
    auto off = elf->FileOffset(at);
    out.probe_at.push_back(off ? *off : out.all[i]);
    slid += at != ret;
  }
  out.rule += fmt::format("; {} probe(s) moved to an emulated jcc", slid);
  return out;
}

StatusOr<std::optional<AsyncioSites>> FindAsyncioTaskSites(uint32_t pid) {
  const std::string proc = "/proc/" + std::to_string(pid);
  std::string maps_text;
  if (!ReadWholeFile(proc + "/maps", &maps_text)) {
    return Status::Errno("FindAsyncioTaskSites: read " + proc + "/maps", errno);
  }
  for (const MapsEntry& m : ParseMaps(maps_text)) {
    const std::string_view b = Basename(m.path);
    if (b.substr(0, 9) != "_asyncio." || b.find(".so") == std::string_view::npos) continue;
    auto file = ResolveMappedFile(pid, m.path, m.range, m.inode, m.deleted);
    if (!file.ok()) return file.status();
    std::string img;
    if (!ReadWholeFile(file->attach_path, &img)) {
      return Status::Errno("read " + file->attach_path, errno);
    }
    auto sites = AsyncioSitesFromImage(img);
    if (!sites.ok()) return Status::Error(m.path + ": " + sites.status().message());
    sites->path = m.path;
    sites->attach_path = file->attach_path;
    sites->dev = file->dev;
    sites->ino = file->ino;
    return std::optional<AsyncioSites>(std::move(sites.value()));
  }
  return std::optional<AsyncioSites>();
}

}  // namespace fraiseql::loader
