/* SPDX-License-Identifier: Apache-2.0
 *
 * The ABI between bpf/ (kernel) and userspace/: every record the ring buffer carries.
 * C only, fixed-width types, no pointers, no bool, pinned enum values. Included by the
 * BPF programs (after vmlinux.h) and by C++ (which static_asserts sizes and offsets in
 * userspace/decoder/decoder.cc). Bump FQL_ABI_VERSION on any layout change.
 */
#ifndef FRAISEQL_ABI_EVENTS_H
#define FRAISEQL_ABI_EVENTS_H

#ifndef __VMLINUX_H__
#include <stdint.h>
typedef uint8_t fql_u8;
typedef uint16_t fql_u16;
typedef uint32_t fql_u32;
typedef int32_t fql_s32;
typedef uint64_t fql_u64;
#else
typedef __u8 fql_u8;
typedef __u16 fql_u16;
typedef __u32 fql_u32;
typedef __s32 fql_s32;
typedef __u64 fql_u64;
#endif

/* 2: fql_data_event.py_ctx, FQL_EV_PY_CTX, struct fql_py_proc, python counters. */
#define FQL_ABI_VERSION 2

/* Largest payload one data event carries (also the per-CPU scratch size). A syscall
 * moving more bytes than the configured capture cap is truncated: orig_size says how
 * many bytes really moved, copied how many follow the header. */
#define FQL_MAX_CHUNK 16384
/* A syscall's bytes are emitted in at most this many chunks (so the cap is <= 256 KiB). */
#define FQL_MAX_CHUNKS_PER_SYSCALL 16
/* iovecs walked per readv/writev/recvmsg/sendmsg; the rest is counted, not copied. */
#define FQL_MAX_IOV 8
/* Default copy cap per syscall: 256 KiB, what one asyncio read can return (its transports
 * recv up to 256 KiB) and more than a redis.asyncio pipeline's single send() of 50 commands
 * with small values. Bytes past the cap are lost for framing: pipelined requests or commands
 * behind them could not be counted (at 16 KiB the HTTP e2e undercounted 6 %; at 64 KiB a
 * 127 KB asyncio Redis pipeline lost 88 of 120 commands). */
#define FQL_DEFAULT_CAPTURE_CAP 262144

enum fql_event_kind {
	FQL_EV_DATA = 1,       /* struct fql_data_event + copied payload bytes */
	FQL_EV_CONN_OPEN = 2,  /* struct fql_conn_event: a TCP socket fd is now tracked */
	FQL_EV_CONN_CLOSE = 3, /* struct fql_conn_event: close() of a tracked socket */
	FQL_EV_PROC_FORK = 4,  /* struct fql_proc_event: a watched process forked (child watched) */
	FQL_EV_PROC_EXEC = 5,  /* struct fql_proc_event: any process exec'd (userspace re-checks it) */
	FQL_EV_PROC_EXIT = 6,  /* struct fql_proc_event: a watched process exited */
	FQL_EV_PQ_CALL = 7,    /* struct fql_pq_event + text: a libpq call or result (uprobes) */
	FQL_EV_PY_CTX = 8,     /* struct fql_py_ctx_event: a CPython context was copied (birth) */
};

enum fql_direction {
	FQL_DIR_INGRESS = 0, /* bytes the observed process read from the socket */
	FQL_DIR_EGRESS = 1,  /* bytes the observed process wrote to the socket */
};

enum fql_conn_role {
	FQL_ROLE_UNKNOWN = 0, /* socket found in use (opened before we attached) */
	FQL_ROLE_SERVER = 1,  /* returned by accept/accept4 */
	FQL_ROLE_CLIENT = 2,  /* created by connect */
};

