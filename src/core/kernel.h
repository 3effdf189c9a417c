/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* What the running kernel offers the BPF programs: tracepoints, functions
 * fentry can attach to, and the BPF features that came after 5.10. Probed,
 * never inferred from the version string. */
#ifndef PW_KERNEL_H
#define PW_KERNEL_H

#include <stdbool.h>

struct btf;

struct pw_kernel {
	struct btf *btf; /* vmlinux BTF */
	/* fentry/fexit programs load and attach (kernels with ftrace and
	 * without a lockdown or policy that refuses them); else why not. */
	bool fentry;
	char fentry_why[96];
	/* kprobes can be attached (CONFIG_KPROBES and the kprobe PMU). */
	bool kprobe;
	/* Socket storage from tracing programs and iterators (Linux 5.11). */
	bool sk_storage;
	/* bpf_sock_from_file: a file's socket, for the file-table passes
	 * (Linux 5.11). */
	bool sock_from_file;
};

/* Reads the kernel's BTF and probes; fentry support only if asked (it
 * loads a program). 0 or -errno (no BTF). */
int pw_kernel__probe(struct pw_kernel *k, bool fentry);
void pw_kernel__free(struct pw_kernel *k);
/* Whether the kernel has the BTF tracepoint tp (the test build's
 * PORTWATCH_TEST_NO_HOOKS may hide it). */
bool pw_kernel__tp(const struct pw_kernel *k, const char *tp);
/* Number of arguments of tracepoint tp, or -1. */
int pw_kernel__tp_args(const struct pw_kernel *k, const char *tp);
/* Whether fentry/fexit can attach to the kernel function fn. */
bool pw_kernel__fentry(const struct pw_kernel *k, const char *fn);
/* Whether a kprobe can be attached to the kernel function fn. */
bool pw_kernel__kprobe(const struct pw_kernel *k, const char *fn);
/* The lockdown mode ("none", "integrity", "confidentiality"), or "unknown". */
const char *pw_kernel_lockdown(char *buf, size_t len);

#endif
