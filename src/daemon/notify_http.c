// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* The HTTP transports, webhook and Alertmanager: one libcurl easy handle per
 * notifier, driven by the worker's multi handle; retries with backoff. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "common/clock.h"
#include "common/log.h"
#include "daemon/notify_int.h"

#ifndef PW_VERSION
#define PW_VERSION "dev"
#endif

#define BACKOFF_FIRST_MS 1000
#define BACKOFF_MAX_MS 30000

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void)
{
	curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Not said here: pw_notify__new's caller reports the failure, once. */
int notify_http_global_init(void)
{
	pthread_once(&curl_once, curl_init);
	return curl_init_rc == CURLE_OK ? 0 : -ENOMEM;
}

static size_t http_reply(char *data, size_t size, size_t nmemb, void *arg)
{
	struct nstate *ns = arg;
	size_t i, n = size * nmemb;

	for (i = 0; i < n && ns->reply_len < REPLY_LEN; i++) {
		char c = data[i];

		ns->reply[ns->reply_len++] = c >= 0x20 && c < 0x7f ? c : ' ';
	}
	while (ns->reply_len && ns->reply[ns->reply_len - 1] == ' ')
		ns->reply_len--;
	ns->reply[ns->reply_len] = '\0';
	return n;
}

static void http_fail(struct pw_notify *p, struct nstate *ns, const char *extra)
{
	pw_warn("notifier %s: POST %s: %s (%u %s%s)", ns->cfg.name, ns->post_url, ns->why,
		ns->tries, ns->tries == 1 ? "try" : "tries", extra);
	notify_finish(p, ns, false);
}

static void http_try(struct pw_notify *p, struct nstate *ns)
{
	CURLMcode rc;

	ns->tries++;
	ns->errbuf[0] = '\0';
	ns->reply_len = 0;
	ns->reply[0] = '\0';
	ns->deadline_ms = NO_DEADLINE;
	rc = curl_multi_add_handle(p->multi, ns->easy);
	if (rc != CURLM_OK) {
		snprintf(ns->why, sizeof(ns->why), "%s", curl_multi_strerror(rc));
		http_fail(p, ns, "");
		return;
	}
	ns->in_multi = true;
}

void notify_http_start(struct pw_notify *p, struct nstate *ns)
{
	if (!notify_build_body(p, ns))
		return;
	curl_easy_setopt(ns->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)ns->body_len);
	curl_easy_setopt(ns->easy, CURLOPT_POSTFIELDS, ns->body);
	http_try(p, ns);
}
/* Transport errors, 5xx, 408 and 429 are retried; other replies would not
 * change. Retries back off 1 s, 2 s, 4 s ... up to 30 s. */
static void http_done(struct pw_notify *p, struct nstate *ns, CURLcode rc, bool stop)
{
	__u64 backoff;
	long code = 0;
	bool retry;

	curl_multi_remove_handle(p->multi, ns->easy);
	ns->in_multi = false;
	curl_easy_getinfo(ns->easy, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_OK && code >= 200 && code < 300) {
		notify_finish(p, ns, true);
		return;
	}
	if (rc != CURLE_OK) {
		snprintf(ns->why, sizeof(ns->why), "%s",
			 ns->errbuf[0] ? ns->errbuf : curl_easy_strerror(rc));
		retry = true;
		if (rc == CURLE_OPERATION_TIMEDOUT)
			notify_count_timeout(p, ns);
	} else {
		snprintf(ns->why, sizeof(ns->why), "HTTP %ld%s%s", code, ns->reply_len ? ": " : "",
			 ns->reply);
		retry = code >= 500 || code == 408 || code == 429;
	}
	if (!retry || ns->tries > ns->cfg.retries || stop) {
		http_fail(p, ns, "");
		return;
	}
	backoff = ns->tries > 5 ? BACKOFF_MAX_MS : (__u64)BACKOFF_FIRST_MS << (ns->tries - 1);
	if (backoff > BACKOFF_MAX_MS)
		backoff = BACKOFF_MAX_MS;
	ns->deadline_ms = pw_mono_ms() + backoff;
}