enum fql_syscall {
	FQL_SYS_NONE = 0,
	FQL_SYS_READ = 1,
	FQL_SYS_WRITE = 2,
	FQL_SYS_READV = 3,
	FQL_SYS_WRITEV = 4,
	FQL_SYS_RECVFROM = 5,
	FQL_SYS_SENDTO = 6,
	FQL_SYS_RECVMSG = 7,
	FQL_SYS_SENDMSG = 8,
	FQL_SYS_RECVMMSG = 9,
	FQL_SYS_SENDMMSG = 10,
	FQL_SYS_SENDFILE = 11,
	FQL_SYS_ACCEPT = 12,
	FQL_SYS_ACCEPT4 = 13,
	FQL_SYS_CONNECT = 14,
	FQL_SYS_CLOSE = 15,
	FQL_SYS_COUNT = 16,
};

/* Flags on data events. */
#define FQL_DATA_F_TRUNCATED 0x1 /* copied < bytes of this chunk that moved */
#define FQL_DATA_F_FAULT 0x2     /* bpf_probe_read_user failed: payload absent */
/* Flags on conn events. */
#define FQL_CONN_F_PREEXISTING 0x1 /* first seen on a data syscall, not at accept/connect */

/* Per-CPU counters (array map fql_stats, index = enum value). Userspace sums CPUs and
 * exports them as fraiseql_collector_* metrics. */
enum fql_counter {
	FQL_CNT_RINGBUF_FULL = 0,      /* bpf_ringbuf_output failed: event lost */
	FQL_CNT_RINGBUF_FULL_BYTES = 1,/* payload bytes in the lost data events */
	FQL_CNT_TRUNCATED_BYTES = 2,   /* bytes beyond the capture cap, not copied */
	FQL_CNT_IOV_OVERFLOW = 3,      /* iovecs beyond FQL_MAX_IOV, bytes not copied */
	FQL_CNT_READ_FAULT = 4,        /* bpf_probe_read_user failures */
	FQL_CNT_CONN_TABLE_FULL = 5,   /* fql_conns map full: socket not tracked */
	FQL_CNT_ARGS_TABLE_FULL = 6,   /* fql_args map full: syscall not seen at exit */
	FQL_CNT_SENDMMSG = 7,          /* sendmmsg calls on tracked sockets (counted only) */
	FQL_CNT_RECVMMSG = 8,          /* recvmmsg calls on tracked sockets (counted only) */
	FQL_CNT_SENDFILE = 9,          /* sendfile calls on tracked sockets (counted only) */
	FQL_CNT_DATA_EVENTS = 10,      /* data events submitted */
	FQL_CNT_PQ_EVENTS = 11,        /* libpq (FQL_EV_PQ_CALL) events submitted */
	FQL_CNT_PQ_STATE_FULL = 12,    /* libpq per-thread call state not stored: result lost */
	FQL_CNT_PY_CTX_READ_FAIL = 13, /* python: reading _PyRuntime/PyThreadState failed (fault);
					* the event carries py_ctx / parent 0 */
	FQL_CNT_PY_COPY_HITS = 14,     /* python: PyContext_CopyCurrent returns seen for a
					* configured tgid (FQL_EV_PY_CTX emitted or lost) */
	FQL_CNT_PY_TSTATE_MISS = 15,   /* python: no PyThreadState of the current thread found
					* within FQL_PY_MAX_THREADS (a non-Python thread, or more
					* threads than the walk bound); py_ctx / parent 0 */
	FQL_CNT_MAX = 16,
};

struct fql_event_header {
	fql_u32 kind;  /* enum fql_event_kind */
	fql_u32 tgid;
	fql_u32 tid;
	fql_s32 fd;    /* -1 for process events */
	fql_u64 gen;   /* connection generation: unique per tracked socket; 0 for process events */
	fql_u64 ts_ns; /* CLOCK_MONOTONIC (bpf_ktime_get_ns) at syscall exit */
};

struct fql_data_event {
	struct fql_event_header h;
	fql_u64 pos;       /* byte position of this chunk's first byte in the direction's stream */
	fql_u32 orig_size; /* bytes of this chunk that really moved */
	fql_u32 copied;    /* payload bytes following this struct (<= orig_size) */
	fql_u32 syscall_total; /* bytes the whole syscall moved (return value) */
	fql_u16 syscall;   /* enum fql_syscall */
	fql_u8 dir;        /* enum fql_direction */
	fql_u8 flags;      /* FQL_DATA_F_* */
	fql_u64 py_ctx;    /* ABI 2: the PyContext* current on the calling thread at syscall exit
			    * (PyThreadState->context: the asyncio task's context while the task
			    * runs, unchanged while the GIL is released around the syscall); 0 when
			    * the tgid is not a configured Python target (fql_py_procs), the thread
			    * has no context yet or it could not be read (see FQL_CNT_PY_*).
			    * Identical for every chunk of one syscall. */
	/* fql_u8 data[copied] follows */
};

