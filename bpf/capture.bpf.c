// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * Socket capture over syscall tracepoints (no kprobes, no fentry): accept/connect/close
 * track TCP sockets per (tgid, fd); read/write/readv/writev/recvfrom/sendto/recvmsg/sendmsg
 * stream their bytes with per-direction positions; sched tracepoints follow forks, execs
 * and exits. Records are the structs of include/fraiseql/abi/events.h.
 *
 * Every program first checks that the current tgid is watched (fql_watched), except
 * sched_process_exec which reports every exec (rare) so userspace can pick up targets.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "fraiseql/abi/events.h"
#include "sock.bpf.h"
#include "task.bpf.h"
#include "shared.bpf.h"
#include "python.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Configured by the loader before load. */
const volatile __u32 capture_cap = FQL_DEFAULT_CAPTURE_CAP;
/* Read back by the loader to check it was built against the same ABI header. */
const volatile __u32 fql_abi_version = FQL_ABI_VERSION;

#define FQL_MAX_CAPTURE (FQL_MAX_CHUNK * FQL_MAX_CHUNKS_PER_SYSCALL)

struct fql_conn_key {
	__u32 tgid;
	__s32 fd;
};

struct fql_conn_info {
	__u64 gen;
	__u64 pos_in;
	__u64 pos_out;
	__u16 role;
	__u8 is_sock;
	__u8 _pad[5];
};

/* What a data syscall's enter saves for its exit. */
struct fql_args {
	__u64 ptr;    /* buffer, or iovec array when is_iov */
	__s32 fd;
	__u32 iovcnt;
	__u16 syscall; /* enum fql_syscall */
	__u8 is_iov;
	__u8 _pad[5];
};

struct fql_scratch {
	struct fql_data_event ev;
	__u8 data[FQL_MAX_CHUNK];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct fql_conn_key);
	__type(value, struct fql_conn_info);
} fql_conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct fql_args);
} fql_args SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fql_scratch);
} fql_scratch SEC(".maps");

/* Connection generation: unique per tracked socket for the life of the loaded object. */
__u64 fql_gen_counter = 0;

/* ---- small helpers ------------------------------------------------------------------ */


static __always_inline void fql_fill_header(struct fql_event_header *h, __u32 kind, __s32 fd,
					    __u64 gen)
{
	__u64 id = bpf_get_current_pid_tgid();

	h->kind = kind;
	h->tgid = id >> 32;
	h->tid = (__u32)id;
	h->fd = fd;
	h->gen = gen;
	h->ts_ns = bpf_ktime_get_ns();
}

static __always_inline void fql_output(void *ev, __u64 size)
{
	if (bpf_ringbuf_output(&fql_events, ev, size, fql_rb_flags()))
		fql_count(FQL_CNT_RINGBUF_FULL, 1);
}

/* ---- connections -------------------------------------------------------------------- */

static __noinline void fql_emit_conn(__u32 kind, __s32 fd, struct fql_conn_info *ci,
				     struct fql_tuple *t, __u32 flags)
{
	struct fql_conn_event ev = {};

	fql_fill_header(&ev.h, kind, fd, ci->gen);
	ev.role = ci->role;
	ev.flags = flags;
	if (t) {
		ev.family = t->family;
		ev.lport = t->lport;
		ev.rport = t->rport;
		__builtin_memcpy(ev.laddr, t->laddr, sizeof(ev.laddr));
		__builtin_memcpy(ev.raddr, t->raddr, sizeof(ev.raddr));
	}
	if (kind == FQL_EV_CONN_CLOSE) {
		ev.bytes_in = ci->pos_in;
		ev.bytes_out = ci->pos_out;
	}
	fql_output(&ev, sizeof(ev));
}

/* A socket entry being replaced (fd reused without a close we saw) is closed first. */
static __always_inline void fql_close_stale(struct fql_conn_key *key)
{
	struct fql_conn_info *old = bpf_map_lookup_elem(&fql_conns, key);

	if (old && old->is_sock)
		fql_emit_conn(FQL_EV_CONN_CLOSE, key->fd, old, NULL, 0);
}

