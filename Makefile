# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# portwatch: one Makefile for the BPF objects, skeletons, binary and tests.
#   make           build $(OUTPUT)/portwatch
#   make deps      apt-get install what building and testing need (if missing)
#   make run       deps, build, start the main view (portwatch watch)
#   make test      deps, build, run every test
#   make bench     throughput with and without portwatch (BENCHMARKS.md)
#   make test-kernels  the integration tests under other Debian kernels, in QEMU (KERNELS=...)
#   make sanitize  every test again, built with AddressSanitizer and UBSan
#   make fuzz      libFuzzer on the config parser and the HTTP server (FUZZ_SECONDS each)
#   make vmlinux   regenerate vmlinux/$(ARCH)/vmlinux.h from this kernel's BTF
#   V=1            show every command

VERSION := 0.1.0
BENCH_TRIALS ?= 7
BENCH_SECONDS ?= 2
OUTPUT ?= build
ARCH ?= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
CLANG ?= clang
LLVM_STRIP ?= llvm-strip
CC ?= cc
BPFTOOL ?= $(or $(shell command -v bpftool 2>/dev/null),/usr/sbin/bpftool)
PKG_CONFIG ?= pkg-config

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# Debian 12 packages for building and testing.
DEB_PACKAGES := make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config \
	libjansson-dev libcmocka-dev libyaml-dev libmicrohttpd-dev libcurl4-openssl-dev \
	iproute2 util-linux bsdutils procps curl jq nginx prometheus prometheus-alertmanager

# Helpers shared through bpf/*.bpf.h: each part of the tracker uses some.
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Wextra -Werror -Wno-unused-parameter \
	-Wno-unused-function \
	-Iinclude -Ibpf -Ivmlinux/$(ARCH) -MMD -MP
CFLAGS ?= -g -O2
override CFLAGS += -std=gnu11 -Wall -Wextra -Werror -Iinclude -Isrc -I$(OUTPUT) -MMD -MP \
	-DPW_VERSION='"$(VERSION)"'
LDLIBS_BPF = $(shell $(PKG_CONFIG) --libs libbpf)
LDLIBS_JSON = $(shell $(PKG_CONFIG) --libs jansson)
LDLIBS_CMOCKA = $(shell $(PKG_CONFIG) --libs cmocka)
LDLIBS_YAML = $(shell $(PKG_CONFIG) --libs yaml-0.1)
LDLIBS_DAEMON = $(shell $(PKG_CONFIG) --libs libmicrohttpd libcurl zlib) -pthread

# The tracker is one object linked from one per concern; the snapshot is
# its own.
TRACK_PARTS := state state_raw latency resets resets_kprobe accept iter
BPF_NAMES := snapshot $(TRACK_PARTS)
SKELS := $(OUTPUT)/snapshot.skel.h $(OUTPUT)/track.skel.h
# Pure logic: no libbpf, no syscalls beyond stdio; unit tests link these.
PURE_OBJS := $(addprefix $(OUTPUT)/,common/args.o common/log.o common/stop.o \
	config/config.o config/yaml.o config/schema.o config/value.o model/sockets.o model/live.o model/alert.o \
	render/format.o render/report.o render/latency.o render/metrics.o render/alert_payload.o \
	render/alert_text.o render/self_metrics.o)
BPF_USER_OBJS := $(addprefix $(OUTPUT)/core/,snapshot.o preflight.o track.o reader.o kernel.o procfd.o \
	netns.o)
# Threads and network clients: the daemon's loop, exporter and notifiers.
DAEMON_OBJS := $(addprefix $(OUTPUT)/daemon/,daemon.o exporter.o notify.o notify_exec.o notify_http.o)
CLI_OBJS := $(addprefix $(OUTPUT)/cli/,main.o cmd_states.o cmd_closewait.o cmd_watch.o cmd_events.o \
	cmd_latency.o cmd_features.o cmd_daemon.o cmd_check.o)