struct fql_conn_event {
	struct fql_event_header h;
	fql_u16 family;   /* AF_INET (2) or AF_INET6 (10) */
	fql_u16 role;     /* enum fql_conn_role */
	fql_u16 lport;    /* host byte order */
	fql_u16 rport;    /* host byte order */
	fql_u8 laddr[16]; /* IPv4 in the first 4 bytes, network order */
	fql_u8 raddr[16];
	fql_u32 flags;    /* FQL_CONN_F_* */
	fql_u32 _pad;
	fql_u64 bytes_in;  /* close only: stream positions reached */
	fql_u64 bytes_out;
};

struct fql_proc_event {
	struct fql_event_header h;
	fql_u32 ppid; /* fork: parent tgid */
	fql_u32 _pad;
	char comm[16];
};

/* ---- libpq uprobes (bpf/libpq.bpf.c) ------------------------------------------------------
 * Attached per libpq library inode, only on request (Loader::AttachLibpq): each hit costs a
 * uprobe trap (~6 us here) in EVERY process mapping that library, watched or not.
 *
 * One record kind, FQL_EV_PQ_CALL, for two things (told apart by FQL_PQ_F_RESULT):
 *  - a CALL record at the entry of a function that sends SQL or a statement name (fn 1..8):
 *    text = the SQL (query/prepare functions) or empty (prepared execution), stmt_name = the
 *    statement name (prepare / prepared execution), nparams = the call's nParams.
 *    Bind values (paramValues) are NEVER read.
 *  - a RESULT record when a PGresult is handed to the application: at the return of
 *    PQgetResult (fn = FQL_PQ_GET_RESULT), or at the return of a synchronous function
 *    (fn = FQL_PQ_EXEC / EXEC_PARAMS / PREPARE / EXEC_PREPARED; it carries the PGresult that
 *    function returns). result_status, ntuples, cmd_status and sqlstate are filled; no text.
 *    A NULL return of PQgetResult is emitted too (FQL_PQ_F_NULL_RESULT, result_status -1):
 *    it ends the results of one query (psycopg and pipeline mode call PQgetResult until
 *    NULL once per query; PGRES_PIPELINE_SYNC results are not followed by a NULL). A NULL
 *    seen with nothing pending (an extra call while idle) should be ignored by userspace.
 *    A NULL return of a synchronous function (send failed, connection lost) is emitted
 *    the same way.
 * Synchronous functions are wrappers: PQexec = PQsendQuery + PQgetResult loop, etc. Calls
 * nested inside them on the same thread and PGconn are suppressed in the kernel, so each
 * synchronous call yields exactly one CALL and one RESULT record (whether or not the build
 * inlines the inner calls). For the async functions, pair CALLs and RESULTs per conn_ptr in
 * order (a FIFO per connection; several queries are in flight in pipeline mode).
 *
 * Records of one thread are in call order; records of different threads on one PGconn
 * are not (psycopg serialises a connection's use behind a lock, so this is moot there).
 */

/* Bytes of SQL text copied per call (bpf_probe_read_user_str into per-CPU scratch). */
#define FQL_PQ_MAX_TEXT 4096
/* Statement names: the server truncates identifiers to 63 bytes too (NAMEDATALEN 64). */
#define FQL_PQ_NAME_LEN 64
/* PGresult.cmdStatus size in libpq (CMDSTATUS_LEN, unchanged since PG 7.4). */
#define FQL_PQ_CMD_STATUS_LEN 64

