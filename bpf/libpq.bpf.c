// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * libpq uprobes: the SQL text and statement names a client hands to libpq, and the status
 * of every PGresult handed back, for connections whose wire bytes are TLS (or on request).
 * Records: struct fql_pq_event (include/fraiseql/abi/events.h, FQL_EV_PQ_CALL).
 *
 * A separate object from capture.bpf.c, loaded only when the first libpq is attached; it
 * shares fql_watched, fql_events and fql_stats with the capture object (the loader reuses
 * their fds before load), so the definitions below only give libbpf a shape.
 *
 * Attached per library inode by Loader::AttachLibpq (SEC("uprobe") without a target: manual
 * attach with func_name). The BPF cookie of every link is the offset of PGconn.sock in that
 * library plus one (0 = unknown), learnt in userspace from the code of PQsocket.
 *
 * Every program first checks that the current tgid is watched. Bind values are never read.
 */
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "fraiseql/abi/events.h"
#include "shared.bpf.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Read back by the loader to check it was built against the same ABI header. */
const volatile __u32 fql_abi_version = FQL_ABI_VERSION;

/* struct pg_result (libpq-int.h), identical from PG 10 to 17 up to errFields:
 *   int ntups @0; int numAttributes @4; attDescs @8; tuples @16; int tupArrSize @24;
 *   int numParameters @28; paramDescs @32; ExecStatusType resultStatus @40;
 *   char cmdStatus[64] @44; int binary @108; PGNoticeHooks (4 pointers) @112;
 *   PGEvent *events @144; int nEvents @152; int client_encoding @156; char *errMsg @160;
 *   PGMessageField *errFields @168.
 * struct pgMessageField: next @0; char code @8; char contents[] @9. libpq prepends each
 * field as it parses the ErrorResponse, so the list is in reverse wire order. */
#define FQL_PGRES_NTUPS_OFF 0
#define FQL_PGRES_STATUS_OFF 40
#define FQL_PGRES_CMDSTATUS_OFF 44
#define FQL_PGRES_ERRFIELDS_OFF 168
#define FQL_PGMSGFIELD_CODE_OFF 8
/* Error fields walked looking for 'C' (an ErrorResponse has at most ~18). */
#define FQL_PQ_MAX_ERR_FIELDS 24

/* A synchronous call in progress on a thread (PQexec & co., entry -> return): calls on
 * the same PGconn nested inside it (PQsendQuery, PQgetResult) are suppressed. */
struct fql_pq_sync {
	__u64 conn;
	__s32 fd;
	__u16 fn;
	__u16 _pad;
};

/* PQgetResult entry -> return on a thread (the return probe has no arguments). */
struct fql_pq_getres {
	__u64 conn;
	__s32 fd;
	__u32 _pad;
};

struct fql_pq_scratch {
	struct fql_pq_event ev;
	char text[FQL_PQ_MAX_TEXT];
};

/* LRU: an entry whose return was never seen (thread killed mid-call) ages out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct fql_pq_sync);
} fql_pq_sync SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64); /* pid_tgid */
	__type(value, struct fql_pq_getres);
} fql_pq_getres SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fql_pq_scratch);
} fql_pq_scratch SEC(".maps");

/* ---- helpers ------------------------------------------------------------------------ */


/* conn->sock, at the per-library offset carried in the link's cookie (offset + 1). */
static __always_inline __s32 fql_pq_sock_fd(void *ctx, __u64 conn)
{
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__s32 fd = -1;

	if (!cookie || !conn || cookie > 65536)
		return -1;
	if (bpf_probe_read_user(&fd, sizeof(fd), (const void *)(conn + cookie - 1)))
		return -1;
	return fd;
}

/* True when a synchronous call on this thread and PGconn is in progress. */
static __always_inline int fql_pq_inside_sync(__u64 id, __u64 conn)
{
	struct fql_pq_sync *s = bpf_map_lookup_elem(&fql_pq_sync, &id);

	return s && s->conn == conn;
}

