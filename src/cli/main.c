// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Entry point: global flags and the subcommand table. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include "cli/cli.h"
#include "common/args.h"
#include "common/log.h"
#include "model/sockets.h"

#ifndef PW_VERSION
#define PW_VERSION "unknown"
#endif

static const struct {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
} commands[] = {
	{ "states", cmd_states, "TCP sockets per port and direction, counted by state" },
	{ "closewait", cmd_closewait,
	  "CLOSE_WAIT sockets with owners and ages; Nagios-style check" },
	{ "watch", cmd_watch, "live per-port gauges and rates from every state change" },
	{ "events", cmd_events, "CLOSE_WAIT, reset and failed-connect events as they happen" },
	{ "latency", cmd_latency, "request latency per port, inbound and outbound: percentiles" },
	{ "daemon", cmd_daemon, "tracing service: Prometheus metrics, alert rules, notifiers" },
	{ "check", cmd_check, "evaluate a config's rules once from a snapshot (Nagios codes)" },
	{ "features", cmd_features,
	  "what this kernel gives: each feature's hook, or why it is off" },
};

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "Usage: portwatch [--version] [--help] COMMAND [ARGS]\n\n"
		     "Watch TCP per port from inside the kernel with eBPF.\n\nCommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(out, "\nRun 'portwatch COMMAND --help' for a command's options and examples.\n"
		     "Exit codes: 0 success, 1 runtime failure, 2 bad usage; checks exit\n"
		     "0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.\n");
}

void pw_option_error(const char *cmd, int c, char **argv)
{
	const char *arg = argv[optind - 1];

	if (c == ':')
		pw_err("option '%s' needs a value (see 'portwatch %s --help')", arg, cmd);
	else if (optopt && strncmp(arg, "--", 2))
		pw_err("unknown option '-%c' (see 'portwatch %s --help')", optopt, cmd);
	else
		pw_err("unknown option '%s' (see 'portwatch %s --help')", arg, cmd);
}

int pw_common_option(const char *cmd, int c, struct pw_portset *ports, char **argv)
{
	const char *why;

	switch (c) {
	case 'p':
		if (pw_portset_add(ports, optarg, &why)) {
			pw_value_error("--port", optarg, why);
			return -1;
		}
		return 1;
	case 'v':
		pw_set_verbose(true);
		return 1;
	case '?':
	case ':':
		pw_option_error(cmd, c, argv);
		return -1;
	}
	return 0;
}

int pw_filter_option(int c, struct pw_sock_filter *f, bool *no_header)
{
	const char *why;
	__u32 pid;

	switch (c) {
	case '4':
	case '6':
		f->family = c == '4' ? AF_INET : AF_INET6;
		return 1;
	case 'H':
		*no_header = true;
		return 1;
	case 's':
		if (pw_parse_states(optarg, &f->states, &why)) {
			pw_value_error("--state", optarg, why);
			return -1;
		}
		return 1;
	case PW_OPT_PID:
		if (pw_parse_count(optarg, &pid, &why)) {
			pw_value_error("--pid", optarg, why);
			return -1;
		}
		if (!pid) {
			pw_value_error("--pid", optarg, "not a process id");
			return -1;
		}
		f->pid = pid;
		return 1;
	case PW_OPT_COMM:
		if (!*optarg || strlen(optarg) >= sizeof(f->comm)) {
			pw_value_error("--comm", optarg, "a process name is 1 to 15 characters");
			return -1;
		}
		snprintf(f->comm, sizeof(f->comm), "%s", optarg);
		return 1;
	}
	return 0;
}

int pw_no_operands(const char *cmd, int argc, char **argv)
{
	if (optind >= argc)
		return 0;
	pw_err("unexpected argument '%s' (see 'portwatch %s --help')", argv[optind], cmd);
	return 1;
}

void pw_value_error(const char *opt, const char *value, const char *why)
{
	pw_err("invalid %s '%s': %s", opt, value, why);
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		pw_err("missing command (see 'portwatch --help')");
		return PW_EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return PW_EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("portwatch %s\n", PW_VERSION);
		return PW_EXIT_OK;
	}
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].run(argc - 1, argv + 1);
	pw_err("unknown command '%s' (see 'portwatch --help')", argv[1]);
	return PW_EXIT_USAGE;
}
