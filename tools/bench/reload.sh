#!/bin/bash
# SPDX-License-Identifier: MIT
# Hot reload and `ward exec` (issue 13 item 7), side by side in one run,
# against a `ward daemon` this script starts (temp socket, state, log) and
# upstreams in a network namespace it creates (10.213.7.0/24):
#
#  1. apply -> enforced: a probe session (ward exec, python3) connects to X
#     (10.213.7.2:8081), sends a byte and reads "ok", in a loop (about 1 ms
#     apart), timing every attempt. A loop of N `ward policy apply NAME F
#     --wait` alternates a policy that adds X and one that removes it. For
#     each: the time from just before the CLI starts until the end of the
#     probe's first attempt with the new result (an upper bound on "new
#     connections are decided by the new policy"; the lower bound, the start
#     of the last attempt with the old result, is printed too), the daemon's
#     own "enforced in N ms" and the `--wait` return time. p50/p99 against
#     the goal (< 50 ms p99; OpenShell: a 10 s poll). Applies whose change
#     the probe never saw (missed), or had already seen (ambiguous), and
#     changes back to the old result (flaps; after --wait returned: a bug)
#     are counted, never folded into the figures. The daemon's own
#     breakdown of each apply (the reply's "timings", docs/daemon.md) is
#     printed as percentiles per step, and the CLI's share: the --wait
#     return minus the daemon's time from request to reply.
#  2. untouched traffic: a second session loops HTTP requests to Y
#     (10.213.7.2:8080, allowed by both policies, one keep-alive connection
#     reopened only on error) during the applies; failures counted (goal 0).
#  3. `ward exec NAME -- /bin/true` vs `bwrap --unshare-all --ro-bind / /
#     /bin/true` (and `ward run` with a network policy for reference), R
#     rounds interleaved: medians, p90 and the ratio (goal <= 2x).
#
# Usage: reload.sh [--json] [WARD] [N applies (default 100, <= 1000)] [R rounds (default 30, <= 500)]
# Root only; 77 when something is missing. Everything it creates is removed
# on exit (daemon, sandboxes, netns, veth, temp dir).
set -eu

JSON=0
[ "${1:-}" = --json ] && { JSON=1; shift; }
WARD=$(realpath "${1:-${WARD:-build/ward}}")
N=${2:-100}
R=${3:-30}
[ "$N" -ge 2 ] && [ "$N" -le 1000 ] || { echo "N must be 2..1000" >&2; exit 2; }
[ "$R" -ge 1 ] && [ "$R" -le 500 ] || { echo "R must be 1..500" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 77; }
for t in bwrap python3 ip bc; do
	command -v "$t" >/dev/null || { echo "needs $t" >&2; exit 77; }
done

