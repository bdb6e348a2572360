#!/bin/bash
# SPDX-License-Identifier: MIT
# Load without loss (docs/proxy.md "Limits"): 2,000 concurrent CONNECT tunnels
# from one process inside `ward run` (tools/bench/load_client.c, epoll) to an
# echo server in a netns this test creates, each sending 4 KiB of its own and
# checking the echo; all 2,000 stay open until every one has finished.
#   1. default limits: 2,000 echoed, 0 errors of any kind;
#   2. limits: { max_connections: 100 }: every connection is either echoed or
#      refused with a complete 503 carrying ward's JSON body (none reset,
#      none closed without an answer), and the decision log accounts for
#      every refusal: rows with rule 'limits' plus the counts of the
#      'events_dropped' proxy rows equal the refusals the client saw;
#   3. the same through the transparent path (no proxy environment, the BPF
#      redirect; raw TCP, nothing ward could answer in HTTP): 2,000 echoed
#      with the defaults; with max_connections 100 the rest reset at once,
#      and rows account for every one;
#   4. real clients: with max_connections 1 held by one tunnel, curl gets
#      ward's 503 body as a forward proxy, a CONNECT 503, and the 503 body on
#      the transparent path too (it spoke HTTP); a row each;
#   5. the policy's idle_tunnel reaches the proxy: 1s closes idle tunnels
#      (the default 5m, in 1., closed none during a 2 s hold);
#   6. ward short of fds (RLIMIT_NOFILE 400, max_connections 1000 in the
#      policy): 350 connections either echoed or refused with a 503 "out of
#      file descriptors", none lost, rows account for every refusal;
#   7. sustained: 16 rounds of 2,000 in one sandbox (32,000 connections, more
#      than the 28,232 ephemeral ports, in well under the 60 s of TIME_WAIT):
#      every one echoed; all of them go to the proxy's one address and port,
#      so without TIME_WAIT reuse in the sandbox netns connect() fails there;
#   8. a policy value that is not a duration is FILE:LINE:COL, exit 1.
# One round each (16 in 7.), each client capped at 60 s. Root only; 77 when a tool is missing.
set -u

WARD=${WARD:-$(pwd)/build/ward}
BUILD=${WARD_BUILD:-$(dirname "$WARD")}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
N=2000

# shellcheck source=lib/upstream.sh
source "$HERE/lib/upstream.sh"
e2e_require ip sqlite3 timeout curl prlimit
[ -x "$BUILD/load_client" ] || { echo "SKIP: no $BUILD/load_client (tools/bench/load_client.c)"; exit 77; }

T=$(mktemp -d /tmp/ward-test-load.XXXXXX)
chmod 755 "$T"
ECHO=
pass=0
fail=0
e2e_cleanup_hook() {
	[ -n "$ECHO" ] && kill "$ECHO" 2>/dev/null
	rm -rf "$T"
}
ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }
check() { local n=$1; shift; if "$@"; then ok "$n"; else ko "$n"; fi; }

# the client runs from a directory the sandbox maps read-only
cp "$BUILD/load_client" "$T/load_client"
chmod 755 "$T/load_client"
upstream_up ld --bare echo.test.example || { echo "FAIL: test upstream"; exit 1; }
ip netns exec ward-test-ld timeout -s KILL 400 "$T/load_client" echo -l 0.0.0.0:7000 -p 17 -t 390 \
	>"$T/echo.out" 2>&1 &
ECHO=$!
for _ in $(seq 50); do grep -q ready "$T/echo.out" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$T/echo.out" || { echo "FAIL: echo server did not start"; cat "$T/echo.out"; exit 1; }

IP=$(upstream_ip ld)
CURL=$(readlink -f "$(command -v curl)")
policy() { # policy FILE [LIMITS-LINE]
	cat >"$1" <<EOF
version: 1
filesystem_policy:
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc, $T]
process: { run_as_user: 4249, run_as_group: 4249 }
${2:-}
network_policies:
  load:
    binaries: [{ path: $T/load_client }, { path: $CURL }]
    endpoints: [{ host: echo.test.example, ports: [7000] }, { host: "$IP", port: 7000 }]
EOF
	chmod 644 "$1"
}
# load LOG POLICY [ARGS...]: N tunnels through ward's proxy (CONNECT, or
# transparent with --direct); the client's count line in $OUT
load() {
	local log=$1 pol=$2 target=echo.test.example:7000
	shift 2
	[[ " $* " == *" --direct "* ]] && target=$IP:7000
	OUT=$(timeout -s KILL 120 ${PRL:-} "$WARD" run --policy "$pol" --log "$log" --hosts "$UPSTREAM_HOSTS" \
		--workdir "$T" -- "$T/load_client" tunnels -n "$N" -b 4096 -t 60 "$@" \
		"$target" 2>"$T/err")
	RC=$?
	echo "  $OUT"
}
field() { sed -n "s/.* $1=\([0-9-]*\).*/\1/p" <<<"$OUT"; }
q() { sqlite3 "$1" "$2" 2>/dev/null; }