static __always_inline struct fql_pq_scratch *fql_pq_begin(__u16 fn, __u16 flags, __u64 conn,
							    __s32 fd)
{
	__u32 zero = 0;
	struct fql_pq_scratch *s = bpf_map_lookup_elem(&fql_pq_scratch, &zero);
	__u64 id = bpf_get_current_pid_tgid();

	if (!s)
		return NULL;
	__builtin_memset(&s->ev, 0, sizeof(s->ev));
	s->ev.h.kind = FQL_EV_PQ_CALL;
	s->ev.h.tgid = id >> 32;
	s->ev.h.tid = (__u32)id;
	s->ev.h.fd = fd;
	s->ev.h.gen = 0;
	s->ev.h.ts_ns = bpf_ktime_get_ns();
	s->ev.conn_ptr = conn;
	s->ev.fn = fn;
	s->ev.flags = flags;
	s->ev.result_status = -1;
	return s;
}

static __always_inline void fql_pq_submit(struct fql_pq_scratch *s, __u64 text_len)
{
	__u64 len = text_len;

	asm volatile("" : "+r"(len));
	if (len > FQL_PQ_MAX_TEXT)
		len = FQL_PQ_MAX_TEXT;
	if (bpf_ringbuf_output(&fql_events, s, sizeof(s->ev) + len, fql_rb_flags()))
		fql_count(FQL_CNT_RINGBUF_FULL, 1);
	else
		fql_count(FQL_CNT_PQ_EVENTS, 1);
}

/* What a CALL record is made of (BPF-to-BPF calls take at most 5 arguments). */
struct fql_pq_call {
	__u64 conn;
	__u64 text; /* const char *: SQL, 0 = none */
	__u64 name; /* const char *: statement name, 0 = none */
	__s32 fd;
	__s32 nparams;
	__u16 fn;
	__u16 _pad[3];
};

static __noinline void fql_pq_emit_call(struct fql_pq_call *c)
{
	struct fql_pq_scratch *s = fql_pq_begin(c->fn, 0, c->conn, c->fd);
	__u64 text = c->text, name = c->name, len = 0;
	long n;

	if (!s)
		return;
	s->ev.nparams = c->nparams;
	if (name) {
		n = bpf_probe_read_user_str(s->ev.stmt_name, sizeof(s->ev.stmt_name),
					    (const void *)name);
		if (n < 0) {
			s->ev.stmt_name[0] = 0;
			s->ev.flags |= FQL_PQ_F_NAME_FAULT;
			fql_count(FQL_CNT_READ_FAULT, 1);
		}
	}
	if (text) {
		n = bpf_probe_read_user_str(s->text, sizeof(s->text), (const void *)text);
		if (n <= 0) {
			s->ev.flags |= FQL_PQ_F_TEXT_FAULT;
			fql_count(FQL_CNT_READ_FAULT, 1);
		} else {
			len = (__u64)n - 1; /* without the NUL */
			if (n >= FQL_PQ_MAX_TEXT)
				s->ev.flags |= FQL_PQ_F_TEXT_TRUNCATED;
			else
				s->ev.text_orig_len = (__u32)len;
		}
	}
	if (len > FQL_PQ_MAX_TEXT - 1)
		len = FQL_PQ_MAX_TEXT - 1;
	s->ev.text_len = (__u32)len;
	fql_pq_submit(s, len);
}

/* RESULT record for the PGresult* `res` returned by `fn`. */
static __noinline void fql_pq_emit_result(__u16 fn, __u64 conn, __s32 fd, __u64 res)
{
	struct fql_pq_scratch *s = fql_pq_begin(fn, FQL_PQ_F_RESULT, conn, fd);
	__u64 node = 0;
	__s32 status = -1;
	int i;

	if (!s)
		return;
	if (!res) {
		s->ev.flags |= FQL_PQ_F_NULL_RESULT;
		fql_pq_submit(s, 0);
		return;
	}
	if (bpf_probe_read_user(&status, sizeof(status),
				(const void *)(res + FQL_PGRES_STATUS_OFF)) ||
	    bpf_probe_read_user(&s->ev.ntuples, sizeof(s->ev.ntuples),
				(const void *)(res + FQL_PGRES_NTUPS_OFF)) ||
	    bpf_probe_read_user(s->ev.cmd_status, sizeof(s->ev.cmd_status),
				(const void *)(res + FQL_PGRES_CMDSTATUS_OFF))) {
		__builtin_memset(s->ev.cmd_status, 0, sizeof(s->ev.cmd_status));
		s->ev.ntuples = 0;
		s->ev.flags |= FQL_PQ_F_RESULT_FAULT;
		fql_count(FQL_CNT_READ_FAULT, 1);
		fql_pq_submit(s, 0);
		return;
	}
	s->ev.cmd_status[FQL_PQ_CMD_STATUS_LEN - 1] = 0;
	s->ev.result_status = status;
	if (status == FQL_PGRES_FATAL_ERROR || status == FQL_PGRES_NONFATAL_ERROR ||
	    status == FQL_PGRES_BAD_RESPONSE) {
		if (bpf_probe_read_user(&node, sizeof(node),
					(const void *)(res + FQL_PGRES_ERRFIELDS_OFF)))
			node = 0;
		for (i = 0; i < FQL_PQ_MAX_ERR_FIELDS; i++) {
			struct {
				__u64 next;
				char code;
				char contents[7];
			} f;

			if (!node)
				break;
			if (bpf_probe_read_user(&f, sizeof(f), (const void *)node))
				break;
			if (f.code == 'C') {
				__builtin_memcpy(s->ev.sqlstate, f.contents, 5);
				s->ev.sqlstate[5] = 0;
				s->ev.flags |= FQL_PQ_F_SQLSTATE;
				break;
			}
			node = f.next;
		}
	}
	fql_pq_submit(s, 0);
}