enum fql_pq_fn {
	FQL_PQ_SEND_QUERY = 1,          /* PQsendQuery(conn, query) */
	FQL_PQ_SEND_QUERY_PARAMS = 2,   /* PQsendQueryParams(conn, command, nParams, ...) */
	FQL_PQ_SEND_PREPARE = 3,        /* PQsendPrepare(conn, stmtName, query, nParams, types) */
	FQL_PQ_SEND_QUERY_PREPARED = 4, /* PQsendQueryPrepared(conn, stmtName, nParams, ...) */
	FQL_PQ_EXEC = 5,                /* PQexec(conn, query) */
	FQL_PQ_EXEC_PARAMS = 6,         /* PQexecParams(conn, command, nParams, ...) */
	FQL_PQ_PREPARE = 7,             /* PQprepare(conn, stmtName, query, nParams, types) */
	FQL_PQ_EXEC_PREPARED = 8,       /* PQexecPrepared(conn, stmtName, nParams, ...) */
	FQL_PQ_GET_RESULT = 9,          /* PQgetResult(conn): RESULT records only */
	FQL_PQ_FN_COUNT = 10,
};

/* fql_pq_event.flags */
#define FQL_PQ_F_RESULT 0x1         /* RESULT record (else CALL record) */
#define FQL_PQ_F_NULL_RESULT 0x2    /* RESULT: the function returned NULL (no PGresult) */
#define FQL_PQ_F_TEXT_TRUNCATED 0x4 /* CALL: SQL longer than FQL_PQ_MAX_TEXT - 1 bytes was cut
				     * (or exactly that long); text_orig_len is then 0 */
#define FQL_PQ_F_TEXT_FAULT 0x8     /* CALL: reading the SQL failed (text_len 0) */
#define FQL_PQ_F_NAME_FAULT 0x10    /* CALL: reading the statement name failed (stmt_name "") */
#define FQL_PQ_F_RESULT_FAULT 0x20  /* RESULT: reading the PGresult failed (status -1) */
#define FQL_PQ_F_SQLSTATE 0x40      /* RESULT: sqlstate holds the error's SQLSTATE ('C' field) */

/* PGresult statuses (libpq ExecStatusType), for result_status. */
enum fql_pq_status {
	FQL_PGRES_EMPTY_QUERY = 0,
	FQL_PGRES_COMMAND_OK = 1,
	FQL_PGRES_TUPLES_OK = 2,
	FQL_PGRES_COPY_OUT = 3,
	FQL_PGRES_COPY_IN = 4,
	FQL_PGRES_BAD_RESPONSE = 5,
	FQL_PGRES_NONFATAL_ERROR = 6,
	FQL_PGRES_FATAL_ERROR = 7,
	FQL_PGRES_COPY_BOTH = 8,
	FQL_PGRES_SINGLE_TUPLE = 9,
	FQL_PGRES_PIPELINE_SYNC = 10,
	FQL_PGRES_PIPELINE_ABORTED = 11,
	/* libpq 17: FQL_PGRES_TUPLES_CHUNK = 12; any other value is passed through as read. */
};

/* FQL_EV_PQ_CALL record: this struct (200 bytes), then text_len bytes of SQL (no NUL).
 * Offsets: h 0, conn_ptr 32, fn 40, flags 42, nparams 44, text_len 48, text_orig_len 52,
 * result_status 56, ntuples 60, sqlstate 64, stmt_name 72, cmd_status 136. */
