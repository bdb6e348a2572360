#!/bin/bash
# SPDX-License-Identifier: MIT
# `make check-kernels`: the whole integration suite (shell scripts and C
# tests) inside the test guest (tests/vm/run-guest.sh, docs/kernels.md), then
# the guest-only tests. A test that skips itself (77: something the guest
# lacks) does not fail the run; its line says so.
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
WARD_VM_ALLOW_SKIP=1 WARD_BUILD=$build exec "$here/run-guest.sh" -t "${WARD_VM_TIMEOUT:-7200}" "${tests[@]}"
