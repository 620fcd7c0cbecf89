#include "loader/proc_maps.h"

#include <elf.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <set>

namespace fraiseql::loader {
namespace {

template <typename T>
bool At(std::string_view img, uint64_t off, T* out) {
  if (off > img.size() || img.size() - off < sizeof(T)) return false;
  std::memcpy(out, img.data() + off, sizeof(T));
  return true;
}

}  // namespace

std::vector<MapsEntry> ParseMaps(std::string_view maps) {
  std::vector<MapsEntry> out;
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
    MapsEntry m;
    constexpr std::string_view kDeleted = " (deleted)";
    if (path.size() > kDeleted.size() && path.substr(path.size() - kDeleted.size()) == kDeleted) {
      path.remove_suffix(kDeleted.size());
      m.deleted = true;
    }
    const std::string range(fields[0]);
    const size_t dash = range.find('-');
    if (dash == std::string::npos) continue;
    m.start = std::strtoull(range.substr(0, dash).c_str(), nullptr, 16);
    m.end = std::strtoull(range.substr(dash + 1).c_str(), nullptr, 16);
    m.range = range;
    m.perms = std::string(fields[1]);
    m.offset = std::strtoull(std::string(fields[2]).c_str(), nullptr, 16);
    m.inode = std::strtoull(std::string(fields[4]).c_str(), nullptr, 10);
    m.path = std::string(path);
    out.push_back(std::move(m));
  }
  return out;
}

StatusOr<ResolvedFile> ResolveMappedFile(uint32_t tgid, const std::string& path,
                                         const std::string& range, uint64_t inode, bool deleted) {
  const std::string proc = "/proc/" + std::to_string(tgid);
  ResolvedFile r;
  r.attach_path = proc + "/root" + path;
  struct stat st {};
  if (deleted || stat(r.attach_path.c_str(), &st) != 0 || st.st_ino != inode) {
    r.attach_path = proc + "/map_files/" + range;
    if (stat(r.attach_path.c_str(), &st) != 0) {
      return Status::Errno(path + ": stat " + r.attach_path, errno);
    }
  }
  r.dev = st.st_dev;
  r.ino = st.st_ino;
  return r;
}

bool ReadWholeFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return true;
}

std::optional<uint64_t> ElfImage::FileOffset(uint64_t vaddr) const {
  for (const ElfLoad& l : loads) {
    if (vaddr >= l.vaddr && vaddr < l.vaddr + l.filesz) return vaddr - l.vaddr + l.offset;
  }
  return std::nullopt;
}

StatusOr<ElfImage> ParseElf(std::string_view img, const std::vector<std::string>& wanted) {
  Elf64_Ehdr eh;
  if (!At(img, 0, &eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB) {
    return Status::Error("not a 64-bit little-endian ELF file");
  }
  ElfImage out;
  out.type = eh.e_type;
  for (uint16_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    if (!At(img, eh.e_phoff + uint64_t{i} * eh.e_phentsize, &ph)) break;
    if (ph.p_type == PT_LOAD) {
      out.loads.push_back({ph.p_vaddr, ph.p_offset, ph.p_filesz, ph.p_memsz, ph.p_align});
    }
  }
  const std::set<std::string_view> want(wanted.begin(), wanted.end());
  for (uint16_t i = 0; i < eh.e_shnum && !want.empty(); ++i) {
    Elf64_Shdr sh, strsh;
    if (!At(img, eh.e_shoff + uint64_t{i} * eh.e_shentsize, &sh)) break;
    if (sh.sh_type != SHT_DYNSYM || sh.sh_entsize != sizeof(Elf64_Sym)) continue;
    if (!At(img, eh.e_shoff + uint64_t{sh.sh_link} * eh.e_shentsize, &strsh)) continue;
    for (uint64_t k = 0; k < sh.sh_size / sizeof(Elf64_Sym); ++k) {
      Elf64_Sym sym;
      if (!At(img, sh.sh_offset + k * sizeof(Elf64_Sym), &sym)) break;
      if (sym.st_shndx == SHN_UNDEF || sym.st_name >= strsh.sh_size) continue;
      const uint64_t noff = strsh.sh_offset + sym.st_name;
      if (noff >= img.size()) continue;
      const std::string_view name(img.data() + noff, strnlen(img.data() + noff, img.size() - noff));
      if (want.count(name) == 0) continue;
      out.dynsym[std::string(name)] = {sym.st_value, sym.st_size,
                                       static_cast<uint8_t>(ELF64_ST_TYPE(sym.st_info))};
    }
  }
  return out;
}

std::optional<uint64_t> LoadBias(const ElfImage& elf, const MapsEntry& m) {
  for (const ElfLoad& l : elf.loads) {
    // The kernel maps a segment from its offset rounded down to the page; map offsets are
    // page-aligned, so compare page-rounded offsets (4 KiB pages: the smallest alignment).
    const uint64_t page = 4096;
    const uint64_t seg_off = l.offset & ~(page - 1);
    if (m.offset < seg_off || m.offset >= l.offset + l.filesz) continue;
    const uint64_t vaddr = (l.vaddr & ~(page - 1)) + (m.offset - seg_off);
    return m.start - vaddr;
  }
  return std::nullopt;
}

}  // namespace fraiseql::loader
