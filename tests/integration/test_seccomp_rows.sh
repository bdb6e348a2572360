#!/bin/bash
# SPDX-License-Identifier: MIT
# The seccomp refusals agents hit are explained: a new user namespace (an
# agent's own sandbox), mount, bpf and ptrace fail with EPERM as before, and
# each is a row (layer seccomp, the syscall, the binary) and, once per kind, a
# line on ward's stderr naming ward. Other namespaces are not rows (EPERM
# from the missing capability, as before).
set -eu
. "$(dirname "$0")/lib.sh"
need_root
grep -q cgroup2 /proc/self/mountinfo || { echo "SKIP: no cgroup2 mount"; exit 77; }
[ "$(uname -m)" = x86_64 ] || { echo "SKIP: syscall numbers below are x86_64's"; exit 77; }

T=$(test_tmpdir ward-test-seccomp)
chmod 755 "$T"
trap 'rm -rf "$T"' EXIT
cat >"$T/p.yaml" <<'YAML'
version: 1
extends: [deny-all]
filesystem_policy:
  read_only: [/etc]
YAML
"$WARD" run --log "$T/log.db" --policy "$T/p.yaml" --workdir "$T" -- python3 -c '
import ctypes, errno
libc = ctypes.CDLL(None, use_errno=True)
def sc(name, nr, *a):
    r = libc.syscall(nr, *a)
    print(name, "ok" if r >= 0 else errno.errorcode[ctypes.get_errno()], flush=True)
sc("unshare-user", 272, 0x10000000)
sc("unshare-user", 272, 0x10000000)
sc("clone-user", 56, 0x10000000 | 17, 0, 0, 0, 0)
sc("ptrace", 101, 0, 0, 0, 0)
sc("mount", 165, 0, 0, 0, 0, 0)
sc("bpf", 321, 0, 0, 0)
sc("unshare-uts", 272, 0x04000000)
' >"$T/out" 2>"$T/err" || true
for k in unshare-user clone-user ptrace mount bpf unshare-uts; do
	check "$k fails with EPERM" grep -q "^$k EPERM$" "$T/out"
done
q() { sqlite3 "$T/log.db" "SELECT count(*) FROM decisions WHERE layer = 'seccomp' AND action = 'deny' AND binary LIKE '/usr/bin/python3%' AND $1"; }
if ! has_feature bpf.cgroup_unix; then
	# the rows come from the unix layer's broker; a kernel without unix
	# socket hooks (6.1) has no unix layer: EPERM from the filter, no row
	# (docs/kernels.md)
	check "no unix-socket layer: the refusals are EPERM without rows" \
		[ "$(sqlite3 "$T/log.db" "SELECT count(*) FROM decisions WHERE layer = 'seccomp'")" = 0 ]
	finish
	exit
fi
check "a row per new user namespace asked, with the syscall" [ "$(q "method = 'unshare' AND reason LIKE 'unshare(CLONE_NEWUSER) refused%'")" = 2 ]
check "clone(CLONE_NEWUSER) is a row" [ "$(q "method = 'clone'")" = 1 ]
check "ptrace, mount and bpf are rows" [ "$(q "method IN ('ptrace', 'mount', 'bpf')")" = 3 ]
check "another namespace is not a row" [ "$(q "1")" = 6 ]
check "ward says on stderr that it refused a new user namespace" \
	grep -q "^ward: unshare(CLONE_NEWUSER) refused (EPERM): new user namespaces" "$T/err"
check "once per kind" [ "$(grep -c '^ward: unshare(CLONE_NEWUSER)' "$T/err")" = 1 ]
[ "$FAILED" = 0 ] || { cat "$T/out" "$T/err"; }
finish
