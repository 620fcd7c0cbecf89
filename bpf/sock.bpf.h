/* SPDX-License-Identifier: Apache-2.0
 *
 * CO-RE helpers: from a file descriptor of the current task to its TCP socket and tuple,
 * without kprobes (syscall tracepoints only). Every kernel difference this code depends
 * on is listed here, each with a one-line reason.
 */
#ifndef FRAISEQL_BPF_SOCK_BPF_H
#define FRAISEQL_BPF_SOCK_BPF_H

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* vmlinux.h carries no macros. */
#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#ifndef SOCK_STREAM
#define SOCK_STREAM 1
#endif
#ifndef IPPROTO_TCP
#define IPPROTO_TCP 6
#endif
#ifndef EINPROGRESS
#define EINPROGRESS 115
#endif
#define FQL_S_IFMT 00170000
#define FQL_S_IFSOCK 0140000
#define FQL_S_ISSOCK(m) (((m) & FQL_S_IFMT) == FQL_S_IFSOCK)
#define FQL_MSG_PEEK 0x2

/* sk_type/sk_protocol were bitfields in sk_flags before 5.6; the old layout is
 * described by this flavour so one object loads on both. */
struct sock___old {
	unsigned int sk_protocol : 8;
	unsigned int sk_type : 16;
} __attribute__((preserve_access_index));

struct fql_tuple {
	__u16 family;
	__u16 lport; /* host order */
	__u16 rport; /* host order */
	__u16 _pad;
	__u8 laddr[16];
	__u8 raddr[16];
};

/* fd -> struct file * of the current task, or NULL. task->files->fdt->fd[fd]. */
static __always_inline struct file *fql_fd_to_file(__s32 fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct fdtable *fdt;
	struct file **fds;
	struct file *f = NULL;
	unsigned int max_fds;

	if (fd < 0)
		return NULL;
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt)
		return NULL;
	max_fds = BPF_CORE_READ(fdt, max_fds);
	if ((unsigned int)fd >= max_fds)
		return NULL;
	fds = BPF_CORE_READ(fdt, fd);
	if (!fds)
		return NULL;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]))
		return NULL;
	return f;
}

static __always_inline __u16 fql_sk_type(struct sock *sk)
{
	/* 5.6 made sk_type a plain u16 field. */
	if (bpf_core_field_exists(sk->sk_type) && bpf_core_field_size(sk->sk_type) == 2)
		return BPF_CORE_READ(sk, sk_type);
	return BPF_CORE_READ_BITFIELD_PROBED((struct sock___old *)sk, sk_type);
}

static __always_inline __u16 fql_sk_protocol(struct sock *sk)
{
	/* 5.6 made sk_protocol a plain u16 field. */
	if (bpf_core_field_exists(sk->sk_protocol) && bpf_core_field_size(sk->sk_protocol) == 2)
		return BPF_CORE_READ(sk, sk_protocol);
	return BPF_CORE_READ_BITFIELD_PROBED((struct sock___old *)sk, sk_protocol);
}

/* Returns 1 and fills *t when fd is an AF_INET/AF_INET6 TCP stream socket, else 0. */
static __always_inline int fql_fd_tcp_tuple(__s32 fd, struct fql_tuple *t)
{
	struct file *f = fql_fd_to_file(fd);
	struct socket *sock;
	struct sock *sk;
	umode_t mode;
	__u16 family;

	if (!f)
		return 0;
	mode = BPF_CORE_READ(f, f_inode, i_mode);
	if (!FQL_S_ISSOCK(mode))
		return 0;
	sock = BPF_CORE_READ(f, private_data);
	if (!sock)
		return 0;
	sk = BPF_CORE_READ(sock, sk);
	if (!sk)
		return 0;
	family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (fql_sk_type(sk) != SOCK_STREAM || fql_sk_protocol(sk) != IPPROTO_TCP)
		return 0;

	t->family = family;
	t->lport = BPF_CORE_READ(sk, __sk_common.skc_num);
	t->rport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (family == AF_INET) {
		BPF_CORE_READ_INTO(&t->laddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO(&t->raddr, sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO(&t->laddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&t->raddr, sk, __sk_common.skc_v6_daddr);
	}
	return 1;
}

#endif /* FRAISEQL_BPF_SOCK_BPF_H */
