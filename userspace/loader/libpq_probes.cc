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

// ---- pure helpers ------------------------------------------------------------------------

bool IsLibpqBasename(std::string_view b) {
  if (b.size() < 6 || b.substr(0, 5) != "libpq") return false;
  if (b[5] != '.' && b[5] != '-') return false;
  return b.find(".so") != std::string_view::npos;
}

std::vector<LibpqMapping> FindLibpqMappings(std::string_view maps) {
  std::vector<LibpqMapping> out;
  std::set<std::pair<std::string, uint64_t>> seen;
  for (MapsEntry& e : ParseMaps(maps)) {
    const size_t slash = e.path.rfind('/');
    if (!IsLibpqBasename(std::string_view(e.path).substr(slash + 1))) continue;
    if (!seen.insert({e.path, e.inode}).second) continue;
    LibpqMapping m;
    m.path = std::move(e.path);
    m.range = std::move(e.range);
    m.inode = e.inode;
    m.deleted = e.deleted;
    out.push_back(std::move(m));
  }
  return out;
}

std::optional<int32_t> SockOffsetFromPQsocket(std::span<const uint8_t> code) {
  size_t i = 0;
  auto has = [&](std::initializer_list<uint8_t> bytes) {
    if (code.size() - i < bytes.size()) return false;
    size_t k = i;
    for (uint8_t b : bytes) {
      if (code[k++] != b) return false;
    }
    return true;
  };
  if (has({0xf3, 0x0f, 0x1e, 0xfa})) i += 4;  // endbr64
  if (!has({0x48, 0x85, 0xff})) return std::nullopt;  // test rdi,rdi
  i += 3;
  if (has({0x74})) {  // je rel8
    i += 2;
  } else if (has({0x0f, 0x84})) {  // je rel32
    i += 6;
  } else {
    return std::nullopt;
  }
  int32_t off = -1;
  if (has({0x8b, 0x87}) && code.size() - i >= 6) {  // mov eax,[rdi+disp32]
    std::memcpy(&off, code.data() + i + 2, 4);
  } else if (has({0x8b, 0x47}) && code.size() - i >= 3) {  // mov eax,[rdi+disp8]
    off = static_cast<int8_t>(code[i + 2]);
  } else {
    return std::nullopt;
  }
  if (off <= 0 || off >= 65536 || off % 4 != 0) return std::nullopt;
  return off;
}

StatusOr<LibpqElf> ReadLibpqElf(const std::string& path, const std::vector<std::string>& wanted) {
  std::string img;
  if (!ReadWholeFile(path, &img)) return Status::Errno("read " + path, errno);
  std::vector<std::string> symbols = wanted;
  symbols.push_back("PQsocket");
  auto elf = ParseElf(img, symbols);
  if (!elf.ok()) return Status::Error(path + ": " + elf.status().message());
  // Defined dynamic function symbols only.
  auto function = [&](const std::string& name) -> const ElfSymbol* {
    const auto it = elf->dynsym.find(name);
    return it != elf->dynsym.end() && it->second.type == STT_FUNC ? &it->second : nullptr;
  };
  LibpqElf out;
  for (const std::string& w : wanted) {
    if (function(w) != nullptr) out.functions.push_back(w);
  }
  const ElfSymbol* pqsocket_sym = function("PQsocket");
  const std::optional<uint64_t> pqsocket =
      pqsocket_sym != nullptr ? elf->FileOffset(pqsocket_sym->value) : std::nullopt;
  if (pqsocket && *pqsocket < img.size()) {
    const size_t n = std::min<size_t>(32, img.size() - *pqsocket);
    out.sock_offset = SockOffsetFromPQsocket(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(img.data()) + *pqsocket, n));
  }
  return out;
}

// ---- LibpqProbes -------------------------------------------------------------------------

StatusOr<std::unique_ptr<LibpqProbes>> LibpqProbes::Load(int watched_fd, int events_fd,
                                                         int stats_fd) {
  std::unique_ptr<LibpqProbes> p(new LibpqProbes());
  p->skel_ = libpq_bpf__open();
  if (p->skel_ == nullptr) return Status::Errno("BPF: open libpq skeleton", errno);
  // Share the capture object's maps: same filter, same ring buffer, same counters.
  if (int err = bpf_map__reuse_fd(p->skel_->maps.fql_watched, watched_fd)) {
    return Status::Errno("BPF: libpq reuse fql_watched", -err);
  }
  if (int err = bpf_map__reuse_fd(p->skel_->maps.fql_events, events_fd)) {
    return Status::Errno("BPF: libpq reuse fql_events", -err);
  }
  if (int err = bpf_map__reuse_fd(p->skel_->maps.fql_stats, stats_fd)) {
    return Status::Errno("BPF: libpq reuse fql_stats", -err);
  }
  if (int err = libpq_bpf__load(p->skel_)) {
    return Status::Errno("BPF: load libpq.bpf.o (verifier log above, at warn level)", -err);
  }
  if (p->skel_->rodata->fql_abi_version != FQL_ABI_VERSION) {
    return Status::Error("BPF: ABI version mismatch between libpq.bpf.o and events.h");
  }
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
  std::vector<std::pair<std::string, int>> out;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, skel_->obj) {
    out.emplace_back(bpf_program__name(prog), bpf_program__fd(prog));
  }
  return out;
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
    LIBBPF_OPTS(bpf_uprobe_opts, opts);
    opts.func_name = p.function;
    opts.retprobe = p.retprobe;
    // offset + 1 so that 0 means "unknown" (bpf/libpq.bpf.c fql_pq_sock_fd)
    opts.bpf_cookie = elf->sock_offset ? static_cast<uint64_t>(*elf->sock_offset) + 1 : 0;
    bpf_link* link =
        bpf_program__attach_uprobe_opts(p.program(skel_), -1, attach_path.c_str(), 0, &opts);
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
