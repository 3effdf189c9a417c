// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* State and direction names, endpoints, ages, and the JSON writer. */
#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <sys/socket.h>
#include "common/clock.h"
#include "pw_hist.h"
#include "render/format.h"

static const char *const state_names[] = {
	[PW_TCP_ESTABLISHED] = "ESTABLISHED",
	[PW_TCP_SYN_SENT] = "SYN_SENT",
	[PW_TCP_SYN_RECV] = "SYN_RECV",
	[PW_TCP_FIN_WAIT1] = "FIN_WAIT1",
	[PW_TCP_FIN_WAIT2] = "FIN_WAIT2",
	[PW_TCP_TIME_WAIT] = "TIME_WAIT",
	[PW_TCP_CLOSE] = "CLOSE",
	[PW_TCP_CLOSE_WAIT] = "CLOSE_WAIT",
	[PW_TCP_LAST_ACK] = "LAST_ACK",
	[PW_TCP_LISTEN] = "LISTEN",
	[PW_TCP_CLOSING] = "CLOSING",
	[PW_TCP_NEW_SYN_RECV] = "NEW_SYN_RECV",
};

static const char *const state_labels[] = {
	[PW_TCP_ESTABLISHED] = "ESTAB",	   [PW_TCP_SYN_SENT] = "SYN-SENT",
	[PW_TCP_SYN_RECV] = "SYN-RECV",	   [PW_TCP_FIN_WAIT1] = "FIN-WAIT-1",
	[PW_TCP_FIN_WAIT2] = "FIN-WAIT-2", [PW_TCP_TIME_WAIT] = "TIME-WAIT",
	[PW_TCP_CLOSE] = "UNCONN",	   [PW_TCP_CLOSE_WAIT] = "CLOSE-WAIT",
	[PW_TCP_LAST_ACK] = "LAST-ACK",	   [PW_TCP_LISTEN] = "LISTEN",
	[PW_TCP_CLOSING] = "CLOSING",	   [PW_TCP_NEW_SYN_RECV] = "SYN-RECV",
};

const char *pw_state_name(unsigned int state)
{
	return state <= PW_TCP_STATE_MAX ? state_names[state] : NULL;
}

const char *pw_state_label(unsigned int state)
{
	return state <= PW_TCP_STATE_MAX ? state_labels[state] : NULL;
}

const char *pw_dir_name(unsigned int dir)
{
	static const char *const names[] = { "listen", "inbound", "outbound" };

	return dir < PW_DIR_MAX ? names[dir] : "unknown";
}

void pw_format_endpoint(char *buf, size_t len, __u16 family, const __u8 *addr, __u16 port)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	char portbuf[8] = "*";

	inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, addr, ip, sizeof(ip));
	if (port)
		snprintf(portbuf, sizeof(portbuf), "%u", port);
	if (family == AF_INET6)
		snprintf(buf, len, "[%s]:%s", ip, portbuf);
	else
		snprintf(buf, len, "%s:%s", ip, portbuf);
}

void pw_format_age(char *buf, size_t len, double seconds)
{
	unsigned long long s;

	if (seconds < 0)
		seconds = 0;
	if (seconds < 1.0) {
		snprintf(buf, len, "%.0fms", floor(seconds * 1000));
		return;
	}
	if (seconds < 60.0) {
		/* Truncate, so 59.96s never prints as "60.0s". */
		snprintf(buf, len, "%.1fs", floor(seconds * 10) / 10);
		return;
	}
	s = (unsigned long long)seconds;
	if (s < 3600)
		snprintf(buf, len, "%llum%02llus", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lluh%02llum", s / 3600, s % 3600 / 60);
	else
		snprintf(buf, len, "%llud%02lluh", s / 86400, s % 86400 / 3600);
}

void pw_format_duration(char *buf, size_t len, double ns)
{
	if (ns < 1e3)
		snprintf(buf, len, "%.0fns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.1fus", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.1fms", ns / 1e6);
	else
		snprintf(buf, len, "%.2fs", pw_seconds(ns));
}

json_t *pw_json_seconds(double seconds)
{
	return json_real(round(seconds * 1000) / 1000);
}

json_t *pw_json_ns_as_seconds(double ns)
{
	return json_real(round(ns / 1e3) / 1e6);
}

json_t *pw_json_buckets(const __u64 *bucket)
{
	json_t *buckets = json_array(), *le;
	__u32 b;

	for (b = 0; buckets && b < PW_HIST_BUCKETS; b++) {
		if (!bucket[b])
			continue;
		le = b == PW_HIST_BUCKETS - 1 ? json_string("+Inf")
					      : json_real(pw_seconds(pw_hist_upper_ns(b)));
		json_array_append_new(buckets, json_pack("{s:o, s:I}", "le_seconds", le, "count",
							 (json_int_t)bucket[b]));
	}
	return buckets;
}

int pw_json_print(FILE *out, json_t *doc)
{
	if (!doc || json_dumpf(doc, out, JSON_REAL_PRECISION(12)) < 0)
		return -EIO;
	fputc('\n', out);
	return ferror(out) ? -EIO : 0;
}

static const char *(*netns_namer)(__u32 netns);

void pw_set_netns_namer(const char *(*namer)(__u32 netns))
{
	netns_namer = namer;
}

const char *pw_netns_named(__u32 netns)
{
	const char *name = netns_namer ? netns_namer(netns) : NULL;

	return name ? name : "";
}

const char *pw_netns_show(char *buf, size_t len, __u32 netns)
{
	const char *name = pw_netns_named(netns);

	if (name[0])
		snprintf(buf, len, "%s", name);
	else
		snprintf(buf, len, "%u", netns);
	return buf;
}

void pw_json_netns_name(json_t *obj, __u32 netns)
{
	const char *name = pw_netns_named(netns);

	if (obj && name[0])
		json_object_set_new(obj, "netns_name", json_string(name));
}
