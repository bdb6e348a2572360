# SPDX-License-Identifier: MIT
# Shared helpers for the shell integration tests: PASS/FAIL accounting and the
# closing "N passed, N failed" line.
: "${WARD:=$(pwd)/build/ward}"
# shellcheck source=tmpdir.sh
. "$(dirname "${BASH_SOURCE[0]}")/tmpdir.sh"
# shellcheck source=kernel.sh
. "$(dirname "${BASH_SOURCE[0]}")/kernel.sh"
PASSED=0
FAILED=0
SKIPPED=0

pass() { PASSED=$((PASSED + 1)); echo "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $*"; }
skip() { SKIPPED=$((SKIPPED + 1)); echo "SKIP: $*"; }

# check NAME CMD...: pass when CMD succeeds
check() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name"; fi
}

need_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: needs root"
		exit 77
	fi
}

# Host mode's programs need the kfunc bpf_rdonly_cast (Linux >= 6.2;
# ward_egress_host_probe, `ward doctor`'s host.kernel): on an older kernel
# (the test guest's 6.1) ward refuses host mode and says why.
need_host_mode() {
	if ! grep -qa bpf_rdonly_cast /sys/kernel/btf/vmlinux 2>/dev/null; then
		echo "SKIP: host mode: this kernel ($(uname -r)) has no bpf_rdonly_cast (Linux >= 6.2)"
		exit 77
	fi
}

finish() {
	echo "$PASSED passed, $FAILED failed, $SKIPPED skipped"
	[ "$FAILED" -eq 0 ]
}
