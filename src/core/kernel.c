// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* Probes of what the running kernel offers: see kernel.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "core/kernel.h"

#ifdef PW_TEST_SWITCHES
/* The test build only (make builds it as tests/portwatch): hooks the tests
 * name to treat as missing, "sock_send_length,fentry". The shipped binary
 * reads no such variable. */
static bool hidden(const char *name)
{
	const char *fake = getenv("PORTWATCH_TEST_NO_HOOKS"), *p;
	size_t n = strlen(name);

	for (p = fake; p && *p; p += strcspn(p, ",") + (p[strcspn(p, ",")] == ',')) {
		if (strcspn(p, ",") == n && !strncmp(p, name, n))
			return true;
	}
	return false;
}
#else
static bool hidden(const char *name)
{
	(void)name;
	return false;
}
#endif

bool pw_kernel__tp(const struct pw_kernel *k, const char *tp)
{
	char name[64];

	if (hidden(tp))
		return false;
	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	return btf__find_by_name_kind(k->btf, name, BTF_KIND_TYPEDEF) > 0;
}

int pw_kernel__tp_args(const struct pw_kernel *k, const char *tp)
{
	const struct btf_type *t;
	char name[64];
	int id;

	snprintf(name, sizeof(name), "btf_trace_%s", tp);
	id = btf__find_by_name_kind(k->btf, name, BTF_KIND_TYPEDEF);
	if (id <= 0)
		return -1;
	t = btf__type_by_id(k->btf, id); /* typedef -> pointer -> prototype */
	t = t ? btf__type_by_id(k->btf, t->type) : NULL;
	t = t && btf_is_ptr(t) ? btf__type_by_id(k->btf, t->type) : NULL;
	return t && btf_is_func_proto(t) ? btf_vlen(t) : -1;
}

bool pw_kernel__fentry(const struct pw_kernel *k, const char *fn)
{
	return k->fentry && !hidden(fn) && btf__find_by_name_kind(k->btf, fn, BTF_KIND_FUNC) > 0;
}

/* Loads and attaches an empty fentry program on a TCP function: some kernels
 * refuse it at load (no ftrace, lockdown), others at attach. */
static bool probe_fentry(const struct pw_kernel *k, char *why, size_t len)
{
	const struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = BPF_TRACE_FENTRY);
	int id, prog, link;

	if (hidden("fentry")) {
		snprintf(why, len, "hidden by PORTWATCH_TEST_NO_HOOKS");
		return false;
	}
	id = btf__find_by_name_kind(k->btf, "tcp_sendmsg", BTF_KIND_FUNC);
	if (id <= 0) {
		snprintf(why, len, "tcp_sendmsg not in the kernel's BTF");
		return false;
	}
	opts.attach_btf_id = id;
	prog = bpf_prog_load(BPF_PROG_TYPE_TRACING, "pw_probe", "GPL", insns, 2, &opts);
	if (prog < 0) {
		snprintf(why, len, "refused at load: %s", strerror(errno));
		return false;
	}
	link = bpf_raw_tracepoint_open(NULL, prog);
	if (link < 0)
		snprintf(why, len, "refused at attach: %s", strerror(errno));
	else
		close(link);
	close(prog);
	return link >= 0;
}

bool pw_kernel__kprobe(const struct pw_kernel *k, const char *fn)
{
	return k->kprobe && !hidden(fn) && btf__find_by_name_kind(k->btf, fn, BTF_KIND_FUNC) > 0;
}

static bool has_enum_value(const struct btf *btf, const char *type, const char *value)
{
	int id = btf__find_by_name_kind(btf, type, BTF_KIND_ENUM), i;
	const struct btf_type *t = id < 0 ? NULL : btf__type_by_id(btf, id);

	for (i = 0; t && i < btf_vlen(t); i++)
		if (!strcmp(btf__name_by_offset(btf, btf_enum(t)[i].name_off), value))
			return true;
	return false;
}

int pw_kernel__probe(struct pw_kernel *k, bool fentry)
{
	memset(k, 0, sizeof(*k));
	k->btf = btf__load_vmlinux_btf();
	if (!k->btf)
		return -errno;
	if (fentry)
		k->fentry = probe_fentry(k, k->fentry_why, sizeof(k->fentry_why));
	else
		snprintf(k->fentry_why, sizeof(k->fentry_why), "not probed");
	/* libbpf attaches kprobes through this PMU; kernels without
	 * CONFIG_KPROBES have none. */
	k->kprobe = !hidden("kprobe") && !access("/sys/bus/event_source/devices/kprobe/type", R_OK);
	/* The function that admits tracing programs to socket storage came
	 * with the feature (Linux 5.11). */
	k->sk_storage =
		!hidden("sk_storage") &&
		btf__find_by_name_kind(k->btf, "bpf_sk_storage_tracing_allowed", BTF_KIND_FUNC) > 0;
	k->sock_from_file = !hidden("sock_from_file") &&
			    has_enum_value(k->btf, "bpf_func_id", "BPF_FUNC_sock_from_file");
	return 0;
}

void pw_kernel__free(struct pw_kernel *k)
{
	btf__free(k->btf);
	k->btf = NULL;
}

const char *pw_kernel_lockdown(char *buf, size_t len)
{
	char line[128], *open, *close;
	FILE *f = fopen("/sys/kernel/security/lockdown", "r");

	snprintf(buf, len, "unknown");
	if (!f) {
		snprintf(buf, len,
			 "unknown (no /sys/kernel/security/lockdown: securityfs not "
			 "mounted, or no lockdown LSM)");
		return buf;
	}
	/* "none [integrity] confidentiality": the bracketed one is in force. */
	if (fgets(line, sizeof(line), f) && (open = strchr(line, '[')) &&
	    (close = strchr(open, ']'))) {
		*close = '\0';
		snprintf(buf, len, "%s", open + 1);
	}
	fclose(f);
	return buf;
}
