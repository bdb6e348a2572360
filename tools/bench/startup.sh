#!/bin/bash
# SPDX-License-Identifier: MIT
# Startup cost: `ward run -- /bin/true` against bubblewrap running /bin/true
# with comparable namespaces, in one run. Prints median and p90 (ms) of each
# and the ratio ward/bwrap. Usage: startup.sh [WARD] [N] (N <= 1000, default 50).
set -eu

WARD=$(realpath "${1:-${WARD:-build/ward}}")
N=${2:-50}
[ "$N" -ge 1 ] && [ "$N" -le 1000 ] || { echo "N must be 1..1000" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 77; }
command -v bwrap >/dev/null || { echo "needs bwrap (apt-get install bubblewrap)" >&2; exit 77; }

T=$(mktemp -d /tmp/ward-bench.XXXXXX)
trap 'rm -rf "$T"' EXIT
cat >"$T/policy.yaml" <<'YAML'
version: 1
filesystem_policy:
  include_workdir: false
  read_only: [/usr, /lib, /lib64, /bin, /etc]
process:
  run_as_user: 65534
  run_as_group: 65534
YAML

# time_ms CMD...: wall time of one run in ms (3 decimals)
time_ms() {
	local s e
	s=$(date +%s%N)
	"$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
	e=$(date +%s%N)
	echo "scale=3; ($e - $s) / 1000000" | bc
}

stats() { # FILE -> "median p90"
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		i = int(NR * 0.9 + 0.999); if (i < 1) i = 1; if (i > NR) i = NR
		printf "%.2f %.2f\n", m, v[i] }'
}

# The same policy plus one network policy: the network layers (veth,
# nftables, eBPF egress, proxy, DNS stub) are set up only for such policies.
cp "$T/policy.yaml" "$T/net.yaml"
cat >>"$T/net.yaml" <<'YAML'
network_policies:
  web:
    binaries: [{ path: /usr/bin/curl }]
    endpoints: [{ host: example.com, port: 443 }]
YAML

cd "$T"
NET_CMD=("$WARD" run --policy "$T/net.yaml" --log "$T/bench.db" --workdir "$T" -- /bin/true)
WARD_CMD=("$WARD" run --policy "$T/policy.yaml" --log "$T/bench.db" --workdir "$T" -- /bin/true)
BWRAP_CMD=(bwrap --unshare-all --die-with-parent --ro-bind /usr /usr --ro-bind /lib /lib
	--ro-bind /lib64 /lib64 --ro-bind /bin /bin --ro-bind /etc /etc --proc /proc --dev /dev
	--tmpfs /tmp -- /bin/true)

# Warm caches (and create the decision log) once each, then interleave.
"${WARD_CMD[@]}" >/dev/null 2>&1 || { echo "ward run failed:" >&2; "${WARD_CMD[@]}"; exit 1; }
"${BWRAP_CMD[@]}" >/dev/null 2>&1 || { echo "bwrap failed" >&2; exit 1; }
: >"$T/ward.ms"
: >"$T/bwrap.ms"
: >"$T/net.ms"
for _ in $(seq "$N"); do
	time_ms "${WARD_CMD[@]}" >>"$T/ward.ms"
	time_ms "${BWRAP_CMD[@]}" >>"$T/bwrap.ms"
	time_ms "${NET_CMD[@]}" >>"$T/net.ms"
done

read -r WM WP <<<"$(stats "$T/ward.ms")"
read -r BM BP <<<"$(stats "$T/bwrap.ms")"
read -r NM NP <<<"$(stats "$T/net.ms")"
RATIO=$(echo "scale=2; $WM / $BM" | bc)
printf "%-8s %6s %10s %8s\n" "" runs "median ms" "p90 ms"
printf "%-8s %6d %10s %8s\n" ward "$N" "$WM" "$WP"
printf "%-8s %6d %10s %8s\n" bwrap "$N" "$BM" "$BP"
printf "%-8s %6d %10s %8s\n" ward+net "$N" "$NM" "$NP"
echo "ratio ward/bwrap (median): $RATIO  (targets: median < 50 ms, ratio < 3)"
echo "ward+net: the same with one network policy (veth, nftables, eBPF egress, proxy, DNS)"
