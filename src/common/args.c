// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Command-line value parsing. No syscalls: unit tests link this as is. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "common/args.h"
#include "pw_classify.h"

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int parse_uint(const char *s, size_t len, __u64 max, __u64 *out)
{
	__u64 v = 0;
	size_t i;

	if (len == 0)
		return -EINVAL;
	for (i = 0; i < len; i++) {
		if (!is_digit(s[i]))
			return -EINVAL;
		v = v * 10 + (__u64)(s[i] - '0');
		if (v > max)
			return -ERANGE;
	}
	*out = v;
	return 0;
}

static int parse_port_len(const char *s, size_t len, __u16 *port, const char **why)
{
	__u64 v;
	int err;

	err = parse_uint(s, len, 65535, &v);
	if (err == -EINVAL) {
		*why = "not a number";
		return -EINVAL;
	}
	if (err || v == 0) {
		*why = "out of range 1-65535";
		return -EINVAL;
	}
	*port = (__u16)v;
	return 0;
}

int pw_parse_port(const char *s, __u16 *port, const char **why)
{
	return parse_port_len(s, strlen(s), port, why);
}

int pw_portset_add(struct pw_portset *set, const char *list, const char **why)
{
	const char *p = list, *comma;
	__u16 port;
	size_t len;

	do {
		comma = strchr(p, ',');
		len = comma ? (size_t)(comma - p) : strlen(p);
		if (parse_port_len(p, len, &port, why))
			return -EINVAL;
		if (!pw_portset_has(set, port)) {
			set->bits[port / 64] |= 1ULL << (port % 64);
			set->count++;
		}
		p = comma + 1;
	} while (comma);
	return 0;
}

bool pw_portset_has(const struct pw_portset *set, __u16 port)
{
	return set->bits[port / 64] & (1ULL << (port % 64));
}

bool pw_portset_match(const struct pw_portset *set, __u16 port)
{
	return set->count == 0 || pw_portset_has(set, port);
}

struct unit {
	const char *name;
	__u64 ns;
};

static const struct unit units[] = {
	{ "ns", 1ULL },
	{ "us", 1000ULL },
	{ "ms", PW_NSEC_PER_MSEC },
	{ "s", PW_NSEC_PER_SEC },
	{ "m", 60 * PW_NSEC_PER_SEC },
	{ "h", 3600 * PW_NSEC_PER_SEC },
	{ "d", 86400 * PW_NSEC_PER_SEC },
};

/* Longest unit name first so "ms" is not read as "m" followed by "s". */
static const struct unit *match_unit(const char *s, size_t *len)
{
	const struct unit *best = NULL;
	size_t i, n;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		n = strlen(units[i].name);
		if (strncmp(s, units[i].name, n) == 0 && (!best || n > *len)) {
			best = &units[i];
			*len = n;
		}
	}
	return best;
}

#define PW_DURATION_MAX (100ULL * 365 * 86400 * PW_NSEC_PER_SEC)

int pw_parse_duration(const char *s, __u64 *ns, const char **why)
{
	const struct unit *u;
	__u64 total = 0, whole, frac, scale, part;
	const char *p = s, *start;
	size_t ulen;
	int err;

	if (!*s) {
		*why = "empty duration";
		return -EINVAL;
	}
	while (*p) {
		start = p;
		while (is_digit(*p))
			p++;
		err = parse_uint(start, (size_t)(p - start), PW_DURATION_MAX, &whole);
		if (err == -ERANGE)
			goto too_large;
		if (err) {
			*why = "expected a number such as 500ms, 2s, 1m30s";
			return -EINVAL;
		}
		frac = 0;
		scale = 1;
		if (*p == '.') {
			p++;
			if (!is_digit(*p)) {
				*why = "expected digits after '.'";
				return -EINVAL;
			}
			for (; is_digit(*p); p++) {
				/* Digits past nanosecond precision change nothing. */
				if (scale < PW_NSEC_PER_SEC) {
					frac = frac * 10 + (__u64)(*p - '0');
					scale *= 10;
				}
			}
		}
		ulen = 0;
		u = match_unit(p, &ulen);
		if (!u && *p) {
			*why = "unknown unit (use ns, us, ms, s, m, h or d)";
			return -EINVAL;
		}
		if (!u) {
			/* A bare number is seconds, as for sleep(1); only alone. */
			if (p != s + strspn(s, "0123456789.")) {
				*why = "missing unit";
				return -EINVAL;
			}
			u = &units[3];
		}
		p += ulen;
		if (whole > PW_DURATION_MAX / u->ns)
			goto too_large;
		part = whole * u->ns + (__u64)((unsigned __int128)frac * u->ns / scale);
		total += part;
		if (total > PW_DURATION_MAX)
			goto too_large;
	}
	*ns = total;
	return 0;
too_large:
	*why = "too large (at most 100 years)";
	return -EINVAL;
}

