// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Stop requests from signals: see stop.h. */
#include <signal.h>
#include <stddef.h>
#include "common/stop.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

void pw_install_stop_handlers(void)
{
	struct sigaction sa = { .sa_handler = on_signal };

	/* No SA_RESTART: a blocking poll returns so the loop can end. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

bool pw_stopping(void)
{
	return stop;
}
