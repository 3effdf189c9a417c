/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* Subcommands and the conventions they share. */
#ifndef PW_CLI_H
#define PW_CLI_H

#include <getopt.h>

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

/* Report getopt's '?' or ':' for the option at argv[optind - 1] in one line. */
void pw_option_error(const char *cmd, int c, char **argv);
/* After getopt: 0, or 1 after reporting an operand nobody asked for. */
int pw_no_operands(const char *cmd, int argc, char **argv);
/* Report a bad option value: "invalid --port 'abc': not a number". */
void pw_value_error(const char *opt, const char *value, const char *why);

#endif
