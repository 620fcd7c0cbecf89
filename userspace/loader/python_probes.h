// CPython contexts (bpf/python.bpf.h, bpf/python.bpf.c): finding the interpreter in a process
// (DetectPython: pure helpers + /proc reads, no privileges beyond reading /proc/PID), the
// per-version struct offsets, and the PyContext_CopyCurrent uretprobe attached once per file.
// Owned by Loader (loader.h has the public API). See docs/python-contexts.md.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"
#include "fraiseql/abi/events.h"
#include "loader/proc_maps.h"

struct python_bpf;  // generated skeleton (python.skel.h), private to python_probes.cc
struct bpf_link;

namespace fraiseql::loader {

// Offsets into CPython's runtime structures for one minor version (x86-64, default build,
// not free-threaded). See kPyOffsets in python_probes.cc for how each was obtained.
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

// What Loader::PythonStatus reports.
struct PythonProbeFile {
  std::string path;           // as mapped in the process it was attached through
  uint64_t dev = 0, ino = 0;
  uint64_t offset = 0;        // file offset of PyContext_CopyCurrent
  uint32_t tgid = 0;          // the process it was attached through
};

class PythonProbes {
 public:
  // Opens and loads bpf/python.bpf.c sharing the capture object's maps (by fd).
  struct SharedMaps {
    int watched, events, stats, py_procs, py_tstate;
  };
  static StatusOr<std::unique_ptr<PythonProbes>> Load(const SharedMaps& maps);
  ~PythonProbes();
  PythonProbes(const PythonProbes&) = delete;
  PythonProbes& operator=(const PythonProbes&) = delete;

  // Attaches the uretprobe to target's file unless that (dev, ino) already has it.
  Status Attach(const PythonTarget& target);
  void DetachAll();
  std::vector<PythonProbeFile> Files() const;
  std::vector<std::pair<std::string, int>> Programs() const;

 private:
  PythonProbes() = default;
  mutable std::mutex mu_;
  python_bpf* skel_ = nullptr;
  std::map<std::pair<uint64_t, uint64_t>, std::pair<PythonProbeFile, bpf_link*>> files_;
};

}  // namespace fraiseql::loader
