// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `portwatch daemon`: the tracing service. One loop owns the tracker: it
 * drains events, reads the maps each second into the /metrics text,
 * evaluates the rules each evaluation interval, reconciles, and reloads the
 * configuration on SIGHUP. HTTP and notifiers run in threads of their own
 * and only ever receive copies. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "common/stop.h"
#include "common/args.h"
#include "common/clock.h"
#include "common/log.h"
#include "config/config.h"
#include "core/netns.h"
#include "core/snapshot.h"
#include "core/track.h"
#include "daemon/daemon.h"
#include "daemon/exporter.h"
#include "daemon/notify.h"
#include "model/alert.h"
#include "render/alert_text.h"
#include "render/format.h"
#include "render/metrics.h"
#include "render/self_metrics.h"

/* A scrape is served text at most this old: older, it waits for a read. */
#define PUBLISH_NS PW_NSEC_PER_SEC

struct daemon {
	struct pw_config cfg;
	struct pw_tracker *tracker;
	struct pw_exporter *http;
	struct pw_alerts *alerts;
	struct pw_notify *notify;
	char hostname[256];
	struct pw_portcap cap;
	struct pw_bounds bounds;
	struct pw_live live;
	struct pw_text text;
	__u64 reloads_ok, reloads_failed;
	double last_reload_ok; /* wall clock */
	__u64 drops_logged; /* drops already reported in the log */
};

static volatile sig_atomic_t reload;

static void on_hup(int sig)
{
	(void)sig;
	reload = 1;
}

int pw_daemon_load_config(const char *path, struct pw_config *cfg)
{
	char why[512];
	int err;

	err = pw_config_load(path, cfg, why, sizeof(why));
	if (err)
		pw_err("%s", why);
	return err;
}

/* Each notifier's command or URL checked as it is on disk and on paper:
 * with --check an error, for the running daemon a warning (the command
 * may be deployed after the config). Whether any failed. */
static bool verify_notifiers(const struct pw_config *cfg, bool fatal)
{
	char why[PATH_MAX + 128];
	bool bad = false;
	size_t i;

	for (i = 0; i < cfg->n_notifiers; i++) {
		if (!pw_notify_verify(&cfg->notifiers[i], why, sizeof(why)))
			continue;
		bad = true;
		if (fatal)
			pw_err("%s: %s", cfg->path, why);
		else
			pw_warn("%s: %s: its alerts will fail until it is fixed", cfg->path, why);
	}
	return bad;
}

/* The BPF side's loss, said once in the log as it grows. */
static void log_drops(struct daemon *d, const __u64 *drops)
{
	__u64 total = 0;
	size_t i;

	for (i = 0; i < PW_DROP_MAX; i++)
		total += drops[i];
	if (total > d->drops_logged) {
		pw_warn("lost %llu records since the last report (portwatch_drops_total)",
			(unsigned long long)(total - d->drops_logged));
		d->drops_logged = total;
	}
}

static long long tracked_sockets(const struct pw_live *l)
{
	long long n = 0;
	size_t i;
	int s;

	for (i = 0; i < l->n; i++)
		for (s = 0; s < PW_STATE_SLOTS; s++)
			n += l->rows[i].states[s];
	return n;
}

/* What the kernel gives: program run times (only with
 * kernel.bpf_stats_enabled=1, the kernel keeps no count without) and
 * features. */
static void write_kernel(struct daemon *d)
{
	const struct pw_feature_state *f = pw_tracker__features(d->tracker);
	const char *ids[PW_FEAT_MAX], *hooks[PW_FEAT_MAX];
	struct pw_prog_text p = {};
	int i;

	if (!pw_tracker__prog_stats(d->tracker, pw_self_prog_stat, &p))
		pw_self_write_prog_stats(&d->text, &p);
	pw_prog_text_free(&p);
	for (i = 0; i < PW_FEAT_MAX; i++) {
		ids[i] = pw_feature_id(i);
		hooks[i] = f[i].hook;
	}
	pw_self_write_features(&d->text, ids, hooks, PW_FEAT_MAX);
}

static void write_self(struct daemon *d)
{
	struct pw_self_stats s = {
		.tracked = tracked_sockets(&d->live),
		.reloads_ok = d->reloads_ok,
		.reloads_failed = d->reloads_failed,
		.last_reload_ok = d->last_reload_ok,
	};

	pw_tracker__drops(d->tracker, s.drops);
	pw_tracker__health(d->tracker, s.fixes, &s.missed);
	log_drops(d, s.drops);
	pw_self_write_stats(&d->text, &s);
	write_kernel(d);
	pw_self_write_build_info(&d->text);
}

