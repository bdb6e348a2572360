#!/bin/bash
# SPDX-License-Identifier: MIT
# ward host mode vs no enforcement vs OpenSnitch, side by side in one run
# (issue 14 item 7; docs/host-bench.md): connect()+close() p50/p99 and ratios,
# each daemon's CPU per connect, and a correctness table for both tools.
# Everything runs in network namespaces the bench creates (hostbench-none,
# hostbench-osn, hostbench-ward; 10.213.27.1 on their lo), in a private mount
# namespace (own bpffs for the pins, /etc/opensnitchd bind-mounted from a temp
# dir), ward's scope is a cgroup the bench creates under the cgroup v2 mount;
# the EXIT trap kills what it started (by pid), unpins, removes cgroups,
# netns and temp dir. opensnitch (and iptables, which its shipped
# configuration uses) are installed on demand with services refused.
# Usage: tools/bench/host.sh [N]   (root; N connects per round, default 2000;
# WARD_BENCH_ROUNDS rounds, default 5; BUILD build dir, default build)
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
N=${1:-2000}
ROUNDS=${WARD_BENCH_ROUNDS:-5}
BURST=10000
[ "$(id -u)" = 0 ] || { echo "host.sh: needs root" >&2; exit 77; }
if [ -z "${HOSTBENCH_NS:-}" ]; then
	cmake --build "$BUILD" --target ward host_client >/dev/null || exit 1
	# on-demand install (as proxy.sh does for squid): no service may start
	if ! command -v opensnitchd >/dev/null || ! command -v iptables >/dev/null; then
		prc=/usr/sbin/policy-rc.d
		created=
		if [ ! -e $prc ]; then
			printf '#!/bin/sh\nexit 101\n' >$prc && chmod +x $prc && created=1
		fi
		if ! grep -q 'exit 101' $prc; then
			echo "host.sh: $prc exists and does not refuse services; not installing" >&2
			exit 77
		fi
		DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
			opensnitch iptables >/dev/null 2>&1
		[ -n "$created" ] && rm -f $prc
		command -v opensnitchd >/dev/null || { echo "host.sh: opensnitch not installable" >&2; exit 77; }
	fi
	# Never tolerate a host-wide opensnitchd: its rules would be the machine's
	pgrep -x opensnitchd >/dev/null && { echo "host.sh: an opensnitchd runs on this machine; stop it first" >&2; exit 1; }
	HOSTBENCH_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
mount -t bpf bpf /sys/fs/bpf || { echo "host.sh: cannot mount bpffs" >&2; exit 1; }
WARD=$(readlink -f "$BUILD/ward")
CLIENT=$(readlink -f "$BUILD/host_client")
CGROOT=$(findmnt -t cgroup2 -n -o TARGET | head -1)
[ -n "$CGROOT" ] || { echo "host.sh: no cgroup2 mount" >&2; exit 1; }

T=$(mktemp -d /tmp/hostbench.XXXXXX)
chmod 755 "$T"
TOP=$CGROOT/hostbench-$$
SCOPE=$TOP/scope
PINS=/sys/fs/bpf/ward-test-hostbench-$$
SOCK=$T/ward.sock
LOG=$T/log.db
IP=10.213.27.1
PORT=443
UPORT=9999
MODES="none osn ward"
PIDS=()
DPID=
OPID=