NS=reload-bench
VH=reload-h0
VN=reload-n0
HOST_IP=10.213.7.1
UP_IP=10.213.7.2
PY=$(realpath /usr/bin/python3)
T=$(mktemp -d /tmp/ward-bench-reload.XXXXXX)
chmod 755 "$T"
SOCK=$T/ward.sock
DPID=
UP_PID=
BG=()
cleanup() {
	trap '' INT TERM HUP # a second signal must not cut the cleanup short
	set +e
	# host-side leftovers first (cheap, and what a SIGKILL after a grace
	# period would otherwise leave): the upstream, its netns, the veth
	[ -n "$UP_PID" ] && { kill -9 "$UP_PID"; wait "$UP_PID"; } 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	ip link del "$VH" 2>/dev/null
	touch "$T/work/stop" 2>/dev/null
	for p in "${BG[@]}"; do kill "$p" 2>/dev/null; done
	if [ -n "$DPID" ]; then
		timeout 20 "$WARD" sandbox rm bench >/dev/null 2>&1
		kill "$DPID" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$DPID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT
# bash runs a trap only once the foreground command returns: every command
# that may take long runs in the background and is waited for (`wait` is
# interrupted by a trapped signal), so SIGTERM cleans up within a second
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP
say() { [ "$JSON" = 1 ] || echo "$@" >&2; }

# --- upstreams: X (8081) answers "ok" and closes; Y (8080) an HTTP/1.1 keep-alive echo
ip netns del "$NS" 2>/dev/null || true
ip link del "$VH" 2>/dev/null || true
ip netns add "$NS"
ip link add "$VH" type veth peer name "$VN"
ip link set "$VN" netns "$NS"
ip addr add "$HOST_IP/24" dev "$VH"
ip link set "$VH" up
ip -n "$NS" addr add "$UP_IP/24" dev "$VN"
ip -n "$NS" link set "$VN" up
ip -n "$NS" link set lo up
cat >"$T/up.py" <<'EOF'
import socket, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
deadline = time.time() + float(sys.argv[1])
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        # one write: head and body in two segments met Nagle and the
        # client's delayed ACK (40 ms a request, 20 requests a second)
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\ny\n")
    def log_message(self, *a):
        pass
ThreadingHTTPServer.daemon_threads = True
threading.Thread(target=ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever, daemon=True).start()
x = socket.create_server(("0.0.0.0", 8081), backlog=512)
x.settimeout(1)
open(sys.argv[2], "w").write("ready\n")
while time.time() < deadline:
    try:
        c, _ = x.accept()
    except socket.timeout:
        continue
    try:
        c.sendall(b"ok\n")
        c.settimeout(0.5)
        c.recv(16)  # the probe's byte: closing with it unread would be a reset
    except OSError:
        pass
    c.close()
EOF
ip netns exec "$NS" "$PY" "$T/up.py" 1800 "$T/up.ready" >"$T/up.log" 2>&1 &
UP_PID=$!
for _ in $(seq 100); do [ -s "$T/up.ready" ] && break; sleep 0.1; done
[ -s "$T/up.ready" ] || { echo "upstream did not start" >&2; cat "$T/up.log" >&2; exit 1; }

# --- policies: base (Y only) and wide (Y and X), python3 may use both
mkdir -p "$T/work"
chmod 777 "$T/work"
policy() { # FILE ENDPOINTS...
	local f=$1
	shift
	{
		cat <<EOF
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc]
process: { run_as_user: 65534, run_as_group: 65534 }
network_policies:
  bench:
    binaries: [{ path: $PY }, { path: /usr/bin/curl }]
    endpoints:
EOF
		for e in "$@"; do echo "      - $e"; done
	} >"$f"
}
policy "$T/base.yaml" "{ host: $UP_IP, port: 8080 }"
policy "$T/wide.yaml" "{ host: $UP_IP, port: 8080 }" "{ host: $UP_IP, port: 8081 }"

"$WARD" daemon --socket "$SOCK" --state "$T/state" --log "$T/log.db" >"$T/daemon.log" 2>&1 &
DPID=$!
for _ in $(seq 150); do [ -S "$SOCK" ] && break; sleep 0.1; done
[ -S "$SOCK" ] || { echo "the daemon did not start" >&2; cat "$T/daemon.log" >&2; exit 1; }
export WARD_SOCKET=$SOCK
"$WARD" sandbox create bench --policy "$T/base.yaml" --workdir "$T/work" >/dev/null &
wait $! ||
	{ echo "sandbox create failed" >&2; tail -5 "$T/daemon.log" >&2; exit 1; }

