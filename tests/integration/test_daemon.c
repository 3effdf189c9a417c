// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `portwatch daemon` end to end, each test in its own network namespace:
 * /metrics against ss, promtool, a real Prometheus scraping it and a real
 * Alertmanager receiving its alerts, reloads, hostile HTTP clients, and
 * `portwatch check`. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <curl/curl.h>
#include "helpers.h"

#define METRICS_URL "http://127.0.0.1:9977/metrics"
#define PROMETHEUS "/usr/bin/prometheus"
#define ALERTMANAGER "/usr/bin/prometheus-alertmanager"
#define LEAK_PORT 3001
#define SLOW_PORT 3002

static char dir[64];

/* A temporary directory per test for configs and data. */
static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/pw-daemon-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	return netns_setup(state);
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	netns_teardown(state);
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static char *write_file(const char *name, const char *text)
{
	static char path[4][128];
	static int next;
	char *p = path[next++ % 4];
	FILE *f;

	snprintf(p, sizeof(path[0]), "%s/%s", dir, name);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	/* Whatever the umask: a root daemon refuses a file others may write. */
	assert_int_equal(chmod(p, 0644), 0);
	return p;
}

/* Waits for the daemon's stderr to contain needle: how often it does. */
static int wait_errors(const struct bg *d, const char *needle, int timeout_ms)
{
	int i, n = 0;

	for (i = 0; i <= timeout_ms / 100 && !n; i++) {
		char *text = bg_errors(d);
		const char *at = text;

		while (at && (at = strstr(at, needle))) {
			n++;
			at++;
		}
		free(text);
		if (!n)
			usleep(100000);
	}
	return n;
}

struct body {
	char *s;
	size_t len;
};

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	char *s = realloc(b->s, b->len + size * n + 1);

	if (!s)
		return 0;
	memcpy(s + b->len, p, size * n);
	b->s = s;
	b->len += size * n;
	b->s[b->len] = '\0';
	return size * n;
}

/* GET url: the body (caller frees) or NULL; *status the HTTP status. */
static char *http_get(const char *url, long *status)
{
	struct body b = {};
	CURL *c = curl_easy_init();
	CURLcode rc;

	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	rc = curl_easy_perform(c);
	if (status)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK) {
		free(b.s);
		return NULL;
	}
	return b.s ? b.s : strdup("");
}

/* The value of the sample whose line starts with series + " ", or -1. */
static double sample(const char *text, const char *series)
{
	size_t n = strlen(series);
	const char *p;

	for (p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, series, n) && p[n] == ' ')
			return strtod(p + n + 1, NULL);
	return -1;
}

static double scrape(const char *series)
{
	char *text = http_get(METRICS_URL, NULL);
	double v = text ? sample(text, series) : -1;

	free(text);
	return v;
}

/* Polls /metrics until series has value want. */
static int wait_sample(const char *series, double want, int timeout_ms)
{
	double v = -1;
	int i;

	for (i = 0; i < timeout_ms / 100; i++) {
		v = scrape(series);
		if (v == want)
			return 0;
		usleep(100000);
	}
	print_message("# %s: %g, want %g\n", series, v, want);
	return -ETIMEDOUT;
}

static const char base_config[] = "listen: 127.0.0.1:9977\n"
				  "evaluation_interval: 500ms\n"
				  "reconcile_interval: 60s\n";

static void wait_serving(struct bg *b)
{
	int i;

	for (i = 0; i < 100; i++) {
		char *text = http_get(METRICS_URL, NULL);

		if (text && strstr(text, "portwatch_build_info")) {
			free(text);
			return;
		}
		free(text);
		usleep(100000);
	}
	{
		char *err = bg_errors(b);

		print_message("# daemon stderr: %s\n", err);
		free(err);
	}
	fail_msg("the daemon did not serve /metrics");
}

/* Starts the daemon on config and waits until /metrics answers. */
static void start_daemon(struct bg *b, const char *config)
{
	const char *path = write_file("portwatch.yaml", config);

	assert_int_equal(bg_portwatch(b, "daemon", "--config", path, NULL), 0);
	wait_serving(b);
}

/* n more connections to port whose client side closes while the server
 * side stays open, held in srv[]: total sockets in CLOSE_WAIT. */
static int leak_more(int lfd, int port, int n, int *srv, int total)
{
	int i, c;

	for (i = 0; i < n; i++) {
		c = tcp_connect(AF_INET, port);
		if (c < 0)
			return c;
		srv[i] = accept(lfd, NULL, NULL);
		close(c);
	}
	return ss_wait_count("CLOSE-WAIT", port, -1, total, WAIT_MS);
}

static int leak(int lfd, int port, int n, int *srv)
{
	return leak_more(lfd, port, n, srv, n);
}

static long long ss_now(const char *state, int lport)
{
	struct ss_sock *s;
	size_t n, count;

	assert_int_equal(ss_read(&s, &n), 0);
	count = ss_count(s, n, state, lport, -1);
	free(s);
	return count;
}

/* /metrics equals ss for a leaking port, and promtool finds nothing wrong
 * with the text. */
/* Sets kernel.bpf_stats_enabled; returns whether it was on. */
static bool bpf_stats(bool on)
{
	const char *f = "/proc/sys/kernel/bpf_stats_enabled";
	FILE *fp = fopen(f, "r+");
	bool old;

	assert_non_null(fp);
	old = fgetc(fp) == '1';
	rewind(fp);
	assert_true(fputs(on ? "1\n" : "0\n", fp) >= 0);
	assert_int_equal(fclose(fp), 0);
	return old;
}

