#include "loader/libpq_probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <elf.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <sstream>

#include <spdlog/spdlog.h>

#include "fraiseql/abi/events.h"
#include "libpq.skel.h"
#include "loader/proc_maps.h"
#include "loader/uprobe_manager.h"

namespace fraiseql::loader {
namespace {

// One probe: a program of libpq.bpf.c on a libpq function's entry or return.
struct ProbeSpec {
  const char* function;
  bool retprobe;
  bpf_program* (*program)(libpq_bpf*);
};

#define FQL_PROG(name) [](libpq_bpf* s) { return s->progs.name; }
const ProbeSpec kProbes[] = {
    {"PQsendQuery", false, FQL_PROG(fql_pq_send_query)},
    {"PQsendQueryParams", false, FQL_PROG(fql_pq_send_query_params)},
    {"PQsendPrepare", false, FQL_PROG(fql_pq_send_prepare)},
    {"PQsendQueryPrepared", false, FQL_PROG(fql_pq_send_query_prepared)},
    {"PQexec", false, FQL_PROG(fql_pq_exec)},
    {"PQexec", true, FQL_PROG(fql_pq_exec_ret)},
    {"PQexecParams", false, FQL_PROG(fql_pq_exec_params)},
    {"PQexecParams", true, FQL_PROG(fql_pq_exec_params_ret)},
    {"PQprepare", false, FQL_PROG(fql_pq_prepare)},
    {"PQprepare", true, FQL_PROG(fql_pq_prepare_ret)},
    {"PQexecPrepared", false, FQL_PROG(fql_pq_exec_prepared)},
    {"PQexecPrepared", true, FQL_PROG(fql_pq_exec_prepared_ret)},
    {"PQgetResult", false, FQL_PROG(fql_pq_get_result)},
    {"PQgetResult", true, FQL_PROG(fql_pq_get_result_ret)},
};
#undef FQL_PROG

}  // namespace

// ---- LibpqProbes -------------------------------------------------------------------------

StatusOr<std::unique_ptr<LibpqProbes>> LibpqProbes::Load(int watched_fd, int events_fd,
                                                         int stats_fd) {
  std::unique_ptr<LibpqProbes> p(new LibpqProbes());
  // Share the capture object's maps: same filter, same ring buffer, same counters.
  ASSIGN_OR_RETURN(p->skel_, LoadSatellite("libpq",
                                           SatelliteOps<libpq_bpf>{libpq_bpf__open,
                                                                   libpq_bpf__load,
                                                                   libpq_bpf__destroy},
                                           [&](libpq_bpf* s) {
                                             return std::vector<std::pair<bpf_map*, int>>{
                                                 {s->maps.fql_watched, watched_fd},
                                                 {s->maps.fql_events, events_fd},
                                                 {s->maps.fql_stats, stats_fd},
                                             };
                                           }));
  return p;
}

LibpqProbes::~LibpqProbes() {
  DetachAll();
  libpq_bpf__destroy(skel_);  // NULL-safe
}

void LibpqProbes::DetachAll() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [key, links] : links_) {
    for (bpf_link* l : links) bpf_link__destroy(l);
  }
  links_.clear();
  libs_.clear();
}

std::vector<LibpqLibrary> LibpqProbes::Libraries() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<LibpqLibrary> out;
  for (const auto& [key, lib] : libs_) out.push_back(lib);
  return out;
}

size_t LibpqProbes::LinkCount() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const auto& [key, links] : links_) n += links.size();
  return n;
}

std::vector<std::pair<std::string, int>> LibpqProbes::Programs() const {
  return ProgramsOf(skel_->obj);
}

Status LibpqProbes::Attach(uint32_t tgid) {
  const std::string proc = "/proc/" + std::to_string(tgid);
  std::string maps;
  if (!ReadWholeFile(proc + "/maps", &maps)) {
    return Status::Errno("AttachLibpq: read " + proc + "/maps", errno);
  }
  const std::vector<LibpqMapping> found = FindLibpqMappings(maps);
  if (found.empty()) {
    return Status::Error("AttachLibpq " + std::to_string(tgid) + ": no libpq mapped (yet)");
  }
  std::lock_guard<std::mutex> lock(mu_);
  std::string errors;
  for (const LibpqMapping& m : found) {
    if (Status s = AttachOne(tgid, m); !s.ok()) {
      errors += (errors.empty() ? "" : "; ") + s.message();
    }
  }
  if (!errors.empty()) return Status::Error("AttachLibpq " + std::to_string(tgid) + ": " + errors);
  return Status::Ok();
}