# 1. default limits carry 2,000 concurrent tunnels
policy "$T/default.yaml"
load "$T/default.db" "$T/default.yaml" --hold 2
check "default limits: $N concurrent tunnels, every echo correct (exit $RC)" \
	test "$RC" = 0 -a "$(field ok)" = "$N"
check "default limits: idle tunnels stay open (idle_tunnel 5m)" test "$(field held_closed)" = 0
for k in refused http reset eof timeout mismatch fd connect; do
	check "default limits: $k=0" test "$(field "$k")" = 0
done
check "default limits: no refusal rows" \
	test "$(q "$T/default.db" "select count(*) from decisions where rule in ('limits','events_dropped') and layer='proxy'")" = 0
check "default limits: an allow row per tunnel" \
	test "$(q "$T/default.db" "select count(*) from decisions where layer='proxy' and action='allow'")" = "$N"

# 2. max_connections: 100: the rest refused with a 503 each, and each a row or counted
policy "$T/limited.yaml" "limits: { max_connections: 100 }"
load "$T/limited.db" "$T/limited.yaml"
ok_n=$(field ok)
refused=$(field refused)
check "max_connections 100: at most 100 echoed, some ($ok_n)" \
	test -n "$ok_n" -a "${ok_n:-0}" -ge 1 -a "${ok_n:-0}" -le 100
check "max_connections 100: every other one a complete 503 with ward's body ($refused)" \
	test "$((${ok_n:-0} + ${refused:-0}))" = "$N"
for k in http reset eof timeout mismatch fd connect; do
	check "max_connections 100: $k=0" test "$(field "$k")" = 0
done
rows=$(q "$T/limited.db" "select count(*) from decisions where layer='proxy' and action='deny' and rule='limits' and reason like 'max_connections (100) reached%'")
counted=$(q "$T/limited.db" "select coalesce(sum(cast(reason as integer)), 0) from decisions where layer='proxy' and rule='events_dropped' and reason like '% connections refused (max_connections (100) reached)%'")
echo "  rows: $rows one by one, $counted counted"
check "max_connections 100: rows account for every refusal ($rows + $counted = $refused)" \
	test "$((${rows:-0} + ${counted:-0}))" = "${refused:-x}"
check "max_connections 100: refusal rows name the binary" \
	test "$(q "$T/limited.db" "select count(*) from decisions where rule='limits' and binary='$T/load_client'")" = "${rows:-x}"
check "max_connections 100: the log is intact (ward audit verify)" \
	"$WARD" audit verify --log "$T/limited.db"

# 3. transparent: the defaults carry 2,000; past max_connections a reset and a row each
load "$T/tdefault.db" "$T/default.yaml" --direct
check "transparent, default limits: $N concurrent connections, every echo correct (exit $RC)" \
	test "$RC" = 0 -a "$(field ok)" = "$N"
load "$T/tlimited.db" "$T/limited.yaml" --direct
ok_n=$(field ok)
reset=$(field reset)
check "transparent, max_connections 100: at most 100 echoed ($ok_n), the rest reset ($reset)" \
	test -n "$ok_n" -a "${ok_n:-0}" -le 100 -a "$((${ok_n:-0} + ${reset:-0}))" = "$N"
rows=$(q "$T/tlimited.db" "select count(*) from decisions where layer='proxy' and rule='limits' and ip='$IP' and port=7000 and reason like 'max_connections (100) reached: refused with a reset%'")
counted=$(q "$T/tlimited.db" "select coalesce(sum(cast(reason as integer)), 0) from decisions where layer='proxy' and rule='events_dropped' and reason like '% connections refused (max_connections (100) reached)%'")
check "transparent, max_connections 100: rows account for every refusal ($rows + $counted = $reset)" \
	test "$((${rows:-0} + ${counted:-0}))" = "${reset:-x}"

