#!/bin/bash
# SPDX-License-Identifier: MIT
# `ward exec NAME -- /bin/true` against `bwrap --unshare-all --ro-bind / /
# /bin/true` (issue 13 item 7, goal <= 2x): a private daemon in a temp state
# directory, one sandbox, then R rounds interleaved (exec, bwrap), medians of
# the wall time, and the CPU time per run (user + system, of the client and of
# the daemon with its sessions; bwrap's own): on a loaded machine the wall
# time is mostly the wait for a CPU, which the CPU time leaves out.
# With a second binary (OTHER), a daemon of each, the rounds interleave
# (exec WARD, exec OTHER, bwrap): a before/after in one run.
# No network traffic: the policy's endpoint is never contacted.
# Usage: tools/bench/exec.sh [WARD] [ROUNDS] [OTHER]   (root; ROUNDS 1..500, default 50)
set -eu
WARD=$(realpath "${1:-build/ward}")
R=${2:-50}
OTHER=${3:+$(realpath "$3")}
[ "$R" -ge 1 ] && [ "$R" -le 500 ] || { echo "ROUNDS must be 1..500" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 77; }
command -v bwrap >/dev/null || { echo "needs bwrap" >&2; exit 77; }
T=$(mktemp -d /tmp/ward-bench-exec.XXXXXX)
chmod 755 "$T"
BINS=("$WARD")
[ -n "$OTHER" ] && BINS+=("$OTHER")
DPIDS=()
cleanup() {
	set +e
	for k in "${!DPIDS[@]}"; do
		WARD_SOCKET=$T/$k/ward.sock timeout 20 "${BINS[$k]}" sandbox rm bench >/dev/null 2>&1
		kill "${DPIDS[$k]}" 2>/dev/null
	done
	for k in "${!DPIDS[@]}"; do
		for _ in $(seq 100); do kill -0 "${DPIDS[$k]}" 2>/dev/null || break; sleep 0.1; done
		kill -9 "${DPIDS[$k]}" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
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
for k in "${!BINS[@]}"; do
	D=$T/$k
	mkdir -p "$D/work"
	"${BINS[$k]}" daemon --socket "$D/ward.sock" --state "$D/state" --log "$D/log.db" \
		>"$D/daemon.log" 2>&1 &
	DPIDS[k]=$!
	for _ in $(seq 150); do [ -S "$D/ward.sock" ] && break; sleep 0.1; done
	[ -S "$D/ward.sock" ] || { echo "the daemon did not start" >&2; cat "$D/daemon.log" >&2; exit 1; }
	WARD_SOCKET=$D/ward.sock "${BINS[$k]}" sandbox create bench --policy "$T/policy.yaml" \
		--workdir "$D/work" >/dev/null ||
		{ echo "sandbox create failed" >&2; tail -5 "$D/daemon.log" >&2; exit 1; }
	WARD_SOCKET=$D/ward.sock "${BINS[$k]}" exec bench -- /bin/true ||
		{ echo "ward exec failed" >&2; exit 1; }
done
TCK=$(getconf CLK_TCK)
# No fork in here but the measured command's: a subshell's CPU would count
# in the next run's (the shell's children's times grow when it reaps them).
cpu_of() { # PID: its CPU ticks so far, its reaped children's included, in CPU
	local s
	read -r s <"/proc/$1/stat"
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	CPU=$((${12} + ${13} + ${14} + ${15})) # utime stime cutime cstime
}
run() { # FILE DAEMON_PID|- CMD...: the wall time (us) to FILE.us, the CPU
	# ticks of CMD, and of the daemon meanwhile, to FILE.cpu
	local f=$1 dp=$2 a b c0 d0=0 d1=0
	shift 2
	cpu_of $$
	c0=$CPU
	if [ "$dp" != - ]; then
		cpu_of "$dp"
		d0=$CPU
	fi
	a=${EPOCHREALTIME/./}
	"$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
	b=${EPOCHREALTIME/./}
	if [ "$dp" != - ]; then
		cpu_of "$dp"
		d1=$CPU
	fi
	cpu_of $$
	echo $((b - a)) >>"$f.us"
	echo $((CPU - c0 + d1 - d0)) >>"$f.cpu"
}
med() { # FILE of us: the median in ms
	sort -n "$1" | awk '{v[NR]=$1} END {printf "%.3f", ((NR%2) ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2) / 1000}'
}
# CPU: ticks are coarse (10 ms), a run is a few: the mean over the rounds
cpu_ms() { awk -v t="$TCK" '{s+=$1} END {printf "%.2f", s * 1000 / t / NR}' "$1"; }
for _ in $(seq "$R"); do
	for k in "${!BINS[@]}"; do
		WARD_SOCKET=$T/$k/ward.sock run "$T/exec$k" "${DPIDS[$k]}" "${BINS[$k]}" exec bench -- /bin/true
	done
	run "$T/bwrap" - bwrap --unshare-all --ro-bind / / /bin/true
done
B=$(med "$T/bwrap.us")
BC=$(cpu_ms "$T/bwrap.cpu")
for k in "${!BINS[@]}"; do
	X=$(med "$T/exec$k.us")
	XC=$(cpu_ms "$T/exec$k.cpu")
	printf 'rounds %d  %s\n  ward exec p50 %s ms  bwrap p50 %s ms  ratio %s (goal <= 2)\n' "$R" \
		"${BINS[$k]}" "$X" "$B" "$(echo "scale=2; $X / $B" | bc)"
	printf '  CPU per run: ward exec + daemon %s ms  bwrap %s ms  ratio %s\n' "$XC" "$BC" \
		"$(echo "scale=2; $XC / $BC" | bc)"
done
