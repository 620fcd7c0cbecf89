#include "loader/libpq_elf.h"

#include <elf.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <utility>

#include "loader/proc_maps.h"

namespace fraiseql::loader {

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

}  // namespace fraiseql::loader
