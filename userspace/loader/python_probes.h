// CPython contexts (bpf/python.bpf.h, bpf/python.bpf.c): the birth probes attached per
// process (PythonProbes), from what python_runtime.h detects (DetectPython, the per-version
// offsets, the _asyncio Task birth sites).
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
#include "loader/python_runtime.h"

struct python_bpf;  // generated skeleton (python.skel.h), private to python_probes.cc
struct bpf_link;

namespace fraiseql::loader {

// Which probe reports births.
enum class PyBirthHook {
  kAuto,               // _asyncio Task sites when found, else kCopyCurrentReturn
  kAsyncioAllSites,    // every _asyncio call site, no exclusion (diagnostics/tests)
  kCopyCurrentReturn,  // uretprobe on PyContext_CopyCurrent: every copy (the old hook)
};

// What Loader::PythonStatus reports: one entry per attached process (or shared file).
struct PythonProbeFile {
  std::string path;           // probed file as mapped in `tgid` (_asyncio*.so or python)
  uint64_t dev = 0, ino = 0;
  uint64_t offset = 0;        // first probed file offset
  uint32_t tgid = 0;          // the process it was attached for
  std::string mode;           // "task-uprobe" (_asyncio call sites) or "uretprobe"
  std::vector<uint64_t> offsets;      // every probed file offset
  std::vector<uint32_t> site_index;   // their bpf cookies (index into AsyncioSites::all)
  bool per_pid = true;        // attached with pid = tgid; false: pid -1 (every process
                              // mapping the file traps)
  std::string rule;           // AsyncioSites::rule, or why the fallback was used
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

  // Attaches tgid's birth probe(s) (per process: pid = tgid, so other processes running the
  // same files never trap). Already attached in the same mode: no-op. A tgid attached in
  // the uretprobe fallback is upgraded once its _asyncio is found. `target` may come from
  // another process of the same image (a forked worker's parent).
  Status Attach(uint32_t tgid, const PythonTarget& target, PyBirthHook hook);
  void Detach(uint32_t tgid);
  void DetachAll();
  std::vector<PythonProbeFile> Files() const;
  std::vector<std::pair<std::string, int>> Programs() const;
  // fql_py_site_hits: hits per call-site index (all processes, since load).
  std::vector<uint64_t> SiteHits() const;

 private:
  PythonProbes() = default;
  struct Attachment {
    PythonProbeFile info;
    std::vector<bpf_link*> links;
  };
  Status AttachTaskSites(uint32_t tgid, const AsyncioSites& sites, bool all, Attachment* a);
  Status AttachCopyReturn(uint32_t tgid, const PythonTarget& t, const std::string& why,
                          Attachment* a);
  static void Destroy(Attachment* a);
  mutable std::mutex mu_;
  python_bpf* skel_ = nullptr;
  std::map<uint32_t, Attachment> procs_;
};

}  // namespace fraiseql::loader