int pw_parse_count(const char *s, __u32 *n, const char **why)
{
	__u64 v;
	int err;

	err = parse_uint(s, strlen(s), 0xffffffffULL, &v);
	if (err == -EINVAL) {
		*why = "not a non-negative integer";
		return -EINVAL;
	}
	if (err) {
		*why = "too large (at most 4294967295)";
		return -EINVAL;
	}
	*n = (__u32)v;
	return 0;
}

int pw_parse_ringbuf_size(const char *s, __u32 *bytes, const char **why)
{
	__u32 n;

	if (pw_parse_count(s, &n, why))
		return -EINVAL;
	if (n < 4096 || (n & (n - 1))) {
		*why = "not a power of two of at least 4096";
		return -EINVAL;
	}
	if (n > PW_RINGBUF_MAX) {
		*why = "too large (at most 256M: the ring is locked kernel memory)";
		return -EINVAL;
	}
	*bytes = n;
	return 0;
}

int pw_parse_direction(const char *s, int *dir, const char **why)
{
	if (!strcmp(s, "in") || !strcmp(s, "inbound")) {
		*dir = PW_DIR_INBOUND;
	} else if (!strcmp(s, "out") || !strcmp(s, "outbound")) {
		*dir = PW_DIR_OUTBOUND;
	} else {
		*why = "use in or out";
		return -EINVAL;
	}
	return 0;
}

static const char *const kind_names[PW_EK_MAX] = {
	[PW_EK_CLOSE_WAIT_ENTER] = "close_wait_enter",
	[PW_EK_CLOSE_WAIT_LEAVE] = "close_wait_leave",
	[PW_EK_RESET_SENT] = "reset_sent",
	[PW_EK_RESET_RECEIVED] = "reset_received",
	[PW_EK_CONNECT_REFUSED] = "connect_refused",
	[PW_EK_CONNECT_TIMEOUT] = "connect_timeout",
	[PW_EK_CONNECT_FAILED] = "connect_failed",
	[PW_EK_SLOW_REQUEST] = "slow_request",
};

const char *pw_event_kind_name(enum pw_event_kind k)
{
	return (unsigned int)k < PW_EK_MAX ? kind_names[k] : "unknown";
}

/* A named bit set, for comma-separated lists of names. */
struct named_mask {
	const char *name;
	__u32 mask;
};

/* ORs into *mask the entry of each comma-separated item of list (as
 * normalize() leaves it, when given); -EINVAL on an empty or unknown one. */
static int parse_names(const char *list, const struct named_mask *names, size_t n,
		       void (*normalize)(char *item), __u32 *mask)
{
	const char *p = list, *end;
	char item[32];
	size_t len, i;
	__u32 add;

	do {
		end = strchr(p, ',');
		len = end ? (size_t)(end - p) : strlen(p);
		add = 0;
		if (len && len < sizeof(item) - 1) {
			memcpy(item, p, len);
			item[len] = '\0';
			if (normalize)
				normalize(item);
			for (i = 0; i < n && !add; i++)
				if (!strcmp(item, names[i].name))
					add = names[i].mask;
		}
		if (!add)
			return -EINVAL;
		*mask |= add;
		p = end ? end + 1 : NULL;
	} while (p);
	return 0;
}

