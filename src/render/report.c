// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Tables, JSON documents and check results for `states` and `closewait`. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "render/format.h"
#include "render/report.h"

/* Column order of the states table: the life of a connection, then TIME_WAIT. */
static const __u8 table_states[] = {
	PW_TCP_SYN_SENT,  PW_TCP_SYN_RECV,  PW_TCP_ESTABLISHED, PW_TCP_CLOSE_WAIT, PW_TCP_LAST_ACK,
	PW_TCP_FIN_WAIT1, PW_TCP_FIN_WAIT2, PW_TCP_CLOSING,	PW_TCP_TIME_WAIT,
};
#define N_TABLE_STATES (sizeof(table_states) / sizeof(table_states[0]))

/* JSON lists every state ss can show, zero or not. */
static const __u8 json_states[] = {
	PW_TCP_ESTABLISHED, PW_TCP_SYN_SENT,  PW_TCP_SYN_RECV, PW_TCP_FIN_WAIT1,
	PW_TCP_FIN_WAIT2,   PW_TCP_TIME_WAIT, PW_TCP_CLOSE,    PW_TCP_CLOSE_WAIT,
	PW_TCP_LAST_ACK,    PW_TCP_LISTEN,    PW_TCP_CLOSING,
};
#define N_JSON_STATES (sizeof(json_states) / sizeof(json_states[0]))

/* Rows of several namespaces (netns set) get a NETNS column first. */
static bool rows_netns(const struct pw_live *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (l->rows[i].key.netns)
			return true;
	return false;
}

void pw_states_print(FILE *out, const struct pw_live *l, bool header)
{
	bool ns = rows_netns(l);
	char nsbuf[PW_NETNS_SHOW_LEN];
	size_t i, k;

	if (header) {
		if (ns)
			fprintf(out, "%-16s ", "NETNS");
		fprintf(out, "%-5s %-8s", "PORT", "DIR");
		for (k = 0; k < N_TABLE_STATES; k++)
			fprintf(out, " %10s", pw_state_label(table_states[k]));
		fprintf(out, " %13s\n", "ACCEPT-QUEUE");
	}
	for (i = 0; i < l->n; i++) {
		const struct pw_live_row *r = &l->rows[i];

		if (ns)
			fprintf(out, "%-16s ", pw_netns_show(nsbuf, sizeof(nsbuf), r->key.netns));
		fprintf(out, "%-5u %-8s", r->key.port, pw_dir_name(r->key.dir));
		if (r->key.dir == PW_DIR_LISTEN) {
			char q[32];

			for (k = 0; k < N_TABLE_STATES; k++)
				fprintf(out, " %10s", "-");
			snprintf(q, sizeof(q), "%u/%u", r->acceptq, r->acceptq_max);
			fprintf(out, " %13s\n", q);
			continue;
		}
		for (k = 0; k < N_TABLE_STATES; k++)
			fprintf(out, " %10lld", (long long)r->states[table_states[k]]);
		fprintf(out, " %13s\n", "-");
	}
}

json_t *pw_state_counts_json(const __s64 *counts)
{
	json_t *states = json_object();
	size_t k;

	for (k = 0; states && k < N_JSON_STATES; k++)
		json_object_set_new(states, pw_state_name(json_states[k]),
				    json_integer(counts[json_states[k]]));
	return states;
}

