// Support checks ("doctor"): what this host needs to run the collector, each with a
// detail a user can act on. Hard requirements are checked before the skeleton is opened.
#pragma once

#include <string>
#include <vector>

#include "common/status.h"

namespace fraiseql::loader {

struct Check {
  std::string name;
  bool ok = false;
  bool required = true;
  std::string detail;
};

// What the checks are decided from: probed features, never version numbers.
struct HostFacts {
  std::string kernel_release;        // uname -r (information only); "" if uname failed
  bool btf = false;                  // /sys/kernel/btf/vmlinux exists
  std::string tracefs_root;          // the mounted tracefs, "" when none
  std::string tracefs_error;         // why tracefs could not be mounted
  int ringbuf_probe = 0;             // libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF): 1 = yes
  int tracepoint_prog_probe = 0;     // libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACEPOINT)
  bool syscall_tracepoints = false;  // events/syscalls/sys_enter_read
  bool sched_tracepoints = false;    // events/sched/sched_process_fork
  bool uprobe_pmu = false;           // /sys/bus/event_source/devices/uprobe/type
  bool kprobes = false;              // optional: kprobe PMU or kprobe_events
};

// Probes this host (mounting tracefs first if needed).
HostFacts ProbeHost();
// Effective capabilities of this process (root, or CAP_BPF+CAP_PERFMON, or CAP_SYS_ADMIN).
Check CapsCheck();
// The checklist decided from `facts` alone (pure: unit-testable with any facts).
std::vector<Check> EvaluateChecks(const HostFacts& facts, const Check& caps);
// Runs every check (mounting tracefs first if needed).
std::vector<Check> RunDoctorChecks();
// Mounts tracefs at /sys/kernel/tracing unless a tracefs is already reachable.
Status EnsureTracefs();
// The first failing required check, as one actionable line; Ok if all pass.
Status CheckRequirements();

}  // namespace fraiseql::loader
