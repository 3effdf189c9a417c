#!/usr/bin/env bash
# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# Runs a command under a Debian kernel in QEMU, so the integration tests can meet other kernels.
# Owns: fetching and caching kernel packages (private apt state), the guest's initramfs and
# mounts, booting, streaming the command's output and handing back its exit status.
#
#   tests/vm/run-in-vm.sh KERNEL CMD [ARG...]    run CMD as root in this directory, in the guest
#   tests/vm/run-in-vm.sh --resolve KERNEL       fetch KERNEL, print its ABI name (uname -r)
#
# KERNEL: a series (5.10, 6.1, 6.12 ...: its newest Debian amd64 kernel in any suite), "newest"
# (the newest amd64 kernel in trixie/sid), or an ABI name (6.1.0-57-amd64).
# The guest sees the host's / read-only (9p) under a tmpfs overlay, so writes are thrown away.
# Environment: VM_MEM (2G), VM_CPUS (2), VM_TIMEOUT (1200 s, from boot), VM_ACCEL
# (auto|kvm|tcg), VM_CACHE (/var/tmp/portwatch-vm), VM_LOCK ($VM_CACHE/lock: one VM at a time),
# VM_CONSOLE (file to keep the kernel console in), VM_ENV (names of variables to pass in).
# Exit status: CMD's; 124 when the run timed out; 125 when the VM or this script failed.
set -Eeuo pipefail
shopt -s inherit_errexit

CACHE=${VM_CACHE:-/var/tmp/portwatch-vm}
MEM=${VM_MEM:-2G}
CPUS=${VM_CPUS:-2}
TIMEOUT=${VM_TIMEOUT:-1200}
APTDIR=$CACHE/apt
# Guest modules needed before the root exists: virtio PCI, 9p over virtio, overlayfs.
BOOT_MODULES="virtio_pci 9pnet_virtio 9p overlay"
# command:package for what this script runs on the host.
HOST_TOOLS="qemu-system-x86_64:qemu-system-x86 cpio:cpio depmod:kmod xz:xz-utils zstd:zstd"

say() { echo "run-in-vm: $*" >&2; }
die() {
	say "$*"
	exit 125
}

# Anything unexpected is a failure of the runner, not of the command.
trap 'say "failed at line $LINENO: $BASH_COMMAND"; exit 125' ERR

usage() {
	sed -n '7,8p' "$0" | sed 's/^# *//' >&2
	exit 2
}

install_tools() {
	local missing="" t
	for t in $HOST_TOOLS; do
		command -v "${t%%:*}" >/dev/null || missing+=" ${t#*:}"
	done
	# The initramfs needs a static busybox; the dynamic one would miss its libraries.
	[ -x /bin/busybox ] && ! ldd /bin/busybox >/dev/null 2>&1 || missing+=" busybox-static"
	[ -n "$missing" ] || return 0
	say "installing:$missing"
	apt-get -qq -o DPkg::Lock::Timeout=600 update >&2 &&
		DEBIAN_FRONTEND=noninteractive apt-get -qq -y -o DPkg::Lock::Timeout=600 \
			--no-install-recommends install $missing >&2 ||
		die "apt-get install$missing failed"
}

# apt-get and apt-cache on our own lists and cache: the host's sources and state stay as
# they are.
apt_private() {
	local tool=$1
	shift
	"$tool" -q -o Dir::State="$APTDIR" -o Dir::State::Lists="$APTDIR/lists" \
		-o Dir::State::status="$APTDIR/status" -o Dir::Cache="$APTDIR/cache" \
		-o Dir::Cache::pkgcache=pkgcache.bin -o Dir::Cache::srcpkgcache= \
		-o Dir::Etc::SourceList="$APTDIR/sources.list" -o Dir::Etc::SourceParts="$APTDIR/empty.d" \
		-o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$APTDIR/empty.d" \
		-o APT::Sandbox::User=root -o Acquire::Languages=none "$@"
}