json_t *pw_states_json(const struct pw_live *l)
{
	json_t *arr = json_array(), *obj;
	size_t i;

	for (i = 0; arr && i < l->n; i++) {
		const struct pw_live_row *r = &l->rows[i];

		obj = json_pack("{s:i, s:s, s:o}", "port", r->key.port, "direction",
				pw_dir_name(r->key.dir), "states", pw_state_counts_json(r->states));
		if (obj && r->key.netns) {
			json_object_set_new(obj, "netns", json_integer(r->key.netns));
			pw_json_netns_name(obj, r->key.netns);
		}
		if (obj && r->key.dir == PW_DIR_LISTEN) {
			json_object_set_new(obj, "accept_queue", json_integer(r->acceptq));
			json_object_set_new(obj, "accept_queue_max", json_integer(r->acceptq_max));
		}
		if (!obj || json_array_append_new(arr, obj)) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static int cmp_cw_oldest(const void *a, const void *b)
{
	const struct pw_cw *x = a, *y = b;

	if (x->age_seconds != y->age_seconds)
		return x->age_seconds > y->age_seconds ? -1 : 1;
	return x->sock < y->sock ? -1 : x->sock > y->sock;
}

int pw_cw_collect(const struct pw_snap *snap, const struct pw_portset *filter, double min_age,
		  struct pw_cw **list, size_t *n)
{
	struct pw_cw *out;
	size_t i, k = 0;
	double age;

	out = calloc(snap->nsocks + 1, sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (i = 0; i < snap->nsocks; i++) {
		if (snap->socks[i].state != PW_TCP_CLOSE_WAIT ||
		    !pw_portset_match(filter, snap->port[i]))
			continue;
		age = pw_snap_age_seconds(snap, &snap->socks[i]);
		if (age < min_age)
			continue;
		out[k].sock = i;
		out[k].age_seconds = age;
		k++;
	}
	qsort(out, k, sizeof(*out), cmp_cw_oldest);
	*list = out;
	*n = k;
	return 0;
}

static int cmp_group(const void *a, const void *b)
{
	const struct pw_cw_group *x = a, *y = b;

	if (x->count != y->count)
		return x->count > y->count ? -1 : 1;
	if (x->oldest_seconds != y->oldest_seconds)
		return x->oldest_seconds > y->oldest_seconds ? -1 : 1;
	if (x->netns != y->netns)
		return x->netns < y->netns ? -1 : 1;
	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	if (x->dir != y->dir)
		return x->dir < y->dir ? -1 : 1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

static int add_to_group(struct pw_cw_group **groups, size_t *n, size_t *cap, __u32 netns,
			__u16 port, __u8 dir, __u32 pid, const char *comm, double age)
{
	struct pw_cw_group *g;
	size_t i;

	/* Groups are few (ports x processes): a linear scan is cheapest. */
	for (i = 0; i < *n; i++) {
		g = &(*groups)[i];
		if (g->netns == netns && g->port == port && g->dir == dir && g->pid == pid)
			goto found;
	}
	if (*n == *cap) {
		size_t ncap = *cap ? *cap * 2 : 16;
		struct pw_cw_group *tmp = realloc(*groups, ncap * sizeof(*tmp));

		if (!tmp)
			return -ENOMEM;
		*groups = tmp;
		*cap = ncap;
	}
	g = &(*groups)[(*n)++];
	memset(g, 0, sizeof(*g));
	g->netns = netns;
	g->port = port;
	g->dir = dir;
	g->pid = pid;
	snprintf(g->comm, sizeof(g->comm), "%s", comm);
found:
	g->count++;
	if (age > g->oldest_seconds)
		g->oldest_seconds = age;
	return 0;
}

int pw_cw_group(const struct pw_snap *snap, const struct pw_cw *list, size_t n,
		struct pw_cw_group **groups, size_t *ngroups)
{
	struct pw_cw_group *out = NULL;
	size_t i, j, first, owners, cnt = 0, cap = 0;
	__u32 last_pid;
	int err;

	for (i = 0; i < n; i++) {
		const struct pw_sock_rec *r = &snap->socks[list[i].sock];
		__u16 port = snap->port[list[i].sock];
		__u8 dir = snap->dir[list[i].sock];
		__u32 netns = snap->netns ? snap->netns[list[i].sock] : 0;

		owners = pw_snap_owners(snap, r->sk, &first);
		if (!owners) {
			err = add_to_group(&out, &cnt, &cap, netns, port, dir, 0, "(orphan)",
					   list[i].age_seconds);
			if (err)
				goto fail;
			continue;
		}
		/* Owners are sorted by pid: count a process once per socket even
		 * when it holds the socket through several descriptors. */
		last_pid = 0;
		for (j = first; j < first + owners; j++) {
			const struct pw_file_rec *f = &snap->files[j];

			if (f->pid == last_pid)
				continue;
			last_pid = f->pid;
			err = add_to_group(&out, &cnt, &cap, netns, port, dir, f->pid, f->comm,
					   list[i].age_seconds);
			if (err)
				goto fail;
		}
	}
	if (cnt)
		qsort(out, cnt, sizeof(*out), cmp_group);
	*groups = out;
	*ngroups = cnt;
	return 0;
fail:
	free(out);
	return err;
}

static void print_owners(FILE *out, const struct pw_snap *snap, __u64 sk)
{
	size_t first, owners, j;

	owners = pw_snap_owners(snap, sk, &first);
	if (!owners) {
		fputs("(orphan)", out);
		return;
	}
	for (j = first; j < first + owners; j++)
		fprintf(out, "%s%s(pid=%u,fd=%u)", j > first ? "," : "", snap->files[j].comm,
			snap->files[j].pid, snap->files[j].fd);
}

void pw_cw_print(FILE *out, const struct pw_snap *snap, const struct pw_cw *list, size_t n,
		 const struct pw_cw_group *groups, size_t ngroups, bool header)
{
	char local[PW_ENDPOINT_LEN], remote[PW_ENDPOINT_LEN], age[PW_AGE_LEN], idle[PW_AGE_LEN];
	char nsbuf[PW_NETNS_SHOW_LEN];
	size_t i;

	if (!n) {
		if (header)
			fputs("no sockets in CLOSE_WAIT\n", out);
		return;
	}
	if (header && snap->netns)
		fprintf(out, "%-16s ", "NETNS");
	if (header)
		fprintf(out, "%-5s %-8s %8s %8s  %-47s %-47s %s\n", "PORT", "DIR", "AGE", "IDLE",
			"LOCAL", "REMOTE", "OWNERS");
	for (i = 0; i < n; i++) {
		const struct pw_sock_rec *r = &snap->socks[list[i].sock];

		pw_format_endpoint(local, sizeof(local), r->family, r->saddr, r->sport);
		pw_format_endpoint(remote, sizeof(remote), r->family, r->daddr, r->dport);
		pw_format_age(age, sizeof(age), list[i].age_seconds);
		pw_format_age(idle, sizeof(idle), pw_snap_idle_seconds(snap, r));
		if (snap->netns)
			fprintf(out, "%-16s ",
				pw_netns_show(nsbuf, sizeof(nsbuf), snap->netns[list[i].sock]));
		fprintf(out, "%-5u %-8s %8s %8s  %-47s %-47s ", snap->port[list[i].sock],
			pw_dir_name(snap->dir[list[i].sock]), age, idle, local, remote);
		print_owners(out, snap, r->sk);
		fputc('\n', out);
	}
	if (!header) /* the sockets alone, for scripts */
		return;
	fputc('\n', out);
	if (snap->netns)
		fprintf(out, "%-16s ", "NETNS");
	fprintf(out, "%-5s %-8s %8s %8s  %-7s %s\n", "PORT", "DIR", "SOCKETS", "OLDEST", "PID",
		"COMM");
	for (i = 0; i < ngroups; i++) {
		const struct pw_cw_group *g = &groups[i];
		char pid[16] = "-";

		if (g->pid)
			snprintf(pid, sizeof(pid), "%u", g->pid);
		pw_format_age(age, sizeof(age), g->oldest_seconds);
		if (snap->netns)
			fprintf(out, "%-16s ", pw_netns_show(nsbuf, sizeof(nsbuf), g->netns));
		fprintf(out, "%-5u %-8s %8u %8s  %-7s %s\n", g->port, pw_dir_name(g->dir), g->count,
			age, pid, g->comm);
	}
}

json_t *pw_cw_json(const struct pw_snap *snap, const struct pw_cw *list, size_t n)
{
	char local[PW_ENDPOINT_LEN], remote[PW_ENDPOINT_LEN];
	json_t *arr = json_array(), *obj, *owners;
	size_t i, j, first, cnt;

	for (i = 0; arr && i < n; i++) {
		const struct pw_sock_rec *r = &snap->socks[list[i].sock];

		pw_format_endpoint(local, sizeof(local), r->family, r->saddr, r->sport);
		pw_format_endpoint(remote, sizeof(remote), r->family, r->daddr, r->dport);
		owners = json_array();
		cnt = pw_snap_owners(snap, r->sk, &first);
		for (j = first; owners && j < first + cnt; j++)
			json_array_append_new(owners, json_pack("{s:i, s:s, s:i}", "pid",
								snap->files[j].pid, "comm",
								snap->files[j].comm, "fd",
								snap->files[j].fd));
		obj = json_pack(
			"{s:i, s:s, s:s, s:s, s:o, s:o, s:o}", "port", snap->port[list[i].sock],
			"direction", pw_dir_name(snap->dir[list[i].sock]), "local", local, "remote",
			remote, "age_seconds", pw_json_seconds(list[i].age_seconds), "idle_seconds",
			pw_json_seconds(pw_snap_idle_seconds(snap, r)), "owners", owners);
		if (obj && snap->netns) {
			json_object_set_new(obj, "netns", json_integer(snap->netns[list[i].sock]));
			pw_json_netns_name(obj, snap->netns[list[i].sock]);
		}
		if (!obj || json_array_append_new(arr, obj)) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

enum pw_check pw_check_eval(const struct pw_threshold *t, __u64 value)
{
	if (t->has_crit && value >= t->crit)
		return PW_CHECK_CRITICAL;
	if (t->has_warn && value >= t->warn)
		return PW_CHECK_WARNING;
	return PW_CHECK_OK;
}

const char *pw_check_name(enum pw_check c)
{
	static const char *const names[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };

	return c <= PW_CHECK_UNKNOWN ? names[c] : "UNKNOWN";
}

static void print_perf_threshold(FILE *out, bool has, __u32 v)
{
	if (has)
		fprintf(out, "%u", v);
}

void pw_cw_check_print(FILE *out, enum pw_check c, const struct pw_threshold *t,
		       const struct pw_cw *list, size_t n, const struct pw_cw_group *groups,
		       size_t ngroups)
{
	char age[PW_AGE_LEN];
	double oldest = n ? list[0].age_seconds : 0;

	fprintf(out, "CLOSEWAIT %s - %zu socket%s in CLOSE_WAIT", pw_check_name(c), n,
		n == 1 ? "" : "s");
	if (n) {
		pw_format_age(age, sizeof(age), oldest);
		fprintf(out, ", oldest %s", age);
	}
	if (ngroups) {
		const struct pw_cw_group *g = &groups[0];

		fprintf(out, "; most on port %u %s: %u held by ", g->port, pw_dir_name(g->dir),
			g->count);
		if (g->pid)
			fprintf(out, "%s[%u]", g->comm, g->pid);
		else
			fputs("no process", out);
	}
	fputs(" | close_wait=", out);
	fprintf(out, "%zu;", n);
	print_perf_threshold(out, t->has_warn, t->warn);
	fputc(';', out);
	print_perf_threshold(out, t->has_crit, t->crit);
	fprintf(out, ";0; close_wait_oldest=%.3fs;;;0;\n", oldest);
}
