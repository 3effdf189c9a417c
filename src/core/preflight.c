// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/* What must hold before any BPF program loads: privileges, kernel BTF, and
 * the iterators the snapshot uses. Each miss is named in one line. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include "common/log.h"
#include "core/snapshot.h"

#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
#ifndef CAP_BPF
#define CAP_BPF 39
#endif

static int check_caps(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
	bool admin, bpf, perfmon;

	if (syscall(SYS_capget, &hdr, data)) {
		pw_err("read capabilities: %s", strerror(errno));
		return -errno;
	}
#define HAS(cap) (data[(cap) / 32].effective & (1U << ((cap) % 32)))
	admin = HAS(CAP_SYS_ADMIN);
	bpf = admin || HAS(CAP_BPF);
	perfmon = admin || HAS(CAP_PERFMON);
#undef HAS
	if (bpf && perfmon)
		return 0;
	pw_err("missing %s%s%s: run as root, or grant CAP_BPF and CAP_PERFMON",
	       bpf ? "" : "CAP_BPF", !bpf && !perfmon ? " and " : "", perfmon ? "" : "CAP_PERFMON");
	return -EPERM;
}

/* The test build points this at other files (PORTWATCH_BTF) to exercise
 * the checks below; the shipped binary reads the kernel's. */
static const char *btf_path(void)
{
#ifdef PW_TEST_SWITCHES
	const char *p = getenv("PORTWATCH_BTF");

	if (p && *p)
		return p;
#endif
	return "/sys/kernel/btf/vmlinux";
}

static int check_kernel(void)
{
	static const char *const iters[] = { "bpf_iter_tcp", "bpf_iter_task_file" };
	const char *path = btf_path();
	struct btf *btf;
	size_t i;
	int err = 0;

	if (access(path, R_OK)) {
		pw_err("kernel has no BTF (%s: %s): portwatch needs CONFIG_DEBUG_INFO_BTF=y", path,
		       strerror(errno));
		return -ENOTSUP;
	}
	btf = btf__parse(path, NULL);
	if (!btf) {
		char msg[128];

		err = -errno;
		libbpf_strerror(err, msg, sizeof(msg));
		pw_err("read kernel BTF %s: %s", path, msg);
		return err;
	}
	for (i = 0; i < sizeof(iters) / sizeof(iters[0]); i++) {
		if (btf__find_by_name_kind(btf, iters[i], BTF_KIND_FUNC) < 0) {
			pw_err("kernel lacks the BPF iterator %s (needs Linux 5.9 or later)",
			       iters[i] + strlen("bpf_iter_"));
			err = -ENOTSUP;
			goto out;
		}
	}
out:
	btf__free(btf);
	return err;
}

/* libbpf's own messages are debug output: shown with -v only. */
static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	pw_vdebug(fmt, ap);
	return 0;
}

int pw_preflight(void)
{
	int err;

	libbpf_set_print(libbpf_print);
	err = check_caps();
	if (err)
		return err;
	return check_kernel();
}