# Refresh the private lists when missing, a day old, or when the suites changed; then write
# kernels.txt, the real (not virtual) generic amd64 kernel packages, oldest first.
apt_refresh() {
	local k=signed-by=/usr/share/keyrings/debian-archive-keyring.gpg s
	mkdir -p "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial" "$APTDIR/empty.d"
	touch "$APTDIR/status"
	{
		# 5.10: bullseye; 6.1: bookworm; 6.12: trixie; newest: sid. Kernel updates land
		# in the security suites first.
		for s in bullseye bookworm trixie; do
			echo "deb [arch=amd64 $k] http://deb.debian.org/debian $s main"
			echo "deb [arch=amd64 $k] http://deb.debian.org/debian-security $s-security main"
		done
		echo "deb [arch=amd64 $k] http://deb.debian.org/debian sid main"
	} >"$APTDIR/sources.list.new"
	if cmp -s "$APTDIR/sources.list.new" "$APTDIR/sources.list" &&
		[ -n "$(find "$APTDIR/kernels.txt" -mmin -1440 2>/dev/null)" ]; then
		rm "$APTDIR/sources.list.new"
		return 0
	fi
	mv "$APTDIR/sources.list.new" "$APTDIR/sources.list"
	say "apt-get update (private lists in $APTDIR)"
	if ! apt_private apt-get update >/dev/null; then
		# Offline with lists from an earlier day: better old kernels than none.
		[ -s "$APTDIR/kernels.txt" ] || die "apt-get update of the kernel lists failed"
		say "apt-get update failed: using the kernel list of $(date -r "$APTDIR/kernels.txt" +%F)"
		return 0
	fi
	apt_private apt-cache search --names-only '^linux-image-[0-9.]+(-[0-9]+|\+deb[0-9.]+)-amd64$' |
		sed -n 's/^linux-image-\([^ ]*\) - .*/\1/p' | sort -V >"$APTDIR/kernels.txt.new"
	[ -s "$APTDIR/kernels.txt.new" ] || die "no amd64 kernels in the Debian lists"
	mv "$APTDIR/kernels.txt.new" "$APTDIR/kernels.txt"
}

# KERNEL spec -> ABI name
resolve() {
	local spec=$1 abi
	case $spec in
	newest)
		apt_refresh
		abi=$(tail -n 1 "$APTDIR/kernels.txt")
		;;
	[0-9]*.[0-9]*-*) abi=$spec ;;
	[0-9]*.[0-9]*)
		apt_refresh
		abi=$(grep -E "^${spec//./\\.}[.+-]" "$APTDIR/kernels.txt" | tail -n 1 || true)
		[ -n "$abi" ] || die "no Debian amd64 kernel of series $spec"
		;;
	*) die "kernel '$spec': want a series (6.1), newest, or an ABI name (6.1.0-57-amd64)" ;;
	esac
	echo "$abi"
}

