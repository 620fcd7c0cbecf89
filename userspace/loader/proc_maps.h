// /proc/PID/maps and ELF helpers shared by the uprobe attachers (libpq_probes, python_probes):
// parsing maps lines, resolving a mapped file to something libbpf can open (and to its
// (dev, inode) identity, the unit uprobes attach to), reading dynamic symbols and program
// headers of an ELF file. Pure except ResolveMappedFile/ReadWholeFile (file system).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace fraiseql::loader {

// One /proc/PID/maps line that maps a file (path starts with '/').
struct MapsEntry {
  uint64_t start = 0, end = 0;  // addresses
  uint64_t offset = 0;          // file offset of start
  std::string perms;            // "r-xp"
  uint64_t inode = 0;
  std::string path;             // without " (deleted)"
  std::string range;            // "start-end" as printed (for /proc/PID/map_files/<range>)
  bool deleted = false;
};
std::vector<MapsEntry> ParseMaps(std::string_view maps);

// A mapped file as libbpf can open it from here: /proc/PID/root<path> when that is still the
// mapped inode, else /proc/PID/map_files/<range> (deleted or replaced since it was mapped).
struct ResolvedFile {
  std::string attach_path;
  uint64_t dev = 0, ino = 0;
};
StatusOr<ResolvedFile> ResolveMappedFile(uint32_t tgid, const std::string& path,
                                         const std::string& range, uint64_t inode, bool deleted);

// Whole file into memory (false on error, errno set).
bool ReadWholeFile(const std::string& path, std::string* out);

struct ElfSymbol {
  uint64_t value = 0;  // st_value (virtual address in the file's own layout)
  uint64_t size = 0;
  uint8_t type = 0;    // STT_*
};
struct ElfLoad {
  uint64_t vaddr = 0, offset = 0, filesz = 0, memsz = 0, align = 0;
};
struct ElfImage {
  uint16_t type = 0;                        // ET_EXEC / ET_DYN
  std::vector<ElfLoad> loads;               // PT_LOAD segments
  std::map<std::string, ElfSymbol> dynsym;  // defined dynamic symbols asked for
  // File offset of a virtual address (in the file's layout), if inside a segment's file bytes.
  std::optional<uint64_t> FileOffset(uint64_t vaddr) const;
};
// Parses a 64-bit little-endian ELF image; `wanted` limits the symbols kept (empty: none).
StatusOr<ElfImage> ParseElf(std::string_view img, const std::vector<std::string>& wanted);

// Load bias (runtime address - ELF vaddr) of an object from one of its mappings: the
// segment holding the mapping's file offset gives vaddr(offset). 0 for non-PIE executables.
std::optional<uint64_t> LoadBias(const ElfImage& elf, const MapsEntry& mapping);

// ---- code scanning (python_probes: the _asyncio Task birth site) -------------------------

struct ElfSection {
  std::string name;
  uint32_t type = 0;
  uint64_t flags = 0, addr = 0, offset = 0, size = 0, entsize = 0;
  uint32_t link = 0;
};
// Section headers with their names (empty when the image has none).
std::vector<ElfSection> ElfSections(std::string_view img);

// A call to an imported function: `call rel32` to its PLT stub (.plt / .plt.sec: the stub
// whose `jmp *GOT(%rip)` reads the symbol's JUMP_SLOT), or `call *GOT(%rip)` (-fno-plt,
// GLOB_DAT slot). Found by byte pattern in executable sections (x86-64 only).
struct ImportCall {
  uint64_t call_vaddr = 0;    // the call instruction
  uint64_t return_vaddr = 0;  // the instruction after it (where the result is in rax)
  bool indirect = false;      // `call *GOT(%rip)` (-fno-plt)
};
struct ImportCalls {
  uint64_t got_slot = 0;      // 0: the image does not import `symbol` through a GOT slot
  uint64_t plt_stub = 0;      // 0: no PLT stub (only -fno-plt calls possible)
  std::vector<ImportCall> calls;
  size_t tail_jumps = 0;      // `jmp rel32` to the stub: no return point, not reported
};
StatusOr<ImportCalls> FindImportCalls(std::string_view img, std::string_view symbol);

// Start addresses of the functions described by .eh_frame_hdr's search table (sorted;
// empty when there is no table in a supported encoding). Covers stripped objects.
std::vector<uint64_t> EhFrameFunctionStarts(std::string_view img);

// R_X86_64_RELATIVE relocations of .rela.dyn: r_offset -> r_addend (pointers in data that
// the dynamic loader fixes up: how a shared object's method tables point at names/code).
std::map<uint64_t, uint64_t> RelativeRelocations(std::string_view img);

// Virtual addresses of every occurrence of the NUL-terminated string `s` in allocated
// non-executable sections (a string may be the tail of a longer one).
std::vector<uint64_t> FindCString(std::string_view img, std::string_view s);

}  // namespace fraiseql::loader