static void write_notifiers(struct daemon *d)
{
	struct pw_notifier_counts c[PW_CONFIG_MAX_NOTIFIERS];
	struct pw_notify_stats st;
	size_t i;

	for (i = 0; i < d->cfg.n_notifiers && i < PW_CONFIG_MAX_NOTIFIERS; i++) {
		pw_notify__stats(d->notify, i, &st);
		c[i] = (struct pw_notifier_counts){
			.name = d->cfg.notifiers[i].name,
			.sent = st.sent,
			.failed = st.failed,
			.dropped = st.dropped,
			.timeouts = st.timeouts,
		};
	}
	pw_self_write_notifiers(&d->text, c, i);
}

static void send_msg(struct daemon *d, struct pw_notify *to, const struct pw_rule *r,
		     const struct pw_alert *a, const struct pw_alert_note *n, const char *summary,
		     const size_t *idx, size_t count)
{
	double ago = pw_seconds(n->now_ns - (a->firing_since_ns ? a->firing_since_ns : n->now_ns));
	struct pw_alert_msg m;

	pw_alert_msg_init(&m, r, n, summary, d->hostname);
	m.starts_at = (time_t)(pw_wall_now() - ago);
	if (n->change == PW_ALERT_RESOLVED)
		m.ends_at = (time_t)pw_wall_now();
	pw_notify__send(to, idx, count, &m);
}

/* To the rule's notifiers (every one when it names none). */
static void notify(struct daemon *d, const struct pw_alert_note *n, const char *summary)
{
	/* The engine's copy of a rule has no notify list: the config's has. */
	const struct pw_rule *cr = &d->cfg.rules[n->rule];
	size_t all[256], i, count = cr->n_notify;
	const size_t *idx = cr->notify;

	if (!count) {
		for (i = 0; i < d->cfg.n_notifiers && i < 256; i++)
			all[i] = i;
		idx = all;
		count = i;
	}
	send_msg(d, d->notify, pw_alerts__rule(d->alerts, n->rule),
		 pw_alerts__status(d->alerts, n->rule), n, summary, idx, count);
}

/* A reload that removes or changes a rule whose alert was firing, notified,
 * resolves it: otherwise Alertmanager would keep it until its timeout. */
static void resolve_dropped(struct daemon *d, const struct pw_alerts *next,
			    const struct pw_config *ncfg, struct pw_notify *nn)
{
	size_t j, i, k, m, idx[256], count;
	char line[256];

	for (j = 0; j < pw_alerts__count(d->alerts); j++) {
		const struct pw_alert *a = pw_alerts__status(d->alerts, j);
		const struct pw_rule *r = pw_alerts__rule(d->alerts, j);
		const struct pw_rule *cr = &d->cfg.rules[j];
		struct pw_alert_note n = {
			.rule = j,
			.change = PW_ALERT_RESOLVED,
			.severity = a->severity,
			.value = a->value,
			.threshold = r->clear,
			.now_ns = pw_mono_ns(),
		};
		bool kept = false;

		if (a->state != PW_AS_FIRING || !a->notified)
			continue;
		for (i = 0; i < pw_alerts__count(next); i++)
			if (!strcmp(pw_alerts__rule(next, i)->name, r->name))
				kept = pw_alerts__status(next, i)->state == PW_AS_FIRING;
		if (kept)
			continue;
		/* The old rule's notifiers, by name, in the new config. */
		count = 0;
		for (i = 0; i < ncfg->n_notifiers && count < 256; i++) {
			bool named = !cr->n_notify;

			for (k = 0; k < cr->n_notify; k++) {
				m = cr->notify[k];
				named |= !strcmp(d->cfg.notifiers[m].name, ncfg->notifiers[i].name);
			}
			if (named)
				idx[count++] = i;
		}
		pw_alert_reload_line(line, sizeof(line), r);
		pw_info("%s", line);
		send_msg(d, nn, r, a, &n, PW_ALERT_RELOAD_SUMMARY, idx, count);
	}
}

/* Whether a rule's notifications go to a `log` notifier. */
static bool notifies_log(const struct daemon *d, size_t rule)
{
	const struct pw_rule *cr = &d->cfg.rules[rule];
	size_t i;

	for (i = 0; i < (cr->n_notify ? cr->n_notify : d->cfg.n_notifiers); i++)
		if (d->cfg.notifiers[cr->n_notify ? cr->notify[i] : i].kind == PW_NK_LOG)
			return true;
	return false;
}