Status LibpqProbes::AttachOne(uint32_t tgid, const LibpqMapping& m) {
  // The file as the process sees it (its mount namespace); if it was deleted or replaced
  // since it was mapped, the mapping itself through map_files.
  auto resolved = ResolveMappedFile(tgid, m.path, m.range, m.inode, m.deleted);
  if (!resolved.ok()) return resolved.status();
  const std::string attach_path = resolved->attach_path;
  struct stat st {};
  st.st_dev = resolved->dev;
  st.st_ino = resolved->ino;
  const std::pair<uint64_t, uint64_t> key{st.st_dev, st.st_ino};
  if (libs_.count(key) != 0) {
    spdlog::debug("libpq: {} (dev {}:{} ino {}) already attached; nothing to do for {}", m.path,
                  major(st.st_dev), minor(st.st_dev), st.st_ino, tgid);
    return Status::Ok();
  }
  std::vector<std::string> wanted;
  for (const ProbeSpec& p : kProbes) {
    if (wanted.empty() || wanted.back() != p.function) wanted.push_back(p.function);
  }
  auto elf = ReadLibpqElf(attach_path, wanted);
  if (!elf.ok()) return elf.status();
  const std::set<std::string> present(elf->functions.begin(), elf->functions.end());

  LibpqLibrary lib;
  lib.path = m.path;
  lib.attach_path = attach_path;
  lib.dev = st.st_dev;
  lib.ino = st.st_ino;
  lib.tgid = tgid;
  lib.sock_offset = elf->sock_offset.value_or(-1);
  if (!elf->sock_offset) {
    spdlog::info("libpq: {}: PGconn.sock offset unknown (PQsocket not recognised); libpq "
                 "events will carry fd -1",
                 m.path);
  }
  std::vector<bpf_link*> links;
  for (const ProbeSpec& p : kProbes) {
    const std::string probe = std::string(p.function) + (p.retprobe ? "%return" : "");
    if (present.count(p.function) == 0) {
      if (!p.retprobe) {
        spdlog::debug("libpq: {} does not export {}: skipped", m.path, p.function);
        lib.missing.push_back(p.function);
      }
      continue;
    }
    UprobeSpec spec;
    spec.prog = p.program(skel_);
    spec.path = attach_path;
    spec.func_name = p.function;
    spec.retprobe = p.retprobe;
    // offset + 1 so that 0 means "unknown" (bpf/libpq.bpf.c fql_pq_sock_fd)
    spec.cookie = elf->sock_offset ? static_cast<uint64_t>(*elf->sock_offset) + 1 : 0;
    bpf_link* link = AttachUprobe(spec, tgid, UprobeScope::kPerFile, nullptr);
    if (link == nullptr) {
      const int err = errno;
      spdlog::warn("libpq: attach {} in {}: {}", probe, m.path, std::strerror(err));
      lib.failed.push_back(probe + ": " + std::strerror(err));
      continue;
    }
    links.push_back(link);
    lib.probes.push_back(probe);
  }
  spdlog::info("libpq: {} (dev {}:{} ino {}) via {}: {} probes attached, {} missing, {} failed, "
               "sock offset {}",
               m.path, major(st.st_dev), minor(st.st_dev), st.st_ino, tgid, lib.probes.size(),
               lib.missing.size(), lib.failed.size(), lib.sock_offset);
  std::string failed;
  for (const std::string& f : lib.failed) failed += (failed.empty() ? "" : ", ") + f;
  // Recorded even when some probes failed: a second process mapping the same file does not
  // retry (DetachLibpq first to try again).
  libs_[key] = std::move(lib);
  links_[key] = std::move(links);
  if (!failed.empty()) return Status::Error(m.path + ": " + failed);
  return Status::Ok();
}

}  // namespace fraiseql::loader
