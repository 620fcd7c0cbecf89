/* SPDX-License-Identifier: Apache-2.0
 *
 * The ABI between bpf/ (kernel) and userspace/: every record the ring buffer carries.
 * C only, fixed-width types, no pointers, no bool, pinned enum values. Included by the
 * BPF programs (after vmlinux.h) and by C++ (which static_asserts sizes and offsets in
 * userspace/decoder/abi_check.cc). Bump FQL_ABI_VERSION on any layout change.
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

#define FQL_ABI_VERSION 1

/* Largest payload one data event carries (also the per-CPU scratch size). A syscall
 * moving more bytes than the configured capture cap is truncated: orig_size says how
 * many bytes really moved, copied how many follow the header. */
#define FQL_MAX_CHUNK 16384
/* A syscall's bytes are emitted in at most this many chunks (so the cap is <= 64 KiB). */
#define FQL_MAX_CHUNKS_PER_SYSCALL 4
/* iovecs walked per readv/writev/recvmsg/sendmsg; the rest is counted, not copied. */
#define FQL_MAX_IOV 8
/* Default copy cap per syscall. 64 KiB, not 16: a server's single read often holds several
 * pipelined requests after a large body (uvicorn reads up to 64 KiB at a time), and bytes past
 * the cap are lost for framing, so the requests behind them could not be counted. */
#define FQL_DEFAULT_CAPTURE_CAP 65536

enum fql_event_kind {
	FQL_EV_DATA = 1,       /* struct fql_data_event + copied payload bytes */
	FQL_EV_CONN_OPEN = 2,  /* struct fql_conn_event: a TCP socket fd is now tracked */
	FQL_EV_CONN_CLOSE = 3, /* struct fql_conn_event: close() of a tracked socket */
	FQL_EV_PROC_FORK = 4,  /* struct fql_proc_event: a watched process forked (child watched) */
	FQL_EV_PROC_EXEC = 5,  /* struct fql_proc_event: any process exec'd (userspace re-checks it) */
	FQL_EV_PROC_EXIT = 6,  /* struct fql_proc_event: a watched process exited */
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

#endif /* FRAISEQL_ABI_EVENTS_H */
