#include "loader/libpq_probes.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <elf.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
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

std::string ReadFile(const std::string& path, bool* ok) {
  std::ifstream in(path, std::ios::binary);
  *ok = static_cast<bool>(in);
  if (!*ok) return {};
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

template <typename T>
bool At(const std::string& img, uint64_t off, T* out) {
  if (off > img.size() || img.size() - off < sizeof(T)) return false;
  std::memcpy(out, img.data() + off, sizeof(T));
  return true;
}

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
  while (!maps.empty()) {
    const size_t nl = maps.find('\n');
    std::string_view line = maps.substr(0, nl);
    maps = nl == std::string_view::npos ? std::string_view() : maps.substr(nl + 1);
    // range perms offset dev inode path
    std::string_view fields[5];
    size_t pos = 0;
    bool ok = true;
    for (auto& f : fields) {
      while (pos < line.size() && line[pos] == ' ') ++pos;
      const size_t end = line.find(' ', pos);
      if (end == std::string_view::npos) {
        ok = false;
        break;
      }
      f = line.substr(pos, end - pos);
      pos = end;
    }
    if (!ok) continue;
    while (pos < line.size() && line[pos] == ' ') ++pos;
    std::string_view path = line.substr(pos);
    if (path.empty() || path[0] != '/') continue;
    LibpqMapping m;
    constexpr std::string_view kDeleted = " (deleted)";
    if (path.size() > kDeleted.size() && path.substr(path.size() - kDeleted.size()) == kDeleted) {
      path.remove_suffix(kDeleted.size());
      m.deleted = true;
    }
    const size_t slash = path.rfind('/');
    if (!IsLibpqBasename(path.substr(slash + 1))) continue;
    m.path = std::string(path);
    m.range = std::string(fields[0]);
    m.inode = std::strtoull(std::string(fields[4]).c_str(), nullptr, 10);
    if (!seen.insert({m.path, m.inode}).second) continue;
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
  bool ok = false;
  const std::string img = ReadFile(path, &ok);
  if (!ok) return Status::Errno("read " + path, errno);
  Elf64_Ehdr eh;
  if (!At(img, 0, &eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) {
    return Status::Error(path + ": not a 64-bit little-endian ELF file");
  }
  std::vector<Elf64_Phdr> loads;
  for (uint16_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    if (!At(img, eh.e_phoff + uint64_t{i} * eh.e_phentsize, &ph)) break;
    if (ph.p_type == PT_LOAD) loads.push_back(ph);
  }
  auto file_offset = [&](uint64_t vaddr) -> std::optional<uint64_t> {
    for (const Elf64_Phdr& ph : loads) {
      if (vaddr >= ph.p_vaddr && vaddr < ph.p_vaddr + ph.p_filesz) {
        return vaddr - ph.p_vaddr + ph.p_offset;
      }
    }
    return std::nullopt;
  };
  const std::set<std::string> want(wanted.begin(), wanted.end());
  std::set<std::string> found;
  std::optional<uint64_t> pqsocket;
  for (uint16_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr sh, strsh;
    if (!At(img, eh.e_shoff + uint64_t{i} * eh.e_shentsize, &sh)) break;
    if (sh.sh_type != SHT_DYNSYM || sh.sh_entsize != sizeof(Elf64_Sym)) continue;
    if (!At(img, eh.e_shoff + uint64_t{sh.sh_link} * eh.e_shentsize, &strsh)) continue;
    for (uint64_t k = 0; k < sh.sh_size / sizeof(Elf64_Sym); ++k) {
      Elf64_Sym sym;
      if (!At(img, sh.sh_offset + k * sizeof(Elf64_Sym), &sym)) break;
      if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC || sym.st_shndx == SHN_UNDEF) continue;
      if (sym.st_name >= strsh.sh_size) continue;
      const uint64_t noff = strsh.sh_offset + sym.st_name;
      if (noff >= img.size()) continue;
      const std::string name(img.c_str() + noff, strnlen(img.data() + noff, img.size() - noff));
      if (want.count(name) != 0) found.insert(name);
      if (name == "PQsocket") pqsocket = file_offset(sym.st_value);
    }
  }
  LibpqElf out;
  for (const std::string& w : wanted) {
    if (found.count(w) != 0) out.functions.push_back(w);
  }
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
  bool ok = false;
  const std::string maps = ReadFile(proc + "/maps", &ok);
  if (!ok) return Status::Errno("AttachLibpq: read " + proc + "/maps", errno);
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