# Download and unpack linux-image-ABI into $CACHE/kernels/ABI, with modules.dep.
fetch() {
	local abi=$1 dir=$CACHE/kernels/$1 pkgs p deb deps
	[ -e "$dir/.ready" ] && return 0
	apt_refresh
	pkgs=linux-image-$abi
	apt_private apt-cache show "$pkgs" >/dev/null 2>&1 || die "no package linux-image-$abi"
	# From 6.16 on, linux-image-ABI is empty and depends on linux-binary-ABI (the kernel),
	# linux-modules-ABI and linux-base-ABI (modules.builtin, which modprobe needs).
	deps=$(apt_private apt-cache depends "$pkgs")
	for p in linux-binary-$abi linux-modules-$abi linux-base-$abi; do
		! grep -qx "  Depends: $p" <<<"$deps" || pkgs+=" $p"
	done
	say "downloading $pkgs"
	rm -rf "$dir" "$CACHE/debs"
	mkdir -p "$dir" "$CACHE/debs"
	(cd "$CACHE/debs" && apt_private apt-get download $pkgs >/dev/null) ||
		die "apt-get download $pkgs failed"
	for deb in "$CACHE"/debs/*.deb; do
		dpkg-deb -x "$deb" "$dir"
	done
	rm -rf "$CACHE/debs"
	# Debian ships the modules in /lib (older) or /usr/lib (merged /usr); the kernel in
	# /boot (older) or in the modules directory.
	[ -d "$dir/lib/modules/$abi" ] || ln -s usr/lib "$dir/lib"
	[ -d "$dir/lib/modules/$abi" ] || die "no lib/modules/$abi in $pkgs"
	[ -e "$dir/boot/vmlinuz-$abi" ] || [ -e "$dir/lib/modules/$abi/vmlinuz" ] ||
		die "no vmlinuz in $pkgs"
	depmod -b "$dir" "$abi"
	touch "$dir/.ready"
}

# The guest's PID 1. It stays in the initramfs (so it keeps busybox for the end), builds the
# root under /root and runs the command there with chroot.
GUEST_INIT='#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mkdir -p /proc /sys /dev
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
stty -F /dev/ttyS1 raw -echo
stty -F /dev/ttyS2 raw -echo
fail() {
	echo "vm: $*"
	echo "status vm-failed" >/dev/ttyS2
	poweroff -f
}
for m in $(cat /modules/order); do
	insmod "/modules/$m" || fail "insmod $m"
done
P9=trans=virtio,version=9p2000.L,msize=262144
mkdir -p /lower /rw /root
# The virtio devices are probed asynchronously: retry for up to 20 s.
i=0
until mount -t 9p -o "$P9,ro,cache=loose" hostroot /lower 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 200 ] || fail "mount the host root"
	sleep 0.1
done
mount -t tmpfs -o mode=0755 rw /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work root /root ||
	fail "mount the overlay"
R=/root
KVER=$(uname -r)
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm
mount -t tmpfs -o mode=0755 run $R/run
mkdir -p $R/run/netns $R/run/lock
. /vm.conf
# A fresh /tmp, unless the command runs under /tmp on the host.
[ "$FRESH_TMP" = 0 ] || mount -t tmpfs -o mode=1777 tmp $R/tmp
mount -t bpf -o mode=0700 bpf $R/sys/fs/bpf || fail "mount bpffs"
mount -t tracefs tracefs $R/sys/kernel/tracing || fail "mount tracefs"
mount -t debugfs debugfs $R/sys/kernel/debug || fail "mount debugfs"
mount -t securityfs securityfs $R/sys/kernel/security || fail "mount securityfs"
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup || fail "mount cgroup2"
mkdir -p $R/lib/modules/$KVER
mount -t 9p -o "$P9,ro,cache=loose" modules $R/lib/modules/$KVER || fail "mount the modules"
ip link set lo up
hostname vm
# The kernel loads modules on demand (tcp_diag for ss, veth, ...) by running
# /proc/sys/kernel/modprobe in its own root, which is this initramfs: run the
# host'"'"'s modprobe in the guest root instead. Without it ss falls back to
# /proc/net/tcp (no Send-Q for listeners, no timers).
printf '"'"'#!/bin/busybox sh\nexec /bin/busybox chroot /root /sbin/modprobe "$@"\n'"'"' >/bin/vm-modprobe
chmod 755 /bin/vm-modprobe
echo /bin/vm-modprobe >/proc/sys/kernel/modprobe
cp /cmd.sh $R/run/vm-cmd.sh
read -r up _ </proc/uptime
chroot $R /bin/bash /run/vm-cmd.sh </dev/null >/dev/ttyS1 2>&1
rc=$?
read -r end _ </proc/uptime
# tcsetattr(TCSADRAIN) returns once the port has sent everything: nothing is lost to poweroff.
stty -F /dev/ttyS1 raw
echo "--- dmesg" >/dev/ttyS0
dmesg >/dev/ttyS0
echo "status $rc boot $up end $end" >/dev/ttyS2
stty -F /dev/ttyS2 raw
poweroff -f
'

# initramfs: busybox, PID 1, and the boot modules with their dependencies, uncompressed
# (busybox insmod reads plain .ko). Rebuilt when this script changes.
build_initrd() {
	local abi=$1 dir=$CACHE/kernels/$1 work m kind path n
	local img=$dir/initrd-$(md5sum <"$0" | cut -c1-12).gz
	if [ ! -e "$img" ]; then
		work=$(mktemp -d)
		mkdir -p "$work/bin" "$work/modules"
		cp /bin/busybox "$work/bin/"
		printf '%s' "$GUEST_INIT" >"$work/init"
		chmod 755 "$work/init"
		: >"$work/modules/order"
		for m in $BOOT_MODULES; do
			modprobe -d "$dir" -S "$abi" --show-depends "$m" | while read -r kind path _; do
				[ "$kind" = insmod ] || continue
				n=$(basename "$path")
				n=${n%.xz} n=${n%.zst} n=${n%.gz}
				! grep -qx "$n" "$work/modules/order" || continue
				case $path in
				*.xz) xz -dc "$path" ;;
				*.zst) zstd -qdc "$path" ;;
				*.gz) gzip -dc "$path" ;;
				*) cat "$path" ;;
				esac >"$work/modules/$n"
				echo "$n" >>"$work/modules/order"
			done
		done
		rm -f "$dir"/initrd-*.gz
		(cd "$work" && find . | cpio -o -H newc --quiet | gzip -1) >"$img.tmp"
		mv "$img.tmp" "$img"
		rm -rf "$work"
	fi
	echo "$img"
}

[ $# -ge 1 ] || usage
RESOLVE_ONLY=
if [ "$1" = --resolve ]; then
	RESOLVE_ONLY=1
	shift
	[ $# -eq 1 ] || usage
else
	[ $# -ge 2 ] || usage
fi
[ "$(id -u)" = 0 ] || die "needs root: apt, and 9p access to all of /"
SPEC=$1
shift

install_tools
mkdir -p "$CACHE"
# One VM at a time, and one writer of the cache.
exec 9>"${VM_LOCK:-$CACHE/lock}"
flock 9

ABI=$(resolve "$SPEC")
fetch "$ABI"
if [ -n "$RESOLVE_ONLY" ]; then
	echo "$ABI"
	exit 0
fi
KDIR=$CACHE/kernels/$ABI
VMLINUZ=$KDIR/boot/vmlinuz-$ABI
[ -e "$VMLINUZ" ] || VMLINUZ=$KDIR/lib/modules/$ABI/vmlinuz
BASE_INITRD=$(build_initrd "$ABI")

ACCEL=${VM_ACCEL:-auto}
if [ "$ACCEL" = auto ]; then
	# kvm_pvm's /dev/kvm only boots PVM guest kernels: a stock kernel hangs in early boot.
	ACCEL=tcg
	if [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ] &&
		{ [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; }; then
		ACCEL=kvm
	fi
fi
case $ACCEL in
kvm) ACCEL_ARGS=(-accel kvm -cpu host) ;;
tcg) ACCEL_ARGS=(-accel tcg,thread=multi -cpu max) ;;
*) die "VM_ACCEL: auto, kvm or tcg" ;;
esac

RUN=$(mktemp -d /tmp/portwatch-vm.XXXXXX)
QPID=
cleanup() {
	[ -z "$QPID" ] || kill "$QPID" 2>/dev/null || true
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The command, as a script appended to the initramfs: the kernel unpacks every archive of a
# concatenation (uncompressed ones only at 4-byte offsets, so this one is compressed too).
mkdir "$RUN/extra"
{
	echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	echo "export HOME=/root TERM=dumb LANG=C.UTF-8 PORTWATCH_VM=1"
	for v in CI ${VM_ENV:-}; do
		[ -z "${!v+x}" ] || echo "export $v=$(printf %q "${!v}")"
	done
	echo "cd $(printf %q "$PWD") || exit 125"
	printf '%q ' "$@"
	echo
} >"$RUN/extra/cmd.sh"
case $PWD/ in
/tmp/*) echo FRESH_TMP=0 ;;
*) echo FRESH_TMP=1 ;;
esac >"$RUN/extra/vm.conf"
(cd "$RUN/extra" && printf 'cmd.sh\nvm.conf\n' | cpio -o -H newc --quiet | gzip -1) | cat "$BASE_INITRD" - >"$RUN/initrd"
: >"$RUN/output"
: >"$RUN/status"

say "booting $ABI ($ACCEL, $CPUS vCPUs, $MEM): $*"
t0=$(date +%s)
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 "${ACCEL_ARGS[@]}" -smp "$CPUS" -m "$MEM" \
	-nodefaults -no-user-config -display none -no-reboot \
	-kernel "$VMLINUZ" -initrd "$RUN/initrd" \
	-append "console=ttyS0 loglevel=4 panic=-1 rdinit=/init" \
	-serial file:"$RUN/console" -serial file:"$RUN/output" -serial file:"$RUN/status" \
	-fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap \
	-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
	-fsdev local,id=modules,path="$KDIR/lib/modules/$ABI",security_model=none,readonly=on \
	-device virtio-9p-pci,fsdev=modules,mount_tag=modules \
	-device virtio-rng-pci </dev/null 9>&- &
QPID=$!
tail -n +1 -f --pid=$QPID "$RUN/output" 9>&- &
qrc=0
wait $QPID || qrc=$?
QPID=
wait $! || true
wall=$(($(date +%s) - t0))

[ -z "${VM_CONSOLE:-}" ] || cp "$RUN/console" "$VM_CONSOLE"
read -r _ rc _ boot _ end _ < <(tr -d '\r' <"$RUN/status") || true
if [[ ${rc:-} =~ ^[0-9]+$ ]]; then
	say "$ABI: boot ${boot}s, command $(awk -v a="$boot" -v b="$end" 'BEGIN { printf "%.1f", b - a }')s, wall ${wall}s, status $rc"
	exit "$rc"
fi
if [ $qrc -eq 124 ] || [ $qrc -eq 137 ]; then
	say "$ABI: timed out after ${TIMEOUT}s"
	rc=124
else
	say "$ABI: the VM failed (qemu status $qrc); console tail:"
	rc=125
fi
tail -n 30 "$RUN/console" >&2
exit $rc
