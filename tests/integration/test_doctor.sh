#!/bin/bash
# SPDX-License-Identifier: MIT
# ward doctor reports what the kernel really offers: compare its answers with
# independent probes made here.
set -u
. "$(dirname "$0")/lib.sh"
need_root

out=$(mktemp)
trap 'rm -f "$out"' EXIT

"$WARD" doctor --json >"$out"
rc=$?
check "doctor --json exits 0 when required features exist" [ "$rc" -eq 0 ]
check "doctor --json is one valid JSON object" python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$out"

field() { # field NAME KEY
	python3 -c 'import json,sys
d=json.load(open(sys.argv[1]))
f=[x for x in d["features"] if x["name"]==sys.argv[2]]
print(str(f[0][sys.argv[3]]).lower() if f else "missing")' "$out" "$1" "$2"
}

for name in landlock seccomp cgroup2 netns btf bpf.cgroup_sock_addr bpf.sock_ops bpf.tracepoint \
	bpf.lsm nftables fanotify.perm; do
	check "doctor lists $name" [ "$(field "$name" available)" != missing ]
done

# Landlock: the ABI the syscall returns here must be the one doctor prints.
abi=$(python3 -c 'import ctypes; l=ctypes.CDLL(None, use_errno=True); print(l.syscall(444, None, 0, 1))')
if [ "$abi" -gt 0 ]; then
	check "landlock ABI matches the syscall ($abi)" [ "$(field landlock detail)" = "abi $abi" ]
else
	check "landlock reported unavailable" [ "$(field landlock available)" = false ]
fi

# cgroup2: doctor's mount point is where /proc/self/mountinfo says cgroup2 is.
mnt=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "-" && $(i+1) == "cgroup2") { print $5; exit } }' /proc/self/mountinfo)
check "cgroup2 mount found ($mnt)" [ "$(field cgroup2 detail)" = "mounted at $mnt" ]

# BTF: present iff the file exists.
if [ -e /sys/kernel/btf/vmlinux ]; then want=true; else want=false; fi
check "btf availability matches /sys/kernel/btf/vmlinux" [ "$(field btf available)" = "$want" ]

# BPF LSM can only be active when "bpf" is among the active LSMs.
if ! grep -qw bpf /sys/kernel/security/lsm 2>/dev/null; then
	check "bpf.lsm unavailable without bpf in the LSM list" [ "$(field bpf.lsm available)" = false ]
fi

# --cleanup removes what a crashed ward left (a veth named wardN without an
# owner, a cgroup leaf no ward holds) and nothing else.
cg=$(awk '{ for (i = 1; i <= NF; i++) if ($i == "-" && $(i+1) == "cgroup2") { print $5; exit } }' /proc/self/mountinfo)
idx=16300
if ip link add "ward$idx" type veth peer name "wardt$idx" 2>/dev/null; then
	mkdir -p "$cg/ward/deadbeef0001"
	ip link add wardkeep type veth peer name wardkeepp
	"$WARD" doctor --json --cleanup >"$out"
	# (a ward starting meanwhile may reap them first: what counts is that they go)
	check "doctor --cleanup output is JSON with counts" python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert all(isinstance(d["cleanup"][k], int) for k in ("network_pairs", "cgroup_leaves")), d' "$out"
	check "stale veth removed" bash -c "! ip link show ward$idx >/dev/null 2>&1"
	check "stale cgroup leaf removed" [ ! -d "$cg/ward/deadbeef0001" ]
	check "a link that is not ward's is kept" ip link show wardkeep
	ip link del wardkeep 2>/dev/null || true
	ip link del "ward$idx" 2>/dev/null || true
	rmdir "$cg/ward/deadbeef0001" 2>/dev/null || true
else
	skip "cannot create a veth pair here"
fi

# Readable form and help.
check "doctor table prints a verdict" bash -c '"$0" doctor | grep -q "ward can run here"' "$WARD"
check "doctor --help documents --json" bash -c '"$0" doctor --help | grep -q -- "--json"' "$WARD"
"$WARD" doctor --bogus >/dev/null 2>&1
check "unknown option exits 2" [ $? -eq 2 ]

finish
