// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `portwatch daemon`: its flags and exit codes; the service itself is
 * daemon/daemon.c. */
#include <getopt.h>
#include <stdio.h>
#include "cli/cli.h"
#include "common/log.h"
#include "daemon/daemon.h"

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: portwatch daemon --config FILE [--check] [-v]\n\n"
		"Run the tracing service in the foreground (for systemd): follow every TCP\n"
		"state change and request in the kernel, serve Prometheus metrics over HTTP\n"
		"(/metrics, /healthz), evaluate the config's alert rules and run its\n"
		"notifiers. One line per event of interest goes to stderr. SIGHUP reloads the\n"
		"config (a bad file is reported and the running one kept); SIGINT or SIGTERM\n"
		"detach everything and exit 0.\n\n"
		"Options:\n"
		"  -c, --config FILE  the YAML configuration (see deploy/portwatch.yaml)\n"
		"  -n, --check        validate the configuration and exit: 0 valid, 2 not\n"
		"  -v, --verbose      show libbpf's and libmicrohttpd's log\n"
		"  -h, --help         this text\n\n"
		"Examples:\n"
		"  portwatch daemon --config /etc/portwatch/portwatch.yaml\n"
		"  portwatch daemon --config portwatch.yaml --check\n"
		"  curl -s 127.0.0.1:9977/metrics | grep close_wait\n");
}

int cmd_daemon(int argc, char **argv)
{
	static const int exit_code[] = {
		[PW_DAEMON_OK] = PW_EXIT_OK,
		[PW_DAEMON_FAILED] = PW_EXIT_FAIL,
		[PW_DAEMON_INVALID] = PW_EXIT_USAGE,
	};
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *path = NULL;
	unsigned int flags = 0;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, ":c:nvh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'n':
			flags |= PW_DAEMON_CHECK;
			break;
		case 'v':
			pw_set_verbose(true);
			break;
		case 'h':
			usage(stdout);
			return PW_EXIT_OK;
		default:
			pw_option_error("daemon", c, argv);
			return PW_EXIT_USAGE;
		}
	}
	if (pw_no_operands("daemon", argc, argv))
		return PW_EXIT_USAGE;
	if (!path) {
		pw_err("daemon needs --config FILE (see 'portwatch daemon --help')");
		return PW_EXIT_USAGE;
	}
	return exit_code[pw_daemon_run(path, flags)];
}