int notify_http_init(struct nstate *ns)
{
	size_t len = strlen(ns->cfg.url);
	struct curl_slist *h;
	CURL *e;

	if (ns->cfg.kind == PW_NK_ALERTMANAGER) {
		while (len && ns->cfg.url[len - 1] == '/')
			len--;
		if (asprintf(&ns->post_url, "%.*s/api/v2/alerts", (int)len, ns->cfg.url) < 0) {
			ns->post_url = NULL;
			return -ENOMEM;
		}
	} else {
		ns->post_url = strdup(ns->cfg.url);
		if (!ns->post_url)
			return -ENOMEM;
	}
	ns->headers = curl_slist_append(NULL, "Content-Type: application/json");
	/* No "Expect: 100-continue" round trip. */
	h = ns->headers ? curl_slist_append(ns->headers, "Expect:") : NULL;
	ns->easy = e = h ? curl_easy_init() : NULL;
	if (!e)
		return -ENOMEM;
	if (curl_easy_setopt(e, CURLOPT_URL, ns->post_url) != CURLE_OK)
		return -EINVAL;
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, ns->headers);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "portwatch/" PW_VERSION);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, ns->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, ns->timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, http_reply);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, ns);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, ns->errbuf);
	curl_easy_setopt(e, CURLOPT_PRIVATE, ns);
	return 0;
}

void notify_http_step(struct pw_notify *p, struct nstate *ns, bool stop, __u64 now)
{
	if (ns->in_multi && stop) {
		/* A transfer in flight is not waited for. */
		curl_multi_remove_handle(p->multi, ns->easy);
		ns->in_multi = false;
		snprintf(ns->why, sizeof(ns->why), "aborted");
		http_fail(p, ns, ", shutting down");
	} else if (!ns->in_multi) {
		/* waiting to retry */
		if (stop)
			http_fail(p, ns, ", not retried: shutting down");
		else if (now >= ns->deadline_ms)
			http_try(p, ns);
	}
}

bool notify_http_perform(struct pw_notify *p, bool stop)
{
	bool ended = false;
	int left, running;
	CURLMsg *cm;

	curl_multi_perform(p->multi, &running);
	while ((cm = curl_multi_info_read(p->multi, &left))) {
		CURLcode rc = cm->data.result;
		char *ns;

		if (cm->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(cm->easy_handle, CURLINFO_PRIVATE, &ns);
		http_done(p, (struct nstate *)ns, rc, stop);
		ended = true;
	}
	return ended;
}

void notify_http_fini(struct nstate *ns)
{
	if (ns->easy)
		curl_easy_cleanup(ns->easy);
	curl_slist_free_all(ns->headers);
	free(ns->post_url);
}

int notify_http_verify(const struct pw_notifier *n, char *why, size_t len)
{
	char *scheme = NULL, *host = NULL;
	CURLUcode rc;
	CURLU *u;
	int err = 0;

	u = curl_url();
	if (!u)
		return -ENOMEM;
	rc = curl_url_set(u, CURLUPART_URL, n->url, 0);
	if (!rc)
		rc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (!rc)
		rc = curl_url_get(u, CURLUPART_HOST, &host, 0);
	if (rc) {
		err = -EINVAL;
		snprintf(why, len, "notifier %s: url %s: %s", n->name, n->url,
			 curl_url_strerror(rc));
	} else if (strcmp(scheme, "http") && strcmp(scheme, "https")) {
		err = -EINVAL;
		snprintf(why, len, "notifier %s: url %s: not http or https", n->name, n->url);
	} else if (!*host) {
		err = -EINVAL;
		snprintf(why, len, "notifier %s: url %s: no host", n->name, n->url);
	}
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return err;
}