/* Walks fd and records it: TCP -> tracked conn with a new generation and a CONN_OPEN
 * event; anything else -> is_sock=0 entry so later syscalls cost one lookup.
 * Returns the entry (NULL when the table is full). */
static __noinline struct fql_conn_info *fql_track_fd(__s32 fd, __u16 role, __u32 flags)
{
	struct fql_conn_key key = { .tgid = bpf_get_current_pid_tgid() >> 32, .fd = fd };
	struct fql_conn_info ci = {};
	struct fql_tuple t = {};

	if (fql_fd_tcp_tuple(fd, &t)) {
		ci.gen = __sync_fetch_and_add(&fql_gen_counter, 1) + 1;
		ci.role = role;
		ci.is_sock = 1;
	}
	if (role != FQL_ROLE_UNKNOWN)
		fql_close_stale(&key);
	if (bpf_map_update_elem(&fql_conns, &key, &ci, BPF_ANY)) {
		fql_count(FQL_CNT_CONN_TABLE_FULL, 1);
		return NULL;
	}
	if (ci.is_sock)
		fql_emit_conn(FQL_EV_CONN_OPEN, fd, &ci, &t, flags);
	return bpf_map_lookup_elem(&fql_conns, &key);
}

static __always_inline struct fql_conn_info *fql_lookup_conn(__s32 fd)
{
	struct fql_conn_key key = { .tgid = bpf_get_current_pid_tgid() >> 32, .fd = fd };

	return bpf_map_lookup_elem(&fql_conns, &key);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int fql_exit_accept(struct trace_event_raw_sys_exit *ctx)
{
	if (!fql_watched_now())
		return 0;
	if (ctx->ret >= 0)
		fql_track_fd((__s32)ctx->ret, FQL_ROLE_SERVER, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int fql_exit_accept4(struct trace_event_raw_sys_exit *ctx)
{
	if (!fql_watched_now())
		return 0;
	if (ctx->ret >= 0)
		fql_track_fd((__s32)ctx->ret, FQL_ROLE_SERVER, 0);
	return 0;
}

static __always_inline void fql_save_args(__s32 fd, __u64 ptr, __u32 iovcnt, __u16 sys,
					  __u8 is_iov)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fql_args a = {
		.ptr = ptr, .fd = fd, .iovcnt = iovcnt, .syscall = sys, .is_iov = is_iov,
	};

	if (bpf_map_update_elem(&fql_args, &id, &a, BPF_ANY))
		fql_count(FQL_CNT_ARGS_TABLE_FULL, 1);
}

SEC("tracepoint/syscalls/sys_enter_connect")
int fql_enter_connect(struct trace_event_raw_sys_enter *ctx)
{
	if (!fql_watched_now())
		return 0;
	fql_save_args((__s32)ctx->args[0], 0, 0, FQL_SYS_CONNECT, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_connect")
int fql_exit_connect(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id;
	struct fql_args *a;
	__s32 fd;

	if (!fql_watched_now())
		return 0;
	id = bpf_get_current_pid_tgid();
	a = bpf_map_lookup_elem(&fql_args, &id);
	if (!a)
		return 0;
	fd = a->fd;
	bpf_map_delete_elem(&fql_args, &id);
	if (ctx->ret == 0 || ctx->ret == -EINPROGRESS)
		fql_track_fd(fd, FQL_ROLE_CLIENT, 0);
	return 0;
}

static __always_inline void fql_forget_fd(__s32 fd)
{
	struct fql_conn_key key = { .tgid = bpf_get_current_pid_tgid() >> 32, .fd = fd };
	struct fql_conn_info *ci = bpf_map_lookup_elem(&fql_conns, &key);

	if (!ci)
		return;
	if (ci->is_sock)
		fql_emit_conn(FQL_EV_CONN_CLOSE, fd, ci, NULL, 0);
	bpf_map_delete_elem(&fql_conns, &key);
}

SEC("tracepoint/syscalls/sys_enter_close")
int fql_enter_close(struct trace_event_raw_sys_enter *ctx)
{
	if (!fql_watched_now())
		return 0;
	fql_forget_fd((__s32)ctx->args[0]);
	return 0;
}

/* dup2/dup3(oldfd, newfd) silently close newfd: forget it so a reused number is walked
 * again. (dup2 does not exist on every architecture: the loader treats it as optional.) */
SEC("tracepoint/syscalls/sys_enter_dup2")
int fql_enter_dup2(struct trace_event_raw_sys_enter *ctx)
{
	if (!fql_watched_now())
		return 0;
	if (ctx->args[0] != ctx->args[1])
		fql_forget_fd((__s32)ctx->args[1]);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_dup3")
int fql_enter_dup3(struct trace_event_raw_sys_enter *ctx)
{
	if (!fql_watched_now())
		return 0;
	if (ctx->args[0] != ctx->args[1])
		fql_forget_fd((__s32)ctx->args[1]);
	return 0;
}

/* ---- data --------------------------------------------------------------------------- */

static __always_inline __u32 fql_cap(void)
{
	__u32 cap = capture_cap;

	return cap > FQL_MAX_CAPTURE ? FQL_MAX_CAPTURE : cap;
}

/* Emits one data event from the per-CPU scratch: header fields other than pos, sizes and
 * the TRUNCATED bit are already set by the caller. n is clamped right before use. */
static __noinline void fql_emit_chunk(struct fql_scratch *s, __u64 pos, __u64 src, __u32 n,
				      __u32 orig)
{
	__u64 len = n;

	/* Keep clang from re-deriving len from n after the clamp (the verifier must see
	 * the bound on the register that reaches the helpers). */
	asm volatile("" : "+r"(len));
	if (len > FQL_MAX_CHUNK)
		len = FQL_MAX_CHUNK;
	s->ev.pos = pos;
	s->ev.orig_size = orig;
	if (len < orig)
		s->ev.flags |= FQL_DATA_F_TRUNCATED;
	if (len && bpf_probe_read_user(s->data, len, (const void *)src)) {
		s->ev.flags |= FQL_DATA_F_FAULT;
		fql_count(FQL_CNT_READ_FAULT, 1);
		len = 0;
	}
	s->ev.copied = len;
	if (bpf_ringbuf_output(&fql_events, s, sizeof(s->ev) + len, fql_rb_flags())) {
		fql_count(FQL_CNT_RINGBUF_FULL, 1);
		fql_count(FQL_CNT_RINGBUF_FULL_BYTES, len);
	} else {
		fql_count(FQL_CNT_DATA_EVENTS, 1);
	}
	s->ev.flags = 0;
}

/* Bytes [off, total) not copied: one event with copied=0 so positions add up. */
static __always_inline void fql_emit_rest(struct fql_scratch *s, __u64 start, __u32 off,
					  __u32 total, __u8 flags)
{
	if (off >= total)
		return;
	s->ev.flags = flags | FQL_DATA_F_TRUNCATED;
	fql_emit_chunk(s, start + off, 0, 0, total - off);
}

static __noinline void fql_emit_buf(struct fql_scratch *s, __u64 start, __u64 buf, __u32 total)
{
	__u32 cap = fql_cap();
	__u32 off = 0;
	int i;

	for (i = 0; i < FQL_MAX_CHUNKS_PER_SYSCALL; i++) {
		__u32 n;

		if (off >= total || off >= cap)
			break;
		n = total - off;
		if (n > cap - off)
			n = cap - off;
		if (n > FQL_MAX_CHUNK)
			n = FQL_MAX_CHUNK;
		fql_emit_chunk(s, start + off, buf + off, n, n);
		off += n;
	}
	if (off < total)
		fql_count(FQL_CNT_TRUNCATED_BYTES, total - off);
	fql_emit_rest(s, start, off, total, 0);
}

static __noinline void fql_emit_iov(struct fql_scratch *s, __u64 start, __u64 iovp,
				    __u32 iovcnt, __u32 total)
{
	__u32 budget = fql_cap();
	__u32 off = 0;
	__u8 rest_flags = 0;
	int i, j;

	for (i = 0; i < FQL_MAX_IOV; i++) {
		struct iovec iv;
		__u32 len, ioff = 0;

		if (off >= total)
			break;
		if (i >= iovcnt || budget == 0)
			break;
		if (bpf_probe_read_user(&iv, sizeof(iv), (const void *)(iovp + i * sizeof(iv)))) {
			fql_count(FQL_CNT_READ_FAULT, 1);
			rest_flags = FQL_DATA_F_FAULT;
			break;
		}
		len = total - off;
		if (iv.iov_len < len)
			len = iv.iov_len;
		for (j = 0; j < FQL_MAX_CHUNKS_PER_SYSCALL; j++) {
			__u32 n;

			if (ioff >= len || budget == 0)
				break;
			n = len - ioff;
			if (n > budget)
				n = budget;
			if (n > FQL_MAX_CHUNK)
				n = FQL_MAX_CHUNK;
			fql_emit_chunk(s, start + off + ioff, (__u64)iv.iov_base + ioff, n, n);
			ioff += n;
			budget -= n;
		}
		off += ioff;
		if (ioff < len)
			break; /* budget exhausted inside this iovec */
	}
	if (off < total) {
		if (budget == 0)
			fql_count(FQL_CNT_TRUNCATED_BYTES, total - off);
		else if (!rest_flags)
			fql_count(FQL_CNT_IOV_OVERFLOW, 1);
	}
	fql_emit_rest(s, start, off, total, rest_flags);
}

/* Data syscall enter: make sure the fd is known (walk it once), save args for sockets. */
static __always_inline void fql_data_enter(__s32 fd, __u64 ptr, __u32 iovcnt, __u16 sys,
					   __u8 is_iov)
{
	struct fql_conn_info *ci = fql_lookup_conn(fd);

	if (!ci)
		ci = fql_track_fd(fd, FQL_ROLE_UNKNOWN, FQL_CONN_F_PREEXISTING);
	if (!ci || !ci->is_sock)
		return;
	fql_save_args(fd, ptr, iovcnt, sys, is_iov);
}

static __always_inline void fql_data_exit(long ret, __u8 dir)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fql_args *ap = bpf_map_lookup_elem(&fql_args, &id);
	struct fql_conn_info *ci;
	struct fql_scratch *s;
	struct fql_args a;
	__u32 zero = 0, total;
	__u64 start;

	if (!ap)
		return;
	a = *ap;
	bpf_map_delete_elem(&fql_args, &id);
	if (ret <= 0)
		return;
	ci = fql_lookup_conn(a.fd);
	if (!ci || !ci->is_sock)
		return;
	total = (__u32)ret;
	if (dir == FQL_DIR_EGRESS)
		start = __sync_fetch_and_add(&ci->pos_out, total);
	else
		start = __sync_fetch_and_add(&ci->pos_in, total);
	s = bpf_map_lookup_elem(&fql_scratch, &zero);
	if (!s)
		return;
	fql_fill_header(&s->ev.h, FQL_EV_DATA, a.fd, ci->gen);
	s->ev.syscall_total = total;
	s->ev.syscall = a.syscall;
	s->ev.dir = dir;
	s->ev.flags = 0;
	/* One lookup (a miss) unless the process is a configured Python target. */
	s->ev.py_ctx = fql_py_ctx_now(id);
	if (a.is_iov)
		fql_emit_iov(s, start, a.ptr, a.iovcnt, total);
	else
		fql_emit_buf(s, start, a.ptr, total);
}

/* msghdr -> (iov, iovlen), read at enter: the pointers do not change during the call. */
static __always_inline void fql_msg_enter(__s32 fd, __u64 msgp, __u16 sys)
{
	struct user_msghdr m;

	if (bpf_probe_read_user(&m, sizeof(m), (const void *)msgp)) {
		fql_count(FQL_CNT_READ_FAULT, 1);
		return;
	}
	fql_data_enter(fd, (__u64)m.msg_iov, (__u32)m.msg_iovlen, sys, 1);
}

#define FQL_ENTER_BUF(name, sys)                                                         \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                      \
	int fql_enter_##name(struct trace_event_raw_sys_enter *ctx)                      \
	{                                                                                \
		if (!fql_watched_now())                                                  \
			return 0;                                                        \
		fql_data_enter((__s32)ctx->args[0], ctx->args[1], 0, sys, 0);            \
		return 0;                                                                \
	}

#define FQL_ENTER_IOV(name, sys)                                                         \
	SEC("tracepoint/syscalls/sys_enter_" #name)                                      \
	int fql_enter_##name(struct trace_event_raw_sys_enter *ctx)                      \
	{                                                                                \
		if (!fql_watched_now())                                                  \
			return 0;                                                        \
		fql_data_enter((__s32)ctx->args[0], ctx->args[1], (__u32)ctx->args[2],   \
			       sys, 1);                                                  \
		return 0;                                                                \
	}

#define FQL_EXIT(name, dir)                                                              \
	SEC("tracepoint/syscalls/sys_exit_" #name)                                       \
	int fql_exit_##name(struct trace_event_raw_sys_exit *ctx)                        \
	{                                                                                \
		if (!fql_watched_now())                                                  \
			return 0;                                                        \
		fql_data_exit(ctx->ret, dir);                                            \
		return 0;                                                                \
	}

FQL_ENTER_BUF(read, FQL_SYS_READ)
FQL_EXIT(read, FQL_DIR_INGRESS)
FQL_ENTER_BUF(write, FQL_SYS_WRITE)
FQL_EXIT(write, FQL_DIR_EGRESS)
FQL_ENTER_IOV(readv, FQL_SYS_READV)
FQL_EXIT(readv, FQL_DIR_INGRESS)
FQL_ENTER_IOV(writev, FQL_SYS_WRITEV)
FQL_EXIT(writev, FQL_DIR_EGRESS)
FQL_ENTER_BUF(sendto, FQL_SYS_SENDTO)
FQL_EXIT(sendto, FQL_DIR_EGRESS)
FQL_EXIT(recvfrom, FQL_DIR_INGRESS)
FQL_EXIT(recvmsg, FQL_DIR_INGRESS)
FQL_EXIT(sendmsg, FQL_DIR_EGRESS)

/* recvfrom(fd, buf, len, flags, ...): MSG_PEEK leaves the bytes queued; skip it so the
 * stream is not counted twice. */
SEC("tracepoint/syscalls/sys_enter_recvfrom")
int fql_enter_recvfrom(struct trace_event_raw_sys_enter *ctx)
{
	if (!fql_watched_now())
		return 0;
	if (ctx->args[3] & FQL_MSG_PEEK)
		return 0;
	fql_data_enter((__s32)ctx->args[0], ctx->args[1], 0, FQL_SYS_RECVFROM, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvmsg")
int fql_enter_recvmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (!fql_watched_now())
		return 0;
	if (ctx->args[2] & FQL_MSG_PEEK)
		return 0;
	fql_msg_enter((__s32)ctx->args[0], ctx->args[1], FQL_SYS_RECVMSG);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendmsg")
int fql_enter_sendmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (!fql_watched_now())
		return 0;
	fql_msg_enter((__s32)ctx->args[0], ctx->args[1], FQL_SYS_SENDMSG);
	return 0;
}

/* Counted only: their bytes are not captured (the streams of these fds get a gap). */
static __always_inline void fql_count_if_sock(__s32 fd, __u32 counter)
{
	struct fql_conn_info *ci = fql_lookup_conn(fd);

	if (ci && ci->is_sock)
		fql_count(counter, 1);
}

SEC("tracepoint/syscalls/sys_enter_sendmmsg")
int fql_enter_sendmmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (!fql_watched_now())
		return 0;
	fql_count_if_sock((__s32)ctx->args[0], FQL_CNT_SENDMMSG);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_recvmmsg")
int fql_enter_recvmmsg(struct trace_event_raw_sys_enter *ctx)
{
	if (!fql_watched_now())
		return 0;
	fql_count_if_sock((__s32)ctx->args[0], FQL_CNT_RECVMMSG);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_sendfile64")
int fql_enter_sendfile64(struct trace_event_raw_sys_enter *ctx)
{
	if (!fql_watched_now())
		return 0;
	fql_count_if_sock((__s32)ctx->args[0], FQL_CNT_SENDFILE); /* out_fd */
	return 0;
}

/* ---- processes ---------------------------------------------------------------------- */

static __always_inline void fql_emit_proc(__u32 kind, __u32 tgid, __u32 tid, __u32 ppid)
{
	struct fql_proc_event ev = {};

	fql_fill_header(&ev.h, kind, -1, 0);
	ev.h.tgid = tgid;
	ev.h.tid = tid;
	ev.ppid = ppid;
	bpf_get_current_comm(ev.comm, sizeof(ev.comm));
	fql_output(&ev, sizeof(ev));
}

SEC("tracepoint/sched/sched_process_fork")
int fql_sched_fork(struct trace_event_raw_sched_process_fork *ctx)
{
	__u32 parent = bpf_get_current_pid_tgid() >> 32;
	__u32 child = (__u32)ctx->child_pid;
	__u32 one = 1;
	struct fql_py_proc *py;

	if (!bpf_map_lookup_elem(&fql_watched, &parent))
		return 0;
	if (fql_child_is_thread(child))
		return 0;
	bpf_map_update_elem(&fql_watched, &child, &one, BPF_ANY);
	/* A forked Python worker has its parent's address space: same _PyRuntime. */
	py = bpf_map_lookup_elem(&fql_py_procs, &parent);
	if (py)
		bpf_map_update_elem(&fql_py_procs, &child, py, BPF_ANY);
	/* The child runs the parent's image: comm is the parent's until it execs. */
	fql_emit_proc(FQL_EV_PROC_FORK, child, child, parent);
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int fql_sched_exec(struct trace_event_raw_sched_process_exec *ctx)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 id = bpf_get_current_pid_tgid();
	__u32 ppid = BPF_CORE_READ(task, real_parent, tgid);
	__u32 tgid = id >> 32;

	/* A new image: any Python config of this tgid is stale. */
	bpf_map_delete_elem(&fql_py_procs, &tgid);
	fql_emit_proc(FQL_EV_PROC_EXEC, id >> 32, (__u32)id, ppid);
	return 0;
}

struct fql_purge_ctx {
	__u32 tgid;
};

static long fql_purge_conn(struct bpf_map *map, struct fql_conn_key *key,
			   struct fql_conn_info *val, struct fql_purge_ctx *c)
{
	if (key->tgid == c->tgid)
		bpf_map_delete_elem(map, key);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int fql_sched_exit(struct trace_event_raw_sched_process_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	struct fql_purge_ctx pc = { .tgid = tgid };

	if (!bpf_map_lookup_elem(&fql_watched, &tgid))
		return 0;
	/* A thread dying inside a syscall never reaches its exit tracepoint. */
	bpf_map_delete_elem(&fql_args, &id);
	bpf_map_delete_elem(&fql_py_tstate, &id);
	if ((__u32)id != tgid)
		return 0;
	bpf_map_delete_elem(&fql_watched, &tgid);
	bpf_map_delete_elem(&fql_py_procs, &tgid);
	/* The kernel closes the fds without close(): drop the process's entries (rare). */
	bpf_for_each_map_elem(&fql_conns, fql_purge_conn, &pc, 0);
	fql_emit_proc(FQL_EV_PROC_EXIT, tgid, tgid, BPF_CORE_READ(bpf_get_current_task_btf(),
								 real_parent, tgid));
	return 0;
}