static void test_metrics_match_ss(void **state)
{
	char series[160], *text, *path, *p;
	bool stats_was;
	int lfd, srv[16], i;
	struct cmd c = {};
	struct bg d;

	(void)state;
	start_daemon(&d, base_config);
	lfd = tcp_listen(AF_INET, LEAK_PORT, 64);
	assert_true(lfd >= 0);
	assert_int_equal(leak(lfd, LEAK_PORT, 7, srv), 0);
	snprintf(
		series, sizeof(series),
		"portwatch_tcp_connections{port=\"%d\",direction=\"inbound\",state=\"close_wait\"}",
		LEAK_PORT);
	assert_int_equal(wait_sample(series, (double)ss_now("CLOSE-WAIT", LEAK_PORT), WAIT_MS), 0);
	snprintf(series, sizeof(series),
		 "portwatch_tcp_connections{port=\"%d\",direction=\"listen\",state=\"listen\"}",
		 LEAK_PORT);
	assert_int_equal(wait_sample(series, 1, WAIT_MS), 0);
	snprintf(series, sizeof(series),
		 "portwatch_connections_opened_total{port=\"%d\",direction=\"inbound\"}",
		 LEAK_PORT);
	assert_int_equal(wait_sample(series, 7, WAIT_MS), 0);
	/* Half of them closed: the gauge follows. */
	for (i = 0; i < 3; i++)
		close(srv[i]);
	snprintf(
		series, sizeof(series),
		"portwatch_tcp_connections{port=\"%d\",direction=\"inbound\",state=\"close_wait\"}",
		LEAK_PORT);
	assert_int_equal(ss_wait_count("CLOSE-WAIT", LEAK_PORT, -1, 4, WAIT_MS), 0);
	assert_int_equal(wait_sample(series, 4, WAIT_MS), 0);

	/* The kernel's BPF statistics on: run time and runs per program. */
	stats_was = bpf_stats(true);
	/* The text is made at each interval: wait for one made with them on. */
	for (i = 0; i < 50; i++) {
		text = http_get(METRICS_URL, NULL);
		assert_non_null(text);
		if (strstr(text, "portwatch_bpf_runs_total{"))
			break;
		free(text);
		text = NULL;
		usleep(100 * 1000);
	}
	bpf_stats(stats_was);
	assert_non_null(text);
	p = strstr(text, "\nportwatch_bpf_runs_total{program=\"on_state\"} ");
	assert_non_null(p);
	assert_true(strtod(p + strlen("\nportwatch_bpf_runs_total{program=\"on_state\"} "), NULL) >
		    0);
	assert_non_null(strstr(text, "\nportwatch_bpf_run_seconds_total{program=\"on_state\"} "));
	/* What the kernel gives, one series per feature; the state hook on
	 * every kernel. */
	assert_non_null(
		strstr(text, "\nportwatch_kernel_feature{feature=\"state_changes\",hook=\""));
	assert_non_null(strstr(text, "inet_sock_set_state\"} 1\n"));
	for (i = 0, p = text; (p = strstr(p, "\nportwatch_kernel_feature{")); p++)
		i++;
	assert_int_equal(i, 11);
	path = write_file("metrics.txt", text);
	free(text);
	if (!stats_was) {
		/* Off again: no such series (the kernel counts nothing). */
		for (i = 0; i < 50; i++) {
			text = http_get(METRICS_URL, NULL);
			assert_non_null(text);
			p = strstr(text, "portwatch_bpf_runs_total{");
			free(text);
			if (!p)
				break;
			usleep(100 * 1000);
		}
		assert_null(p);
	}
	{
		const char *argv[] = { "/bin/sh", "-c", "", NULL };
		char script[256];

		snprintf(script, sizeof(script), "promtool check metrics < %s 2>&1", path);
		argv[2] = script;
		assert_int_equal(cmd_run(&c, argv, NULL, 20000), 0);
	}
	if (c.status || *c.out)
		print_message("# promtool: %s\n", c.out);
	assert_int_equal(c.status, 0);
	assert_string_equal(c.out, "");
	cmd_free(&c);
	for (i = 3; i < 7; i++)
		close(srv[i]);
	close(lfd);
	assert_int_equal(bg_stop(&d, WAIT_MS), 0);
}

/* accept_wait: true exports each inbound port's accept-queue wait: four
 * connections accepted 300 ms after their handshakes all show, with their
 * waits; without it the family is absent. */
static void test_accept_wait_metric(void **state)
{
	char config[512], series[160], *text;
	double before[4], queued[4], lo = 0, hi = 0, t, sum;
	int lfd, cfd[4], sfd, i;
	struct bg d;

	(void)state;
	start_daemon(&d, base_config);
	text = http_get(METRICS_URL, NULL);
	assert_non_null(text);
	assert_null(strstr(text, "portwatch_accept_wait_seconds"));
	free(text);
	assert_int_equal(bg_stop(&d, WAIT_MS), 0);

	snprintf(config, sizeof(config), "%saccept_wait: true\n", base_config);
	start_daemon(&d, config);
	lfd = tcp_listen(AF_INET, LEAK_PORT, 64);
	assert_true(lfd >= 0);
	for (i = 0; i < 4; i++) {
		before[i] = mono_now();
		cfd[i] = tcp_connect(AF_INET, LEAK_PORT);
		assert_true(cfd[i] >= 0);
		assert_int_equal(wait_accept_queue(lfd, (unsigned int)i + 1, WAIT_MS), 0);
		queued[i] = mono_now();
	}
	usleep(300000);
	/* Each queued after its connect() began and before the listener
	 * counted it, taken during its accept(). */
	for (i = 0; i < 4; i++) {
		t = mono_now();
		sfd = accept(lfd, NULL, NULL);
		lo += t - queued[i];
		hi += mono_now() - before[i];
		assert_true(sfd >= 0);
		close(sfd);
		close(cfd[i]);
	}
	snprintf(series, sizeof(series),
		 "portwatch_accept_wait_seconds_count{port=\"%d\",direction=\"inbound\"}",
		 LEAK_PORT);
	assert_int_equal(wait_sample(series, 4, WAIT_MS), 0);
	snprintf(series, sizeof(series),
		 "portwatch_accept_wait_seconds_sum{port=\"%d\",direction=\"inbound\"}", LEAK_PORT);
	sum = scrape(series);
	print_message("# accept wait sum: %.4fs, the test saw %.4f-%.4fs\n", sum, lo, hi);
	assert_true(sum >= lo - 1e-4 && sum <= hi + 1e-4);
	assert_true(lo >= 4 * 0.3);
	close(lfd);
	assert_int_equal(bg_stop(&d, WAIT_MS), 0);
}

/* A server child on port that answers each one-byte request after delay_ms. */
struct slow_server {
	uint16_t port;
	int delay_ms;
};

/* Whether /metrics has any series for port. */
static bool has_port(const char *port)
{
	char needle[32], *text = http_get(METRICS_URL, NULL);
	bool found;

	snprintf(needle, sizeof(needle), "port=\"%s\"", port);
	found = text && strstr(text, needle);
	free(text);
	return found;
}

/* Rows with no sockets and no activity are forgotten after forget_after and
 * give their place up: with room for two ports (the daemon's own listener
 * takes one), a port used once and gone idle leaves, and a CLOSE_WAIT leak
 * on a new port gets its own series, equal to ss. */