int pw_parse_event_kinds(const char *list, __u32 *mask, const char **why)
{
	static const struct named_mask names[] = {
		{ "close_wait_enter", 1U << PW_EK_CLOSE_WAIT_ENTER },
		{ "close_wait_leave", 1U << PW_EK_CLOSE_WAIT_LEAVE },
		{ "reset_sent", 1U << PW_EK_RESET_SENT },
		{ "reset_received", 1U << PW_EK_RESET_RECEIVED },
		{ "connect_refused", 1U << PW_EK_CONNECT_REFUSED },
		{ "connect_timeout", 1U << PW_EK_CONNECT_TIMEOUT },
		{ "connect_failed", 1U << PW_EK_CONNECT_FAILED },
		{ "slow_request", 1U << PW_EK_SLOW_REQUEST },
		{ "close_wait", 1U << PW_EK_CLOSE_WAIT_ENTER | 1U << PW_EK_CLOSE_WAIT_LEAVE },
		{ "reset", 1U << PW_EK_RESET_SENT | 1U << PW_EK_RESET_RECEIVED },
		{ "connect", 1U << PW_EK_CONNECT_REFUSED | 1U << PW_EK_CONNECT_TIMEOUT |
				     1U << PW_EK_CONNECT_FAILED },
	};

	if (parse_names(list, names, sizeof(names) / sizeof(names[0]), NULL, mask)) {
		*why = "not an event type (close_wait, close_wait_enter, close_wait_leave, "
		       "reset, reset_sent, reset_received, connect, connect_refused, "
		       "connect_timeout, connect_failed, slow_request)";
		return -EINVAL;
	}
	return 0;
}

/* ss's spelling: lower case, '-' for '_', and the kernel's FIN_WAIT1 as
 * fin-wait-1. */
static void ss_state_name(char *s)
{
	size_t len = strlen(s), i;

	for (i = 0; i < len; i++)
		s[i] = s[i] == '_' ? '-' : (char)tolower((unsigned char)s[i]);
	if (!strcmp(s, "fin-wait1") || !strcmp(s, "fin-wait2")) {
		s[len + 1] = '\0';
		s[len] = s[len - 1];
		s[len - 1] = '-';
	}
}

int pw_parse_states(const char *list, __u32 *mask, const char **why)
{
	static const struct named_mask names[] = {
		{ "established", 1U << PW_TCP_ESTABLISHED },
		{ "syn-sent", 1U << PW_TCP_SYN_SENT },
		{ "syn-recv", 1U << PW_TCP_SYN_RECV | 1U << PW_TCP_NEW_SYN_RECV },
		{ "fin-wait-1", 1U << PW_TCP_FIN_WAIT1 },
		{ "fin-wait-2", 1U << PW_TCP_FIN_WAIT2 },
		{ "time-wait", 1U << PW_TCP_TIME_WAIT },
		{ "close-wait", 1U << PW_TCP_CLOSE_WAIT },
		{ "last-ack", 1U << PW_TCP_LAST_ACK },
		{ "listening", 1U << PW_TCP_LISTEN },
		{ "listen", 1U << PW_TCP_LISTEN },
		{ "closing", 1U << PW_TCP_CLOSING },
		{ "connected", ((1U << (PW_TCP_STATE_MAX + 1)) - 1) & ~(1U << PW_TCP_LISTEN) &
				       ~(1U << PW_TCP_CLOSE) & ~1U },
	};

	if (parse_names(list, names, sizeof(names) / sizeof(names[0]), ss_state_name, mask)) {
		*why = "not a TCP state (established, syn-sent, syn-recv, fin-wait-1, "
		       "fin-wait-2, time-wait, close-wait, last-ack, listening, closing, "
		       "connected)";
		return -EINVAL;
	}
	return 0;
}