cg_rm() {
	[ -d "$1" ] || return 0
	for c in "$1"/*/; do [ -d "$c" ] && cg_rm "${c%/}"; done
	[ -e "$1/cgroup.kill" ] && echo 1 >"$1/cgroup.kill" 2>/dev/null
	for _ in $(seq 50); do rmdir "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "cleanup: could not remove $1" >&2
}
cleanup() {
	for p in "${PIDS[@]}" $DPID $OPID; do kill -9 "$p" 2>/dev/null; done
	wait 2>/dev/null
	[ -d "$PINS" ] && "$WARD" doctor --cleanup --pin-dir "$PINS" >/dev/null 2>&1
	[ -d "$PINS" ] && rm -rf "$PINS"
	cg_rm "$TOP"
	for m in $MODES; do ip netns del hostbench-$m 2>/dev/null; done
	if [ -n "${HOSTBENCH_KEEP:-}" ]; then echo "kept $T" >&2; else rm -rf "$T"; fi
}
trap cleanup EXIT

for m in $MODES; do
	ip netns add hostbench-$m || exit 1
	ip -n hostbench-$m link set lo up
	ip -n hostbench-$m addr add $IP/24 dev lo
done
mkdir -p "$TOP/plain" "$TOP/daemon" "$SCOPE" "$TOP/up" || exit 1

# run CMD in netns of mode M, in cgroup CG
in_ns() {
	local m=$1 cg=$2
	shift 2
	nsenter --net=/run/netns/hostbench-$m sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}
cg_of() { [ "$1" = ward ] && echo "$SCOPE" || echo "$TOP/plain"; }
daemon_of() { case $1 in osn) echo "$OPID" ;; ward) echo "$DPID" ;; *) echo "" ;; esac; }
cpu_ticks() { [ -n "$1" ] && awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
TCK=$(getconf CLK_TCK)

# upstreams (listening TCP 443 and UDP 9999): outside the scope
for m in $MODES; do
	HOST_CLIENT_UDPLOG=$T/udp-$m in_ns $m "$TOP/up" "$CLIENT" listen $IP $PORT 900 &
	PIDS+=($!)
	HOST_CLIENT_UDPLOG=$T/udpu-$m in_ns $m "$TOP/up" "$CLIENT" listen $IP $UPORT 900 &
	PIDS+=($!)
done
cp "$CLIENT" "$T/copy"     # a copy of the allowed binary (another inode/path)
cp "$CLIENT" "$T/denied"   # "a denied binary" the allowed one execs

# --- OpenSnitch: Debian's shipped configuration, its log in the temp dir,
# its own rules directory with one allow rule for the client's path.
start_osn() { # DEFAULT_ACTION
	mkdir -p "$T/osn-etc" "$T/osn-rules"
	mountpoint -q /etc/opensnitchd ||
		cp /etc/opensnitchd/default-config.json /etc/opensnitchd/system-fw.json "$T/osn-etc/"
	sed -i "s#/var/log/opensnitchd.log#$T/osn.log#; s#\"DefaultAction\": *\"[a-z]*\"#\"DefaultAction\": \"$1\"#" \
		"$T/osn-etc/default-config.json"
	cat >"$T/osn-rules/000-allow-host-client.json" <<EOF
{ "created": "2026-01-01T00:00:00Z", "updated": "2026-01-01T00:00:00Z",
  "name": "000-allow-host-client", "enabled": true, "precedence": true,
  "action": "allow", "duration": "always",
  "operator": { "type": "simple", "operand": "process.path", "sensitive": false,
                "data": "$CLIENT", "list": [] } }
EOF
	mountpoint -q /etc/opensnitchd || mount --bind "$T/osn-etc" /etc/opensnitchd || return 1
	nsenter --net=/run/netns/hostbench-osn sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$TOP/daemon" \
		opensnitchd ${HOSTBENCH_OSN_DEBUG:+-debug} -rules-path "$T/osn-rules" >>"$T/osn.out" 2>&1 &
	OPID=$!
	# ready when its queue rule is in (bounded)
	for _ in $(seq 100); do
		nsenter --net=/run/netns/hostbench-osn iptables -t mangle -S OUTPUT 2>/dev/null | grep -q NFQUEUE && return 0
		sleep 0.1
	done
	echo "opensnitchd did not install its rules:"; cat "$T/osn.out"; return 1
}
stop_osn() { [ -n "$OPID" ] && kill -9 "$OPID" 2>/dev/null && wait "$OPID" 2>/dev/null; OPID=; }

# --- ward: a daemon in its own cgroup in hostbench-ward; host mode at $SCOPE
cat >"$T/host.yaml" <<EOF
version: 1
network_policies:
  bench:
    binaries: [{ path: $CLIENT }]
    endpoints:
      - { host: upstream.test, port: $PORT, allowed_ips: [10.213.27.0/24] }
EOF
start_ward() {
	nsenter --net=/run/netns/hostbench-ward sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$TOP/daemon" \
		"$WARD" daemon --socket "$SOCK" --state "$T/state" --log "$LOG" --pin-dir "$PINS" \
		--host-policy "" 2>>"$T/daemon.err" &
	DPID=$!
	for _ in $(seq 100); do
		[ -S "$SOCK" ] && "$WARD" sandbox list --socket "$SOCK" >/dev/null 2>&1 && break
		sleep 0.1
	done
	"$WARD" host enforce --socket "$SOCK" --policy "$T/host.yaml" --scope "$SCOPE" >/dev/null \
		|| { echo "ward host enforce failed:"; cat "$T/daemon.err"; return 1; }
}

OSN_DEFAULT=${HOSTBENCH_OSN_DEFAULT:-deny}
start_osn "$OSN_DEFAULT" || exit 1
start_ward || exit 1
for m in $MODES; do
	out=$(in_ns $m "$(cg_of $m)" "$CLIENT" once $IP $PORT)
	[ "$out" = ok ] || { echo "setup: $m: allowed client: $out"; exit 1; }
done

# --- latency: rounds interleaved, order rotated each round
declare -A P50 P99 CPU CALLS CCPU RP50 RCC RND50 RNDCC
echo "connect()+close() to $IP:$PORT, $ROUNDS rounds x $N, order rotated"
for r in $(seq "$ROUNDS"); do
	set -- $MODES
	for _ in $(seq $(( (r - 1) % 3 ))); do set -- "$2" "$3" "$1"; done
	for m in "$@"; do
		d=$(daemon_of $m)
		c0=$(cpu_ticks "$d")
		read -r p50 p99 ok fail ccpu < <(in_ns $m "$(cg_of $m)" "$CLIENT" lat $IP $PORT "$N")
		c1=$(cpu_ticks "$d")
		P50[$m]+="$p50 "
		P99[$m]+="$p99 "
		CCPU[$m]+="$ccpu "
		RND50[$m]=$p50
		RNDCC[$m]=$ccpu
		CPU[$m]=$(( ${CPU[$m]:-0} + c1 - c0 ))
		CALLS[$m]=$(( ${CALLS[$m]:-0} + ok ))
		[ "$fail" = 0 ] || echo "  round $r $m: $fail of $N failed"
	done
	# this round's ratios (the machine's load changes between rounds)
	for m in $MODES; do
		RP50[$m]+="$(echo "${RND50[$m]}/${RND50[none]}" | bc -l) "
		RCC[$m]+="$(echo "${RNDCC[$m]}/${RNDCC[none]}" | bc -l) "
	done
done
med() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "medians over rounds; the ratios are medians of each round's ratio"
printf '%-32s %9s %9s %8s %8s %10s %8s %13s\n' mode p50_us p99_us p50/none p99/none client_cpu cpu/none daemon_cpu_us
for m in $MODES; do
	p50=$(echo "${P50[$m]}" | med)
	p99=$(echo "${P99[$m]}" | med)
	cc=$(echo "${CCPU[$m]}" | med)
	[ $m = none ] && { b50=$p50; b99=$p99; bcc=$cc; }
	case $m in
	none) name="no enforcement" ;;
	osn) name="OpenSnitch 1.5.8 (allow rule)" ;;
	ward) name="ward host (ruled: redirect)" ;;
	esac
	cpu=-
	[ $m != none ] && cpu=$(awk -v t="${CPU[$m]}" -v k="$TCK" -v n="${CALLS[$m]}" \
		'BEGIN {printf "%.1f", t * 1e6 / k / n}')
	printf '%-32s %9.1f %9.1f %8.2f %8.2f %10.1f %8.2f %13s\n' "$name" "$(echo "$p50/1000" | bc -l)" \
		"$(echo "$p99/1000" | bc -l)" "$(echo "${RP50[$m]}" | med)" "$(echo "$p99/$b99" | bc -l)" \
		"$(echo "$cc/1000" | bc -l)" "$(echo "${RCC[$m]}" | med)" "$cpu"
	eval "R50_$m=\$(echo \"\${RP50[\$m]}\" | med)"
	eval "RCPU_$m=\$(echo \"\${RCC[\$m]}\" | med)"
done

# --- correctness. OpenSnitch: DefaultAction deny from here on (with the
# shipped "allow" every binary connects and no row below would mean anything)
declare -A RES
row() { RES[$1,$2]=$3; }
for m in osn ward; do
	cg=$(cg_of $m)
	out=$(in_ns $m "$cg" "$T/copy" once $IP $PORT 2000)
	row copy $m "$out"
	out=$(in_ns $m "$cg" "$CLIENT" execconn "$T/denied" $IP $PORT)
	row exec $m "$out"
	n0=$(cat "$T/udpu-$m" 2>/dev/null || echo 0)
	s=$(in_ns $m "$cg" "$T/copy" udp $IP $UPORT)
	sleep 0.5
	n1=$(cat "$T/udpu-$m" 2>/dev/null || echo 0)
	[ "$n1" -gt "$n0" ] && row udp $m "delivered ($s)" || row udp $m "not delivered ($s)"
done

# burst: 10,000 denied connects (non-blocking, closed at once) by the copy,
# while the allowed client connects 5 times (5 s timeout each)
for m in osn ward; do
	cg=$(cg_of $m)
	r0=$( [ $m = ward ] && sqlite3 "$LOG" "SELECT count(*) FROM decisions WHERE sandbox='host' AND layer='kernel' AND action='deny'" 2>/dev/null || echo 0)
	d0=$( [ $m = ward ] && "$WARD" host status --socket "$SOCK" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["events_dropped"])' || echo 0)
	l0=$( [ -f "$T/osn.log" ] && wc -l <"$T/osn.log" || echo 0)
	in_ns $m "$cg" "$T/copy" burst $IP $PORT $BURST >"$T/burst-$m" &
	bp=$!
	sleep 0.05
	read -r p50 p99 ok fail _ < <(in_ns $m "$cg" "$CLIENT" lat $IP $PORT 5)
	wait $bp
	row burst $m "$(cat "$T/burst-$m")"
	row during $m "$(printf '%.2f ms max, %d of 5 timed out' "$(echo "$p99/1000000" | bc -l)" "$fail")"
	if [ $m = ward ]; then
		for _ in $(seq 50); do sleep 0.1; done # the writer batches rows
		r1=$(sqlite3 "$LOG" "SELECT count(*) FROM decisions WHERE sandbox='host' AND layer='kernel' AND action='deny'")
		d1=$("$WARD" host status --socket "$SOCK" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["events_dropped"])')
		row logged $m "$((r1 - r0)) rows + $((d1 - d0)) counted drops of $BURST"
	else
		l1=$(wc -l <"$T/osn.log")
		row logged $m "$((l1 - l0)) log lines (LogLevel 2) for $BURST"
	fi
done

# kill -9 of the daemon: does the denied copy get through within 1 s, and
# does the allowed client?
for m in osn ward; do
	cg=$(cg_of $m)
	d=$(daemon_of $m)
	kill -9 "$d"
	wait "$d" 2>/dev/null
	out=$(in_ns $m "$cg" "$T/copy" poll $IP $PORT 1000)
	row kill_denied $m "$out"
	out=$(in_ns $m "$cg" "$CLIENT" poll $IP $PORT 1000)
	row kill_allowed $m "$out"
done
# ward's pins answer without a daemon: the redirected connects it refused
fc=$("$WARD" host status --socket "$SOCK" --pin-dir "$PINS" --json 2>/dev/null |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["failclosed"])' 2>/dev/null)
row kill_counted osn "-"
row kill_counted ward "failclosed counter ${fc:-?} (pinned, no daemon)"
OPID=
DPID=

echo
printf '%-44s | %-34s | %s\n' "case" "OpenSnitch 1.5.8 (DefaultAction $OSN_DEFAULT)" "ward host mode"
for k in copy:"copy of the allowed binary" exec:"allowed process execs a denied binary" \
	udp:"short-lived UDP sender (no rule)" burst:"burst of $BURST denied connects" \
	logged:"... logged" during:"... allowed connect during the burst" \
	kill_denied:"kill -9: denied binary within 1 s" kill_allowed:"kill -9: allowed binary within 1 s" \
	kill_counted:"... counted while the daemon is down"; do
	printf '%-44s | %-34s | %s\n' "${k#*:}" "${RES[${k%%:*},osn]}" "${RES[${k%%:*},ward]}"
done
echo
printf 'summary: connect()+close() vs none: ward p50 %.2fx, client CPU %.2fx; OpenSnitch p50 %.2fx (goal ward <= 1.05x)\n' \
	"$R50_ward" "$RCPU_ward" "$R50_osn"
