#!/bin/bash
# SPDX-License-Identifier: MIT
# Boot a test guest (tests/vm/build-guest.sh: a Debian kernel with BPF
# LSM, the host's / read-only over 9p) under qemu with TCG, run the given
# tests inside and return their status; docs/kernels.md.
#
# usage: run-guest.sh [-t SECONDS] [-e VAR=VALUE]... TEST...
#   TEST: a path relative to the checkout (tests/integration/test_fs.sh; .sh
#         files run with bash) or a test binary in the build directory, with
#         optional leading VAR=VALUE words of its own (one argument each:
#         "WARD_FS_PROTECT=fanotify tests/integration/test_fs.sh")
#   -t    whole-run timeout (default 600): qemu is killed past it (exit 124)
#   -e    an environment variable for the tests inside the guest
# env: WARD_BUILD (default <checkout>/build), WARD_VM_MEM (MiB, default 2048),
#      WARD_VM_ACCEL (default tcg), WARD_VM_KERNEL_PKG (the kernel: build-guest.sh),
#      WARD_VM_ALLOW_SKIP=1 (a test exiting 77 does not fail the run)
# Exit: 0 all passed; 1 a test failed; 2 the guest did not run; 124 timeout.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${WARD_BUILD:-$src/build}
timeout=600
envs=()
while getopts "t:e:" o; do
	case $o in
	t) timeout=$OPTARG ;;
	e) envs+=("$OPTARG") ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[ $# -gt 0 ] || { echo "usage: run-guest.sh [-t SECONDS] [-e VAR=VALUE]... TEST..." >&2; exit 2; }

vm=$("$here/build-guest.sh" "$build") || { echo "run-guest: guest build failed" >&2; exit 2; }
build=$(cd "$build" && pwd)

tmp=$(mktemp -d /tmp/ward-vm.XXXXXX)
qpid=
cleanup() {
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
		kill "$qpid" 2>/dev/null
		sleep 1
		kill -9 "$qpid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir "$tmp/results"
printf '%s\n' "$@" >"$tmp/results/tests"
{
	printf 'export WARD_SRC=%q WARD_BUILD=%q WARD=%q WARD_VM_DIR=%q\n' \
		"$src" "$build" "${WARD:-$build/ward}" "$vm"
	printf 'export WARD_VM_ALLOW_SKIP=%q\n' "${WARD_VM_ALLOW_SKIP:-}"
	for e in "${envs[@]}"; do printf 'export %q\n' "$e"; done
} >"$tmp/results/env"

# lsm=: the kernel's CONFIG_LSM order with bpf kept (Debian: no bpf by default)
lsm=landlock,lockdown,yama,bpf
# TCG by default: no /dev/kvm needed (and a nested /dev/kvm here failed to
# emulate the guest kernel's instructions); WARD_VM_ACCEL=kvm where it works.
# One host thread for both vCPUs (thread=single): with a thread per vCPU,
# a CPU could run a stale translation of kernel text that another CPU was
# patching (text_poke_bp's int3 when ward attaches a tracepoint), and the
# 6.12 guest died with "Oops: int3" in syscall_trace_enter (docs/kernels.md).
accel=${WARD_VM_ACCEL:-tcg,thread=single}
timeout --kill-after=10 "$timeout" qemu-system-x86_64 \
	-accel "$accel" -cpu max -smp 2 -m "${WARD_VM_MEM:-2048}" \
	-nodefaults -no-reboot -display none -serial stdio -monitor none \
	-kernel "$vm/vmlinuz" -initrd "$vm/initramfs.cpio.gz" \
	-append "console=ttyS0 quiet loglevel=3 panic=-1 lsm=$lsm ward_guest=$here/guest-init.sh" \
	-device virtio-rng-pci \
	-virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
	-virtfs "local,path=$tmp/results,mount_tag=results,security_model=none" \
	</dev/null &
qpid=$!
wait "$qpid"
qrc=$?
qpid=
if [ "$qrc" -eq 124 ] || [ "$qrc" -eq 137 ]; then
	echo "run-guest: timeout after ${timeout}s, qemu killed" >&2
	exit 124
fi
if [ ! -f "$tmp/results/rc" ]; then
	echo "run-guest: the guest did not finish (qemu exit $qrc)" >&2
	exit 2
fi
echo "run-guest: results:"
sed 's/^/  /' "$tmp/results/results" 2>/dev/null
ran=$(wc -l <"$tmp/results/results" 2>/dev/null || echo 0)
if [ "$ran" -ne $# ]; then
	echo "run-guest: $ran of $# tests ran" >&2
	exit 1
fi
exit "$(cat "$tmp/results/rc")"
