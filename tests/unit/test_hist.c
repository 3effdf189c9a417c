// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Log-linear bucket math at every boundary. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include "pw_hist.h"

static void test_log2(void **state)
{
	__u32 k;

	(void)state;
	assert_int_equal(pw_log2(1), 0);
	assert_int_equal(pw_log2(2), 1);
	assert_int_equal(pw_log2(3), 1);
	for (k = 1; k < 64; k++) {
		assert_int_equal(pw_log2(1ULL << k), k);
		assert_int_equal(pw_log2((1ULL << k) - 1), k - 1);
		assert_int_equal(pw_log2((1ULL << k) + 1), k == 0 ? 1 : k);
	}
	assert_int_equal(pw_log2(~0ULL), 63);
}

static void test_known_values(void **state)
{
	(void)state;
	assert_int_equal(pw_hist_bucket(0), 0);
	assert_int_equal(pw_hist_bucket(1023), 0);
	assert_int_equal(pw_hist_bucket(1024), 1);
	assert_int_equal(pw_hist_bucket(1024 + 127), 1);
	assert_int_equal(pw_hist_bucket(1024 + 128), 2);
	assert_int_equal(pw_hist_bucket(2047), 8);
	assert_int_equal(pw_hist_bucket(2048), 9);
	assert_int_equal(pw_hist_bucket((1ULL << 47) - 1), PW_HIST_BUCKETS - 2);
	assert_int_equal(pw_hist_bucket(1ULL << 47), PW_HIST_BUCKETS - 1);
	assert_int_equal(pw_hist_bucket(~0ULL), PW_HIST_BUCKETS - 1);
	assert_int_equal(pw_hist_upper_ns(0), 1023);
	assert_int_equal(pw_hist_upper_ns(1), 1024 + 127);
	assert_int_equal(pw_hist_upper_ns(8), 2047);
	assert_true(pw_hist_upper_ns(PW_HIST_BUCKETS - 1) == ~0ULL);
	/* The range the latency work needs: 1 us to 100 s and beyond. */
	assert_true(pw_hist_bucket(1000) == 0 && pw_hist_bucket(1100) == 1);
	assert_true(pw_hist_bucket(100ULL * 1000000000) < PW_HIST_BUCKETS - 1);
}

/* Every bucket: its upper bound lands in it, the next value in the next
 * one; bounds only grow, by at most 1.125x. */
static void test_every_boundary(void **state)
{
	__u64 lower = 0, upper;
	__u32 b;

	(void)state;
	for (b = 0; b < PW_HIST_BUCKETS - 1; b++) {
		upper = pw_hist_upper_ns(b);
		if (pw_hist_bucket(upper) != b || pw_hist_bucket(upper + 1) != b + 1)
			fail_msg("bucket %u: upper %llu -> %u, +1 -> %u", b,
				 (unsigned long long)upper, pw_hist_bucket(upper),
				 pw_hist_bucket(upper + 1));
		if (b > 0) {
			assert_true(pw_hist_bucket(lower) == b);
			/* (upper + 1) / lower <= 9/8 */
			assert_true((upper + 1) * 8 <= lower * 9);
		}
		lower = upper + 1;
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_log2),
		cmocka_unit_test(test_known_values),
		cmocka_unit_test(test_every_boundary),
	};

	return cmocka_run_group_tests_name("hist", tests, NULL, NULL);
}
