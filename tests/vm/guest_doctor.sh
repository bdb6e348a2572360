#!/bin/bash
# SPDX-License-Identifier: MIT
# Inside the test guest (tests/vm/run-guest.sh): the kernel offers what the
# host refuses, and ward doctor sees it: bpf.lsm, bpf.fentry and bpf.kprobe
# available, bpf-lsm chosen for protected paths, bpf in the active LSM list.
set -u
. "$(dirname "$0")/../integration/lib.sh"
need_root

out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$WARD" doctor --json >"$out"
check "doctor --json exits 0" [ $? -eq 0 ]

field() { # field NAME KEY
	python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
f=[x for x in d["features"] if x["name"]==sys.argv[2]]
print(str(f[0][sys.argv[3]]).lower() if f else "missing")' "$out" "$1" "$2"
}

check "the active LSMs include bpf ($(cat /sys/kernel/security/lsm))" \
	grep -qw bpf <(tr , '\n' </sys/kernel/security/lsm)
for name in bpf.lsm bpf.fentry bpf.kprobe fanotify.perm landlock; do
	check "doctor: $name available ($(field "$name" detail))" [ "$(field "$name" available)" = true ]
done
check "doctor: protected paths use bpf-lsm ($(field fs.protect detail))" \
	grep -q '^bpf-lsm' <<<"$(field fs.protect detail)"
check "doctor: the kernel is a tested series ($(uname -r))" \
	python3 -c 'import json,os,sys; k=json.load(open(sys.argv[1]))["kernel"]
sys.exit(not (k["release"] == os.uname().release and k["tested"]))' "$out"
finish
