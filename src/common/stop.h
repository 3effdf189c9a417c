/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* SIGINT and SIGTERM end the loops of watch, events, latency and the
 * daemon: the handler only sets a flag the loop looks at, so every BPF
 * program is detached on the way out. */
#ifndef PW_STOP_H
#define PW_STOP_H

#include <stdbool.h>

void pw_install_stop_handlers(void);
bool pw_stopping(void);

#endif
