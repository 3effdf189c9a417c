/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The one place messages are printed: "portwatch: verb object: reason". */
#ifndef PW_LOG_H
#define PW_LOG_H

#include <stdarg.h>
#include <stdbool.h>

void pw_set_verbose(bool on);
bool pw_verbose(void);
void pw_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pw_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A line of the daemon's log: what happened, no prefix beyond the name. */
void pw_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void pw_vdebug(const char *fmt, va_list ap);
/* The last error printed, without prefix, for a check's UNKNOWN line. */
const char *pw_last_error(void);

#endif