static void test_forget_and_port_set(void **state)
{
	char config[512];
	struct linger lg = { 1, 0 };
	int lfd, c, a, srv[9], i;
	struct bg d;

	(void)state;
	snprintf(config, sizeof(config), "%sforget_after: 1s\nmax_ports: 2\n", base_config);
	start_daemon(&d, config);
	lfd = tcp_listen(AF_INET, 3010, 16);
	assert_true(lfd >= 0);
	c = tcp_connect(AF_INET, 3010);
	a = accept(lfd, NULL, NULL);
	assert_true(c >= 0 && a >= 0);
	assert_int_equal(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
	assert_int_equal(
		wait_sample("portwatch_tcp_connections{port=\"3010\",direction=\"inbound\","
			    "state=\"established\"}",
			    1, WAIT_MS),
		0);
	close(c); /* a reset: no TIME_WAIT left behind */
	close(a);
	close(lfd);
	for (i = 0; i < WAIT_MS / 100 && has_port("3010"); i++)
		usleep(100000);
	assert_false(has_port("3010"));

	lfd = tcp_listen(AF_INET, 3011, 16);
	assert_true(lfd >= 0);
	assert_int_equal(leak(lfd, 3011, 9, srv), 0);
	assert_int_equal(
		wait_sample("portwatch_tcp_connections{port=\"3011\",direction=\"inbound\","
			    "state=\"close_wait\"}",
			    (double)ss_now("CLOSE-WAIT", 3011), WAIT_MS),
		0);
	assert_int_equal(ss_now("CLOSE-WAIT", 3011), 9);
	assert_int_equal(bg_stop(&d, WAIT_MS), 0);
	for (i = 0; i < 9; i++)
		close(srv[i]);
	close(lfd);
}

static void serve_slowly(void *arg, int ready)
{
	struct slow_server *s = arg;
	int lfd = tcp_listen(AF_INET, s->port, 64), fd;
	char b;

	if (lfd < 0 || write(ready, "l", 1) != 1)
		_exit(1);
	for (;;) {
		fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		while (read(fd, &b, 1) == 1) {
			usleep(s->delay_ms * 1000);
			if (write(fd, &b, 1) != 1)
				break;
		}
		close(fd);
	}
}

static void requests(int port, int n)
{
	int fd = tcp_connect(AF_INET, port), i;
	char b = 'x';

	assert_true(fd >= 0);
	for (i = 0; i < n; i++) {
		assert_int_equal(write(fd, &b, 1), 1);
		assert_int_equal(read(fd, &b, 1), 1);
	}
	close(fd);
}

/* An alert named rule is active in Alertmanager (1), resolved or absent
 * (0), or the API did not answer (-1). */
static int am_alert_active(const char *rule)
{
	char *body = http_get("http://127.0.0.1:9093/api/v2/alerts", NULL);
	json_t *doc, *a;
	size_t i;
	int found = 0;

	if (!body)
		return -1;
	doc = json_loads(body, 0, NULL);
	free(body);
	if (!json_is_array(doc)) {
		json_decref(doc);
		return -1;
	}
	json_array_foreach (doc, i, a) {
		const char *name = json_string_value(
			json_object_get(json_object_get(a, "labels"), "alertname"));
		const char *st =
			json_string_value(json_object_get(json_object_get(a, "status"), "state"));

		if (name && !strcmp(name, rule) && st && !strcmp(st, "active"))
			found = 1;
	}
	json_decref(doc);
	return found;
}

static int wait_am(const char *rule, int want, int timeout_ms)
{
	int i, v = -1;

	for (i = 0; i < timeout_ms / 250; i++) {
		v = am_alert_active(rule);
		if (v == want)
			return 0;
		usleep(250000);
	}
	print_message("# alertmanager: %s active=%d, want %d\n", rule, v, want);
	return -ETIMEDOUT;
}

/* Prometheus's instant query result for expr as a number, or -1. */
static double prom_query(const char *expr)
{
	char url[512], *body, *q;
	json_t *doc, *res;
	double v = -1;
	CURL *c = curl_easy_init();

	q = curl_easy_escape(c, expr, 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:9090/api/v1/query?query=%s", q);
	curl_free(q);
	curl_easy_cleanup(c);
	body = http_get(url, NULL);
	if (!body)
		return -1;
	doc = json_loads(body, 0, NULL);
	free(body);
	res = json_object_get(json_object_get(doc, "data"), "result");
	if (json_array_size(res) == 1)
		v = strtod(json_string_value(json_array_get(
				   json_object_get(json_array_get(res, 0), "value"), 1)),
			   NULL);
	json_decref(doc);
	return v;
}

static void start_prometheus(struct bg *prom, struct bg *am)
{
	char cfg[256], data[256], amcfg[256], amdata[256];
	const char *pargv[] = { PROMETHEUS, cfg, data, "--web.listen-address=127.0.0.1:9090",
				NULL };
	const char *aargv[] = { ALERTMANAGER,
				amcfg,
				amdata,
				"--web.listen-address=127.0.0.1:9093",
				"--cluster.listen-address=",
				NULL };
	int i;

	snprintf(cfg, sizeof(cfg), "--config.file=%s",
		 write_file("prometheus.yml", "global:\n"
					      "  scrape_interval: 1s\n"
					      "  evaluation_interval: 1s\n"
					      "scrape_configs:\n"
					      "  - job_name: portwatch\n"
					      "    static_configs:\n"
					      "      - targets: ['127.0.0.1:9977']\n"));
	snprintf(data, sizeof(data), "--storage.tsdb.path=%s/prom", dir);
	snprintf(amcfg, sizeof(amcfg), "--config.file=%s",
		 write_file("alertmanager.yml", "route:\n"
						"  receiver: blackhole\n"
						"receivers:\n"
						"  - name: blackhole\n"));
	snprintf(amdata, sizeof(amdata), "--storage.path=%s/am", dir);
	assert_int_equal(bg_exec(am, aargv, NULL), 0);
	assert_int_equal(bg_exec(prom, pargv, NULL), 0);
	for (i = 0; i < 200 && am_alert_active("none") < 0; i++)
		usleep(100000);
	assert_true(am_alert_active("none") >= 0);
}

/* Prometheus scrapes the daemon: its CLOSE_WAIT gauge equals ss. A CLOSE_WAIT
 * rule fires after its for, reaches Alertmanager, and resolves when the leak
 * is closed; a latency rule fires on a slowed server. */
static void test_prometheus_alertmanager(void **state)
{
	struct slow_server slow = { .port = SLOW_PORT, .delay_ms = 300 };
	struct bg d, prom, am;
	char config[2048], expr[160];
	int lfd, srv[8], i;
	double v = -1;
	pid_t pid;

	(void)state;
	start_prometheus(&prom, &am);
	snprintf(config, sizeof(config),
		 "%s"
		 "notifiers:\n"
		 "  - name: log\n"
		 "    type: log\n"
		 "  - name: am\n"
		 "    type: alertmanager\n"
		 "    url: http://127.0.0.1:9093\n"
		 "    timeout: 2s\n"
		 "    retries: 1\n"
		 "rules:\n"
		 "  - name: backend_close_wait\n"
		 "    metric: close_wait\n"
		 "    port: %d\n"
		 "    warn: 3\n"
		 "    clear: 1\n"
		 "    for: 2s\n"
		 "  - name: backend_slow\n"
		 "    metric: latency\n"
		 "    port: %d\n"
		 "    direction: inbound\n"
		 "    quantile: 0.95\n"
		 "    window: 30s\n"
		 "    warn: 200ms\n"
		 "    for: 1s\n",
		 base_config, LEAK_PORT, SLOW_PORT);
	start_daemon(&d, config);

	lfd = tcp_listen(AF_INET, LEAK_PORT, 64);
	assert_true(lfd >= 0);
	assert_int_equal(leak(lfd, LEAK_PORT, 5, srv), 0);
	snprintf(
		expr, sizeof(expr),
		"portwatch_tcp_connections{port=\"%d\",direction=\"inbound\",state=\"close_wait\"}",
		LEAK_PORT);
	for (i = 0; i < 150; i++) {
		v = prom_query(expr);
		if (v == (double)ss_now("CLOSE-WAIT", LEAK_PORT))
			break;
		usleep(200000);
	}
	assert_true(v == 5);
	assert_int_equal(wait_am("backend_close_wait", 1, 30000), 0);
	/* The leak closes: resolved in Alertmanager. */
	for (i = 0; i < 5; i++)
		close(srv[i]);
	assert_int_equal(wait_am("backend_close_wait", 0, 30000), 0);
	/* Each transition logged once, as a warning (a log notifier), with
	 * its count in words; no second line from the notifier. */
	assert_int_equal(wait_errors(&d, "alert backend_close_wait port=3001 firing", WAIT_MS), 1);
	assert_int_equal(wait_errors(&d, "alert backend_close_wait port=3001 resolved", WAIT_MS),
			 1);
	assert_int_equal(wait_errors(&d,
				     "warning: alert backend_close_wait port=3001 firing "
				     "severity=warning value=5 threshold=3: 5 sockets in "
				     "CLOSE_WAIT on port 3001 (threshold 3)",
				     0),
			 1);
	assert_int_equal(wait_errors(&d, "rule=backend_close_wait", 0), 0);

	pid = spawn(serve_slowly, &slow);
	assert_int_equal(wait_child(pid, WAIT_MS), 0);
	requests(SLOW_PORT, 6);
	assert_int_equal(wait_am("backend_slow", 1, 30000), 0);
	snprintf(expr, sizeof(expr),
		 "portwatch_alert_state{rule=\"backend_slow\",port=\"%d\",state=\"firing\"}",
		 SLOW_PORT);
	assert_int_equal(wait_sample(expr, 1, WAIT_MS), 0);
	close(lfd);
	assert_int_equal(bg_stop(&d, WAIT_MS), 0);
	bg_stop(&prom, WAIT_MS);
	bg_stop(&am, WAIT_MS);
}

/* Scrapes over one kept-alive connection, pipelined requests all answered,
 * gzip to a client that accepts it (Prometheus does) and not to others. */
static void test_http_keepalive_gzip(void **state)
{
	/* Plain, gzip, gzip refused by its weight, no Accept-Encoding. */
	static const char *const codings[] = { "identity", "gzip", "gzip;q=0.0, identity", NULL };
	static const char pipelined[] =
		"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
		"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"
		"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	struct body b = {};
	curl_off_t got;
	char buf[65536];
	const char *p;
	long connects;
	size_t len = 0;
	ssize_t n;
	int fd, i, replies = 0;
	struct bg d;
	CURL *c;

	(void)state;
	start_daemon(&d, base_config);
	c = curl_easy_init();
	curl_easy_setopt(c, CURLOPT_URL, METRICS_URL);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	for (i = 0; i < 4; i++) {
		free(b.s);
		b = (struct body){};
		curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, codings[i]);
		assert_int_equal(curl_easy_perform(c), CURLE_OK);
		assert_non_null(b.s);
		assert_non_null(strstr(b.s, "portwatch_build_info"));
		curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
		curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &got);
		print_message("# request %d: %ld new connections, %ld bytes on the wire, %zu "
			      "decoded\n",
			      i, connects, (long)got, b.len);
		/* One connection for all of them. */
		assert_int_equal(connects, i == 0 ? 1 : 0);
		/* gzip: a fraction on the wire; otherwise the text as it is. */
		if (i == 1)
			assert_true((size_t)got * 2 < b.len);
		else
			assert_int_equal((size_t)got, b.len);
	}
	free(b.s);
	curl_easy_cleanup(c);

	/* Three requests in one write: three answers, then the close asked for. */
	fd = tcp_connect(AF_INET, 9977);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, pipelined, sizeof(pipelined) - 1),
			 (ssize_t)sizeof(pipelined) - 1);
	while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(fd);
	for (p = buf; (p = strstr(p, "HTTP/1.1 200 OK")); p++)
		replies++;
	assert_int_equal(replies, 3);
	assert_int_equal(bg_stop(&d, WAIT_MS), 0);
}

