// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Message output: errors and warnings always, debug lines (libbpf's log
 * among them) only with -v. */
#include <stdio.h>
#include "common/log.h"

static bool verbose;
static char last_error[256];

void pw_set_verbose(bool on)
{
	verbose = on;
}

bool pw_verbose(void)
{
	return verbose;
}

/* One write per line: the daemon's threads log too. */
static void emit(const char *prefix, const char *fmt, va_list ap)
{
	char line[1024];
	int n;

	n = snprintf(line, sizeof(line), "portwatch: %s", prefix);
	vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	fprintf(stderr, "%s\n", line);
}

void pw_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("", fmt, ap);
	va_end(ap);
}

void pw_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	fprintf(stderr, "portwatch: %s\n", last_error);
}

const char *pw_last_error(void)
{
	return last_error;
}

void pw_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	emit("warning: ", fmt, ap);
	va_end(ap);
}

void pw_vdebug(const char *fmt, va_list ap)
{
	if (verbose)
		vfprintf(stderr, fmt, ap);
}
