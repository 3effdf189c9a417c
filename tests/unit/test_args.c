// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Ports, port lists, durations and counts as the command line gives them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>
#include <errno.h>
#include "common/args.h"
#include "pw_classify.h"

static void test_port_valid(void **state)
{
	const char *why = NULL;
	__u16 port;

	(void)state;
	assert_int_equal(pw_parse_port("1", &port, &why), 0);
	assert_int_equal(port, 1);
	assert_int_equal(pw_parse_port("3001", &port, &why), 0);
	assert_int_equal(port, 3001);
	assert_int_equal(pw_parse_port("65535", &port, &why), 0);
	assert_int_equal(port, 65535);
	assert_int_equal(pw_parse_port("080", &port, &why), 0);
	assert_int_equal(port, 80);
}

static void test_port_invalid(void **state)
{
	static const struct {
		const char *in, *why;
	} cases[] = {
		{ "0", "out of range 1-65535" },
		{ "65536", "out of range 1-65535" },
		{ "99999999999999999999", "out of range 1-65535" },
		{ "abc", "not a number" },
		{ "", "not a number" },
		{ "-1", "not a number" },
		{ "+80", "not a number" },
		{ " 80", "not a number" },
		{ "80 ", "not a number" },
		{ "80x", "not a number" },
		{ "0x50", "not a number" },
	};
	const char *why;
	__u16 port = 7;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why = NULL;
		assert_int_not_equal(pw_parse_port(cases[i].in, &port, &why), 0);
		assert_string_equal(why, cases[i].why);
		assert_int_equal(port, 7);
	}
}

static void test_portset(void **state)
{
	struct pw_portset set = {};
	const char *why;

	(void)state;
	assert_true(pw_portset_match(&set, 1234)); /* empty matches all */
	assert_int_equal(pw_portset_add(&set, "80,443", &why), 0);
	assert_int_equal(pw_portset_add(&set, "443", &why), 0);
	assert_int_equal(pw_portset_add(&set, "65535", &why), 0);
	assert_int_equal(set.count, 3);
	assert_true(pw_portset_match(&set, 80));
	assert_true(pw_portset_match(&set, 443));
	assert_true(pw_portset_match(&set, 65535));
	assert_false(pw_portset_match(&set, 81));
	assert_false(pw_portset_match(&set, 1234));
	assert_int_not_equal(pw_portset_add(&set, "80,,443", &why), 0);
	assert_int_not_equal(pw_portset_add(&set, "80,", &why), 0);
	assert_int_not_equal(pw_portset_add(&set, ",80", &why), 0);
	assert_int_not_equal(pw_portset_add(&set, "80,0", &why), 0);
	assert_string_equal(why, "out of range 1-65535");
}

static void test_duration_valid(void **state)
{
	static const struct {
		const char *in;
		__u64 ns;
	} cases[] = {
		{ "0", 0 },
		{ "90", 90 * PW_NSEC_PER_SEC },
		{ "1.5", 1500000000ULL },
		{ "500ms", 500000000ULL },
		{ "2s", 2 * PW_NSEC_PER_SEC },
		{ "1.5s", 1500000000ULL },
		{ "1m30s", 90 * PW_NSEC_PER_SEC },
		{ "1h", 3600 * PW_NSEC_PER_SEC },
		{ "1d", 86400 * PW_NSEC_PER_SEC },
		{ "250us", 250000ULL },
		{ "7ns", 7ULL },
		{ "0.000000001s", 1ULL },
		{ "1h2m3s4ms", 3723004000000ULL },
		{ "0.5m", 30 * PW_NSEC_PER_SEC },
	};
	const char *why;
	size_t i;
	__u64 ns;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why = NULL;
		assert_int_equal(pw_parse_duration(cases[i].in, &ns, &why), 0);
		assert_int_equal(ns, cases[i].ns);
	}
}

static void test_duration_invalid(void **state)
{
	static const char *const cases[] = {
		"",    "s",   "ms",	"-1s",	"1x",	"1 s",	     "1m30",
		"1.s", ".5s", "1.5.5s", "5sec", "1e3s", "40000000d", "99999999999999999999999s",
		"abc",
	};
	const char *why;
	size_t i;
	__u64 ns = 42;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		why = NULL;
		if (pw_parse_duration(cases[i], &ns, &why) == 0)
			fail_msg("duration '%s' was accepted", cases[i]);
		assert_non_null(why);
		assert_int_equal(ns, 42);
	}
}

static void test_count(void **state)
{
	const char *why;
	__u32 n;

	(void)state;
	assert_int_equal(pw_parse_count("0", &n, &why), 0);
	assert_int_equal(n, 0);
	assert_int_equal(pw_parse_count("4294967295", &n, &why), 0);
	assert_int_equal(n, 4294967295U);
	assert_int_not_equal(pw_parse_count("4294967296", &n, &why), 0);
	assert_string_equal(why, "too large (at most 4294967295)");
	assert_int_not_equal(pw_parse_count("-1", &n, &why), 0);
	assert_int_not_equal(pw_parse_count("1.5", &n, &why), 0);
	assert_int_not_equal(pw_parse_count("", &n, &why), 0);
}