# --- the probe (X) and the untouched client (Y), both bounded in time
# The probe sends a byte at once: the proxy decides a transparent connection
# by address as soon as its first bytes are neither TLS nor HTTP, but waits
# sniff_ms (500 ms) for a client that sends nothing (a server-speaks-first
# protocol). A silent probe measured that wait, racing its own 0.5 s recv
# timeout: allowed attempts read as denied at random, and transitions came
# seconds late or never. Every attempt is timed on the clock of the script's
# `date +%s%N` (CLOCK_REALTIME); one line per change of result:
#   END_NS START_NS STATE LAST_OTHER_START_NS ATTEMPTS MAX_ATTEMPT_NS
# END/START: the first attempt with the new result; LAST_OTHER_START: the
# start of the last attempt with the old one (the switch happened after it);
# ATTEMPTS so far; the slowest attempt so far (the probe's resolution).
cat >"$T/work/probe.py" <<'EOF'
import os, socket, sys, time
d, ip = sys.argv[1], sys.argv[2]
out = open(os.path.join(d, "probe.log"), "w", buffering=1)
now = time.time_ns  # the script's `date +%s%N` clock
last, last_start, n, slowest, durs = None, 0, 0, 0, []
end = time.time() + 1500
while time.time() < end and not os.path.exists(os.path.join(d, "stop")):
    ok = False
    t0 = now()
    try:
        s = socket.create_connection((ip, 8081), timeout=2)
        s.sendall(b"p\n")
        ok = s.recv(3) == b"ok\n"
        s.close()
    except OSError:
        pass
    t1 = now()
    n += 1
    slowest = max(slowest, t1 - t0)
    if ok != last:
        out.write("%d %d %s %d %d %d\n" % (t1, t0, "allow" if ok else "deny", last_start, n, slowest))
        last = ok
    last_start = t0
    durs.append(t1 - t0)
    time.sleep(0.001)  # about 500 attempts a second at most: each is a decision row
