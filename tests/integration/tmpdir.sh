# SPDX-License-Identifier: MIT
# test_tmpdir NAME [BASE]: a new directory for a test, under $WARD_TEST_TMPDIR
# (default BASE, else /tmp; a test that must not be under /tmp says
# /var/tmp). On a kernel without unix socket hooks (before 6.7:
# docs/sandbox.md, "Degrade"), ward keeps /tmp, /run, /var/tmp and /dev/shm
# private in its sandboxes even where a policy maps a path below them: the
# test guest (tests/vm/guest-init.sh) sets a directory outside them, at the
# same depth (/mnt), so that the tests' policies map the same on 6.1 as on
# newer kernels. The test removes it.
test_tmpdir() {
	local base=${WARD_TEST_TMPDIR:-${2:-/tmp}}

	[ -d "$base" ] || mkdir -p -m 755 "$base" || return 1
	mktemp -d "$base/$1.XXXXXX"
}