/* Hostile clients: garbage requests, idle connections filling the cap,
 * a burst of scrapers. The exporter keeps serving and tracing never stops. */
static void test_hostile_clients(void **state)
{
	static const char *const garbage[] = {
		"GARBAGE\r\n\r\n",
		"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
		"GET /metrics HTTP/9.9\r\n\r\n",
		"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
		"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n",
		"\x01\x02\x03\xff\xfe\r\n\r\n",
	};
	char config[512], series[160], *text, big[70000];
	int idle[16], lfd, srv[4], i;
	long status;
	struct bg d;

	(void)state;
	snprintf(config, sizeof(config), "%smax_connections: 8\n", base_config);
	start_daemon(&d, config);
	for (i = 0; i < (int)(sizeof(garbage) / sizeof(garbage[0])); i++) {
		int fd = tcp_connect(AF_INET, 9977);
		char reply[256] = "";

		assert_true(fd >= 0);
		assert_true(write(fd, garbage[i], strlen(garbage[i])) > 0);
		shutdown(fd, SHUT_WR);
		assert_true(read(fd, reply, sizeof(reply) - 1) >= 0);
		close(fd);
		/* An answer, if any, is an HTTP error, never the metrics. */
		assert_null(strstr(reply, "portwatch_build_info"));
	}
	/* A 70 kB header line. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	memcpy(big + sizeof(big) - 4, "\r\n\r\n", 4);
	i = tcp_connect(AF_INET, 9977);
	assert_true(write(i, big, sizeof(big)) > 0 || errno == ECONNRESET || errno == EPIPE);
	close(i);
	free(http_get("http://127.0.0.1:9977/nope", &status));
	assert_int_equal(status, 404);

	/* Idle clients take every slot; meanwhile sockets leak. */
	for (i = 0; i < 16; i++)
		idle[i] = tcp_connect(AF_INET, 9977);
	lfd = tcp_listen(AF_INET, LEAK_PORT, 64);
	assert_int_equal(leak(lfd, LEAK_PORT, 4, srv), 0);
	sleep(2);
	for (i = 0; i < 16; i++)
		close(idle[i]);
	snprintf(
		series, sizeof(series),
		"portwatch_tcp_connections{port=\"%d\",direction=\"inbound\",state=\"close_wait\"}",
		LEAK_PORT);
	assert_int_equal(wait_sample(series, 4, WAIT_MS), 0);

	/* 32 scrapers at once, four times the cap: all of them eventually
	 * served or refused, and the daemon still answers afterwards. */
	for (i = 0; i < 32; i++) {
		if (fork() == 0) {
			free(http_get(METRICS_URL, NULL));
			_exit(0);
		}
	}
	for (i = 0; i < 32; i++)
		wait(NULL);
	text = http_get("http://127.0.0.1:9977/healthz", &status);
	assert_int_equal(status, 200);
	free(text);
	assert_int_equal(wait_sample(series, 4, WAIT_MS), 0);
	for (i = 0; i < 4; i++)
		close(srv[i]);
	close(lfd);
	assert_int_equal(bg_stop(&d, WAIT_MS), 0);
}

/* GET path over HTTP/1.1: the status, -1 without an answer within 2 s. */
static long timed_get(const char *path, double *took)
{
	char url[128];
	double t0 = mono_now();
	long status = -1;
	char *body;

	snprintf(url, sizeof(url), "http://127.0.0.1:9977%s", path);
	body = http_get(url, &status);
	*took = mono_now() - t0;
	if (!body || *took > 2.0)
		status = -1;
	free(body);
	return status;
}

static void assert_scrapes(const char *what, int n)
{
	double took;
	int i;

	for (i = 0; i < n; i++) {
		long status = timed_get("/metrics", &took);

		if (status != 200)
			fail_msg("%s: scrape %d: status %ld after %.2f s", what, i, status, took);
	}
}

