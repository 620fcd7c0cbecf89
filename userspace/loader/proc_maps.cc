#include "loader/proc_maps.h"

#include <elf.h>
#include <sys/stat.h>

#include <algorithm>
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

// ---- code scanning -----------------------------------------------------------------------

std::vector<ElfSection> ElfSections(std::string_view img) {
  std::vector<ElfSection> out;
  Elf64_Ehdr eh;
  if (!At(img, 0, &eh) || std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
      eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_shentsize != sizeof(Elf64_Shdr)) {
    return out;
  }
  Elf64_Shdr names{};
  const bool have_names =
      At(img, eh.e_shoff + uint64_t{eh.e_shstrndx} * sizeof(Elf64_Shdr), &names);
  for (uint16_t i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr sh;
    if (!At(img, eh.e_shoff + uint64_t{i} * sizeof(Elf64_Shdr), &sh)) break;
    ElfSection s;
    if (have_names && sh.sh_name < names.sh_size) {
      const uint64_t off = names.sh_offset + sh.sh_name;
      if (off < img.size()) s.name.assign(img.data() + off, strnlen(img.data() + off, img.size() - off));
    }
    s.type = sh.sh_type;
    s.flags = sh.sh_flags;
    s.addr = sh.sh_addr;
    s.offset = sh.sh_offset;
    s.size = sh.sh_size;
    s.entsize = sh.sh_entsize;
    s.link = sh.sh_link;
    out.push_back(std::move(s));
  }
  return out;
}

namespace {

// The bytes of a section present in the file (empty for NOBITS or out of range).
std::string_view SectionBytes(std::string_view img, const ElfSection& s) {
  if (s.type == SHT_NOBITS || s.offset > img.size() || img.size() - s.offset < s.size) return {};
  return img.substr(s.offset, s.size);
}

int32_t Rel32(std::string_view b, size_t i) {
  int32_t v;
  std::memcpy(&v, b.data() + i, 4);
  return v;
}

}  // namespace

StatusOr<ImportCalls> FindImportCalls(std::string_view img, std::string_view symbol) {
  const std::vector<ElfSection> secs = ElfSections(img);
  if (secs.empty()) return Status::Error("no section headers");
  ImportCalls out;
  // GOT slot: the JUMP_SLOT (lazy/now PLT) or GLOB_DAT (-fno-plt) relocation of `symbol`.
  for (const ElfSection& r : secs) {
    if (r.type != SHT_RELA || r.entsize != sizeof(Elf64_Rela) || r.link >= secs.size()) continue;
    const ElfSection& symtab = secs[r.link];
    if (symtab.type != SHT_DYNSYM || symtab.link >= secs.size()) continue;
    const ElfSection& strtab = secs[symtab.link];
    const std::string_view rb = SectionBytes(img, r);
    for (size_t k = 0; k + sizeof(Elf64_Rela) <= rb.size(); k += sizeof(Elf64_Rela)) {
      Elf64_Rela rel;
      std::memcpy(&rel, rb.data() + k, sizeof(rel));
      const uint32_t type = ELF64_R_TYPE(rel.r_info);
      if (type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) continue;
      Elf64_Sym sym;
      if (!At(img, symtab.offset + uint64_t{ELF64_R_SYM(rel.r_info)} * sizeof(Elf64_Sym), &sym) ||
          sym.st_name >= strtab.size) {
        continue;
      }
      const uint64_t noff = strtab.offset + sym.st_name;
      if (noff >= img.size()) continue;
      const std::string_view name(img.data() + noff, strnlen(img.data() + noff, img.size() - noff));
      if (name != symbol) continue;
      if (type == R_X86_64_JUMP_SLOT || out.got_slot == 0) out.got_slot = rel.r_offset;
    }
  }
  if (out.got_slot == 0) return out;
  // PLT stub: the 16-byte entry of .plt/.plt.sec holding `[bnd] jmp *disp32(%rip)` -> slot.
  for (const ElfSection& s : secs) {
    if (s.name != ".plt" && s.name != ".plt.sec") continue;
    const std::string_view b = SectionBytes(img, s);
    for (size_t i = 0; i + 6 <= b.size(); ++i) {
      if (static_cast<uint8_t>(b[i]) != 0xff || static_cast<uint8_t>(b[i + 1]) != 0x25) continue;
      if (s.addr + i + 6 + static_cast<int64_t>(Rel32(b, i + 2)) == out.got_slot) {
        out.plt_stub = s.addr + (i & ~size_t{15});
        break;
      }
    }
    if (out.plt_stub) break;
  }
  for (const ElfSection& s : secs) {
    if (!(s.flags & SHF_EXECINSTR) || s.name.rfind(".plt", 0) == 0) continue;
    const std::string_view b = SectionBytes(img, s);
    for (size_t i = 0; i + 5 <= b.size(); ++i) {
      const uint8_t op = static_cast<uint8_t>(b[i]);
      if ((op == 0xe8 || op == 0xe9) && out.plt_stub != 0 &&
          s.addr + i + 5 + static_cast<int64_t>(Rel32(b, i + 1)) == out.plt_stub) {
        if (op == 0xe9) {
          ++out.tail_jumps;
        } else {
          out.calls.push_back({s.addr + i, s.addr + i + 5, false});
        }
      } else if (op == 0xff && i + 6 <= b.size() && static_cast<uint8_t>(b[i + 1]) == 0x15 &&
                 s.addr + i + 6 + static_cast<int64_t>(Rel32(b, i + 2)) == out.got_slot) {
        out.calls.push_back({s.addr + i, s.addr + i + 6, true});
      }
    }
  }
  return out;
}

