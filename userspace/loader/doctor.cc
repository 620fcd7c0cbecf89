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
#include <cstring>
#include <string>

namespace fraiseql::loader {
namespace {

constexpr const char* kTracefs = "/sys/kernel/tracing";
constexpr const char* kDebugfsTracing = "/sys/kernel/debug/tracing";
constexpr long kTracefsMagic = 0x74726163;  // TRACEFS_MAGIC
constexpr const char* kSyscallTracepoint = "syscalls/sys_enter_read";
constexpr const char* kSchedTracepoint = "sched/sched_process_fork";

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

}  // namespace

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

namespace {

// Information only: features are probed (ring buffer, program type, BTF, tracepoints,
// uprobes), never inferred from the version, since distribution kernels (RHEL) backport
// ring buffers and BTF to older version numbers.
Check KernelCheck(const HostFacts& f) {
  Check c{"kernel version", true, false, ""};
  c.detail = f.kernel_release.empty()
                 ? std::string("uname failed")
                 : "running " + f.kernel_release + " (information only: features are probed)";
  return c;
}

Check BtfCheck(const HostFacts& f) {
  Check c{"kernel BTF", f.btf, true, ""};
  c.detail = c.ok ? "/sys/kernel/btf/vmlinux present"
                  : "BTF not found at /sys/kernel/btf/vmlinux: the kernel needs "
                    "CONFIG_DEBUG_INFO_BTF=y";
  return c;
}

Check TracefsCheck(const HostFacts& f) {
  Check c{"tracefs", !f.tracefs_root.empty(), true, ""};
  c.detail = c.ok ? "mounted at " + f.tracefs_root : f.tracefs_error;
  if (!c.ok && c.detail.empty()) c.detail = "tracefs not mounted";
  return c;
}

Check MapTypeCheck(const HostFacts& f) {
  Check c{"ring buffer map", f.ringbuf_probe == 1, true, ""};
  c.detail = c.ok ? "BPF_MAP_TYPE_RINGBUF supported"
                  : "BPF_MAP_TYPE_RINGBUF not supported (probe returned " +
                        std::to_string(f.ringbuf_probe) +
                        "): the kernel lacks BPF ring buffers (mainline 5.8, or a "
                        "distribution backport) or this process lacks root/CAP_BPF";
  return c;
}

Check ProgTypeCheck(const HostFacts& f) {
  Check c{"tracepoint programs", f.tracepoint_prog_probe == 1, true, ""};
  c.detail = c.ok ? "BPF_PROG_TYPE_TRACEPOINT supported"
                  : "BPF_PROG_TYPE_TRACEPOINT not supported (probe returned " +
                        std::to_string(f.tracepoint_prog_probe) +
                        "): the kernel needs CONFIG_BPF_EVENTS=y";
  return c;
}

Check TracepointCheck(const HostFacts& f, const std::string& name, const std::string& rel,
                      bool present, const std::string& need) {
  Check c{name, false, true, ""};
  if (f.tracefs_root.empty()) {
    c.detail = "tracefs not mounted: mount -t tracefs nodev /sys/kernel/tracing";
    return c;
  }
  const std::string path = f.tracefs_root + "/events/" + rel;
  c.ok = present;
  c.detail = c.ok ? path + " present" : path + " missing: the kernel needs " + need;
  return c;
}

Check UprobeCheck(const HostFacts& f) {
  Check c{"uprobes", f.uprobe_pmu, true, ""};
  c.detail = c.ok ? "uprobe PMU present"
                  : "uprobe PMU missing "
                    "(/sys/bus/event_source/devices/uprobe/type): the kernel "
                    "needs CONFIG_UPROBE_EVENTS=y";
  return c;
}

Check KprobeCheck(const HostFacts& f) {
  Check c{"kprobes (optional)", f.kprobes, false, ""};
  c.detail = c.ok ? "kprobes available"
                  : "kprobes unavailable (CONFIG_KPROBES off): syscall "
                    "tracepoints are used";
  return c;
}

}  // namespace

Status EnsureTracefs() {
  if (!TracefsRoot().empty()) return Status::Ok();
  if (mount("nodev", kTracefs, "tracefs", 0, nullptr) != 0) {
    return Status::Errno(std::string("tracefs is not mounted and mounting it at ") + kTracefs +
                             " failed (run as root or `mount -t tracefs nodev "
                             "/sys/kernel/tracing`)",
                         errno);
  }
  if (!IsTracefs(kTracefs)) {
    return Status::Error(std::string("mounted tracefs at ") + kTracefs +
                         " but it does not look like tracefs");
  }
  return Status::Ok();
}

HostFacts ProbeHost() {
  HostFacts f;
  struct utsname u {};
  if (uname(&u) == 0) f.kernel_release = u.release;
  f.btf = Exists("/sys/kernel/btf/vmlinux");
  if (Status s = EnsureTracefs(); !s.ok()) f.tracefs_error = s.message();
  f.tracefs_root = TracefsRoot();
  f.ringbuf_probe = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr);
  f.tracepoint_prog_probe = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACEPOINT, nullptr);
  if (!f.tracefs_root.empty()) {
    f.syscall_tracepoints = Exists(f.tracefs_root + "/events/" + kSyscallTracepoint);
    f.sched_tracepoints = Exists(f.tracefs_root + "/events/" + kSchedTracepoint);
  }
  f.uprobe_pmu = Exists("/sys/bus/event_source/devices/uprobe/type");
  f.kprobes = Exists("/sys/bus/event_source/devices/kprobe/type") ||
              (!f.tracefs_root.empty() && Exists(f.tracefs_root + "/kprobe_events"));
  return f;
}

std::vector<Check> EvaluateChecks(const HostFacts& f, const Check& caps) {
  std::vector<Check> checks;
  checks.push_back(caps);
  checks.push_back(KernelCheck(f));
  checks.push_back(BtfCheck(f));
  checks.push_back(TracefsCheck(f));
  checks.push_back(MapTypeCheck(f));
  checks.push_back(ProgTypeCheck(f));
  checks.push_back(TracepointCheck(f, "syscall tracepoints", kSyscallTracepoint,
                                   f.syscall_tracepoints, "CONFIG_FTRACE_SYSCALLS=y"));
  checks.push_back(TracepointCheck(f, "sched tracepoints", kSchedTracepoint, f.sched_tracepoints,
                                   "sched tracepoints (CONFIG_TRACEPOINTS=y)"));
  checks.push_back(UprobeCheck(f));
  checks.push_back(KprobeCheck(f));
  return checks;
}

std::vector<Check> RunDoctorChecks() { return EvaluateChecks(ProbeHost(), CapsCheck()); }

Status CheckRequirements() {
  for (const Check& c : RunDoctorChecks()) {
    if (c.required && !c.ok) return Status::Error(c.name + ": " + c.detail);
  }
  return Status::Ok();
}

}  // namespace fraiseql::loader
