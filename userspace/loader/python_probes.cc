#include "loader/python_probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include "loader/uprobe_manager.h"
#include "python.skel.h"

namespace fraiseql::loader {

// ---- PythonProbes ------------------------------------------------------------------------

StatusOr<std::unique_ptr<PythonProbes>> PythonProbes::Load(const SharedMaps& maps) {
  std::unique_ptr<PythonProbes> p(new PythonProbes());
  // Share the capture object's maps: same filter, ring buffer, counters and Python config.
  ASSIGN_OR_RETURN(p->skel_, LoadSatellite("python",
                                           SatelliteOps<python_bpf>{python_bpf__open,
                                                                    python_bpf__load,
                                                                    python_bpf__destroy},
                                           [&](python_bpf* s) {
                                             return std::vector<std::pair<bpf_map*, int>>{
                                                 {s->maps.fql_watched, maps.watched},
                                                 {s->maps.fql_events, maps.events},
                                                 {s->maps.fql_stats, maps.stats},
                                                 {s->maps.fql_py_procs, maps.py_procs},
                                                 {s->maps.fql_py_tstate, maps.py_tstate},
                                             };
                                           }));
  return p;
}

PythonProbes::~PythonProbes() {
  DetachAll();
  python_bpf__destroy(skel_);  // NULL-safe
}

void PythonProbes::Destroy(Attachment* a) {
  for (bpf_link* l : a->links) bpf_link__destroy(l);
  a->links.clear();
}

void PythonProbes::DetachAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [tgid, a] : procs_) Destroy(&a);
  procs_.clear();
}

void PythonProbes::Detach(uint32_t tgid) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = procs_.find(tgid);
  if (it == procs_.end()) return;
  Destroy(&it->second);
  procs_.erase(it);
}

std::vector<PythonProbeFile> PythonProbes::Files() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PythonProbeFile> out;
  for (const auto& [tgid, a] : procs_) out.push_back(a.info);
  return out;
}

std::vector<std::pair<std::string, int>> PythonProbes::Programs() const {
  return ProgramsOf(skel_->obj);
}

std::vector<uint64_t> PythonProbes::SiteHits() const {
  const int ncpu = libbpf_num_possible_cpus();
  const uint32_t n = bpf_map__max_entries(skel_->maps.fql_py_site_hits);
  std::vector<uint64_t> out(n, 0);
  if (ncpu <= 0) return out;
  std::vector<uint64_t> per(static_cast<size_t>(ncpu));
  for (uint32_t k = 0; k < n; ++k) {
    if (bpf_map__lookup_elem(skel_->maps.fql_py_site_hits, &k, sizeof(k), per.data(),
                             per.size() * sizeof(uint64_t), 0) != 0) {
      continue;
    }
    for (uint64_t v : per) out[k] += v;
  }
  return out;
}

namespace {

// Per process (pid = tgid: the kernel installs the breakpoint only in that mm); if the
// kernel refuses, per file (pid -1). *per_pid says which.
bpf_link* AttachUprobe(const bpf_program* prog, uint32_t tgid, const std::string& path,
                       uint64_t offset, bool retprobe, uint64_t cookie, bool* per_pid) {
  UprobeSpec spec;
  spec.prog = prog;
  spec.path = path;
  spec.offset = offset;
  spec.retprobe = retprobe;
  spec.cookie = cookie;
  return loader::AttachUprobe(spec, tgid, UprobeScope::kPerProcessElseFile, per_pid);
}

}  // namespace

Status PythonProbes::AttachTaskSites(uint32_t tgid, const AsyncioSites& sites, bool all,
                                     Attachment* a) {
  const std::vector<uint64_t>& offs = all ? sites.all : sites.task;
  a->info = PythonProbeFile{};
  a->info.path = sites.path;
  a->info.dev = sites.dev;
  a->info.ino = sites.ino;
  a->info.tgid = tgid;
  a->info.mode = "task-uprobe";
  a->info.rule = all ? fmt::format("all {} call sites (forced)", sites.all.size()) : sites.rule;
  for (uint64_t off : offs) {
    const size_t idx = static_cast<size_t>(
        std::find(sites.all.begin(), sites.all.end(), off) - sites.all.begin());
    bool per_pid = true;
    const uint64_t at = idx < sites.probe_at.size() ? sites.probe_at[idx] : off;
    bpf_link* l = AttachUprobe(skel_->progs.fql_py_task_birth, tgid, sites.attach_path, at,
                               false, idx, &per_pid);
    if (l == nullptr) {
      const int err = errno;
      Destroy(a);
      return Status::Errno(fmt::format("python: attach uprobe {}+{:#x}", sites.path, at), err);
    }
    a->links.push_back(l);
    a->info.offsets.push_back(at);
    a->info.site_index.push_back(static_cast<uint32_t>(idx));
    a->info.per_pid = a->info.per_pid && per_pid;
  }
  a->info.offset = offs.empty() ? 0 : offs[0];
  return Status::Ok();
}