static void on_note(void *ctx, const struct pw_alert_note *n)
{
	struct daemon *d = ctx;
	const struct pw_rule *r = pw_alerts__rule(d->alerts, n->rule);
	char summary[512], line[1024];

	/* Rows from every namespace: the summary says whose. */
	pw_alert_summary(summary, sizeof(summary), r, n, d->cfg.all_netns ? &d->live : NULL);
	pw_alert_log_line(line, sizeof(line), r, n, summary);
	/* One line per transition: a `log` notifier's delivery is this line,
	 * at warning level. */
	(n->notify && notifies_log(d, n->rule) ? pw_warn : pw_info)("%s", line);
	if (n->notify)
		notify(d, n, summary);
}

/* Reads the maps, evaluates the rules if due, republishes /metrics. */
static int refresh(struct daemon *d, bool eval)
{
	struct pw_metrics_opts o = {
		.bounds = &d->bounds,
		.netns_label = d->cfg.all_netns,
		.latency = pw_tracker__latency(d->tracker),
		.accept_wait = pw_tracker__accept_wait(d->tracker),
	};
	int err;

	/* Each failure is said once, here or by the tracker. */
	err = pw_tracker__read(d->tracker, &d->live);
	if (err) {
		pw_exporter__health(d->http, false, "reading the BPF maps failed");
		return err;
	}
	if (eval && pw_alerts__eval(d->alerts, &d->live, on_note, d))
		pw_warn("evaluate rules: bad read");
	pw_text_reset(&d->text);
	pw_metrics_write_ports(&d->text, &d->live, &d->cap, &o);
	pw_self_write_alerts(&d->text, d->alerts);
	write_notifiers(d);
	write_self(d);
	err = d->text.err;
	if (!err) {
		pw_exporter__health(d->http, true, NULL);
		err = pw_exporter__publish(d->http, d->text.s, d->text.len);
	}
	if (err)
		pw_err("publish metrics: %s", strerror(-err));
	return err;
}

static bool ports_changed(const struct pw_config *a, const struct pw_config *b)
{
	return a->max_ports != b->max_ports || a->n_ports != b->n_ports ||
	       (a->n_ports && memcmp(a->ports, b->ports, a->n_ports * sizeof(*a->ports)));
}

/* reload: the running configuration is d->cfg; else this is the first. */
static int apply_config(struct daemon *d, struct pw_config *cfg, bool reload)
{
	int err;

	err = pw_bounds_init(&d->bounds, cfg->buckets, cfg->n_buckets);
	if (err) {
		pw_err("%s: buckets: not ascending positive seconds", cfg->path);
		return err;
	}
	/* The exported port set, and what "other" has gathered, live on
	 * unless the ports settings change. */
	if (!reload || ports_changed(&d->cfg, cfg)) {
		pw_portcap_free(&d->cap);
		pw_portcap_init(&d->cap, cfg->ports, cfg->n_ports, cfg->max_ports);
	}
	return 0;
}

static bool tracker_changed(const struct pw_config *a, const struct pw_config *b)
{
	return a->latency != b->latency || a->accept_wait != b->accept_wait ||
	       a->all_netns != b->all_netns;
}

static bool listen_changed(const struct pw_config *a, const struct pw_config *b)
{
	return strcmp(a->listen_addr, b->listen_addr) || a->listen_port != b->listen_port ||
	       a->max_connections != b->max_connections;
}

/* The ports named in the file: attempts to them count under their own port
 * even before one succeeds. NULL on ENOMEM. */
static struct pw_portset *named_ports(const struct pw_config *cfg)
{
	struct pw_portset *pins = calloc(1, sizeof(*pins));
	size_t i;

	if (!pins)
		return NULL;
	for (i = 0; i < cfg->n_ports; i++)
		pins->bits[cfg->ports[i] / 64] |= 1ULL << (cfg->ports[i] % 64);
	for (i = 0; i < cfg->n_rules; i++)
		pins->bits[cfg->rules[i].port / 64] |= 1ULL << (cfg->rules[i].port % 64);
	return pins;
}

