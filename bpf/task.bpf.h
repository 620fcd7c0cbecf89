/* SPDX-License-Identifier: Apache-2.0
 *
 * CO-RE helpers over task_struct for the sched tracepoints.
 */
#ifndef FRAISEQL_BPF_TASK_BPF_H
#define FRAISEQL_BPF_TASK_BPF_H

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>

/* Thread-group entries walked from the tail when classifying a fork. */
#define FQL_THREAD_WALK 4

/* Called from sched_process_fork (current = the forking thread). The classic tracepoint
 * gives only the child's pid, not its tgid. copy_process() appends a CLONE_THREAD child
 * at the tail of current->signal->thread_head (thread_node, since 3.14), so the child is
 * a thread of ours iff it is among the last entries of that list. Returns 1 for a thread. */
static __always_inline int fql_child_is_thread(__u32 child_pid)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct signal_struct *sig = BPF_CORE_READ(task, signal);
	struct list_head *head, *node;
	unsigned long off = bpf_core_field_offset(struct task_struct, thread_node);
	int i;

	if (!sig)
		return 0;
	head = &sig->thread_head;
	node = BPF_CORE_READ(sig, thread_head.prev);
	for (i = 0; i < FQL_THREAD_WALK; i++) {
		struct task_struct *t;

		if (!node || node == head)
			break;
		t = (struct task_struct *)((void *)node - off);
		if ((__u32)BPF_CORE_READ(t, pid) == child_pid)
			return 1;
		node = BPF_CORE_READ(node, prev);
	}
	return 0;
}

#endif /* FRAISEQL_BPF_TASK_BPF_H */
