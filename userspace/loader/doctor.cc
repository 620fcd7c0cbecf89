#include "loader/doctor.h"

#include <bpf/libbpf.h>
#include <linux/capability.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace fraiseql::loader {
namespace {

constexpr const char* kTracefs = "/sys/kernel/tracing";
constexpr const char* kDebugfsTracing = "/sys/kernel/debug/tracing";
constexpr long kTracefsMagic = 0x74726163;  // TRACEFS_MAGIC

bool Exists(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

bool IsTracefs(const char* path) {
  struct statfs sfs {};
  return statfs(path, &sfs) == 0 && static_cast<long>(sfs.f_type) == kTracefsMagic;
}

// The tracefs root in use, or "" when none is mounted.
std::string TracefsRoot() {
  if (IsTracefs(kTracefs)) return kTracefs;
  if (IsTracefs(kDebugfsTracing)) return kDebugfsTracing;
  return "";
}

Check CapsCheck() {
  Check c{"capabilities", false, true, ""};
  __user_cap_header_struct hdr{};
  hdr.version = _LINUX_CAPABILITY_VERSION_3;
  hdr.pid = 0;
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &hdr, data) != 0) {
    c.detail = std::string("capget failed: ") + std::strerror(errno);
    return c;
  }
  auto has = [&](int cap) { return (data[cap / 32].effective >> (cap % 32)) & 1u; };
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
  const bool sys_admin = has(CAP_SYS_ADMIN);
  const bool bpf = has(CAP_BPF);
  const bool perfmon = has(CAP_PERFMON);
  c.ok = sys_admin || (bpf && perfmon);
  c.detail = std::string("euid=") + std::to_string(geteuid()) +
             " CAP_SYS_ADMIN=" + (sys_admin ? "yes" : "no") + " CAP_BPF=" + (bpf ? "yes" : "no") +
             " CAP_PERFMON=" + (perfmon ? "yes" : "no");
  if (!c.ok) {
    c.detail = "missing capabilities (" + c.detail +
               "): run as root or grant CAP_BPF+CAP_PERFMON (or CAP_SYS_ADMIN)";
  }
  return c;
}

Check KernelCheck() {
  Check c{"kernel >= 5.8", false, true, ""};
  struct utsname u {};
  if (uname(&u) != 0) {
    c.detail = std::string("uname failed: ") + std::strerror(errno);
    return c;
  }
  int major = 0, minor = 0;
  std::sscanf(u.release, "%d.%d", &major, &minor);
  c.ok = major > 5 || (major == 5 && minor >= 8);
  c.detail = std::string("running ") + u.release;
  if (!c.ok) c.detail += ": ring buffers and CAP_BPF need Linux 5.8 or newer";
  return c;
}

Check BtfCheck() {
  Check c{"kernel BTF", Exists("/sys/kernel/btf/vmlinux"), true, ""};
  c.detail = c.ok ? "/sys/kernel/btf/vmlinux present"
                  : "BTF not found at /sys/kernel/btf/vmlinux: the kernel needs "
                    "CONFIG_DEBUG_INFO_BTF=y";
  return c;
}

Check TracefsCheck() {
  Check c{"tracefs", false, true, ""};
  Status s = EnsureTracefs();
  c.ok = s.ok();
  c.detail = c.ok ? "mounted at " + TracefsRoot() : s.message();
  return c;
}

Check MapTypeCheck() {
  Check c{"ring buffer map", false, true, ""};
  int r = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr);
  c.ok = r == 1;
  c.detail = c.ok ? "BPF_MAP_TYPE_RINGBUF supported"
                  : "BPF_MAP_TYPE_RINGBUF not supported (probe returned " + std::to_string(r) +
                        "): needs Linux 5.8+ and root/CAP_BPF";
  return c;
}

Check ProgTypeCheck() {
  Check c{"tracepoint programs", false, true, ""};
  int r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACEPOINT, nullptr);
  c.ok = r == 1;
  c.detail = c.ok ? "BPF_PROG_TYPE_TRACEPOINT supported"
                  : "BPF_PROG_TYPE_TRACEPOINT not supported (probe returned " +
                        std::to_string(r) + "): the kernel needs CONFIG_BPF_EVENTS=y";
  return c;
}

Check TracepointCheck(const std::string& name, const std::string& rel, const std::string& need) {
  Check c{name, false, true, ""};
  const std::string root = TracefsRoot();
  if (root.empty()) {
    c.detail = "tracefs not mounted: mount -t tracefs nodev /sys/kernel/tracing";
    return c;
  }
  const std::string path = root + "/events/" + rel;
  c.ok = Exists(path);
  c.detail = c.ok ? path + " present" : path + " missing: the kernel needs " + need;
  return c;
}

Check UprobeCheck() {
  Check c{"uprobes", Exists("/sys/bus/event_source/devices/uprobe/type"), true, ""};
  c.detail = c.ok ? "uprobe PMU present"
                  : "uprobe PMU missing (/sys/bus/event_source/devices/uprobe/type): the kernel "
                    "needs CONFIG_UPROBE_EVENTS=y";
  return c;
}

Check KprobeCheck() {
  const std::string root = TracefsRoot();
  Check c{"kprobes (optional)", false, false, ""};
  c.ok = Exists("/sys/bus/event_source/devices/kprobe/type") ||
         (!root.empty() && Exists(root + "/kprobe_events"));
  c.detail = c.ok ? "kprobes available"
                  : "kprobes unavailable (CONFIG_KPROBES off): syscall tracepoints are used";
  return c;
}

}  // namespace

Status EnsureTracefs() {
  if (!TracefsRoot().empty()) return Status::Ok();
  if (mount("nodev", kTracefs, "tracefs", 0, nullptr) != 0) {
    return Status::Errno(
        std::string("tracefs is not mounted and mounting it at ") + kTracefs +
            " failed (run as root or `mount -t tracefs nodev /sys/kernel/tracing`)",
        errno);
  }
  if (!IsTracefs(kTracefs)) {
    return Status::Error(std::string("mounted tracefs at ") + kTracefs +
                         " but it does not look like tracefs");
  }
  return Status::Ok();
}

std::vector<Check> RunDoctorChecks() {
  std::vector<Check> checks;
  checks.push_back(CapsCheck());
  checks.push_back(KernelCheck());
  checks.push_back(BtfCheck());
  checks.push_back(TracefsCheck());
  checks.push_back(MapTypeCheck());
  checks.push_back(ProgTypeCheck());
  checks.push_back(TracepointCheck("syscall tracepoints", "syscalls/sys_enter_read",
                                   "CONFIG_FTRACE_SYSCALLS=y"));
  checks.push_back(TracepointCheck("sched tracepoints", "sched/sched_process_fork",
                                   "sched tracepoints (CONFIG_TRACEPOINTS=y)"));
  checks.push_back(UprobeCheck());
  checks.push_back(KprobeCheck());
  return checks;
}

Status CheckRequirements() {
  for (const Check& c : RunDoctorChecks()) {
    if (c.required && !c.ok) return Status::Error(c.name + ": " + c.detail);
  }
  return Status::Ok();
}

}  // namespace fraiseql::loader