std::vector<uint64_t> EhFrameFunctionStarts(std::string_view img) {
  std::vector<uint64_t> out;
  for (const ElfSection& s : ElfSections(img)) {
    if (s.name != ".eh_frame_hdr") continue;
    const std::string_view b = SectionBytes(img, s);
    // version 1; eh_frame_ptr 4 bytes (udata4/sdata4, any application); fde_count udata4;
    // table of (initial_loc, fde) pairs, datarel sdata4 (0x3b): what GNU ld/gold/lld emit.
    if (b.size() < 12 || b[0] != 1 || (b[1] & 0x0f) != 0x0b || (b[2] & 0xff) != 0x03 ||
        static_cast<uint8_t>(b[3]) != 0x3b) {
      return out;
    }
    uint32_t count;
    std::memcpy(&count, b.data() + 8, 4);
    if (b.size() < 12 + uint64_t{count} * 8) return out;
    for (uint32_t k = 0; k < count; ++k) {
      out.push_back(s.addr + static_cast<int64_t>(Rel32(b, 12 + size_t{k} * 8)));
    }
    std::sort(out.begin(), out.end());
    return out;
  }
  return out;
}

std::map<uint64_t, uint64_t> RelativeRelocations(std::string_view img) {
  std::map<uint64_t, uint64_t> out;
  for (const ElfSection& r : ElfSections(img)) {
    if (r.type != SHT_RELA || r.entsize != sizeof(Elf64_Rela)) continue;
    const std::string_view rb = SectionBytes(img, r);
    for (size_t k = 0; k + sizeof(Elf64_Rela) <= rb.size(); k += sizeof(Elf64_Rela)) {
      Elf64_Rela rel;
      std::memcpy(&rel, rb.data() + k, sizeof(rel));
      if (ELF64_R_TYPE(rel.r_info) == R_X86_64_RELATIVE) {
        out[rel.r_offset] = static_cast<uint64_t>(rel.r_addend);
      }
    }
  }
  return out;
}

std::vector<uint64_t> FindCString(std::string_view img, std::string_view str) {
  std::vector<uint64_t> out;
  std::string needle(str);
  needle.push_back('\0');
  for (const ElfSection& s : ElfSections(img)) {
    if (s.type != SHT_PROGBITS || !(s.flags & SHF_ALLOC) || (s.flags & SHF_EXECINSTR)) continue;
    const std::string_view b = SectionBytes(img, s);
    for (size_t pos = b.find(needle); pos != std::string_view::npos; pos = b.find(needle, pos + 1)) {
      out.push_back(s.addr + pos);
    }
  }
  return out;
}

}  // namespace fraiseql::loader
