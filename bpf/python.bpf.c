// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * CPython context births (attached on demand by Loader::WatchPython, per process).
 *
 * Preferred: fql_py_task_birth, a plain uprobe on the instruction right after the C _asyncio
 * Task initializer's `call PyContext_CopyCurrent@plt` (task_init:
 * `self->task_context = PyContext_CopyCurrent()`). There `ax` holds the new CHILD context and
 * the thread's current context is the PARENT. One trap per Task; asyncio Handles
 * (call_soon/call_later: contextvars.copy_context in the interpreter) never reach it.
 * The bpf cookie is the call site's index: fql_py_site_hits counts hits per site.
 *
 * Fallback (no _asyncio shared object, or no call site found): fql_py_copy_ret, a uretprobe
 * on PyContext_CopyCurrent itself, which sees EVERY context copy (two traps per copy). No
 * entry program: the function tail-jumps in some builds, but a uretprobe hijacks the return
 * address at entry and still sees the final return.
 *
 * Both only emit for tgids configured in fql_py_procs (checked first). Same record either
 * way: FQL_EV_PY_CTX / struct fql_py_ctx_event.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "fraiseql/abi/events.h"
#include "shared.bpf.h"
#include "python.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Read back by the loader to check it was built against the same ABI header. */
const volatile __u32 fql_abi_version = FQL_ABI_VERSION;

#define FQL_PY_MAX_SITES 16

/* Hits per call-site index (the attach cookie of fql_py_task_birth), configured tgids only;
 * summed over every process. Read by PythonProbes::SiteHits (diagnostics and tests). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FQL_PY_MAX_SITES);
	__type(key, __u32);
	__type(value, __u64);
} fql_py_site_hits SEC(".maps");

static __always_inline int fql_py_birth(struct fql_py_proc *cfg, __u64 id, __u64 child)
{
	struct fql_py_ctx_event ev = {};

	fql_count(FQL_CNT_PY_COPY_HITS, 1);
	if (!child)
		return 0; /* the copy failed (MemoryError): nothing was born */
	ev.h.kind = FQL_EV_PY_CTX;
	ev.h.tgid = id >> 32;
	ev.h.tid = (__u32)id;
	ev.h.fd = -1;
	ev.h.ts_ns = bpf_ktime_get_ns();
	ev.parent = fql_py_ctx_cfg(cfg, id);
	ev.child = child;
	if (bpf_ringbuf_output(&fql_events, &ev, sizeof(ev), fql_rb_flags()))
		fql_count(FQL_CNT_RINGBUF_FULL, 1);
	return 0;
}

SEC("uprobe")
int fql_py_task_birth(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct fql_py_proc *cfg = bpf_map_lookup_elem(&fql_py_procs, &tgid);
	__u32 site;
	__u64 *hits;

	if (!cfg)
		return 0;
	site = (__u32)bpf_get_attach_cookie(ctx);
	hits = bpf_map_lookup_elem(&fql_py_site_hits, &site);
	if (hits)
		*hits += 1;
	return fql_py_birth(cfg, id, PT_REGS_RC(ctx));
}

SEC("uretprobe")
int BPF_KRETPROBE(fql_py_copy_ret, void *ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct fql_py_proc *cfg = bpf_map_lookup_elem(&fql_py_procs, &tgid);

	if (!cfg)
		return 0;
	return fql_py_birth(cfg, id, (__u64)ret);
}