# 4. real clients past the limit: one tunnel holds the only slot
policy "$T/one.yaml" "limits: { max_connections: 1 }"
cat >"$T/one.sh" <<EOF
$T/load_client tunnels -n 1 -b 64 -t 20 --hold 20 echo.test.example:7000 >/tmp/hold.out 2>/tmp/hold.err &
for i in \$(seq 200); do grep -q holding /tmp/hold.err && break; sleep 0.05; done
echo "forward=\$($CURL -s -o /tmp/fwd.body -w '%{http_code}' http://echo.test.example:7000/) \$(cat /tmp/fwd.body)"
echo "connect=\$($CURL -s -o /dev/null -w '%{http_connect}' -p http://echo.test.example:7000/)"
echo "transparent=\$($CURL -s --noproxy '*' -o /tmp/tp.body -w '%{http_code}' http://$IP:7000/) \$(cat /tmp/tp.body)"
kill %1
EOF
chmod 644 "$T/one.sh"
OUT=$(timeout -s KILL 60 "$WARD" run --policy "$T/one.yaml" --log "$T/one.db" --hosts "$UPSTREAM_HOSTS" \
	--workdir "$T" -- /bin/sh "$T/one.sh" 2>"$T/err")
echo "$OUT" | sed 's/^/  /'
body='{"error":"ward_overloaded","layer":"proxy","reason":"max_connections (1) reached"}'
check "curl, forward proxy: 503 with ward's body" grep -qxF "forward=503 $body" <<<"$OUT"
check "curl, CONNECT: 503" grep -qx "connect=503" <<<"$OUT"
check "curl, transparent HTTP: 503 with ward's body" grep -qxF "transparent=503 $body" <<<"$OUT"
check "curl: a row for each of the three refusals" \
	test "$(q "$T/one.db" "select count(*) from decisions where rule='limits' and binary='$CURL' and reason='max_connections (1) reached: refused with 503'")" = 3

# 5. idle_tunnel from the policy: idle tunnels closed by the proxy
policy "$T/idle.yaml" "limits: { idle_tunnel: 1s }"
N=20 load "$T/idle.db" "$T/idle.yaml" --hold 3
check "idle_tunnel 1s: 20 echoed, then every idle one closed by ward" \
	test "$(field ok)" = 20 -a "$(field held_closed)" = 20

# 6. the fd budget: refused at the door with a 503, not failed half way
policy "$T/fds.yaml" "limits: { max_connections: 1000 }"
N=350 PRL="prlimit --nofile=400:400" load "$T/fds.db" "$T/fds.yaml"
ok_n=$(field ok)
refused=$(field refused)
check "RLIMIT_NOFILE 400: every connection echoed ($ok_n) or a 503 ($refused), none lost" \
	test -n "$ok_n" -a "${ok_n:-0}" -ge 1 -a "$((${ok_n:-0} + ${refused:-0}))" = 350
rows=$(q "$T/fds.db" "select count(*) from decisions where layer='proxy' and rule='limits' and reason = 'out of file descriptors (RLIMIT_NOFILE 400): refused with 503'")
counted=$(q "$T/fds.db" "select coalesce(sum(cast(reason as integer)), 0) from decisions where layer='proxy' and rule='events_dropped' and reason like '% connections refused (out of file descriptors (RLIMIT_NOFILE 400))%'")
check "RLIMIT_NOFILE 400: rows account for every refusal ($rows + $counted = $refused)" \
	test "$((${rows:-0} + ${counted:-0}))" = "${refused:-x}"

# 7. sustained: one port per round upstream, so only the sandbox side shares its ports
policy "$T/sustained.yaml"
sed -i "s/ports: \[7000\]/ports: [$(seq -s ', ' 7001 7016)]/" "$T/sustained.yaml"
cat >"$T/rounds.sh" <<EOF
for p in $(seq -s ' ' 7001 7016); do
	$T/load_client tunnels -n 2000 -b 1024 -t 60 echo.test.example:\$p || echo "round \$p failed"
done
EOF
chmod 644 "$T/rounds.sh"
OUT=$(timeout -s KILL 300 "$WARD" run --policy "$T/sustained.yaml" --log "$T/sustained.db" \
	--hosts "$UPSTREAM_HOSTS" --workdir "$T" -- /bin/sh "$T/rounds.sh" 2>"$T/err")
echo "$OUT" | grep -v "ok=2000 refused=0 http=0 reset=0 eof=0 timeout=0 mismatch=0 fd=0 connect=0 " | sed 's/^/  /'
check "sustained: 16 x 2000 connections from one sandbox, every one echoed" \
	test "$(grep -c "^total=2000 ok=2000 " <<<"$OUT")" = 16

# 8. a bad value is a position error
printf 'version: 1\nlimits:\n  idle_tunnel: 30\n' >"$T/bad.yaml"
err=$("$WARD" policy check "$T/bad.yaml" 2>&1)
rc=$?
check "limits: a duration without unit is FILE:LINE:COL, exit 1" \
	test "$rc" = 1 -a "$err" = "$T/bad.yaml:3:16: missing unit in 'idle_tunnel' '30' (expected ms, s, m or h)"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