APP := $(OUTPUT)/portwatch
# The binary the integration tests run: the same, plus switches that hide
# hooks, skip state changes or replace the kernel's BTF (PORTWATCH_TEST_*,
# PORTWATCH_BTF), compiled in only here.
TEST_SWITCH_SRCS := core/kernel core/track core/preflight
TEST_SWITCH_OBJS := $(TEST_SWITCH_SRCS:%=$(OUTPUT)/tests/switches/%.o)
TEST_APP := $(OUTPUT)/tests/portwatch

UNIT_TESTS := $(patsubst tests/unit/%.c,$(OUTPUT)/tests/%,$(wildcard tests/unit/test_*.c))
# Fuzz targets (tests/fuzz/fuzz_*.c): run by make fuzz under libFuzzer; make
# test replays each one's corpus (tests/fuzz/corpus/NAME) through it.
FUZZ_TARGETS := config http
REPLAYS := $(FUZZ_TARGETS:%=$(OUTPUT)/tests/replay_%)
INTEG_TESTS := $(patsubst tests/integration/%.c,$(OUTPUT)/tests/%,\
	$(wildcard tests/integration/test_*.c))
INTEG_HELPERS := $(OUTPUT)/tests/helpers.o
# Skeleton-level tests (tests/bpf/test_NAME.c -> bpf_NAME): one concern's
# programs loaded by the test itself, its maps read per socket.
BPF_TESTS := $(patsubst tests/bpf/test_%.c,$(OUTPUT)/tests/bpf_%,$(wildcard tests/bpf/test_*.c))
# Tests again with hooks hidden (PORTWATCH_TEST_NO_HOOKS): the tracking
# tests with the BTF-less fallback forced, and as on 5.10 (no socket storage
# in tracing, no bpf_sock_from_file); the snapshot with owners from /proc.
INTEG_WRAPPERS := $(OUTPUT)/tests/test_track_raw $(OUTPUT)/tests/test_track_510 \
	$(OUTPUT)/tests/test_snapshot_procfd
wrapper_test_track_raw := test_track inet_sock_set_state
wrapper_test_track_510 := test_track sk_storage,sock_from_file
wrapper_test_snapshot_procfd := test_snapshot sock_from_file

.PHONY: all deps run test check bench test-kernels sanitize fuzz vmlinux format format-check \
	clean
.DELETE_ON_ERROR:
# The BPF objects are inputs to the tests too: keep them.
.SECONDARY: $(BPF_NAMES:%=$(OUTPUT)/%.bpf.o) $(OUTPUT)/track.bpf.o

all: $(APP)