static struct pw_tracker *start_tracker(const struct pw_config *cfg)
{
	struct pw_tracker_opts o = {
		.all_netns = cfg->all_netns,
		.latency = cfg->latency,
		.accept_wait = cfg->accept_wait,
		.forget_ns = cfg->forget_ns,
	};
	struct pw_portset *pins = named_ports(cfg);
	struct pw_tracker *t;

	o.pins = pins;
	t = pw_tracker__new(&o);
	free(pins);
	return t;
}

static void *free_notify(void *p)
{
	pw_notify__free(p);
	return NULL;
}

/* SIGHUP: a bad file changes nothing. */
static void do_reload(struct daemon *d)
{
	struct pw_config cfg = {};
	struct pw_exporter *http = NULL;
	struct pw_tracker *tracker = NULL;
	struct pw_alerts *alerts = NULL;
	struct pw_notify *nn = NULL;
	pthread_t th;

	pw_info("reload %s", d->cfg.path);
	if (pw_daemon_load_config(d->cfg.path, &cfg))
		goto fail;
	verify_notifiers(&cfg, false);
	alerts = pw_alerts__new(&cfg);
	nn = pw_notify__new(cfg.notifiers, cfg.n_notifiers);
	if (!alerts || !nn) {
		pw_err("reload: %s", strerror(errno));
		goto fail;
	}
	if (listen_changed(&d->cfg, &cfg)) {
		pw_exporter__free(d->http);
		d->http = NULL;
		http = pw_exporter__new(cfg.listen_addr, cfg.listen_port, cfg.max_connections,
					PUBLISH_NS);
		if (!http) {
			/* Nothing else changed yet: serve as before. */
			d->http = pw_exporter__new(d->cfg.listen_addr, d->cfg.listen_port,
						   d->cfg.max_connections, PUBLISH_NS);
			goto fail;
		}
	}
	if (tracker_changed(&d->cfg, &cfg)) {
		tracker = start_tracker(&cfg);
		if (!tracker)
			goto fail_http;
		pw_warn("reload: tracking options changed: counters and histograms restart");
	}
	if (apply_config(d, &cfg, true))
		goto fail_tracker;
	if (http)
		d->http = http;
	if (tracker) {
		pw_tracker__free(d->tracker);
		d->tracker = tracker;
	} else {
		/* The same tracker: the new file's ports and forget_after. */
		struct pw_portset *pins = named_ports(&cfg);

		if (!pins || pw_tracker__update(d->tracker, pins, cfg.forget_ns))
			pw_warn("reload: the new ports' rows are made when first used");
		free(pins);
	}
	pw_alerts__adopt(alerts, d->alerts);
	resolve_dropped(d, alerts, &cfg, nn);
	pw_alerts__free(d->alerts);
	d->alerts = alerts;
	/* Deliveries in flight end within their timeouts: not on this thread. */
	if (pthread_create(&th, NULL, free_notify, d->notify))
		pw_notify__free(d->notify);
	else
		pthread_detach(th);
	d->notify = nn;
	pw_config_free(&d->cfg);
	d->cfg = cfg;
	d->reloads_ok++;
	d->last_reload_ok = pw_wall_now();
	pw_info("reloaded %s", d->cfg.path);
	return;

fail_tracker:
	pw_tracker__free(tracker);
fail_http:
	if (http) {
		pw_exporter__free(http);
		d->http = pw_exporter__new(d->cfg.listen_addr, d->cfg.listen_port,
					   d->cfg.max_connections, PUBLISH_NS);
	}
fail:
	pw_alerts__free(alerts);
	pw_notify__free(nn);
	pw_config_free(&cfg);
	d->reloads_failed++;
	pw_err("reload %s failed: keeping the running configuration", d->cfg.path);
}

/* Reads the kernel's maps when a rule evaluation is due or a scrape wants
 * fresher text than there is (the exporter wakes us), never on a clock of
 * its own: between scrapes and evaluations the daemon costs nothing. */
