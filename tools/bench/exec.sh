#!/bin/bash
# SPDX-License-Identifier: MIT
# `ward exec NAME -- /bin/true` against `bwrap --unshare-all --ro-bind / /
# /bin/true` (issue 13 item 7, goal <= 2x): a private daemon in a temp state
# directory, one sandbox, then R rounds interleaved (exec, bwrap), medians.
# No network traffic: the policy's endpoint is never contacted.
# Usage: tools/bench/exec.sh [WARD] [ROUNDS]   (root; ROUNDS 1..500, default 50)
set -eu
WARD=$(realpath "${1:-build/ward}")
R=${2:-50}
[ "$R" -ge 1 ] && [ "$R" -le 500 ] || { echo "ROUNDS must be 1..500" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 77; }
command -v bwrap >/dev/null || { echo "needs bwrap" >&2; exit 77; }
T=$(mktemp -d /tmp/ward-bench-exec.XXXXXX)
chmod 755 "$T"
DPID=
cleanup() {
	set +e
	if [ -n "$DPID" ]; then
		timeout 20 "$WARD" sandbox rm bench >/dev/null 2>&1
		kill "$DPID" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$DPID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$T/work"
cat >"$T/policy.yaml" <<'YAML'
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc]
process: { run_as_user: 65534, run_as_group: 65534 }
network_policies:
  bench:
    binaries: [{ path: /usr/bin/curl }]
    endpoints:
      - { host: api.example.com, port: 443 }
YAML
"$WARD" daemon --socket "$T/ward.sock" --state "$T/state" --log "$T/log.db" >"$T/daemon.log" 2>&1 &
DPID=$!
for _ in $(seq 150); do [ -S "$T/ward.sock" ] && break; sleep 0.1; done
[ -S "$T/ward.sock" ] || { echo "the daemon did not start" >&2; cat "$T/daemon.log" >&2; exit 1; }
export WARD_SOCKET=$T/ward.sock
"$WARD" sandbox create bench --policy "$T/policy.yaml" --workdir "$T/work" >/dev/null ||
	{ echo "sandbox create failed" >&2; tail -5 "$T/daemon.log" >&2; exit 1; }
"$WARD" exec bench -- /bin/true || { echo "ward exec failed" >&2; exit 1; }
ms() { # CMD...: wall time in ms (3 decimals)
	local a b
	a=$(date +%s%N)
	"$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
	b=$(date +%s%N)
	echo "scale=3; ($b - $a) / 1000000" | bc
}
med() { sort -n "$1" | awk '{v[NR]=$1} END {print (NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2}'; }
: >"$T/exec.ms"
: >"$T/bwrap.ms"
for _ in $(seq "$R"); do
	ms "$WARD" exec bench -- /bin/true >>"$T/exec.ms"
	ms bwrap --unshare-all --ro-bind / / /bin/true >>"$T/bwrap.ms"
done
X=$(med "$T/exec.ms")
B=$(med "$T/bwrap.ms")
printf 'rounds %d  ward exec p50 %s ms  bwrap p50 %s ms  ratio %s (goal <= 2)\n' "$R" "$X" "$B" \
	"$(echo "scale=2; $X / $B" | bc)"