/* Whether the server has closed fd (EOF or reset) within timeout_ms. */
static bool closed_by_server(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char buf[256];
	ssize_t n;

	while (poll(&p, 1, timeout_ms) == 1) {
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return true;
		if (n < 0)
			return false;
	}
	return false;
}

/* The slow clients, each while scrapes must be answered in time:
 * clients dripping one header line a second, 1,000 connections that send
 * nothing, kept-alive connections holding every slot; and a head too
 * long for the server. */
static void test_slow_clients(void **state)
{
	static const char ask[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	char config[512], big[20000], reply[256] = "";
	int drip[16], idle[1000], held[8], i, round, fd;
	struct rlimit r;
	struct bg d;

	(void)state;
	/* The flood needs the descriptors. */
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &r), 0);
	r.rlim_cur = r.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &r), 0);
	assert_true(r.rlim_cur > 1200);
	snprintf(config, sizeof(config), "%smax_connections: 4\n", base_config);
	start_daemon(&d, config);

	/* Four times the slots drip a header line a second; before the
	 * change none of the scrapes in these 7 s was answered. */
	for (i = 0; i < 16; i++) {
		drip[i] = tcp_connect(AF_INET, 9977);
		assert_true(drip[i] >= 0);
		assert_int_equal(send(drip[i], "GET /metrics HTTP/1.1\r\n", 23, MSG_NOSIGNAL), 23);
	}
	for (round = 0; round < 7; round++) {
		for (i = 0; i < 16; i++)
			(void)!send(drip[i], "X-Drip: 1\r\n", 11, MSG_NOSIGNAL);
		assert_scrapes("while 16 clients drip headers", 1);
		sleep(1);
	}
	/* Their 5 s to send a whole head are over: closed by the server. */
	for (i = 0; i < 16; i++) {
		assert_true(closed_by_server(drip[i], 3000));
		close(drip[i]);
	}

	/* 1,000 connections that never send a byte. */
	for (i = 0; i < 1000; i++) {
		idle[i] = tcp_connect(AF_INET, 9977);
		assert_true(idle[i] >= 0);
	}
	assert_scrapes("with 1,000 idle connections", 5);
	for (i = 0; i < 1000; i++)
		close(idle[i]);

	/* Twice the slots kept alive after one request each: the one idle
	 * longest makes room for each new request. */
	for (i = 0; i < 8; i++) {
		held[i] = tcp_connect(AF_INET, 9977);
		assert_int_equal(write(held[i], ask, sizeof(ask) - 1), (ssize_t)sizeof(ask) - 1);
		assert_true(read(held[i], reply, sizeof(reply) - 1) > 0);
		assert_non_null(strstr(reply, "200 OK"));
	}
	assert_scrapes("with every slot kept alive by other clients", 5);
	for (i = 0; i < 8; i++)
		close(held[i]);

	/* A head over 16 KiB: refused before it takes a slot. */
	memset(big, 'a', sizeof(big));
	memcpy(big, "GET /metrics HTTP/1.1\r\nX: ", 26);
	fd = tcp_connect(AF_INET, 9977);
	assert_int_equal(send(fd, big, sizeof(big), MSG_NOSIGNAL), (ssize_t)sizeof(big));
	memset(reply, 0, sizeof(reply));
	assert_true(read(fd, reply, sizeof(reply) - 1) > 0);
	assert_non_null(strstr(reply, "HTTP/1.1 431"));
	close(fd);
	assert_scrapes("afterwards", 1);
	assert_int_equal(bg_stop(&d, WAIT_MS), 0);
}

/* A tracing loop that makes no progress (here: its log writes block on a
 * full pipe, as when journald stalls) turns /healthz to 503 within its
 * 10 s, while /metrics still answers with the text there is; back to 200
 * once the loop runs again. */
static void test_healthz_stall(void **state)
{
	const char *path = write_file("portwatch.yaml", base_config);
	const char *args[] = { "daemon", "--config", path, NULL };
	double t0, took;
	char buf[65536], *text = NULL;
	long status = 0;
	int pfd[2], i;
	struct bg d;

	(void)state;
	assert_int_equal(pipe2(pfd, O_CLOEXEC), 0);
	/* One page: a few dozen log lines fill it. */
	assert_true(fcntl(pfd[0], F_SETPIPE_SZ, 4096) >= 4096);
	assert_int_equal(bg_portwatch_stderr(&d, pfd[1], args), 0);
	close(pfd[1]);
	wait_serving(&d);
	text = http_get("http://127.0.0.1:9977/healthz", &status);
	assert_int_equal(status, 200);
	free(text);
	text = NULL;

	/* Each reload logs two lines: the loop blocks in a write. */
	for (i = 0; i < 200; i++) {
		kill(d.pid, SIGHUP);
		usleep(10000);
	}
	t0 = mono_now();
	for (status = 200; status == 200 && mono_now() - t0 < 20;) {
		free(text);
		text = http_get("http://127.0.0.1:9977/healthz", &status);
		if (status == 200)
			usleep(200000);
	}
	print_message("# /healthz after %.1f s: %ld %s", mono_now() - t0, status, text);
	assert_int_equal(status, 503);
	assert_non_null(text);
	assert_non_null(strstr(text, "tracing loop stalled"));
	free(text);
	assert_scrapes("with the tracing loop stalled", 2);

	/* Read the log: the loop goes on and says so. */
	assert_int_equal(fcntl(pfd[0], F_SETFL, O_NONBLOCK), 0);
	t0 = mono_now();
	do {
		while (read(pfd[0], buf, sizeof(buf)) > 0)
			;
		usleep(100000);
		status = timed_get("/healthz", &took);
	} while (status != 200 && mono_now() - t0 < 10);
	assert_int_equal(status, 200);
	/* Its last lines go nowhere (SIGPIPE is ignored): it exits 0. */
	close(pfd[0]);
	assert_int_equal(bg_stop(&d, WAIT_MS), 0);
}

/* SIGHUP: a bad file keeps the running config and says where it is wrong;
 * a good one applies; counters survive both. */