/* ---- asynchronous functions: one CALL record at entry ------------------------------ */

/* PQsendQuery(PGconn *conn, const char *query) */
SEC("uprobe")
int BPF_KPROBE(fql_pq_send_query, void *conn, const char *query)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fql_pq_call c = { .conn = (__u64)conn, .text = (__u64)query,
				 .fn = FQL_PQ_SEND_QUERY };

	if (!fql_watched_now() || fql_pq_inside_sync(id, (__u64)conn))
		return 0;
	c.fd = fql_pq_sock_fd(ctx, c.conn);
	fql_pq_emit_call(&c);
	return 0;
}

/* PQsendQueryParams(conn, command, nParams, paramTypes, paramValues, ...) */
SEC("uprobe")
int BPF_KPROBE(fql_pq_send_query_params, void *conn, const char *command, int nparams)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fql_pq_call c = { .conn = (__u64)conn, .text = (__u64)command,
				 .nparams = nparams, .fn = FQL_PQ_SEND_QUERY_PARAMS };

	if (!fql_watched_now() || fql_pq_inside_sync(id, (__u64)conn))
		return 0;
	c.fd = fql_pq_sock_fd(ctx, c.conn);
	fql_pq_emit_call(&c);
	return 0;
}

/* PQsendPrepare(conn, stmtName, query, nParams, paramTypes) */
SEC("uprobe")
int BPF_KPROBE(fql_pq_send_prepare, void *conn, const char *name, const char *query,
	       int nparams)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fql_pq_call c = { .conn = (__u64)conn, .text = (__u64)query, .name = (__u64)name,
				 .nparams = nparams, .fn = FQL_PQ_SEND_PREPARE };

	if (!fql_watched_now() || fql_pq_inside_sync(id, (__u64)conn))
		return 0;
	c.fd = fql_pq_sock_fd(ctx, c.conn);
	fql_pq_emit_call(&c);
	return 0;
}

/* PQsendQueryPrepared(conn, stmtName, nParams, paramValues, ...) */
SEC("uprobe")
int BPF_KPROBE(fql_pq_send_query_prepared, void *conn, const char *name, int nparams)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fql_pq_call c = { .conn = (__u64)conn, .name = (__u64)name, .nparams = nparams,
				 .fn = FQL_PQ_SEND_QUERY_PREPARED };

	if (!fql_watched_now() || fql_pq_inside_sync(id, (__u64)conn))
		return 0;
	c.fd = fql_pq_sock_fd(ctx, c.conn);
	fql_pq_emit_call(&c);
	return 0;
}

/* PQgetResult(conn): the entry saves conn (and fd) for the return. Skipped inside a sync
 * call on the same conn (PQexec's own result loop). */
