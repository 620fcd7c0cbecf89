#include "loader/uprobe_manager.h"

#include <cstring>

#include <spdlog/spdlog.h>

namespace fraiseql::loader {

bpf_link* AttachUprobe(const UprobeSpec& spec, uint32_t tgid, UprobeScope scope,
                       bool* per_pid) {
  LIBBPF_OPTS(bpf_uprobe_opts, opts);
  opts.func_name = spec.func_name;
  opts.retprobe = spec.retprobe;
  opts.bpf_cookie = spec.cookie;
  bool ignored = false;
  if (per_pid == nullptr) per_pid = &ignored;
  if (scope == UprobeScope::kPerFile) {
    *per_pid = false;
    return bpf_program__attach_uprobe_opts(spec.prog, -1, spec.path.c_str(), spec.offset, &opts);
  }
  bpf_link* l = bpf_program__attach_uprobe_opts(spec.prog, static_cast<int>(tgid),
                                                spec.path.c_str(), spec.offset, &opts);
  if (l != nullptr) {
    *per_pid = true;
    return l;
  }
  const int err = errno;
  l = bpf_program__attach_uprobe_opts(spec.prog, -1, spec.path.c_str(), spec.offset, &opts);
  if (l != nullptr) {
    spdlog::warn("uprobe: per-process uprobe refused for {} ({}): attached per file", tgid,
                 std::strerror(err));
    *per_pid = false;
  } else {
    errno = err;
  }
  return l;
}

std::vector<std::pair<std::string, int>> ProgramsOf(const bpf_object* obj) {
  std::vector<std::pair<std::string, int>> out;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, obj) {
    out.emplace_back(bpf_program__name(prog), bpf_program__fd(prog));
  }
  return out;
}

}  // namespace fraiseql::loader