static int run(struct daemon *d)
{
	__u64 now = pw_mono_ns(), next_eval = now, next_reconcile, wake;
	struct pollfd p = { .events = POLLIN };
	int err = 0, n;

	next_reconcile = now + d->cfg.reconcile_ns;
	refresh(d, false); /* /metrics has something from the start */
	while (!pw_stopping()) {
		if (reload) {
			reload = 0;
			do_reload(d);
			if (!d->http)
				return -EADDRNOTAVAIL;
		}
		now = pw_mono_ns();
		p.fd = pw_exporter__fd(d->http);
		/* Without rules an evaluation has nothing to do: scrapes alone
		 * read the maps. */
		if (now >= next_eval && !d->cfg.n_rules)
			next_eval = now + d->cfg.interval_ns;
		if (now >= next_eval || (p.revents & POLLIN)) {
			bool eval = now >= next_eval;

			pw_exporter__wanted(d->http);
			refresh(d, eval);
			if (eval)
				next_eval = now + d->cfg.interval_ns;
		}
		if (d->cfg.reconcile_ns && now >= next_reconcile) {
			/* A failure is said by the tracker; the next
			 * interval tries again. */
			pw_tracker__reconcile(d->tracker, &d->live);
			next_reconcile = now + d->cfg.reconcile_ns;
		}
		/* A pass at least once a second: /healthz tells a stalled
		 * loop (a log write blocked, a kernel read hung) by it. */
		pw_exporter__beat(d->http);
		now = pw_mono_ns();
		wake = next_eval;
		if (d->cfg.reconcile_ns && next_reconcile < wake)
			wake = next_reconcile;
		if (wake > now + PUBLISH_NS)
			wake = now + PUBLISH_NS;
		p.revents = 0;
		n = poll(&p, 1, wake > now ? (int)((wake - now) / 1000000) + 1 : 0);
		if (n < 0 && errno != EINTR) {
			err = -errno;
			pw_err("wait: %s", strerror(errno));
			return err;
		}
	}
	return 0;
}

static void daemon_free(struct daemon *d)
{
	pw_tracker__free(d->tracker);
	pw_exporter__free(d->http);
	pw_notify__free(d->notify);
	pw_alerts__free(d->alerts);
	pw_live_free(&d->live);
	pw_portcap_free(&d->cap);
	pw_text_free(&d->text);
	pw_config_free(&d->cfg);
}

/* --check: what the file cannot say, commands and URLs as they are. */
static enum pw_daemon_result check(const struct pw_config *cfg, const char *path)
{
	if (verify_notifiers(cfg, true))
		return PW_DAEMON_INVALID;
	printf("%s: ok: %zu rules, %zu notifiers\n", path, cfg->n_rules, cfg->n_notifiers);
	return PW_DAEMON_OK;
}

/* Starts everything, runs until stopped; 0, or -1 when starting or running
 * failed (said). */
static int serve(struct daemon *d)
{
	struct sigaction sa = { .sa_handler = on_hup };
	int err;

	verify_notifiers(&d->cfg, false);
	/* Privileges and kernel first: one line saying what is missing, as
	 * every other command does, not libbpf's refusals. */
	if (pw_preflight())
		return -1;
	pw_install_stop_handlers();
	sigaction(SIGHUP, &sa, NULL);
	d->http = pw_exporter__new(d->cfg.listen_addr, d->cfg.listen_port, d->cfg.max_connections,
				   PUBLISH_NS);
	if (!d->http)
		return -1;
	d->alerts = pw_alerts__new(&d->cfg);
	d->notify = pw_notify__new(d->cfg.notifiers, d->cfg.n_notifiers);
	if (!d->alerts || !d->notify) {
		pw_err("start alerting: %s", strerror(errno));
		return -1;
	}
	if (gethostname(d->hostname, sizeof(d->hostname) - 1))
		snprintf(d->hostname, sizeof(d->hostname), "unknown");
	d->tracker = start_tracker(&d->cfg);
	if (!d->tracker)
		return -1;
	d->last_reload_ok = pw_wall_now();
	pw_info(strchr(d->cfg.listen_addr, ':') ? "serving http://[%s]:%u/metrics"
						: "serving http://%s:%u/metrics",
		d->cfg.listen_addr, d->cfg.listen_port);
	err = run(d);
	pw_info("stopping: detaching every BPF program");
	return err ? -1 : 0;
}

enum pw_daemon_result pw_daemon_run(const char *path, unsigned int flags)
{
	enum pw_daemon_result res;
	struct daemon d = {};

	if (pw_daemon_load_config(path, &d.cfg))
		return PW_DAEMON_INVALID;
	/* Every namespace: series and texts name them (netns_name). */
	pw_set_netns_namer(pw_netns_name);
	if (apply_config(&d, &d.cfg, false))
		res = PW_DAEMON_INVALID;
	else if (flags & PW_DAEMON_CHECK)
		res = check(&d.cfg, path);
	else
		res = serve(&d) ? PW_DAEMON_FAILED : PW_DAEMON_OK;
	daemon_free(&d);
	return res;
}
