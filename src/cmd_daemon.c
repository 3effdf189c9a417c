// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* portwatch daemon and portwatch check. */
#include "cli.h"
#include "log.h"

int cmd_daemon(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	pw_err("daemon: not implemented yet");
	return PW_EXIT_FAIL;
}

int cmd_check(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	pw_err("check: not implemented yet");
	return 3;
}