durs.sort()
with open(os.path.join(d, "probe.stats"), "w") as f:
    f.write("%d %d %d %d\n" % (len(durs), durs[len(durs) // 2], durs[min(len(durs) - 1, len(durs) * 99 // 100)], durs[-1]) if durs else "0 0 0 0\n")
EOF
cat >"$T/work/yloop.py" <<'EOF'
import http.client, os, sys, time
d, ip = sys.argv[1], sys.argv[2]
ok = fail = 0
c, end = None, time.time() + 1500
while time.time() < end and not os.path.exists(os.path.join(d, "stop")):
    try:
        if c is None:
            c = http.client.HTTPConnection(ip, 8080, timeout=5)
        c.request("GET", "/y")
        r = c.getresponse()
        body = r.read()
        if r.status == 200 and body == b"y\n":
            ok += 1
        else:
            fail += 1
    except (OSError, http.client.HTTPException):
        fail += 1
        c = None
    if (ok + fail) % 50 == 0:
        open(os.path.join(d, "y.count.tmp"), "w").write("%d %d\n" % (ok, fail))
        os.rename(os.path.join(d, "y.count.tmp"), os.path.join(d, "y.count"))
    time.sleep(0.002)
open(os.path.join(d, "y.count.tmp"), "w").write("%d %d\n" % (ok, fail))
os.rename(os.path.join(d, "y.count.tmp"), os.path.join(d, "y.count"))
EOF
"$WARD" exec bench -- "$PY" "$T/work/probe.py" "$T/work" "$UP_IP" >"$T/probe.out" 2>&1 &
BG+=($!)
"$WARD" exec bench -- "$PY" "$T/work/yloop.py" "$T/work" "$UP_IP" >"$T/y.out" 2>&1 &
YPID=$!
BG+=("$YPID")

# last_state: the probe's latest result
last_state() { tail -n 1 "$T/work/probe.log" 2>/dev/null | cut -d' ' -f3; }
wait_state() { # STATE: probe says STATE within 10 s
	for _ in $(seq 1000); do [ "$(last_state)" = "$1" ] && return 0; sleep 0.01; done
	return 1
}
wait_state deny || { echo "the probe did not start (X must be denied by base)" >&2; cat "$T/probe.out" >&2; exit 1; }
for _ in $(seq 500); do [ -s "$T/work/y.count" ] && break; sleep 0.02; done
[ -s "$T/work/y.count" ] || { echo "the Y client does not run" >&2; cat "$T/y.out" >&2; exit 1; }
read -r Y0_OK Y0_FAIL <"$T/work/y.count"

# --- 1 + 2: N applies, alternately adding and removing X. Each: T0 before the
# CLI starts, T1 when it returned, the daemon's own "enforced in N ms" (the
# switch of every layer, compile excluded); the probe's figures come after.
say "apply -> enforced: $N applies ..."
: >"$T/applies"
: >"$T/daemon.ms"
: >"$T/replies.jsonl"
: >"$T/wait.ms"
for i in $(seq "$N"); do
	if [ $((i % 2)) = 1 ]; then f=$T/wide.yaml want=allow; else f=$T/base.yaml want=deny; fi
	t0=$(date +%s%N)
	timeout 30 "$WARD" policy apply bench "$f" --wait --json >"$T/apply.out" 2>&1 &
	wait $! || { echo "apply $i failed:" >&2; cat "$T/apply.out" >&2; exit 1; }
	t1=$(date +%s%N)
	echo "$t0 $t1 $want" >>"$T/applies"
	echo "scale=3; ($t1 - $t0) / 1000000" | bc >>"$T/wait.ms"
	cat "$T/apply.out" >>"$T/replies.jsonl"
	wait_state "$want" || true # not seen within 10 s: counted as missed below
done
touch "$T/work/stop"
# the daemon's own figures, from its replies: enforced_ms, and "timings"
# (docs/daemon.md): ms since the request was read at the end of each step,
# and each layer's apply; "CLI" is the --wait return minus the daemon's
# total (the CLI's start, connect, reply transfer)
"$PY" - "$T/replies.jsonl" "$T/wait.ms" "$T/daemon.ms" "$T/steps" "$T/steps.json" <<'EOF'
import json, sys
replies = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
waits = [float(l) for l in open(sys.argv[2]) if l.strip()]
with open(sys.argv[3], "w") as f:
    for r in replies:
        if "enforced_ms" in r:
            f.write("%.3f\n" % r["enforced_ms"])
cols = {}
def add(k, v):
    cols.setdefault(k, []).append(v)
for r, w in zip(replies, waits):
    t = r.get("timings") or {}
    for k, v in t.items():
        if k == "steps":
            for l, ms in v.items():
                add("  step " + l, ms)
        else:
            add(k, v)
    if "replied" in t:
        add("CLI (--wait minus daemon)", w - t["replied"])
def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, max(0, int(len(v) * p + 0.999) - 1))]
js = {}
with open(sys.argv[4], "w") as f:
    for k, v in cols.items():
        m = sorted(v)
        med = m[len(m) // 2] if len(m) % 2 else (m[len(m) // 2 - 1] + m[len(m) // 2]) / 2
        f.write("%s\t%d\t%.2f\t%.2f\t%.2f\n" % (k, len(v), med, pct(v, 0.9), pct(v, 0.99)))
        js[k.strip()] = {"n": len(v), "p50": round(med, 2), "p90": round(pct(v, 0.9), 2), "p99": round(pct(v, 0.99), 2)}
json.dump(js, open(sys.argv[5], "w"))
EOF
for _ in $(seq 500); do kill -0 "$YPID" 2>/dev/null || break; sleep 0.02; done
read -r Y_OK Y_FAIL <"$T/work/y.count"
Y_OK=$((Y_OK - Y0_OK))
Y_FAIL=$((Y_FAIL - Y0_FAIL))
for _ in $(seq 500); do [ -s "$T/work/probe.stats" ] && break; sleep 0.02; done
read -r P_N P_P50 P_P99 P_MAX <"$T/work/probe.stats" || { P_N=0 P_P50=0 P_P99=0 P_MAX=0; }

# The switch E of apply i (T0, T1, wanted result W) lies after the start of
# the last attempt with the old result and before the end of the first one
# with W: enforced <= END - T0 (the figure of record, an upper bound),
# enforced >= max(LAST_OTHER_START, T0) - T0. Not measurable: the probe
# already gave W at T0 (ambiguous); no W before the next apply (missed).
# A change back to the old result before the next apply is a flap; one whose
# attempt started after --wait returned means --wait returned too early.
: >"$T/enforced.ms"
: >"$T/enforced_lo.ms"
awk -v fe="$T/enforced.ms" -v fl="$T/enforced_lo.ms" -v fc="$T/counts" '
	FNR == NR { t0[NR] = $1; t1[NR] = $2; w[NR] = $3; na = NR; next }
	{ e[++nt] = $1; st[nt] = $2; s[nt] = $3; lo[nt] = $4 }
	END {
		k = 1; cur = ""
		for (i = 1; i <= na; i++) {
			nx = (i < na) ? t0[i + 1] : 9e18
			while (k <= nt && e[k] < t0[i]) cur = s[k++]
			if (cur == w[i]) { amb++; continue }
			if (k > nt || e[k] >= nx) { missed++; continue }
			printf "%.3f\n", (e[k] - t0[i]) / 1e6 >fe
			l = lo[k] > t0[i] ? lo[k] : t0[i]
			printf "%.3f\n", (l - t0[i]) / 1e6 >fl
			cur = s[k++]
			while (k <= nt && e[k] < nx) {
				if (s[k] != w[i]) { flaps++; if (st[k] >= t1[i]) early++ }
				cur = s[k++]
			}
		}
		printf "%d %d %d %d\n", missed, amb, flaps, early >fc
	}' "$T/applies" "$T/work/probe.log"
read -r MISSED AMBIG FLAPS EARLY <"$T/counts"

# --- 3: ward exec vs bwrap (and ward run with a network policy)
say "exec vs bwrap: $R rounds ..."
time_ms() {
	local s e
	s=$(date +%s%N)
	"$@" >/dev/null 2>&1 &
	wait $! || { echo "failed: $*" >&2; exit 1; }
	e=$(date +%s%N)
	echo "scale=3; ($e - $s) / 1000000" | bc
}
EXEC_CMD=("$WARD" exec bench -- /bin/true)
BWRAP_CMD=(bwrap --unshare-all --ro-bind / / /bin/true)
RUN_CMD=("$WARD" run --policy "$T/base.yaml" --log "$T/run.db" --workdir "$T/work" -- /bin/true)
"${EXEC_CMD[@]}" && "${BWRAP_CMD[@]}" && "${RUN_CMD[@]}" >/dev/null 2>&1 ||
	{ echo "warm-up failed" >&2; exit 1; }
: >"$T/exec.ms"
: >"$T/bwrap.ms"
: >"$T/run.ms"
for _ in $(seq "$R"); do
	time_ms "${EXEC_CMD[@]}" >>"$T/exec.ms"
	time_ms "${BWRAP_CMD[@]}" >>"$T/bwrap.ms"
	time_ms "${RUN_CMD[@]}" >>"$T/run.ms"
done

stats() { # FILE -> "n median p90 p99 max"
	sort -n "$1" | awk '{ v[NR] = $1 } END {
		if (NR == 0) { print "0 - - - -"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		i = int(NR * 0.9 + 0.999); if (i < 1) i = 1; if (i > NR) i = NR
		j = int(NR * 0.99 + 0.999); if (j < 1) j = 1; if (j > NR) j = NR
		printf "%d %.2f %.2f %.2f %.2f\n", NR, m, v[i], v[j], v[NR] }'
}
read -r EN EM E90 E99 EMAX <<<"$(stats "$T/enforced.ms")"
read -r LN LM _ L99 _ <<<"$(stats "$T/enforced_lo.ms")"
read -r DN DM D90 D99 DMAX <<<"$(stats "$T/daemon.ms")"
read -r WN WM W90 W99 WMAX <<<"$(stats "$T/wait.ms")"
read -r XN XM X90 _ _ <<<"$(stats "$T/exec.ms")"
read -r BN BM B90 _ _ <<<"$(stats "$T/bwrap.ms")"
read -r RN RM R90 _ _ <<<"$(stats "$T/run.ms")"
RATIO=$(awk -v a="$XM" -v b="$BM" 'BEGIN { printf "%.2f", a / b }')
RRATIO=$(awk -v a="$RM" -v b="$BM" 'BEGIN { printf "%.2f", a / b }')
ms() { awk -v n="$1" 'BEGIN { printf "%.2f", n / 1e6 }'; } # JSON wants 0.43, not bc's .43

if [ "$JSON" = 1 ]; then
	printf '{"applies":%d,"enforced_ms":{"n":%d,"p50":%s,"p90":%s,"p99":%s,"max":%s,"lower_p50":%s,"lower_p99":%s},' \
		"$N" "$EN" "$EM" "$E90" "$E99" "$EMAX" "$LM" "$L99"
	printf '"daemon_enforced_ms":{"n":%d,"p50":%s,"p90":%s,"p99":%s,"max":%s},' "$DN" "$DM" "$D90" "$D99" "$DMAX"
	printf '"apply_wait_ms":{"p50":%s,"p90":%s,"p99":%s,"max":%s},' "$WM" "$W90" "$W99" "$WMAX"
	printf '"daemon_timings_ms":%s,' "$(cat "$T/steps.json")"
	printf '"missed":%d,"ambiguous":%d,"flaps":%d,"old_after_wait":%d,' "$MISSED" "$AMBIG" "$FLAPS" "$EARLY"
	printf '"probe":{"attempts":%d,"p50_ms":%s,"p99_ms":%s,"max_ms":%s},' "$P_N" "$(ms "$P_P50")" "$(ms "$P_P99")" "$(ms "$P_MAX")"
	printf '"untouched":{"ok":%d,"failed":%d},' "$Y_OK" "$Y_FAIL"
	printf '"exec_ms":{"rounds":%d,"ward_exec_p50":%s,"bwrap_p50":%s,"ward_run_net_p50":%s,"ratio":%s,"run_ratio":%s}}\n' \
		"$R" "$XM" "$BM" "$RM" "$RATIO" "$RRATIO"
else
	printf '%-36s %6s %8s %8s %8s %8s\n' "" n "p50 ms" "p90 ms" "p99 ms" "max ms"
	printf '%-36s %6d %8s %8s %8s %8s\n' "apply -> enforced (probe, <=)" "$EN" "$EM" "$E90" "$E99" "$EMAX"
	printf '%-36s %6d %8s %8s %8s %8s\n' "  lower bound (probe, >=)" "$LN" "$LM" - "$L99" -
	printf '%-36s %6d %8s %8s %8s %8s\n' "daemon \"enforced in N ms\"" "$DN" "$DM" "$D90" "$D99" "$DMAX"
	printf '%-36s %6d %8s %8s %8s %8s\n' "apply --wait returns" "$WN" "$WM" "$W90" "$W99" "$WMAX"
	echo "  goal: p99 < 50 ms (OpenShell: 10000 ms poll)"
	echo "  missed (new result not seen before the next apply): $MISSED; ambiguous (already so at the apply): $AMBIG"
	echo "  flaps (old result again after the change): $FLAPS, of which after --wait returned: $EARLY"
	echo "  probe: $P_N attempts, each p50 $(ms "$P_P50") ms, p99 $(ms "$P_P99") ms, max $(ms "$P_MAX") ms (the resolution)"
	echo "daemon timings (ms since the request was read, at the end of each step; steps: each alone):"
	awk -F'\t' '{ printf "  %-34s %6d %8s %8s %8s\n", $1, $2, $3, $4, $5 }' "$T/steps"
	echo "untouched traffic (Y, keep-alive, during the applies): $Y_OK ok, $Y_FAIL failed (goal 0)"
	printf '%-36s %6s %8s %8s\n' "" runs "p50 ms" "p90 ms"
	printf '%-36s %6d %8s %8s\n' "ward exec NAME -- /bin/true" "$XN" "$XM" "$X90"
	printf '%-36s %6d %8s %8s\n' "bwrap --unshare-all /bin/true" "$BN" "$BM" "$B90"
	printf '%-36s %6d %8s %8s\n' "ward run (network policy)" "$RN" "$RM" "$R90"
	echo "ratio ward exec/bwrap (median): $RATIO (goal <= 2); ward run/bwrap: $RRATIO"
fi