Status PythonProbes::AttachCopyReturn(uint32_t tgid, const PythonTarget& t,
                                      const std::string& why, Attachment* a) {
  // `t` may describe another process of the same image (a forked worker's parent): open
  // the file through tgid when that is the same inode.
  std::string path = t.attach_path;
  const std::string own = "/proc/" + std::to_string(tgid) + "/root" + t.object_path;
  struct stat st {};
  if (stat(own.c_str(), &st) == 0 && st.st_ino == t.ino) path = own;
  a->info = PythonProbeFile{};
  a->info.path = t.object_path;
  a->info.dev = t.dev;
  a->info.ino = t.ino;
  a->info.tgid = tgid;
  a->info.mode = "uretprobe";
  a->info.rule = why;
  bool per_pid = true;
  bpf_link* l = AttachUprobe(skel_->progs.fql_py_copy_ret, tgid, path, t.copy_current_offset,
                             true, 0, &per_pid);
  if (l == nullptr) {
    return Status::Errno("python: attach PyContext_CopyCurrent%return in " + t.object_path,
                         errno);
  }
  a->links.push_back(l);
  a->info.offset = t.copy_current_offset;
  a->info.offsets = {t.copy_current_offset};
  a->info.per_pid = per_pid;
  return Status::Ok();
}

Status PythonProbes::Attach(uint32_t tgid, const PythonTarget& t, PyBirthHook hook) {
  std::lock_guard<std::mutex> lock(mu_);
  auto cur = procs_.find(tgid);
  std::optional<AsyncioSites> sites;
  std::string why;
  if (hook == PyBirthHook::kCopyCurrentReturn) {
    why = "forced";
  } else {
    auto found = FindAsyncioTaskSites(tgid);
    if (!found.ok()) {
      why = found.status().message();
    } else if (!found->has_value()) {
      why = "no _asyncio shared object mapped (asyncio not imported yet, or built in)";
    } else {
      sites = std::move(found->value());
    }
  }
  const std::string want_mode = sites ? "task-uprobe" : "uretprobe";
  std::vector<uint64_t> want_offsets;
  if (sites) {
    for (uint64_t o : hook == PyBirthHook::kAsyncioAllSites ? sites->all : sites->task) {
      const size_t i = static_cast<size_t>(std::find(sites->all.begin(), sites->all.end(), o) -
                                           sites->all.begin());
      want_offsets.push_back(sites->probe_at[i]);
    }
  }
  if (cur != procs_.end() && cur->second.info.mode == want_mode &&
      (!sites || (cur->second.info.dev == sites->dev && cur->second.info.ino == sites->ino &&
                  cur->second.info.offsets == want_offsets))) {
    return Status::Ok();
  }
  Attachment a;
  Status s = sites ? AttachTaskSites(tgid, *sites, hook == PyBirthHook::kAsyncioAllSites, &a)
                   : AttachCopyReturn(tgid, t, why, &a);
  if (!s.ok()) return s;
  if (cur != procs_.end()) {  // replace (upgrade) only once the new probes are in
    Destroy(&cur->second);
    procs_.erase(cur);
  }
  if (sites) {
    spdlog::info("python: pid {} births from _asyncio Task creation: uprobe{} at {} in {} "
                 "(dev {}:{} ino {}, {}){}",
                 tgid, a.links.size() == 1 ? "" : "s",
                 fmt::format("{:#x}", fmt::join(a.info.offsets, ",")), sites->path,
                 major(sites->dev), minor(sites->dev), sites->ino, a.info.rule,
                 a.info.per_pid ? "" : " [per file]");
  } else {
    spdlog::info("python: pid {} births from a uretprobe on PyContext_CopyCurrent in {} "
                 "(every context copy; {}){}",
                 tgid, t.object_path, why, a.info.per_pid ? "" : " [per file]");
  }
  procs_[tgid] = std::move(a);
  return Status::Ok();
}

}  // namespace fraiseql::loader