static void test_reload(void **state)
{
	char config[1024], series[160];
	int lfd, srv[3], i;
	struct bg d;

	(void)state;
	snprintf(config, sizeof(config),
		 "%srules:\n  - name: first\n    metric: close_wait\n    port: %d\n    warn: 100\n",
		 base_config, LEAK_PORT);
	start_daemon(&d, config);
	lfd = tcp_listen(AF_INET, LEAK_PORT, 64);
	assert_int_equal(leak(lfd, LEAK_PORT, 3, srv), 0);
	snprintf(series, sizeof(series),
		 "portwatch_connections_opened_total{port=\"%d\",direction=\"inbound\"}",
		 LEAK_PORT);
	assert_int_equal(wait_sample(series, 3, WAIT_MS), 0);

	write_file("portwatch.yaml", "listen: 127.0.0.1:9977\nrules:\n  - name: [\n");
	kill(d.pid, SIGHUP);
	assert_int_equal(
		wait_sample("portwatch_config_reloads_total{result=\"failure\"}", 1, WAIT_MS), 0);
	assert_true(wait_errors(&d, "portwatch.yaml:4:1: yaml:", 0) > 0);
	assert_true(wait_errors(&d, "keeping the running configuration", 0) > 0);
	assert_int_equal(wait_sample("portwatch_alert_state{rule=\"first\",port=\"3001\","
				     "state=\"inactive\"}",
				     1, WAIT_MS),
			 0);

	snprintf(config, sizeof(config),
		 "%srules:\n  - name: second\n    metric: close_wait\n    port: %d\n    warn: 2\n",
		 base_config, LEAK_PORT);
	write_file("portwatch.yaml", config);
	kill(d.pid, SIGHUP);
	assert_int_equal(
		wait_sample("portwatch_config_reloads_total{result=\"success\"}", 1, WAIT_MS), 0);
	assert_int_equal(wait_sample("portwatch_alert_state{rule=\"second\",port=\"3001\","
				     "state=\"firing\"}",
				     1, WAIT_MS),
			 0);
	assert_true(scrape("portwatch_alert_state{rule=\"first\",port=\"3001\","
			   "state=\"inactive\"}") < 0);
	/* The kernel's counters went on: nothing restarted. */
	assert_true(scrape(series) == 3);
	/* A port a reloaded file names (3999, never up) counts its refused
	 * attempts under itself from then on. */
	snprintf(
		config, sizeof(config),
		"%srules:\n  - name: second\n    metric: close_wait\n    port: %d\n    warn: 2\n"
		"  - name: upstream\n    metric: connect_failures\n    port: 3999\n    warn: 100\n",
		base_config, LEAK_PORT);
	write_file("portwatch.yaml", config);
	kill(d.pid, SIGHUP);
	assert_int_equal(
		wait_sample("portwatch_config_reloads_total{result=\"success\"}", 2, WAIT_MS), 0);
	for (i = 0; i < 2; i++)
		assert_int_equal(tcp_connect(AF_INET, 3999), -ECONNREFUSED);
	assert_int_equal(wait_sample("portwatch_connect_failures_total{port=\"3999\","
				     "direction=\"outbound\",reason=\"refused\"}",
				     2, WAIT_MS),
			 0);
	/* Removing a firing rule resolves it. */
	write_file("portwatch.yaml", base_config);
	kill(d.pid, SIGHUP);
	assert_int_equal(
		wait_sample("portwatch_config_reloads_total{result=\"success\"}", 3, WAIT_MS), 0);
	assert_true(wait_errors(&d, "alert second port=3001 resolved: the reload", 0) > 0);
	for (i = 0; i < 3; i++)
		close(srv[i]);
	close(lfd);
	assert_int_equal(bg_stop(&d, WAIT_MS), 0);
}

/* Bad configs: --check names the place and exits 2; the daemon refuses to
 * start; a good one passes. */
static void test_check_config(void **state)
{
	struct cmd c = {};
	char *path;

	(void)state;
	path = write_file("bad.yaml", "listen: 127.0.0.1:9977\nports: [80, 70000]\n");
	assert_int_equal(portwatch(&c, "daemon", "--config", path, "--check", NULL), 0);
	assert_int_equal(c.status, 2);
	assert_non_null(strstr(c.err, "bad.yaml:2:"));
	assert_int_equal(count_lines(c.err), 1);
	cmd_free(&c);
	assert_int_equal(portwatch(&c, "daemon", "--config", path, NULL), 0);
	assert_int_equal(c.status, 2);
	cmd_free(&c);
	assert_int_equal(portwatch(&c, "daemon", "--config", "/nonexistent.yaml", NULL), 0);
	assert_int_equal(c.status, 2);
	assert_non_null(strstr(c.err, "/nonexistent.yaml"));
	cmd_free(&c);
	assert_int_equal(portwatch(&c, "daemon", NULL), 0);
	assert_int_equal(c.status, 2);
	cmd_free(&c);
	path = write_file("good.yaml", base_config);
	assert_int_equal(portwatch(&c, "daemon", "--config", path, "--check", NULL), 0);
	assert_int_equal(c.status, 0);
	cmd_free(&c);
}

/* `portwatch check`: Nagios codes from one snapshot. */
static void test_check_command(void **state)
{
	char config[1024], *path;
	int lfd, srv[6], i;
	struct cmd c = {};

	(void)state;
	snprintf(config, sizeof(config),
		 "%srules:\n"
		 "  - name: cw\n    metric: close_wait\n    port: %d\n    warn: 3\n    crit: 6\n"
		 "  - name: p95\n    metric: latency\n    port: %d\n    warn: 1s\n",
		 base_config, LEAK_PORT, LEAK_PORT);
	path = write_file("check.yaml", config);
	assert_int_equal(portwatch(&c, "check", "--config", path, NULL), 0);
	assert_int_equal(c.status, 0);
	assert_non_null(strstr(c.out, "OK"));
	cmd_free(&c);
	lfd = tcp_listen(AF_INET, LEAK_PORT, 64);
	assert_int_equal(leak(lfd, LEAK_PORT, 4, srv), 0);
	assert_int_equal(portwatch(&c, "check", "--config", path, NULL), 0);
	assert_int_equal(c.status, 1);
	assert_non_null(strstr(c.out, "WARNING"));
	cmd_free(&c);
	assert_int_equal(leak_more(lfd, LEAK_PORT, 2, srv + 4, 6), 0);
	assert_int_equal(portwatch(&c, "check", "--config", path, NULL), 0);
	assert_int_equal(c.status, 2);
	assert_non_null(strstr(c.out, "CRITICAL"));
	assert_int_equal(count_lines(c.out), 1);
	cmd_free(&c);
	path = write_file("bad.yaml", "rules: 3\n");
	assert_int_equal(portwatch(&c, "check", "--config", path, NULL), 0);
	assert_int_equal(c.status, 3);
	assert_non_null(strstr(c.out, "UNKNOWN"));
	cmd_free(&c);
	for (i = 0; i < 6; i++)
		close(srv[i]);
	close(lfd);
}

/* With `namespaces: all`, check reads every namespace as the daemon does:
 * six CLOSE_WAIT sockets in another namespace make it WARNING (it said OK
 * before); the same rules without the setting see only this namespace. */
static void test_check_all_netns(void **state)
{
	static const char rules[] = "rules:\n"
				    "  - name: cw_any\n    metric: close_wait\n    port: 3917\n"
				    "    warn: 6\n";
	struct netns_leak leak = { .port = 3917, .n = 6 };
	char config[1024], *path;
	struct cmd c = {};
	pid_t other;

	(void)state;
	other = spawn(netns_leak, &leak);
	assert_true(other > 0);
	assert_int_equal(wait_child(other, WAIT_MS), 0);

	snprintf(config, sizeof(config), "%s%s", base_config, rules);
	path = write_file("host.yaml", config);
	assert_int_equal(portwatch(&c, "check", "--config", path, NULL), 0);
	assert_int_equal(c.status, 0);
	assert_non_null(strstr(c.out, "cw_any: 0 on port 3917"));
	cmd_free(&c);

	snprintf(config, sizeof(config), "%snamespaces: all\n%s", base_config, rules);
	path = write_file("all.yaml", config);
	assert_int_equal(portwatch(&c, "check", "--config", path, NULL), 0);
	print_message("# %s", c.out);
	/* Other namespaces on the host may hold more, never fewer. */
	assert_true(c.status == 1 || c.status == 2);
	assert_non_null(strstr(c.out, "cw_any: "));
	assert_true(strtod(strstr(c.out, "cw_any: ") + 8, NULL) >= 6);
	cmd_free(&c);

	/* The daemon on the same file: the alert says which namespace holds
	 * them, and the series name it. */
	{
		char want[160];
		struct bg d;

		start_daemon(&d, config);
		snprintf(want, sizeof(want), "in test_daemon[%d] (6)", other);
		assert_int_equal(wait_errors(&d, want, WAIT_MS), 1);
		snprintf(want, sizeof(want),
			 "portwatch_tcp_connections{netns=\"%llu\",netns_name=\"test_daemon[%d]\","
			 "port=\"3917\",direction=\"inbound\",state=\"close_wait\"}",
			 (unsigned long long)netns_ino(other), other);
		assert_int_equal(wait_sample(want, 6, WAIT_MS), 0);
		assert_int_equal(bg_stop(&d, WAIT_MS), 0);
	}
}

