// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* `portwatch features`: what this kernel gives portwatch, feature by
 * feature: the hook in use, or why the feature is off. For bug reports and
 * for deciding where portwatch can run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <jansson.h>
#include "cli/cli.h"
#include "common/log.h"
#include "core/kernel.h"
#include "core/snapshot.h"
#include "core/track.h"
#include "render/format.h"

static void usage(FILE *out)
{
	fprintf(out, "Usage: portwatch features [--json] [-v]\n\n"
		     "Load portwatch's BPF programs without attaching them and say what this\n"
		     "kernel gives: its version, BTF, lockdown mode, whether fentry works, and\n"
		     "for each feature the hook in use (tracepoint, fentry/fexit, raw\n"
		     "tracepoint) or why it is off. Nothing is traced.\n\n"
		     "Options:\n"
		     "  -j, --json     one JSON object\n"
		     "  -v, --verbose  show libbpf's log\n"
		     "  -h, --help     this text\n\n"
		     "Examples:\n"
		     "  portwatch features\n"
		     "  portwatch features --json | jq '.features[] | select(.hook == null)'\n");
}

static void print_text(const struct utsname *u, const char *lockdown, const struct pw_kernel *k,
		       const struct pw_feature_state *f)
{
	int i;

	printf("kernel    %s %s (%s)\n", u->sysname, u->release, u->machine);
	printf("btf       yes\n");
	printf("lockdown  %s\n", lockdown);
	printf("fentry    %s%s%s\n", k->fentry ? "yes" : "no (", k->fentry ? "" : k->fentry_why,
	       k->fentry ? "" : ")");
	printf("kprobes   %s\n", k->kprobe ? "yes" : "no (no kprobe PMU: CONFIG_KPROBES off)");
	printf("\n%-26s %s\n", "FEATURE", "HOOK (or why it is off)");
	for (i = 0; i < PW_FEAT_MAX; i++) {
		if (f[i].hook[0])
			printf("%-26s %s%s%s%s\n", pw_feature_name(i), f[i].hook,
			       f[i].why[0] ? " (" : "", f[i].why, f[i].why[0] ? ")" : "");
		else
			printf("%-26s off: %s\n", pw_feature_name(i), f[i].why);
	}
}

static int print_json(const struct utsname *u, const char *lockdown, const struct pw_kernel *k,
		      const struct pw_feature_state *f)
{
	json_t *doc = json_object(), *list = json_array(), *o;
	int i, err;

	json_object_set_new(doc, "kernel", json_string(u->release));
	json_object_set_new(doc, "machine", json_string(u->machine));
	json_object_set_new(doc, "btf", json_true());
	json_object_set_new(doc, "lockdown", json_string(lockdown));
	json_object_set_new(doc, "fentry", json_boolean(k->fentry));
	json_object_set_new(doc, "kprobe", json_boolean(k->kprobe));
	if (!k->fentry)
		json_object_set_new(doc, "fentry_why", json_string(k->fentry_why));
	for (i = 0; i < PW_FEAT_MAX; i++) {
		o = json_object();
		json_object_set_new(o, "name", json_string(pw_feature_name(i)));
		json_object_set_new(o, "hook", f[i].hook[0] ? json_string(f[i].hook) : json_null());
		json_object_set_new(o, "why", json_string(f[i].why));
		json_array_append_new(list, o);
	}
	json_object_set_new(doc, "features", list);
	err = pw_json_print(stdout, doc);
	json_decref(doc);
	return err;
}

int cmd_features(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const struct pw_tracker_opts topts = { .latency = true,
					       .accept_wait = true,
					       .probe_only = true };
	const struct pw_kernel *k;
	struct pw_tracker *t;
	struct utsname u;
	char lockdown[96];
	bool json = false;
	int c, err = 0;

	opterr = 0;
	while ((c = getopt_long(argc, argv, ":jvh", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			json = true;
			break;
		case 'v':
			pw_set_verbose(true);
			break;
		case 'h':
			usage(stdout);
			return PW_EXIT_OK;
		default:
			pw_option_error("features", c, argv);
			return PW_EXIT_USAGE;
		}
	}
	if (pw_no_operands("features", argc, argv))
		return PW_EXIT_USAGE;
	if (pw_preflight())
		return PW_EXIT_FAIL;
	t = pw_tracker__new(&topts);
	if (!t)
		return PW_EXIT_FAIL;
	k = pw_tracker__kernel(t);
	uname(&u);
	pw_kernel_lockdown(lockdown, sizeof(lockdown));
	if (json)
		err = print_json(&u, lockdown, k, pw_tracker__features(t));
	else
		print_text(&u, lockdown, k, pw_tracker__features(t));
	if (err || fflush(stdout)) {
		pw_err("write output: I/O error");
		err = -1;
	}
	pw_tracker__free(t);
	return err ? PW_EXIT_FAIL : PW_EXIT_OK;
}
