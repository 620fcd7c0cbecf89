/* SPDX-License-Identifier: Apache-2.0 */
/* CPython contexts, shared by capture.bpf.c (py_ctx on data events) and python.bpf.c (the
 * context-birth probes): the per-TGID config userspace writes, a per-thread cache
 * of PyThreadState addresses, and the read of the thread's current PyContext*.
 *
 * _PyRuntime (absolute address) -> interpreters.main -> threads.head -> walk next until the
 * tstate whose native_thread_id (3.11+) or thread_id == pthread_self() (3.9/3.10) is this
 * thread -> context. CPython keeps tstate->context while the GIL is released around a
 * blocking call, so a syscall sees the context of the code that made it (an asyncio task's).
 * Include after vmlinux.h, the libbpf headers, fraiseql/abi/events.h and shared.bpf.h. */
#ifndef FRAISEQL_PYTHON_BPF_H
#define FRAISEQL_PYTHON_BPF_H

/* tgid -> struct fql_py_proc; only tgids userspace configured as Python are present. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct fql_py_proc);
} fql_py_procs SEC(".maps");

/* pid_tgid -> PyThreadState* of that thread (re-validated on every use by re-reading its
 * thread id field, so a freed and reused tstate is never trusted). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} fql_py_tstate SEC(".maps");

/* What the thread id field of this thread's tstate must hold. */
static __always_inline __u64 fql_py_self_id(const struct fql_py_proc *cfg, __u64 pid_tgid)
{
	if (cfg->flags & FQL_PY_F_MATCH_PTHREAD) {
		struct task_struct *task = bpf_get_current_task_btf();

		return BPF_CORE_READ(task, thread.fsbase);
	}
	return (__u32)pid_tgid;
}

/* Returns the current thread's PyThreadState* (0 when not found: counted). */
static __noinline __u64 fql_py_tstate_of(const struct fql_py_proc *cfg, __u64 pid_tgid)
{
	__u64 want = fql_py_self_id(cfg, pid_tgid);
	__u64 *cached = bpf_map_lookup_elem(&fql_py_tstate, &pid_tgid);
	__u64 ts, interp = 0, id = 0;
	int i;

	if (cached) {
		ts = *cached;
		if (!bpf_probe_read_user(&id, sizeof(id), (void *)(ts + cfg->tstate_thread_id)) &&
		    id == want)
			return ts;
		bpf_map_delete_elem(&fql_py_tstate, &pid_tgid);
	}
	if (bpf_probe_read_user(&interp, sizeof(interp),
				(void *)(cfg->runtime_addr + cfg->runtime_interp_main)) ||
	    !interp ||
	    bpf_probe_read_user(&ts, sizeof(ts), (void *)(interp + cfg->interp_threads_head))) {
		fql_count(FQL_CNT_PY_CTX_READ_FAIL, 1);
		return 0;
	}
	for (i = 0; i < FQL_PY_MAX_THREADS; i++) {
		if (!ts)
			break;
		if (bpf_probe_read_user(&id, sizeof(id), (void *)(ts + cfg->tstate_thread_id))) {
			fql_count(FQL_CNT_PY_CTX_READ_FAIL, 1);
			return 0;
		}
		if (id == want) {
			bpf_map_update_elem(&fql_py_tstate, &pid_tgid, &ts, BPF_ANY);
			return ts;
		}
		if (bpf_probe_read_user(&ts, sizeof(ts), (void *)(ts + cfg->tstate_next))) {
			fql_count(FQL_CNT_PY_CTX_READ_FAIL, 1);
			return 0;
		}
	}
	fql_count(FQL_CNT_PY_TSTATE_MISS, 1);
	return 0;
}

/* The PyContext* current on this thread (0: none, or not readable: counted). */
static __always_inline __u64 fql_py_ctx_cfg(const struct fql_py_proc *cfg, __u64 pid_tgid)
{
	__u64 ts = fql_py_tstate_of(cfg, pid_tgid), ctx = 0;

	if (!ts)
		return 0;
	if (bpf_probe_read_user(&ctx, sizeof(ctx), (void *)(ts + cfg->tstate_context))) {
		fql_count(FQL_CNT_PY_CTX_READ_FAIL, 1);
		return 0;
	}
	return ctx;
}

/* One hash lookup (a miss) for processes that are not configured Python targets. */
static __always_inline __u64 fql_py_ctx_now(__u64 pid_tgid)
{
	__u32 tgid = pid_tgid >> 32;
	struct fql_py_proc *cfg = bpf_map_lookup_elem(&fql_py_procs, &tgid);

	return cfg ? fql_py_ctx_cfg(cfg, pid_tgid) : 0;
}

#endif /* FRAISEQL_PYTHON_BPF_H */
