/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Subcommands and the conventions they share. */
#ifndef PW_CLI_H
#define PW_CLI_H

#include <getopt.h>
#include <stdbool.h>

/* Exit codes (checks use the Nagios codes instead, see report.h). */
enum {
	PW_EXIT_OK = 0,
	PW_EXIT_FAIL = 1, /* a runtime failure: privileges, kernel, BPF */
	PW_EXIT_USAGE = 2, /* bad flags or values */
};

int cmd_states(int argc, char **argv);
int cmd_closewait(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_events(int argc, char **argv);
int cmd_latency(int argc, char **argv);
int cmd_daemon(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_features(int argc, char **argv);

struct pw_portset;
/* Options every command shares: -p/--port into ports, -v; and getopt's
 * errors. Returns 1 if c was handled, 0 if not, -1 after printing an error. */
int pw_common_option(const char *cmd, int c, struct pw_portset *ports, char **argv);

/* The ss/lsof-style filters of states and closewait: -4, -6, --state (only
 * when states), --pid, --comm, and -H (--no-header). The long options for
 * getopt_long and the short ones ("46H" plus "s:" with states); c handled:
 * 1, a bad value: -1 (said), else 0. */
#define PW_OPT_PID 0x200
#define PW_OPT_COMM 0x201
#define PW_FILTER_LONG_OPTS                                                                        \
	{ "ipv4", no_argument, NULL, '4' }, { "ipv6", no_argument, NULL, '6' },                    \
		{ "pid", required_argument, NULL, PW_OPT_PID },                                    \
		{ "comm", required_argument, NULL, PW_OPT_COMM },                                  \
	{                                                                                          \
		"no-header", no_argument, NULL, 'H'                                                \
	}
struct pw_sock_filter;
int pw_filter_option(int c, struct pw_sock_filter *f, bool *no_header);

/* Report getopt's '?' or ':' for the option at argv[optind - 1] in one line. */
void pw_option_error(const char *cmd, int c, char **argv);
/* After getopt: 0, or 1 after reporting an operand nobody asked for. */
int pw_no_operands(const char *cmd, int argc, char **argv);
/* Report a bad option value: "invalid --port 'abc': not a number". */
void pw_value_error(const char *opt, const char *value, const char *why);

#endif
