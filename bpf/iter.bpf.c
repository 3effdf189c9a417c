// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Iterator passes userspace runs: the sync pass that seeds and repairs the
 * gauges, the owner passes, and the count of minisockets no tracepoint
 * follows (which also flushes the latency state of the sockets it walks). */
#include "track.bpf.h"
#include "latency.bpf.h"

/* The sync pass: at start it gives every existing full socket its storage
 * and its place in the gauges, classified like the snapshot; afterwards it
 * repairs what missed events left wrong and counts each repair as drift.
 * (The kernel skips a tracing program that would nest on the same CPU, so
 * a softirq state change interrupting a process-context one is missed.)
 * The iterator runs with the socket locked, so no state change interleaves. */
SEC("iter/tcp")
int sync(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	const struct pw_listening *l;
	struct pw_stats *s;
	struct tcp_sock *tp;
	struct pw_key key;
	struct pw_sk *st;
	__u32 zero = 0;
	__u64 now;
	__u8 state, counted;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	l = bpf_map_lookup_elem(&listening, &zero);
	if (!tp || !l)
		return 0;
	state = skc->skc_state;
	if (state == PW_TCP_CLOSE || state > PW_TCP_STATE_MAX ||
	    (pw_sync_listeners && state != PW_TCP_LISTEN))
		return 0;
	st = sk_get((struct sock *)tp, true);
	if (!st) {
		drop(PW_DROP_SK_STORAGE);
		return 0;
	}
	counted = st->state;
	if (counted == state)
		return 0;
	now = bpf_ktime_get_ns();
	if (!st->key.netns) {
		st->key.netns = BPF_CORE_READ(skc, skc_net.net, ns.inum);
		st->key.dir = pw_classify_ports(state, skc->skc_num, bpf_ntohs(skc->skc_dport),
						l->bits, pw_eph_lo, pw_eph_hi, &st->key.port);
		st->start_ns = now;
		st->flags = PW_SK_SEEDED;
		if (pw_latency && st->key.dir == PW_DIR_OUTBOUND)
			out_mark(st, tp->write_seq, now);
	}
	if (!pw_seeding || counted)
		fixed(PW_FIX_DRIFT);
	/* Counted in its direction's port-0 row (PW_SK_NOROW): out of it;
	 * the pass counts every socket in its own row. */
	if (counted && (st->flags & PW_SK_NOROW)) {
		key = counted_key(st);
		s = stats_get(&key);
		if (!s)
			return 0;
		s->gauge[counted & (PW_STATE_SLOTS - 1)]--;
		st->flags &= ~PW_SK_NOROW;
		counted = 0;
		st->state = 0;
	}
	s = stats_get(&st->key);
	if (!s)
		return 0;
	if (counted)
		s->gauge[counted & (PW_STATE_SLOTS - 1)]--;
	if (counted == PW_TCP_CLOSE_WAIT)
		cw_leave((struct sock *)tp, st, now);
	s->gauge[state & (PW_STATE_SLOTS - 1)]++;
	st->state = state;
	st->state_since_ns = now;
	if (state == PW_TCP_CLOSE_WAIT) {
		st->state_since_ns = last_heard_ns((struct sock *)tp, now);
		cw_enter((struct sock *)tp, st);
	}
	return 0;
}

/* The first holder found of a socket with no owner yet. */
static __always_inline void seed_owner(struct sock *sk, __u32 pid, const char *comm)
{
	struct pw_sk *st = sk_get(sk, false);

	if (!st || st->pid)
		return;
	st->pid = pid;
	bpf_probe_read_kernel_str(st->comm, sizeof(st->comm), comm);
	if (st->state == PW_TCP_CLOSE_WAIT)
		cw_set_owner(sk, st);
}

/* Owners of seeded sockets, from the processes' file tables. */
SEC("iter/task_file")
int seed_owners(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct sock *sk;

	if (!task || !file)
		return 0;
	sk = file_tcp_sock(file);
	if (sk)
		seed_owner(sk, task->tgid, task->comm);
	return 0;
}

