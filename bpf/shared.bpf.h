/* SPDX-License-Identifier: Apache-2.0 */
/* What capture.bpf.c and libpq.bpf.c share: the maps the loader reuses between the two
 * objects (the watched-TGID filter, the ring buffer, the per-CPU loss counters) and their
 * helpers. Include after vmlinux.h, the libbpf headers and fraiseql/abi/events.h. */
#ifndef FRAISEQL_SHARED_BPF_H
#define FRAISEQL_SHARED_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} fql_watched SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20); /* the loader sets the real size */
} fql_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FQL_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} fql_stats SEC(".maps");

/* First thing in every program: is the current process watched? */
static __always_inline int fql_watched_now(void)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	return bpf_map_lookup_elem(&fql_watched, &tgid) != NULL;
}

static __always_inline void fql_count(__u32 idx, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(&fql_stats, &idx);

	if (v)
		*v += n; /* per-CPU slot: no atomic needed */
}

/* Ring-buffer wakeups. A bpf_ringbuf_output() that wakes the consumer queues an irq_work
 * (an IPI): measured here (nested virtualisation) at ~10 us per event on the DB-heavy
 * benchmark route, about 40 % of the observed app's throughput. So events are written
 * without a wakeup, and the consumer is woken only once this much data waits; the collector
 * drains the ring on every poll period anyway (userspace/loader/ringbuf_source.cc). */
#define FQL_WAKEUP_BYTES (512 * 1024)

static __always_inline __u64 fql_rb_flags(void)
{
	return bpf_ringbuf_query(&fql_events, BPF_RB_AVAIL_DATA) >= FQL_WAKEUP_BYTES
		       ? BPF_RB_FORCE_WAKEUP
		       : BPF_RB_NO_WAKEUP;
}

#endif /* FRAISEQL_SHARED_BPF_H */
