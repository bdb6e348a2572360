#!/bin/bash
# SPDX-License-Identifier: MIT
# `make check-kernels`: the whole integration suite (shell scripts and C
# tests) inside each test guest (tests/vm/run-guest.sh, docs/kernels.md), then
# the guest-only tests. A test that skips itself (77: something the guest
# lacks) does not fail the run; its line says so.
# env: WARD_VM_KERNELS  the kernels' metapackages (default: Debian 12's 6.12
#                       and its own 6.1, linux-image-6.12-amd64 linux-image-amd64)
#      WARD_VM_TIMEOUT  seconds per kernel (default 7200)
# Exit: 0 when every kernel passed, else the first failing kernel's status.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=${WARD_BUILD:-$src/build}
cd "$src" || exit 2
tests=()
for t in tests/integration/test_*.sh; do tests+=("$t"); done
for c in tests/integration/test_*.c; do
	n=$(basename "$c" .c)
	[ -x "$build/$n" ] || { echo "check-kernels: $build/$n not built" >&2; exit 2; }
	tests+=("$n")
done
tests+=(tests/vm/guest_doctor.sh tests/vm/guest_overlay_fs.sh
	"WARD_FS_PROTECT=fanotify tests/integration/test_fs.sh")
rc=0
summary=()
for k in ${WARD_VM_KERNELS:-linux-image-6.12-amd64 linux-image-amd64}; do
	echo "=== check-kernels: $k"
	start=$SECONDS
	WARD_VM_KERNEL_PKG=$k WARD_VM_ALLOW_SKIP=1 WARD_BUILD=$build \
		"$here/run-guest.sh" -t "${WARD_VM_TIMEOUT:-7200}" "${tests[@]}"
	r=$?
	summary+=("$k: exit $r ($((SECONDS - start)) s)")
	[ "$rc" -eq 0 ] && rc=$r
done
echo "=== check-kernels:"
printf '  %s\n' "${summary[@]}"
exit "$rc"
