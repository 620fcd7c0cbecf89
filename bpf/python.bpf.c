// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * CPython context births: one uretprobe on PyContext_CopyCurrent (attached on demand by
 * Loader::WatchPython, once per file exporting it). The C _asyncio Task, asyncio Handles
 * (contextvars.copy_context) and C Future callbacks all create their context with it. At
 * its return the thread's current context is the parent and the return value the child:
 * one FQL_EV_PY_CTX record. No entry probe: the function tail-jumps in some builds, but a
 * uretprobe hijacks the return address at entry and still sees the final return.
 *
 * The probe fires in every process mapping the file; only tgids configured in
 * fql_py_procs emit anything (checked first).
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

SEC("uretprobe")
int BPF_KRETPROBE(fql_py_copy_ret, void *ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct fql_py_proc *cfg = bpf_map_lookup_elem(&fql_py_procs, &tgid);
	struct fql_py_ctx_event ev = {};

	if (!cfg)
		return 0;
	fql_count(FQL_CNT_PY_COPY_HITS, 1);
	if (!ret)
		return 0; /* the copy failed (MemoryError): nothing was born */
	ev.h.kind = FQL_EV_PY_CTX;
	ev.h.tgid = tgid;
	ev.h.tid = (__u32)id;
	ev.h.fd = -1;
	ev.h.ts_ns = bpf_ktime_get_ns();
	ev.parent = fql_py_ctx_cfg(cfg, id);
	ev.child = (__u64)ret;
	if (bpf_ringbuf_output(&fql_events, &ev, sizeof(ev), fql_rb_flags()))
		fql_count(FQL_CNT_RINGBUF_FULL, 1);
	return 0;
}