deps:
	@missing=""; for p in $(DEB_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
			|| missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends $$missing; \
	fi

run: deps
	$(Q)$(MAKE) --no-print-directory all
	$(OUTPUT)/portwatch watch

test: deps
	$(Q)$(MAKE) --no-print-directory check

# Every test again with the binaries and tests built with AddressSanitizer
# (leaks included) and UndefinedBehaviorSanitizer, in a tree of their own; a
# report fails the binary that made it.
SANITIZE_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
sanitize: deps
	$(Q)ASAN_OPTIONS=abort_on_error=0:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		TEST_TIMEOUT=900 \
		$(MAKE) --no-print-directory OUTPUT=$(OUTPUT)/sanitize \
		CFLAGS="-g -O1 $(SANITIZE_FLAGS)" LDFLAGS="$(SANITIZE_FLAGS)" check

# tests/deploy/check.sh: the files in deploy/ against promtool, amtool and the
# binary (it builds its own YAML-to-JSON helper in $(OUTPUT)/tests).
check: $(APP) $(TEST_APP) $(UNIT_TESTS) $(REPLAYS) $(BPF_TESTS) $(INTEG_TESTS) $(INTEG_WRAPPERS)
	$(Q)OUTPUT=$(OUTPUT) PORTWATCH_SHIPPED=$(APP) tests/run.sh $(TEST_APP) $(UNIT_TESTS) \
		$(REPLAYS) $(BPF_TESTS) $(INTEG_TESTS) $(INTEG_WRAPPERS) tests/deploy/check.sh

$(OUTPUT) $(OUTPUT)/tests:
	$(Q)mkdir -p $@

# DWARF is only for debuggers: strip it before the objects are embedded (BTF
# and its line info, all that libbpf and the verifier use, stay).
$(OUTPUT)/%.bpf.o: bpf/%.bpf.c | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@
	$(Q)$(LLVM_STRIP) -g $@

$(OUTPUT)/track.bpf.o: $(TRACK_PARTS:%=$(OUTPUT)/%.bpf.o)
	$(call msg,LINK-BPF,$@)
	$(Q)$(BPFTOOL) gen object $@ $^

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $*_bpf > $@

$(OUTPUT)/%.o: src/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# Sources include the skeletons: generate them before compiling any.
$(BPF_USER_OBJS) $(CLI_OBJS): $(SKELS)

$(APP): $(CLI_OBJS) $(BPF_USER_OBJS) $(DAEMON_OBJS) $(PURE_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS_BPF) $(LDLIBS_JSON) $(LDLIBS_YAML) $(LDLIBS_DAEMON) -lm -o $@

$(OUTPUT)/tests/switches/%.o: src/%.c $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -DPW_TEST_SWITCHES -c $< -o $@

$(TEST_APP): $(CLI_OBJS) $(filter-out $(TEST_SWITCH_SRCS:%=$(OUTPUT)/%.o),$(BPF_USER_OBJS)) \
		$(TEST_SWITCH_OBJS) $(DAEMON_OBJS) $(PURE_OBJS) | $(OUTPUT)/tests
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $(filter %.o,$^) $(LDLIBS_BPF) $(LDLIBS_JSON) $(LDLIBS_YAML) \
		$(LDLIBS_DAEMON) -lm -o $@

$(OUTPUT)/tests/%.o: tests/unit/%.c | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/tests/%.o: tests/integration/%.c | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests/integration -c $< -o $@

$(OUTPUT)/tests/bpf/%.o: tests/bpf/%.c $(SKELS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -Itests/bpf -Itests/integration -c $< -o $@

# They share the integration tests' helpers (namespaces, loopback).
$(BPF_TESTS): $(OUTPUT)/tests/bpf_%: $(OUTPUT)/tests/bpf/test_%.o $(OUTPUT)/tests/bpf/bpf_test.o \
		$(INTEG_HELPERS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS_BPF) $(LDLIBS_JSON) $(LDLIBS_DAEMON) $(LDLIBS_CMOCKA) -lm \
		-o $@

# test_notify also exercises the notifier threads; test_procfd walks a tree.
# Each unit test links what it tests and what that needs, nothing more (a new
# tests/unit/test_NAME.c gets a UNIT_test_NAME line).
CONFIG_OBJS := config/config.o config/yaml.o config/schema.o config/value.o common/args.o \
	common/log.o
UNIT_test_alert := model/alert.o model/live.o render/alert_text.o render/format.o $(CONFIG_OBJS)
UNIT_test_args := common/args.o
UNIT_test_config := $(CONFIG_OBJS)
UNIT_test_hist :=
UNIT_test_latency_math := render/latency.o render/format.o model/live.o
UNIT_test_metrics := render/metrics.o render/format.o model/live.o
UNIT_test_notify := daemon/notify.o daemon/notify_exec.o daemon/notify_http.o \
	render/alert_payload.o $(CONFIG_OBJS)
UNIT_test_procfd := core/procfd.o
UNIT_test_report := render/report.o render/format.o model/sockets.o model/live.o common/args.o
UNIT_test_sockets := model/sockets.o model/live.o common/args.o
.SECONDEXPANSION:
$(UNIT_TESTS): $(OUTPUT)/tests/%: $(OUTPUT)/tests/%.o $$(addprefix $(OUTPUT)/,$$(UNIT_$$*))
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS_JSON) $(LDLIBS_YAML) $(LDLIBS_DAEMON) $(LDLIBS_CMOCKA) -lm -o $@

$(INTEG_TESTS): $(OUTPUT)/tests/%: $(OUTPUT)/tests/%.o $(INTEG_HELPERS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(LDFLAGS) $^ $(LDLIBS_JSON) $(LDLIBS_DAEMON) $(LDLIBS_CMOCKA) -lm -o $@

$(REPLAYS): $(OUTPUT)/tests/replay_%: tests/fuzz/replay.c tests/fuzz/fuzz_%.c $(PURE_OBJS) \
		$(OUTPUT)/daemon/exporter.o | $(OUTPUT)/tests
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -DPW_CORPUS='"$(CURDIR)/tests/fuzz/corpus/$*"' $(filter %.c %.o,$^) \
		$(LDLIBS_JSON) $(LDLIBS_YAML) $(LDLIBS_DAEMON) -lm -o $@

# libFuzzer builds: clang, coverage on our code, ASan and UBSan. New inputs
# it finds go to $(OUTPUT)/fuzz/corpus/NAME (add the useful ones to
# tests/fuzz/corpus/NAME); a crash stops it with the input saved.
FUZZ_SECONDS ?= 60
FUZZ_CFLAGS := $(filter-out -Werror -MMD -MP,$(CFLAGS)) -g -O1 -fno-omit-frame-pointer \
	-fsanitize=address,undefined
FUZZ_OBJS := $(patsubst $(OUTPUT)/%.o,$(OUTPUT)/fuzz/%.o,$(PURE_OBJS) $(OUTPUT)/daemon/exporter.o)
$(OUTPUT)/fuzz/%.o: src/%.c
	$(call msg,CC-FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@
$(OUTPUT)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -fsanitize=fuzzer $^ $(LDLIBS_JSON) $(LDLIBS_YAML) \
		$(LDLIBS_DAEMON) -lm -o $@
fuzz: deps
	$(Q)$(MAKE) --no-print-directory $(FUZZ_TARGETS:%=$(OUTPUT)/fuzz/fuzz_%)
	$(Q)for t in $(FUZZ_TARGETS); do \
		mkdir -p $(OUTPUT)/fuzz/corpus/$$t && \
		echo "fuzz_$$t: $(FUZZ_SECONDS) s" && \
		$(OUTPUT)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=30 \
			-artifact_prefix=$(OUTPUT)/fuzz/$$t- \
			$(OUTPUT)/fuzz/corpus/$$t tests/fuzz/corpus/$$t || exit 1; \
	done

$(OUTPUT)/loadgen: bench/loadgen.c | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -pthread $< -o $@

bench: deps
	$(Q)$(MAKE) --no-print-directory $(APP) $(OUTPUT)/loadgen
	bench/run.sh $(APP) $(OUTPUT)/loadgen $(BENCH_TRIALS) $(BENCH_SECONDS)

# tests/kernels.sh boots each kernel of $(KERNELS) with tests/vm/run-in-vm.sh (it fetches
# the kernels and installs QEMU itself) and runs the integration tests there.
# Each kernel runs the integration tests and the raw-hook wrapper; the other
# wrappers imitate old kernels, which this target runs for real.
KERNEL_TESTS := $(INTEG_TESTS) $(OUTPUT)/tests/test_track_raw
test-kernels: deps
	$(Q)$(MAKE) --no-print-directory $(TEST_APP) $(KERNEL_TESTS)
	$(Q)OUTPUT=$(OUTPUT) KERNELS="$(KERNELS)" tests/kernels.sh $(TEST_APP) $(KERNEL_TESTS)

$(INTEG_WRAPPERS): | $(OUTPUT)/tests
	$(Q)set -- $(wrapper_$(notdir $@)); \
	printf '#!/bin/sh\nPORTWATCH_TEST_NO_HOOKS=%s exec "$$(dirname "$$0")/%s" "$$@"\n' "$$2" "$$1" > $@
	$(Q)chmod +x $@

vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/$(ARCH)/vmlinux.h.tmp
	mv vmlinux/$(ARCH)/vmlinux.h.tmp vmlinux/$(ARCH)/vmlinux.h

FORMAT_FILES = $(wildcard src/*/*.[ch] bpf/*.[ch] include/*.h tests/*/*.[ch])
format:
	clang-format -i $(FORMAT_FILES)
format-check:
	clang-format --dry-run --Werror $(FORMAT_FILES)

clean:
	rm -rf $(OUTPUT)

-include $(wildcard $(OUTPUT)/*.d $(OUTPUT)/*/*.d $(OUTPUT)/tests/*.d $(OUTPUT)/tests/bpf/*.d \
	$(OUTPUT)/tests/switches/*/*.d)