static void test_ringbuf_size(void **state)
{
	const char *why;
	__u32 n = 0;

	(void)state;
	assert_int_equal(pw_parse_ringbuf_size("4096", &n, &why), 0);
	assert_int_equal(n, 4096);
	assert_int_equal(pw_parse_ringbuf_size("268435456", &n, &why), 0);
	assert_int_equal(n, 268435456U);
	/* Locked kernel memory: at most 256M. */
	assert_int_not_equal(pw_parse_ringbuf_size("536870912", &n, &why), 0);
	assert_string_equal(why, "too large (at most 256M: the ring is locked kernel memory)");
	assert_int_not_equal(pw_parse_ringbuf_size("2048", &n, &why), 0);
	assert_string_equal(why, "not a power of two of at least 4096");
	assert_int_not_equal(pw_parse_ringbuf_size("5000", &n, &why), 0);
	assert_int_not_equal(pw_parse_ringbuf_size("0", &n, &why), 0);
	assert_int_not_equal(pw_parse_ringbuf_size("4k", &n, &why), 0);
	assert_string_equal(why, "not a non-negative integer");
	assert_int_equal(n, 268435456U);
}

static void test_direction(void **state)
{
	const char *why;
	int d = -1;

	(void)state;
	assert_int_equal(pw_parse_direction("in", &d, &why), 0);
	assert_int_equal(d, PW_DIR_INBOUND);
	assert_int_equal(pw_parse_direction("outbound", &d, &why), 0);
	assert_int_equal(d, PW_DIR_OUTBOUND);
	assert_int_equal(pw_parse_direction("listen", &d, &why), -EINVAL);
	assert_string_equal(why, "use in or out");
}

static void test_event_kinds(void **state)
{
	const char *why;
	__u32 m = 0;

	(void)state;
	assert_int_equal(pw_parse_event_kinds("close_wait_enter", &m, &why), 0);
	assert_int_equal(m, 1U << PW_EK_CLOSE_WAIT_ENTER);
	m = 0;
	assert_int_equal(pw_parse_event_kinds("reset,connect_timeout", &m, &why), 0);
	assert_int_equal(m, 1U << PW_EK_RESET_SENT | 1U << PW_EK_RESET_RECEIVED |
				    1U << PW_EK_CONNECT_TIMEOUT);
	m = 0;
	assert_int_equal(pw_parse_event_kinds("close_wait,connect,slow_request", &m, &why), 0);
	assert_int_equal(m, 1U << PW_EK_CLOSE_WAIT_ENTER | 1U << PW_EK_CLOSE_WAIT_LEAVE |
				    1U << PW_EK_CONNECT_REFUSED | 1U << PW_EK_CONNECT_TIMEOUT |
				    1U << PW_EK_CONNECT_FAILED | 1U << PW_EK_SLOW_REQUEST);
	/* Prefixes, empty items and unknown names are errors. */
	assert_int_equal(pw_parse_event_kinds("close", &m, &why), -EINVAL);
	assert_non_null(strstr(why, "not an event type (close_wait, "));
	assert_int_equal(pw_parse_event_kinds("reset,", &m, &why), -EINVAL);
	assert_int_equal(pw_parse_event_kinds("", &m, &why), -EINVAL);
	assert_int_equal(pw_parse_event_kinds("close_wait_enters", &m, &why), -EINVAL);
	assert_string_equal(pw_event_kind_name(PW_EK_SLOW_REQUEST), "slow_request");
}

static void test_states(void **state)
{
	const char *why;
	__u32 m = 0;

	(void)state;
	assert_int_equal(pw_parse_states("close-wait", &m, &why), 0);
	assert_int_equal(m, 1U << PW_TCP_CLOSE_WAIT);
	/* The kernel's spelling and any case too. */
	m = 0;
	assert_int_equal(pw_parse_states("CLOSE_WAIT,fin_wait1,FIN-WAIT-2", &m, &why), 0);
	assert_int_equal(m,
			 1U << PW_TCP_CLOSE_WAIT | 1U << PW_TCP_FIN_WAIT1 | 1U << PW_TCP_FIN_WAIT2);
	m = 0;
	assert_int_equal(pw_parse_states("listening", &m, &why), 0);
	assert_int_equal(m, 1U << PW_TCP_LISTEN);
	m = 0;
	assert_int_equal(pw_parse_states("connected", &m, &why), 0);
	assert_false(m & (1U << PW_TCP_LISTEN));
	assert_false(m & (1U << PW_TCP_CLOSE));
	assert_true(m & (1U << PW_TCP_ESTABLISHED));
	assert_true(m & (1U << PW_TCP_TIME_WAIT));
	assert_true(m & (1U << PW_TCP_NEW_SYN_RECV));
	assert_int_equal(pw_parse_states("half-open", &m, &why), -EINVAL);
	assert_non_null(strstr(why, "not a TCP state"));
	assert_int_equal(pw_parse_states("established,", &m, &why), -EINVAL);
	assert_int_equal(pw_parse_states("a-very-long-state-name", &m, &why), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_port_valid),	 cmocka_unit_test(test_port_invalid),
		cmocka_unit_test(test_portset),		 cmocka_unit_test(test_duration_valid),
		cmocka_unit_test(test_duration_invalid), cmocka_unit_test(test_count),
		cmocka_unit_test(test_ringbuf_size),	 cmocka_unit_test(test_direction),
		cmocka_unit_test(test_event_kinds),	 cmocka_unit_test(test_states),
	};

	return cmocka_run_group_tests_name("args", tests, NULL, NULL);
}