SEC("uprobe")
int BPF_KPROBE(fql_pq_get_result, void *conn)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fql_pq_getres g = {};

	if (!fql_watched_now() || fql_pq_inside_sync(id, (__u64)conn))
		return 0;
	g.conn = (__u64)conn;
	g.fd = fql_pq_sock_fd(ctx, (__u64)conn);
	if (bpf_map_update_elem(&fql_pq_getres, &id, &g, BPF_ANY))
		fql_count(FQL_CNT_PQ_STATE_FULL, 1);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(fql_pq_get_result_ret, void *res)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fql_pq_getres *gp, g;

	if (!fql_watched_now())
		return 0;
	gp = bpf_map_lookup_elem(&fql_pq_getres, &id);
	if (!gp)
		return 0; /* suppressed at entry, or attached mid-call */
	g = *gp;
	bpf_map_delete_elem(&fql_pq_getres, &id);
	fql_pq_emit_result(FQL_PQ_GET_RESULT, g.conn, g.fd, (__u64)res);
	return 0;
}

/* ---- synchronous functions: CALL at entry, RESULT at return ------------------------- */

static __always_inline void fql_pq_sync_enter(void *ctx, __u16 fn, __u64 conn, __u64 text,
					      __u64 name, __s32 nparams)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fql_pq_call c = { .conn = conn, .text = text, .name = name, .nparams = nparams,
				 .fn = fn };
	struct fql_pq_sync st = {};

	c.fd = fql_pq_sock_fd(ctx, conn);
	st.conn = conn;
	st.fd = c.fd;
	st.fn = fn;
	fql_pq_emit_call(&c);
	if (bpf_map_update_elem(&fql_pq_sync, &id, &st, BPF_ANY))
		fql_count(FQL_CNT_PQ_STATE_FULL, 1);
}

static __always_inline void fql_pq_sync_exit(__u16 fn, __u64 res)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fql_pq_sync *sp = bpf_map_lookup_elem(&fql_pq_sync, &id), st;

	if (!sp)
		return;
	st = *sp;
	bpf_map_delete_elem(&fql_pq_sync, &id);
	if (st.fn != fn)
		return; /* stale entry from another call: its result is lost */
	fql_pq_emit_result(fn, st.conn, st.fd, res);
}

/* PQexec(conn, query) */
SEC("uprobe")
int BPF_KPROBE(fql_pq_exec, void *conn, const char *query)
{
	if (!fql_watched_now())
		return 0;
	fql_pq_sync_enter(ctx, FQL_PQ_EXEC, (__u64)conn, (__u64)query, 0, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(fql_pq_exec_ret, void *res)
{
	if (!fql_watched_now())
		return 0;
	fql_pq_sync_exit(FQL_PQ_EXEC, (__u64)res);
	return 0;
}

/* PQexecParams(conn, command, nParams, paramTypes, paramValues, ...) */
SEC("uprobe")
int BPF_KPROBE(fql_pq_exec_params, void *conn, const char *command, int nparams)
{
	if (!fql_watched_now())
		return 0;
	fql_pq_sync_enter(ctx, FQL_PQ_EXEC_PARAMS, (__u64)conn, (__u64)command, 0, nparams);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(fql_pq_exec_params_ret, void *res)
{
	if (!fql_watched_now())
		return 0;
	fql_pq_sync_exit(FQL_PQ_EXEC_PARAMS, (__u64)res);
	return 0;
}

/* PQprepare(conn, stmtName, query, nParams, paramTypes) */
SEC("uprobe")
int BPF_KPROBE(fql_pq_prepare, void *conn, const char *name, const char *query, int nparams)
{
	if (!fql_watched_now())
		return 0;
	fql_pq_sync_enter(ctx, FQL_PQ_PREPARE, (__u64)conn, (__u64)query, (__u64)name, nparams);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(fql_pq_prepare_ret, void *res)
{
	if (!fql_watched_now())
		return 0;
	fql_pq_sync_exit(FQL_PQ_PREPARE, (__u64)res);
	return 0;
}

/* PQexecPrepared(conn, stmtName, nParams, paramValues, ...) */
SEC("uprobe")
int BPF_KPROBE(fql_pq_exec_prepared, void *conn, const char *name, int nparams)
{
	if (!fql_watched_now())
		return 0;
	fql_pq_sync_enter(ctx, FQL_PQ_EXEC_PREPARED, (__u64)conn, 0, (__u64)name, nparams);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(fql_pq_exec_prepared_ret, void *res)
{
	if (!fql_watched_now())
		return 0;
	fql_pq_sync_exit(FQL_PQ_EXEC_PREPARED, (__u64)res);
	return 0;
}
