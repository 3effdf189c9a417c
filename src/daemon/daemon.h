/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The tracing service `portwatch daemon` runs, and the configuration loader
 * `portwatch check` shares with it. */
#ifndef PW_DAEMON_H
#define PW_DAEMON_H

#include "config/config.h"

/* Loads the configuration at path into *cfg (zeroed); -errno after printing
 * why it is not valid. */
int pw_daemon_load_config(const char *path, struct pw_config *cfg);

enum pw_daemon_flags {
	PW_DAEMON_CHECK = 1 << 0, /* validate the configuration, print one line */
};

/* How pw_daemon_run ended; every failure has been printed. */
enum pw_daemon_result {
	PW_DAEMON_OK, /* stopped by SIGINT or SIGTERM; with PW_DAEMON_CHECK: valid */
	PW_DAEMON_FAILED, /* starting or running failed: privileges, kernel, BPF, HTTP */
	PW_DAEMON_INVALID, /* the configuration is not valid */
};

/* Loads the configuration at path, then runs the service in the foreground
 * until SIGINT or SIGTERM; SIGHUP reloads the file. Notifier commands and
 * URLs that do not check out are warnings (errors with PW_DAEMON_CHECK). */
enum pw_daemon_result pw_daemon_run(const char *path, unsigned int flags);

#endif