/* The runbook's "if the backend is not online, restart it": a listening
 * rule with when: below fires when the listener goes (its exec notifier
 * told so), portwatch_listening and check agree, and it resolves when a
 * listener is back. */
static void test_backend_down(void **state)
{
	char config[1024], series[128], path[160], *text, *path_cfg;
	struct cmd c = {};
	struct bg d;
	int lfd;

	(void)state;
	write_file("restart.sh",
		   "#!/bin/sh\necho \"$PORTWATCH_STATUS $PORTWATCH_RULE\" >> \"$1\"\n");
	snprintf(path, sizeof(path), "%s/restarts", dir);
	snprintf(config, sizeof(config),
		 "%snotifiers:\n"
		 "  - name: restart\n    type: exec\n    command: [/bin/sh, %s/restart.sh, %s]\n"
		 "rules:\n"
		 "  - name: backend_down\n    metric: listening\n    port: 3005\n"
		 "    when: below\n    crit: 0\n",
		 base_config, dir, path);
	lfd = tcp_listen(AF_INET, 3005, 16);
	assert_true(lfd >= 0);
	start_daemon(&d, config);
	snprintf(series, sizeof(series), "portwatch_listening{port=\"3005\"}");
	assert_int_equal(wait_sample(series, 1, WAIT_MS), 0);
	assert_int_equal(wait_sample("portwatch_alert_state{rule=\"backend_down\",port=\"3005\","
				     "state=\"firing\"}",
				     0, WAIT_MS),
			 0);
	path_cfg = write_file("check.yaml", config);
	assert_int_equal(portwatch(&c, "check", "--config", path_cfg, NULL), 0);
	assert_int_equal(c.status, 0);
	cmd_free(&c);

	/* The backend goes. */
	close(lfd);
	assert_int_equal(wait_sample(series, 0, WAIT_MS), 0);
	assert_int_equal(wait_sample("portwatch_alert_state{rule=\"backend_down\",port=\"3005\","
				     "state=\"firing\"}",
				     1, WAIT_MS),
			 0);
	assert_int_equal(wait_errors(&d, "nothing listening on port 3005 (threshold 0)", WAIT_MS),
			 1);
	assert_int_equal(portwatch(&c, "check", "--config", path_cfg, NULL), 0);
	assert_int_equal(c.status, 2);
	assert_non_null(strstr(c.out, "backend_down: 0 on port 3005"));
	cmd_free(&c);

	/* Back: resolved, and the notifier heard both. */
	lfd = tcp_listen(AF_INET, 3005, 16);
	assert_int_equal(wait_sample("portwatch_alert_state{rule=\"backend_down\",port=\"3005\","
				     "state=\"firing\"}",
				     0, WAIT_MS),
			 0);
	for (int i = 0; i < 100; i++) {
		text = NULL;
		{
			FILE *f = fopen(path, "r");
			char buf[256] = "";

			if (f) {
				size_t n = fread(buf, 1, sizeof(buf) - 1, f);

				buf[n] = '\0';
				fclose(f);
			}
			if (strstr(buf, "resolved backend_down")) {
				text = strdup(buf);
				break;
			}
		}
		usleep(100000);
	}
	assert_non_null(text);
	assert_string_equal(text, "firing backend_down\nresolved backend_down\n");
	free(text);
	close(lfd);
	assert_int_equal(bg_stop(&d, WAIT_MS), 0);
}

/* SIGTERM detaches every program. */
static void test_stop_detaches(void **state)
{
	int ids[256], n;
	struct bg d;

	(void)state;
	start_daemon(&d, base_config);
	assert_int_equal(bpf_prog_count_of(d.pid, "on_state"), 1);
	n = bpf_prog_ids(d.pid, ids, 256);
	assert_true(n > 0);
	assert_int_equal(bg_stop(&d, WAIT_MS), 0);
	assert_int_equal(bpf_progs_alive_wait(ids, n, WAIT_MS), 0);
}

/* Notifiers from the daemon: exec gets the alert in its environment and on
 * stdin; a hanging command is killed at its timeout; a webhook whose peer
 * never answers delays neither the others nor /metrics. */
static void test_notifiers(void **state)
{
	char config[2048], series[160], path[128];
	int lfd, hole, srv[4], i;
	struct stat st;
	struct bg d;

	(void)state;
	hole = tcp_listen(AF_INET, 8099, 16); /* never accepts: requests hang */
	assert_true(hole >= 0);
	write_file("notify.sh", "#!/bin/sh\nenv > \"$1/env.out\"\ncat > \"$1/stdin.out\"\n");
	snprintf(config, sizeof(config),
		 "%s"
		 "notifiers:\n"
		 "  - name: hook\n"
		 "    type: webhook\n"
		 "    url: http://127.0.0.1:8099/alert\n"
		 "    timeout: 5s\n"
		 "    retries: 1\n"
		 "  - name: hang\n"
		 "    type: exec\n"
		 "    command: [/bin/sleep, \"60\"]\n"
		 "    timeout: 1s\n"
		 "  - name: script\n"
		 "    type: exec\n"
		 "    command: [/bin/sh, %s/notify.sh, %s]\n"
		 "rules:\n"
		 "  - name: leaking\n"
		 "    metric: close_wait\n"
		 "    port: %d\n"
		 "    direction: inbound\n"
		 "    warn: 2\n"
		 "    crit: 100\n",
		 base_config, dir, dir, LEAK_PORT);
	start_daemon(&d, config);
	lfd = tcp_listen(AF_INET, LEAK_PORT, 64);
	assert_int_equal(leak(lfd, LEAK_PORT, 2, srv), 0);
	snprintf(path, sizeof(path), "%s/stdin.out", dir);
	for (i = 0; i < 100 && (stat(path, &st) || !st.st_size); i++)
		usleep(100000);
	snprintf(path, sizeof(path), "%s/env.out", dir);
	{
		FILE *f = fopen(path, "r");
		char buf[4096] = "";

		assert_non_null(f);
		assert_true(fread(buf, 1, sizeof(buf) - 1, f) > 0);
		fclose(f);
		assert_non_null(strstr(buf, "PORTWATCH_RULE=leaking\n"));
		assert_non_null(strstr(buf, "PORTWATCH_PORT=3001\n"));
		assert_non_null(strstr(buf, "PORTWATCH_STATUS=firing\n"));
		assert_non_null(strstr(buf, "PORTWATCH_SEVERITY=warning\n"));
		assert_non_null(strstr(buf, "PORTWATCH_DIRECTION=inbound\n"));
		assert_non_null(strstr(buf, "PORTWATCH_VALUE=2"));
	}
	/* While the webhook hangs (two tries of 5 s), /metrics follows the
	 * kernel: the gauge moves before the webhook gives up. */
	assert_int_equal(leak_more(lfd, LEAK_PORT, 2, srv + 2, 4), 0);
	snprintf(
		series, sizeof(series),
		"portwatch_tcp_connections{port=\"%d\",direction=\"inbound\",state=\"close_wait\"}",
		LEAK_PORT);
	assert_int_equal(wait_sample(series, 4, WAIT_MS), 0);
	assert_true(scrape("portwatch_notifications_total{notifier=\"hook\",result=\"failed\"}") <=
		    0);
	assert_int_equal(
		wait_sample("portwatch_notifications_total{notifier=\"hang\",result=\"timeout\"}",
			    1, WAIT_MS),
		0);
	assert_int_equal(
		wait_sample("portwatch_notifications_total{notifier=\"script\",result=\"sent\"}", 1,
			    WAIT_MS),
		0);
	/* One try and one retry, 5 s each, then failed. */
	assert_int_equal(
		wait_sample("portwatch_notifications_total{notifier=\"hook\",result=\"failed\"}", 1,
			    WAIT_MS),
		0);
	for (i = 0; i < 4; i++)
		close(srv[i]);
	close(lfd);
	close(hole);
	assert_int_equal(bg_stop(&d, WAIT_MS), 0);
}

