// CPython runtime detection, unprivileged beyond reading /proc/PID: finding the interpreter
// in a process (DetectPython: pure helpers + /proc reads), the per-version struct offsets,
// and the _asyncio Task birth sites (FindAsyncioTaskSites, AsyncioSitesFromImage). No
// libbpf: the probes that use these facts are in python_probes.h. See
// docs/python-contexts.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "fraiseql/abi/events.h"
#include "loader/proc_maps.h"

namespace fraiseql::loader {

// Offsets into CPython's runtime structures for one minor version (x86-64, default build,
// not free-threaded). See kPyOffsets in python_runtime.cc for how each was obtained.
struct PyOffsets {
  uint32_t runtime_interp_main = 0;   // _PyRuntimeState.interpreters.main
  uint32_t interp_threads_head = 0;   // PyInterpreterState.threads.head (3.9/3.10 tstate_head)
  uint32_t tstate_next = 0;           // PyThreadState.next
  uint32_t tstate_thread_id = 0;      // .native_thread_id (3.11+) or .thread_id (3.9/3.10)
  uint32_t tstate_context = 0;        // PyThreadState.context
  bool match_pthread = false;         // thread_id holds pthread_self() (3.9/3.10)
};
// The table entry for major.minor (nullopt: unsupported version).
std::optional<PyOffsets> PyOffsetsFor(int major, int minor);

// "python3.11" -> {3, 11}; "libpython3.12.so.1.0" -> {3, 12}; "libpython3.13t.so" -> {3, 13};
// "python3" / "bash" -> nullopt.
std::optional<std::pair<int, int>> PythonVersionFromName(std::string_view basename);
// Files worth opening as a possible interpreter: basename starts with "python" or
// "libpython" (the executable itself is checked separately by DetectPython).
bool IsPythonCandidateName(std::string_view basename);

// Everything the kernel side needs to read a process's current PyContext*, and where to
// attach the PyContext_CopyCurrent uretprobe.
struct PythonTarget {
  uint32_t pid = 0;
  int major = 0, minor = 0, micro = 0;
  uint32_t version_hex = 0;        // PY_VERSION_HEX from Py_Version (3.11+), else 0
  std::string version_source;      // "Py_Version" or "file name"
  std::string object_path;         // mapped path of the file exporting _PyRuntime (the
                                   // python executable or libpython3.X.so)
  std::string attach_path;         // how this process's file is opened from here
  uint64_t dev = 0, ino = 0;       // identity of that file (one uretprobe per file)
  uint64_t load_bias = 0;          // 0 for a non-PIE executable
  uint64_t runtime_addr = 0;       // &_PyRuntime in the process (bias applied)
  uint64_t copy_current_offset = 0;// file offset of PyContext_CopyCurrent
  PyOffsets offsets;
  fql_py_proc ToConfig() const;    // the fql_py_procs value
  std::string ToString() const;
};

// Is `pid` a CPython process we can follow? nullopt: not Python (no mapped file exports
// _PyRuntime and PyContext_CopyCurrent) — the normal answer for most processes, not an
// error. Error status: /proc unreadable, or Python of an unsupported version
// ("unsupported CPython version X.Y"), or a 3.13+ runtime whose _Py_DebugOffsets disagree
// with the table (or free-threaded).
StatusOr<std::optional<PythonTarget>> DetectPython(uint32_t pid);

// Where the C _asyncio module creates Task contexts: the instructions right after its calls
// to PyContext_CopyCurrent (through the PLT, or `call *GOT` with -fno-plt). At such a point
// rax is the new context and the thread's current context its parent.
// Rule (docs/python-contexts.md): every call site, minus those inside the functions that
// implement Future.add_done_callback (found from the module's PyMethodDef tables: the
// "add_done_callback" entry's ml_meth, its .eh_frame_hdr extent, and the functions it calls
// directly). What is left is the Task initializer's copy (task_init: context=None). When
// nothing can be excluded (no method table / unwind table found) every site is kept: the
// extra sites only cost traps, and their births are genuine context births.
struct AsyncioSites {
  std::string path;                // mapped path of _asyncio*.so
  std::string attach_path;         // how it is opened from here
  uint64_t dev = 0, ino = 0;
  std::vector<uint64_t> all;       // file offsets (return points) of every call site
  std::vector<uint64_t> excluded;  // subset inside Future.add_done_callback
  std::vector<uint64_t> task;      // attached: all - excluded (all if that would be empty)
  // Where each site's probe goes (parallel to `all`): the return point, or the first
  // instruction the kernel EMULATES (a jcc) reached from it through at most 3 plain
  // instructions that do not write rax and are no branch target (see SlideToEmulated in
  // python_runtime.cc): an emulated probe is one trap, a single-stepped one (`mov %rax,m`
  // at task_init's return point) an int3 + a debug trap, ~4x the cost here.
  std::vector<uint64_t> probe_at;
  size_t tail_jumps = 0;           // `jmp PyContext_CopyCurrent@plt`: no return point
  std::string rule;                // how `task` was chosen (logged)
};
// From an image of the module (pure). Error: no call to PyContext_CopyCurrent found.
StatusOr<AsyncioSites> AsyncioSitesFromImage(std::string_view img);
// From /proc/PID/maps: nullopt when the process maps no _asyncio*.so (asyncio not imported
// yet, or _asyncio built into the interpreter).
StatusOr<std::optional<AsyncioSites>> FindAsyncioTaskSites(uint32_t pid);

}  // namespace fraiseql::loader