/* The same where the kernel lacks bpf_sock_from_file: userspace has read
 * the holders of socket inodes from /proc/PID/fd into owner_ino. */
SEC("iter/tcp")
int seed_owners_ino(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	const struct pw_owner *o;
	struct tcp_sock *tp;
	__u32 ino;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	ino = pw_sock_ino((struct sock *)tp);
	o = ino ? bpf_map_lookup_elem(&owner_ino, &ino) : NULL;
	if (o)
		seed_owner((struct sock *)tp, o->pid, o->comm);
	return 0;
}

/* An answer sent and not yet recorded (its time is read at the socket's
 * next event) is recorded now, and the requests timed go into the
 * histogram, so every read has every request answered. */
static void lat_flush(struct sock_common *skc)
{
	struct tcp_sock *tp;
	struct pw_sk *st;

	if (!pw_latency)
		return;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return;
	st = sk_get((struct sock *)tp, false);
	if (!st)
		return;
	if (st->key.dir == PW_DIR_INBOUND && st->lat_phase == PW_LAT_REQUEST)
		in_resolve((struct sock *)tp, st, tp->write_seq, tp->first_tx_mstamp, 0);
	lat_flush_batch(st);
}

/* A listener's accept queue and drops, into the listeners map. */
static void listener(struct sock_common *skc)
{
	struct pw_listener v = {};
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(skc);
	struct sock *sk = (struct sock *)tp;
	__u64 id;

	if (!tp)
		return;
	v.key.netns = BPF_CORE_READ(skc, skc_net.net, ns.inum);
	v.key.port = skc->skc_num;
	v.key.dir = PW_DIR_LISTEN;
	v.backlog = sk->sk_ack_backlog;
	v.max_backlog = sk->sk_max_ack_backlog;
	v.drops = (__u32)BPF_CORE_READ(sk, sk_drops.counter);
	v.pass = pw_pass;
	id = sk_id(sk);
	if (bpf_map_update_elem(&listeners, &id, &v, BPF_ANY))
		drop(PW_DROP_MINI);
}

/* Counting pass for minisockets, which no tracepoint follows: time-wait
 * sockets (TIME_WAIT, and FIN_WAIT2 after close) and request sockets
 * (SYN_RECV); and the listeners' queues. Entries are tagged with the pass
 * (pw_pass): userspace reads those of this pass. */
SEC("iter/tcp")
int count_mini(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_timewait_sock *tw;
	const struct pw_listening *l;
	struct pw_mini_val first = { .pass = pw_pass, .count = 1 }, *v;
	struct pw_mini_key mk = {};
	__u32 zero = 0;
	__u8 state;

	if (!skc)
		return 0;
	state = skc->skc_state;
	if (state == PW_TCP_TIME_WAIT) {
		tw = bpf_skc_to_tcp_timewait_sock(skc);
		if (!tw)
			return 0;
		state = tw->tw_sk.tw_substate;
	} else if (state == PW_TCP_NEW_SYN_RECV) {
		state = PW_TCP_SYN_RECV;
	} else if (state == PW_TCP_LISTEN) {
		listener(skc);
		return 0;
	} else {
		lat_flush(skc);
		return 0;
	}
	l = bpf_map_lookup_elem(&listening, &zero);
	if (!l)
		return 0;
	mk.key.netns = BPF_CORE_READ(skc, skc_net.net, ns.inum);
	mk.key.dir = pw_classify_ports(state, skc->skc_num, bpf_ntohs(skc->skc_dport), l->bits,
				       pw_eph_lo, pw_eph_hi, &mk.key.port);
	mk.state = state;
	/* One pass runs at a time, in one task: no other writer. */
	v = bpf_map_lookup_elem(&mini, &mk);
	if (v && v->pass == pw_pass)
		v->count++;
	else if (v)
		*v = first;
	else if (bpf_map_update_elem(&mini, &mk, &first, BPF_NOEXIST))
		drop(PW_DROP_MINI);
	return 0;
}
