/* SPDX-License-Identifier: Apache-2.0 */
/* Ring-buffer wakeups. A bpf_ringbuf_output() that wakes the consumer queues an irq_work
 * (an IPI): measured here (nested virtualisation) at ~10 us per event on the DB-heavy
 * benchmark route, about 40 % of the observed app's throughput. So events are written
 * without a wakeup, and the consumer is woken only once this much data waits; the collector
 * drains the ring on every poll period anyway (userspace/loader/ringbuf_source.cc). */
#ifndef FRAISEQL_RINGBUF_BPF_H
#define FRAISEQL_RINGBUF_BPF_H

#define FQL_WAKEUP_BYTES (512 * 1024)

#define fql_rb_flags(rb) \
	(bpf_ringbuf_query((rb), BPF_RB_AVAIL_DATA) >= FQL_WAKEUP_BYTES ? BPF_RB_FORCE_WAKEUP \
									 : BPF_RB_NO_WAKEUP)

#endif /* FRAISEQL_RINGBUF_BPF_H */