static __u64 now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Notifier commands run without the daemon's privileges: no capability in
 * any set, no_new_privs, the configured user; what they write to stderr is
 * one bounded log line; a shutdown stops at once a command that would run
 * for minutes, with what it started. */
static void test_notifier_children(void **state)
{
	char config[2048], path[128], text[512] = "";
	int lfd, hole, srv[1] = { -1 }, i, pgid = 0;
	__u64 t0, took;
	FILE *f;
	struct bg d;

	(void)state;
	write_file("caps.sh",
		   "#!/bin/sh\n"
		   "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs):' /proc/self/status "
		   "> \"$1/caps.tmp\"\n"
		   "mv \"$1/caps.tmp\" \"$1/caps.out\"\n"
		   "head -c 1048576 /dev/zero | tr '\\0' x >&2\n");
	hole = tcp_listen(AF_INET, 8099, 16); /* never accepts: requests hang */
	assert_true(hole >= 0);
	write_file("long.sh", "#!/bin/sh\n"
			      "sleep 300 &\n"
			      "echo $$ > \"$1/pgid.tmp\"\n"
			      "mv \"$1/pgid.tmp\" \"$1/pgid.out\"\n"
			      "sleep 300\n");
	snprintf(config, sizeof(config),
		 "%s"
		 "notifiers:\n"
		 "  - name: caps\n"
		 "    type: exec\n"
		 "    command: [/bin/sh, %s/caps.sh, %s]\n"
		 "  - name: as_nobody\n"
		 "    type: exec\n"
		 "    command: [/bin/sh, -c, \"id -u >&2; id -G >&2\"]\n"
		 "    user: nobody\n"
		 "  - name: long\n"
		 "    type: exec\n"
		 "    command: [/bin/sh, %s/long.sh, %s]\n"
		 "    timeout: 5m\n"
		 "  - name: hung_hook\n"
		 "    type: webhook\n"
		 "    url: http://127.0.0.1:8099/alert\n"
		 "    timeout: 5m\n"
		 "rules:\n"
		 "  - name: leaking\n"
		 "    metric: close_wait\n"
		 "    port: %d\n"
		 "    direction: inbound\n"
		 "    warn: 1\n",
		 base_config, dir, dir, dir, dir, LEAK_PORT);
	start_daemon(&d, config);
	lfd = tcp_listen(AF_INET, LEAK_PORT, 64);
	assert_int_equal(leak(lfd, LEAK_PORT, 1, srv), 0);

	snprintf(path, sizeof(path), "%s/caps.out", dir);
	for (i = 0; i < 100 && access(path, F_OK); i++)
		usleep(100000);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_true(fread(text, 1, sizeof(text) - 1, f) > 0);
	fclose(f);
	assert_non_null(strstr(text, "CapInh:\t0000000000000000\n"));
	assert_non_null(strstr(text, "CapPrm:\t0000000000000000\n"));
	assert_non_null(strstr(text, "CapEff:\t0000000000000000\n"));
	assert_non_null(strstr(text, "CapBnd:\t0000000000000000\n"));
	assert_non_null(strstr(text, "CapAmb:\t0000000000000000\n"));
	assert_non_null(strstr(text, "NoNewPrivs:\t1\n"));
	/* 1 MiB of stderr: one line with its size and its start. */
	assert_int_equal(wait_errors(&d,
				     "notifier caps: /bin/sh wrote 1048576 bytes to stderr, "
				     "the first 240: xxxx",
				     WAIT_MS),
			 1);
	snprintf(text, sizeof(text), "notifier as_nobody: /bin/sh: %u %u",
		 getpwnam("nobody")->pw_uid, getpwnam("nobody")->pw_gid);
	assert_int_equal(wait_errors(&d, text, WAIT_MS), 1);

	/* Shutdown with a command running for 5 minutes and a webhook
	 * waiting as long for an answer: the command and its background
	 * sleep are gone, the transfer aborted, within the kill grace. */
	snprintf(path, sizeof(path), "%s/pgid.out", dir);
	for (i = 0; i < 100 && access(path, F_OK); i++)
		usleep(100000);
	f = fopen(path, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%d", &pgid), 1);
	fclose(f);
	assert_int_equal(kill(-pgid, 0), 0);
	t0 = now_ms();
	assert_int_equal(bg_stop(&d, WAIT_MS), 0);
	took = now_ms() - t0;
	print_message("# daemon stopped in %llu ms\n", (unsigned long long)took);
	/* Not the command's 5 minutes: the kill grace and the detach, which
	 * takes seconds under software emulation (make test-kernels). */
	assert_true(took < (getenv("PORTWATCH_VM") ? 20000 : 4000));
	/* Its members may be zombies for a moment, until init reaps them. */
	for (i = 0; i < 20 && kill(-pgid, 0) == 0; i++)
		usleep(100000);
	assert_int_equal(kill(-pgid, 0), -1);
	assert_int_equal(errno, ESRCH);
	assert_int_equal(
		wait_errors(&d, "notifier hung_hook: POST http://127.0.0.1:8099/alert: aborted", 0),
		1);
	close(srv[0]);
	close(lfd);
	close(hole);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_metrics_match_ss, setup, teardown),
		cmocka_unit_test_setup_teardown(test_forget_and_port_set, setup, teardown),
		cmocka_unit_test_setup_teardown(test_accept_wait_metric, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_all_netns, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backend_down, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_keepalive_gzip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(test_healthz_stall, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_detaches, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notifiers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notifier_children, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prometheus_alertmanager, setup, teardown),
	};

	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (getenv("TEST_FILTER")) /* one test by name (a glob), for development */
		cmocka_set_test_filter(getenv("TEST_FILTER"));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