struct fql_pq_event {
	struct fql_event_header h; /* kind FQL_EV_PQ_CALL; tgid/tid of the calling thread;
				    * fd = the PGconn's socket fd read at the call (-1 when the
				    * library's PGconn.sock offset is unknown or the read failed;
				    * for PQgetResult and sync RESULTs the fd read at their entry);
				    * gen = 0 (match (tgid, fd) to the live connection's gen);
				    * ts_ns = bpf_ktime_get_ns at function entry (CALL) or return
				    * (RESULT) */
	fql_u64 conn_ptr;      /* PGconn* (identifies the libpq connection within tgid) */
	fql_u16 fn;            /* enum fql_pq_fn */
	fql_u16 flags;         /* FQL_PQ_F_* */
	fql_s32 nparams;       /* CALL: the nParams argument (0 for PQsendQuery/PQexec; for
				* prepare functions the number of parameter TYPES given, which
				* may be 0 even when the SQL has $n); RESULT: 0 */
	fql_u32 text_len;      /* bytes of SQL text following this struct (no NUL);
				* <= FQL_PQ_MAX_TEXT - 1; 0 for prepared execution and RESULTs */
	fql_u32 text_orig_len; /* CALL: strlen of the SQL when known (== text_len), 0 when
				* truncated (FQL_PQ_F_TEXT_TRUNCATED: length unknown) */
	fql_s32 result_status; /* RESULT: ExecStatusType (enum fql_pq_status); -1 for CALL
				* records, NULL results and unreadable PGresults */
	fql_s32 ntuples;       /* RESULT: PQntuples (rows in this PGresult); else 0 */
	char sqlstate[8];      /* RESULT with FQL_PQ_F_SQLSTATE: 5 chars + NUL (e.g. "22012");
				* else all zero */
	char stmt_name[FQL_PQ_NAME_LEN];    /* CALL: statement name, NUL-terminated ("" =
					     * unnamed statement or not applicable) */
	char cmd_status[FQL_PQ_CMD_STATUS_LEN]; /* RESULT: PQcmdStatus, NUL-terminated
						 * ("SELECT 1", "INSERT 0 3", "" on errors) */
	/* char text[text_len] follows */
};

/* ---- CPython contexts (bpf/python.bpf.h, bpf/python.bpf.c) --------------------------------
 * For a tgid userspace configured in the fql_py_procs map (Loader::WatchPython), data events
 * carry py_ctx, and a uretprobe on PyContext_CopyCurrent emits one FQL_EV_PY_CTX per context
 * copy (every asyncio Task creation, every contextvars.copy_context(), every asyncio Handle
 * created without an explicit context): parent = the context current on the thread when the
 * copy returned, child = the new context. Addresses are reused after a context is freed: a
 * birth event for an address starts a new life for it. See docs/python-contexts.md.
 */

/* PyThreadState entries walked from interp->threads.head to find the current thread's
 * (newest first: the main thread is the LAST one). */
#define FQL_PY_MAX_THREADS 64

/* fql_py_proc.flags */
#define FQL_PY_F_MATCH_PTHREAD 0x1 /* tstate_thread_id holds pthread_self() (CPython 3.9/3.10:
				    * PyThreadState.thread_id), compared with the thread's
				    * fsbase (x86-64 glibc: pthread_self() == fsbase); else it
				    * holds the kernel TID (native_thread_id, 3.11+) */

/* Value of the fql_py_procs map (key: tgid, __u32). Written by userspace only. All offsets in
 * bytes. 32 bytes. */
struct fql_py_proc {
	fql_u64 runtime_addr;       /* absolute address of _PyRuntime in the process (load bias
				     * applied) */
	fql_u32 runtime_interp_main;/* _PyRuntimeState -> interpreters.main (PyInterpreterState*) */
	fql_u32 interp_threads_head;/* PyInterpreterState -> threads.head (3.9/3.10: tstate_head) */
	fql_u32 tstate_next;        /* PyThreadState -> next */
	fql_u32 tstate_thread_id;   /* PyThreadState -> native_thread_id (or thread_id, see
				     * FQL_PY_F_MATCH_PTHREAD) */
	fql_u32 tstate_context;     /* PyThreadState -> context (PyObject*, a PyContext or NULL) */
	fql_u32 flags;              /* FQL_PY_F_* */
};

/* FQL_EV_PY_CTX record (48 bytes): h.tgid/h.tid = the thread whose copy returned, h.fd = -1,
 * h.gen = 0, h.ts_ns = at the return. */
struct fql_py_ctx_event {
	struct fql_event_header h;
	fql_u64 parent; /* PyContext* current on the thread at the copy (0: none or unreadable) */
	fql_u64 child;  /* the new PyContext* PyContext_CopyCurrent returned (never 0: failed
			 * copies are not reported) */
};

#endif /* FRAISEQL_ABI_EVENTS_H */
