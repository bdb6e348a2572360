#!/bin/bash
# SPDX-License-Identifier: MIT
# issue 13's end-to-end flow through the real CLI (`ward daemon`, `ward
# sandbox`, `ward exec`, `ward policy apply`, `ward secret`, `ward sessions`,
# `ward logs`) with real clients (curl, python3 http.client, node fetch)
# inside sessions, against an HTTPS echo upstream in a netns this test creates
# (10.213.21.0/24; names through --hosts), the daemon on a temp socket, state
# directory and log:
#  1. create (policy: host A only): curl A ok, B refused (403 and its body);
#  2. apply adds B with --wait: B allowed right after it returns; the output
#     names what was added;
#  3. apply removes B while a python session holds a keep-alive TLS tunnel to
#     B and another one to A: B's is closed (EOF/reset, a `revoked by policy
#     rev R` row), a new request to B is 403, A's goes on on its connection;
#  4. a credential `secret: svc-tok`: the upstream sees the first value, then
#     after `ward secret set` the new one on every request of a session that
#     keeps calling, and in a second sandbox, no restart; no value in `ward
#     logs --json`, `ward sessions --json`, any stderr or the daemon's output;
#  5. node and python sessions at once: `ward sessions --json` shows both
#     running with their own ids, each once (all sandboxes or one);
#     `ward logs --session ID` has its own rows;
#  6. a file in the sandbox home survives stop/start and a daemon restart; a
#     session running at the daemon's SIGTERM ends 137, its client told;
#  7. kill -9 of the daemon while a session sleeps: the session's processes
#     die; the restarted daemon brings the sandbox back, nothing of the old
#     instance is left (cgroup, v1 leaves, veth, netns, BPF links and
#     programs), and the session is recorded as ended (137);
#  8. a uid in neither group is refused by the socket (EPERM, a deny row).
# Root only; 77 when something needed is missing.
set -u

WARD=${WARD:-$(pwd)/build/ward}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib/upstream.sh
source "$HERE/lib/upstream.sh" # e2e_require only: this test has its own netns
e2e_require /usr/bin/curl /usr/bin/python3 sqlite3 openssl ip setpriv findmnt bpftool timeout
NODE=$(command -v node || command -v nodejs || true)
[ -n "$NODE" ] || { echo "SKIP: needs node (tools/install-deps.sh installs it)"; exit 77; }
CG=$(findmnt -t cgroup2 -n -o TARGET | head -1)

NS=service-up
VH=service-h0
VN=service-n0
HOST_IP=10.213.21.1
A_IP=10.213.21.2
B_IP=10.213.21.3
A=a.service.test
B=b.service.test
UID_=4261
T=$(mktemp -d /tmp/ward-test-service.XXXXXX)
chmod 755 "$T"
SOCK=$T/ward.sock
STATE=$T/state
LOG=$T/log.db
W=$T/work
export WARD_SOCKET=$SOCK
PY=$(readlink -f /usr/bin/python3)
NODE_REAL=$(readlink -f "$NODE")
rnd() { od -An -N8 -tx1 /dev/urandom | tr -d ' \n'; }
VAL1="svc-secret-one-$(rnd)"
VAL2="svc-secret-two-$(rnd)"
UP_PID=
DPID=
IDS=()
BG=()
pass=0
fail=0

ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }
check() { local n=$1; shift; if "$@"; then ok "$n"; else ko "$n"; fi; }
# wait_for N CMD...: CMD succeeds within N tenths of a second
wait_for() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" && return 0
		sleep 0.1
	done
	"$@"
}

# a cgroup2 directory: kill what is in it, then remove it bottom-up
kill_cgroup() {
	[ -d "$1" ] || return 0
	echo 1 >"$1/cgroup.kill" 2>/dev/null
	wait_for 50 grep -q "populated 0" "$1/cgroup.events"
	find "$1" -depth -type d -exec rmdir {} + 2>/dev/null
}

cleanup() {
	local p id
	for p in "${BG[@]}"; do kill -9 "$p" 2>/dev/null; done
	if [ -n "$DPID" ]; then
		kill "$DPID" 2>/dev/null
		for _ in $(seq 150); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$DPID" 2>/dev/null
	fi
	# after a kill -9 (here or in a failed step) the sandboxes' cgroups stay
	for id in "${IDS[@]}"; do kill_cgroup "$CG/ward/$id"; done
	if [ -n "$UP_PID" ]; then
		pkill -KILL -P "$UP_PID" 2>/dev/null # the server under its timeout wrapper
		kill -KILL "$UP_PID" 2>/dev/null
	fi
	ip netns del "$NS" 2>/dev/null
	ip link del "$VH" 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# wardc ARGS...: the CLI; stdout in $OUT, stderr in $ERR (and kept for the
# secret check), status in $RC
wardc() {
	"$WARD" "$@" >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
	cat "$T/err" >>"$T/stderr.all"
}
js() { # js JSON EXPR: EXPR over r = the JSON
	python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null
}
sbfield() { # sbfield NAME FIELD: from `ward sandbox list --json`
	"$WARD" sandbox list --json 2>>"$T/stderr.all" | python3 -c '
import json, sys
for l in sys.stdin:
    o = json.loads(l)
    if o["name"] == sys.argv[1]:
        print(o.get(sys.argv[2])); break' "$1" "$2"
}

start_daemon() {
	"$WARD" daemon --socket "$SOCK" --state "$STATE" --log "$LOG" >>"$T/daemon.log" 2>&1 &
	DPID=$!
	wait_for 100 "$WARD" sandbox list >/dev/null 2>&1
}
stop_daemon() {
	kill -TERM "$DPID"
	for _ in $(seq 300); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
	wait "$DPID"
	local rc=$?
	DPID=
	return $rc
}

# --- the upstream: an HTTPS echo (tests/e2e/lib/upstream.py) on two addresses
ip netns del "$NS" 2>/dev/null
ip link del "$VH" 2>/dev/null
ip netns add "$NS" &&
	ip link add "$VH" type veth peer name "$VN" &&
	ip link set "$VN" netns "$NS" &&
	ip addr add "$HOST_IP/24" dev "$VH" &&
	ip link set "$VH" up &&
	ip -n "$NS" addr add "$A_IP/24" dev "$VN" &&
	ip -n "$NS" addr add "$B_IP/24" dev "$VN" &&
	ip -n "$NS" link set "$VN" up &&
	ip -n "$NS" link set lo up || { echo "FAIL: network setup"; exit 1; }
mkdir -p "$T/ca"
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/ca/ca.key" -out "$T/ca/ca.pem" -days 1 -subj "/CN=ward service e2e CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
	2>/dev/null &&
	printf 'subjectAltName=DNS:%s,DNS:%s,IP:%s,IP:%s\nextendedKeyUsage=serverAuth\n' \
		"$A" "$B" "$A_IP" "$B_IP" >"$T/ca/ext.cnf" &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/ca/server.key" -out "$T/ca/server.csr" -subj "/CN=$A" 2>/dev/null &&
	openssl x509 -req -in "$T/ca/server.csr" -CA "$T/ca/ca.pem" -CAkey "$T/ca/ca.key" \
		-CAcreateserial -days 1 -extfile "$T/ca/ext.cnf" -out "$T/ca/server.pem" 2>/dev/null ||
	{ echo "FAIL: test certificates"; exit 1; }
chmod 644 "$T/ca/ca.pem"
printf '%s %s\n%s %s\n' "$A_IP" "$A" "$B_IP" "$B" >"$T/hosts"
ip netns exec "$NS" timeout -s KILL 590 /usr/bin/python3 "$HERE/lib/upstream.py" \
	--https 443 --cert "$T/ca/server.pem" --key "$T/ca/server.key" --lifetime 580 \
	--ready-file "$T/ready" >"$T/upstream.log" 2>&1 &
UP_PID=$!
disown "$UP_PID"
wait_for 100 test -s "$T/ready" || { echo "FAIL: upstream did not start"; cat "$T/upstream.log"; exit 1; }

# --- policies: A only (with a credential from the daemon's store); A and B
policy() { # policy FILE [B]
	{
		cat <<EOP
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc]
process:
  run_as_user: $UID_
  run_as_group: $UID_
network_policies:
  a:
    binaries: [{ path: /usr/bin/curl }, { path: $PY }, { path: $NODE_REAL }]
    endpoints:
      - { host: $A, port: 443, protocol: rest, access: full }
EOP
		[ -n "${2:-}" ] && cat <<EOP
  b:
    binaries: [{ path: /usr/bin/curl }, { path: $PY }]
    endpoints:
      - { host: $B, port: 443, protocol: rest, access: full }
EOP
		cat <<EOP
credentials:
  - { name: tok, secret: svc-tok, host: $A }
EOP
	} >"$1"
}
policy "$T/a.yaml"
policy "$T/ab.yaml" b
mkdir -p "$W"
cp "$HERE/lib/service_clients.py" "$HERE/lib/service_pair.js" "$W/"
chmod 644 "$W/service_clients.py" "$W/service_pair.js"
chown "$UID_:$UID_" "$W"
CL="$PY $W/service_clients.py"

check "the daemon starts" start_daemon
[ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null || { cat "$T/daemon.log"; exit 1; }
wardc secret set svc-tok <<<"$VAL1"
check "secret set (through the daemon)" test "$RC" -eq 0

# --- 1. create: A allowed, B refused with a 403 and its body
wardc sandbox create box --policy "$T/a.yaml" --workdir "$W" --hosts "$T/hosts" \
	--upstream-ca "$T/ca/ca.pem"
check "1. sandbox create (rc=$RC: $ERR)" test "$RC" -eq 0
ID=$(sbfield box id)
IDS+=("$ID")
REV_A=$(sbfield box policy_rev)
wardc exec box -- curl -sS --max-time 15 "https://$A/one/a"
check "1. exec curl A: the upstream answers" test "$(js "$OUT" 'r["path"]')" = /one/a
wardc exec box -- curl -sS -v --max-time 15 "https://$B/one/b"
check "1. exec curl B: refused (curl rc=$RC)" test "$RC" -ne 0
check "1. ... by the proxy's 403" grep -q "^< HTTP/1.1 403" <<<"$ERR"
wardc exec box -- curl -sS --noproxy '*' --max-time 15 "https://$B/one/bt"
check "1. ... and without the proxy (transparent; curl rc=$RC: $ERR)" test "$RC" -ne 0
wardc exec box -- $CL connect403 "$B"
check "1. ... whose body says what failed ($(tail -n1 <<<"$OUT" | head -c 120))" \
	bash -c 'grep -q "^HTTP/1.1 403" <<<"$1" && grep -q "b.service.test" <<<"$1"' _ "$OUT"

# --- 2. apply adds B: allowed as soon as --wait returns
wardc policy apply box "$T/ab.yaml" --wait
check "2. apply --wait (rc=$RC: $ERR)" test "$RC" -eq 0
check "2. ... names what it adds" grep -q "^  + .*$B:443" <<<"$OUT"
check "2. ... says how long enforcing took" grep -Eq "^enforced in [0-9.]+ ms" <<<"$OUT"
wardc exec box -- curl -sS --max-time 15 "https://$B/two/b"
check "2. curl B right after --wait: allowed" test "$(js "$OUT" 'r["path"]')" = /two/b
wardc exec box -- curl -sS --noproxy '*' --max-time 15 "https://$B/two/bt"
check "2. ... transparent too (DNS stub, redirect; $ERR)" test "$(js "$OUT" 'r["path"]')" = /two/bt
REV_AB=$(sbfield box policy_rev)
check "2. the sandbox is at the new revision" test -n "$REV_AB" -a "$REV_AB" != "$REV_A"

# --- 3. apply removes B while tunnels to B and A are open
rm -f "$W/stop"
"$WARD" exec box -- $CL hold "$B" b "$W/stop" >"$T/hold.b" 2>"$T/hold.b.err" &
HB=$!
BG+=("$HB")
"$WARD" exec box -- $CL hold "$B" bt "$W/stop" direct >"$T/hold.bt" 2>"$T/hold.bt.err" &
HBT=$!
BG+=("$HBT")
"$WARD" exec box -- $CL hold "$A" a "$W/stop" >"$T/hold.a" 2>"$T/hold.a.err" &
HA=$!
BG+=("$HA")
oks() { local n; n=$(grep -c '^ok ' "$1" 2>/dev/null); echo "${n:-0}"; }
oks_ge() { [ "$(oks "$1")" -ge "$2" ]; } # oks_ge FILE N: N answers on that connection
check "3. the tunnel to B carries requests" wait_for 300 oks_ge "$T/hold.b" 5
check "3. the transparent connection to B carries requests" wait_for 300 oks_ge "$T/hold.bt" 5
check "3. the tunnel to A carries requests" wait_for 300 oks_ge "$T/hold.a" 5
wardc policy apply box "$T/a.yaml" --wait
check "3. apply without B (rc=$RC: $ERR)" test "$RC" -eq 0 -a "$(sbfield box policy_rev)" = "$REV_A"
check "3. ... names what it removes" grep -q "^  - .*$B:443" <<<"$OUT"
A_AT=$(oks "$T/hold.a")
check "3. the tunnel to B ends" wait_for 100 bash -c '! kill -0 "$1" 2>/dev/null' _ "$HB"
wait "$HB"
check "3. ... closed under the client (EOF/reset): $(tail -1 "$T/hold.b")" \
	grep -q "^closed " "$T/hold.b"
check "3. the transparent connection to B ends" wait_for 100 bash -c '! kill -0 "$1" 2>/dev/null' _ "$HBT"
wait "$HBT"
check "3. ... closed under the client (EOF/reset): $(tail -1 "$T/hold.bt")" \
	grep -q "^closed " "$T/hold.bt"
revoked() {
	[ "$("$WARD" logs --log "$LOG" --json --layer proxy --action deny 2>/dev/null |
		grep -c "\"reason\":\"revoked by policy rev $REV_A\"")" -ge 1 ]
}
check "3. a 'revoked by policy rev R' row (R the new revision)" wait_for 50 revoked
# ... in the sessions that held them
hold_session() { # hold_session TAG: the id of the session holding TAG
	"$WARD" sessions box --json 2>>"$T/stderr.all" |
		python3 -c 'import json, sys
for l in sys.stdin:
    o = json.loads(l)
    if o["command"].endswith(" " + sys.argv[1]): print(o["id"])' "$1"
}
revoked_in() { # revoked_in TAG
	local sid
	sid=$(hold_session "$1")
	[ -n "$sid" ] && "$WARD" logs --log "$LOG" --json --session "$sid" 2>/dev/null |
		grep -q "\"reason\":\"revoked by policy rev $REV_A\""
}
revoked_both() { revoked_in "b $W/stop" && revoked_in "bt $W/stop direct"; }
check "3. ... one in the session of each connection to B" revoked_both
wardc exec box -- curl -sS -v --max-time 15 "https://$B/three/b"
check "3. a new request to B: 403" grep -q "^< HTTP/1.1 403" <<<"$ERR"
wardc exec box -- curl -sS --noproxy '*' --max-time 15 "https://$B/three/bt"
check "3. ... refused without the proxy too (curl rc=$RC: $ERR)" test "$RC" -ne 0
check "3. the tunnel to A goes on, on its connection" \
	wait_for 300 oks_ge "$T/hold.a" $((A_AT + 5))
touch "$W/stop"
wait "$HA"
RC=$?
check "3. ... and ends as asked (rc=$RC, $(tail -1 "$T/hold.a"))" \
	bash -c '[ "$1" -eq 0 ] && [ "$(tail -1 "$2")" = stopped ]' _ "$RC" "$T/hold.a"
BG=()

# --- 4. a secret rotates under running sandboxes: a session that keeps
# calling A with the placeholder in its header, and a second sandbox
wardc sandbox create box2 --policy "$T/a.yaml" --workdir "$W" --hosts "$T/hosts" \
	--upstream-ca "$T/ca/ca.pem"
check "4. a second sandbox (rc=$RC: $ERR)" test "$RC" -eq 0
IDS+=("$(sbfield box2 id)")
mkdir -m 0777 "$W/rot"
cat >"$W/rot.sh" <<EOS
# one request at a time until $W/rot/stop (at most 600), each answer in resp.N
i=0
while [ \$i -lt 600 ] && [ ! -e $W/rot/stop ]; do
	curl -sS --max-time 10 -H "Authorization: Bearer \$SVC_TOK" https://$A/four/\$i >$W/rot/tmp 2>&1
	mv $W/rot/tmp $W/rot/resp.\$i
	i=\$((i + 1))
	sleep 0.05
done
EOS
chmod 644 "$W/rot.sh"
"$WARD" exec box -- sh "$W/rot.sh" >"$T/rot.out" 2>&1 &
PR=$!
BG+=("$PR")
seen() { find "$W/rot" -maxdepth 1 -name 'resp.[0-9]*' | wc -l; }
answered() { grep -lqF -- "$1" "$W"/rot/resp.[0-9]* 2>/dev/null; } # answered TEXT
check "4. the upstream sees the first value" wait_for 300 answered "Bearer $VAL1"
wardc exec box2 -- sh -c "curl -sS --max-time 15 -H \"Authorization: Bearer \$SVC_TOK\" https://$A/four/box2"
check "4. ... from the second sandbox too" \
	test "$(js "$OUT" 'r["header"]["authorization"]')" = "Bearer $VAL1"
BEFORE=$(seen) # answers 0..BEFORE-1 were complete before the rotation began
wardc secret set svc-tok <<<"$VAL2"
ROTATED_AT=$(seen) # ... 0..ROTATED_AT-1 when it returned; one may be in flight
check "4. ward secret set a new value" test "$RC" -eq 0
check "4. the running session's next requests carry the new value (no restart)" \
	wait_for 300 answered "Bearer $VAL2"
seen_ge() { [ "$(seen)" -ge "$1" ]; }
check "4. ... three more requests" wait_for 300 seen_ge $((ROTATED_AT + 4))
touch "$W/rot/stop"
wait "$PR"
RC=$?
BG=()
check "4. ... in the same session, still running until told (rc=$RC)" test "$RC" -eq 0
bad=
for f in "$W"/rot/resp.[0-9]*; do
	i=${f##*.}
	if [ "$i" -gt "$ROTATED_AT" ] && ! grep -qF "Bearer $VAL2" "$f"; then bad="$bad $i"; fi
	if [ "$i" -lt "$BEFORE" ] && ! grep -qF "Bearer $VAL1" "$f"; then bad="$bad $i(old)"; fi
done
check "4. every request after the rotation used the new value, before it the old (bad:${bad:- none})" \
	test -z "$bad"
wardc exec box2 -- sh -c "curl -sS --max-time 15 -H \"Authorization: Bearer \$SVC_TOK\" https://$A/four/box2"
check "4. ... and the second sandbox's" \
	test "$(js "$OUT" 'r["header"]["authorization"]')" = "Bearer $VAL2"
wardc sandbox rm box2
check "4. rm the second sandbox" test "$RC" -eq 0
wardc exec box -- sh -c 'echo "$SVC_TOK"'
check "4. the sandbox holds a placeholder only" grep -q '^ward-placeholder-' <<<"$OUT"

# --- 5. two sessions at once, node and python
mkdir -m 0777 "$W/pair"
"$WARD" exec box -- "$NODE" "$W/service_pair.js" "$W/pair" n5 >"$T/pair.node" 2>&1 &
PN=$!
"$WARD" exec box -- $CL pair "$W/pair" p5 >"$T/pair.py" 2>&1 &
PP=$!
BG+=("$PN" "$PP")
check "5. both sessions run" wait_for 300 test -e "$W/pair/n5.ready" -a -e "$W/pair/p5.ready"
wardc sessions box --json
RUNNING=$(python3 -c '
import json, sys
for l in sys.stdin:
    o = json.loads(l)
    if o["end_ns"] is None:
        print(o["id"], "node" if "service_pair.js" in o["command"] else
              "python" if " pair " in o["command"] else "other")' <<<"$OUT")
SN=$(awk '$2 == "node" {print $1}' <<<"$RUNNING")
SP=$(awk '$2 == "python" {print $1}' <<<"$RUNNING")
check "5. sessions --json: two running, their own ids ($(tr '\n' ' ' <<<"$RUNNING"))" \
	bash -c '[ "$(wc -l <<<"$1")" -eq 2 ] && [ -n "$2" ] && [ -n "$3" ] && [ "$2" != "$3" ]' \
	_ "$RUNNING" "$SN" "$SP"
check "5. sandbox list counts them" test "$(sbfield box sessions)" = 2
touch "$W/pair/go"
wait "$PN"
RN=$?
wait "$PP"
RP=$?
BG=()
check "5. node fetch through ward (rc=$RN: $(head -c 200 "$T/pair.node"))" \
	bash -c '[ "$1" -eq 0 ] && grep -qx /n5/node "$2"' _ "$RN" "$T/pair.node"
check "5. python through ward (rc=$RP: $(head -c 200 "$T/pair.py"))" \
	bash -c '[ "$1" -eq 0 ] && grep -qx /p5/python "$2"' _ "$RP" "$T/pair.py"
# one summary per session, the same in both views, with its control row
wardc sessions --json
cp "$T/out" "$T/sessions.all"
wardc sessions box --json
cp "$T/out" "$T/sessions.box"
one_each() {
	python3 - "$T/sessions.all" "$T/sessions.box" "$SN" "$SP" <<'EOF'
import json, sys
views = [[json.loads(l) for l in open(f)] for f in sys.argv[1:3]]
for v in views:
    ids = [o["id"] for o in v]
    assert len(ids) == len(set(ids)), "a session listed twice"
    assert [o["start_ns"] for o in v] == sorted(o["start_ns"] for o in v), "not oldest first"
for sid in sys.argv[3:5]:
    a, b = ([o for o in v if o["id"] == sid][0] for v in views)
    a.pop("duration_ms"), b.pop("duration_ms")
    assert a == b, (a, b)
    assert a["status"] == 0 and a["end_ns"] and a["sandbox"] == "box", a
    assert a["rows"]["control"]["allow"] == 1 and a["rows"]["l7"]["allow"] == 1, a["rows"]
EOF
}
check "5. sessions --json, all or of box: each session once, ended, its control row" one_each
own_rows() { # own_rows SESSION PATH OTHER_PATH BINARY
	"$WARD" logs --log "$LOG" --json --session "$1" >"$T/rows.$1" 2>>"$T/stderr.all" || return 1
	python3 - "$T/rows.$1" "$@" <<'EOF'
import json, sys
f, sid, path, other, binary = sys.argv[1:]
rows = [json.loads(l) for l in open(f)]
assert rows, "no rows"
assert all(r["session"] == sid for r in rows), "a row of another session"
assert any(r["layer"] == "l7" and r["path"] == path and r["binary"] == binary for r in rows), \
    "no l7 row for " + path
assert not any(r["path"] == other for r in rows), "the other session's request"
EOF
}
check "5. logs --session (node): its own rows" wait_for 50 own_rows "$SN" /n5/node /p5/python "$NODE_REAL"
check "5. logs --session (python): its own rows" wait_for 50 own_rows "$SP" /p5/python /n5/node "$PY"

# --- secrets never shown (step 4, checked after every verb above ran)
ROWS=$("$WARD" logs --log "$LOG" --json 2>>"$T/stderr.all")
"$WARD" sessions --json >"$T/sessions.json" 2>>"$T/stderr.all"
no_value() { ! grep -qaF -e "$VAL1" -e "$VAL2" "$@"; }
check "4. the rows name the injection" grep -q credential_injected <<<"$ROWS"
check "4. no value in ward logs --json" no_value <<<"$ROWS"
check "4. no value in ward sessions --json" no_value "$T/sessions.json"
check "4. no value on any stderr, nor in the daemon's output" no_value "$T/stderr.all" "$T/daemon.log"

# --- 6. the home across stop/start and a daemon restart
MARK="kept-$(rnd)"
wardc exec box -- sh -c "echo $MARK >\$HOME/mark && cat \$HOME/mark"
check "6. a file in the sandbox home" test "$OUT" = "$MARK"
wardc sandbox stop box
check "6. stop" test "$(sbfield box state)" = stopped
wardc sandbox start box
check "6. start" test "$(sbfield box state)" = running
wardc exec box -- sh -c 'cat $HOME/mark'
check "6. the file survived stop/start" test "$OUT" = "$MARK"
"$WARD" exec box -- sleep 301 >/dev/null 2>"$T/term.err" &
PT=$!
BG+=("$PT")
sleeping() { # sleeping ARG [ID]: a session runs `sleep ARG` in the sandbox (its pid)
	local p procs
	procs=$(find "$CG/ward/${2:-$ID}" -name cgroup.procs -exec cat {} + 2>/dev/null)
	for p in $procs; do
		[ "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)" = "sleep $1 " ] && { echo "$p"; return 0; }
	done
	return 1
}
check "6. a session runs when the daemon gets SIGTERM" wait_for 100 sleeping 301 >/dev/null
check "6. the daemon stops on SIGTERM" stop_daemon
wait "$PT"
RC=$?
BG=()
check "6. ... the session ended with 137 and its client was told (rc=$RC: $(head -c 200 "$T/term.err"))" \
	test "$RC" -eq 137
check "6. ... and starts again" start_daemon
running() { [ "$(sbfield box state)" = running ]; }
check "6. the sandbox is back running" wait_for 100 running
check "6. ... with the revision applied last" test "$(sbfield box policy_rev)" = "$REV_A"
wardc exec box -- sh -c 'cat $HOME/mark'
check "6. the file survived the daemon restart" test "$OUT" = "$MARK"

# --- 7. kill -9 of the daemon while a session runs: in box (restored at the
# daemon's start) and in box3, created just before
wardc sandbox create box3 --policy "$T/a.yaml" --workdir "$W"
check "7. a new sandbox (rc=$RC: $ERR)" test "$RC" -eq 0
ID3=$(sbfield box3 id)
IDS+=("$ID3")
"$WARD" exec box3 -- sleep 302 >/dev/null 2>&1 &
PS3=$!
"$WARD" exec box -- sleep 300 >/dev/null 2>&1 &
PS=$!
BG+=("$PS" "$PS3")
check "7. a session sleeps in the new sandbox" wait_for 100 sleeping 302 "$ID3" >/dev/null
PIDS3=$(find "$CG/ward/$ID3" -name cgroup.procs -exec cat {} + 2>/dev/null | tr '\n' ' ')
CGINO3=$(stat -c %i "$CG/ward/$ID3")
SID73=$("$WARD" sessions box3 --json 2>>"$T/stderr.all" |
	python3 -c 'import json, sys
for l in sys.stdin:
    o = json.loads(l)
    if o["command"] == "sleep 302" and o["end_ns"] is None: print(o["id"])')
check "7. the session sleeps in the sandbox's cgroup" wait_for 100 sleeping 300 >/dev/null
SPID=$(sleeping 300)
SID7=$("$WARD" sessions box --json 2>>"$T/stderr.all" |
	python3 -c 'import json, sys
for l in sys.stdin:
    o = json.loads(l)
    if o["command"] == "sleep 300" and o["end_ns"] is None: print(o["id"])')
PIDS=$(find "$CG/ward/$ID" -name cgroup.procs -exec cat {} + 2>/dev/null | tr '\n' ' ')
NETNS=$(readlink "/proc/$SPID/ns/net")
CGINO=$(stat -c %i "$CG/ward/$ID")
# v1 leaves (hybrid hosts): CONTROLLER/PATH=INODE
V1=$(awk -F: '$2 != "" && $3 ~ /ward/ {print $2 $3}' "/proc/$SPID/cgroup" | while read -r l; do
	[ -d "/sys/fs/cgroup/$l" ] && echo "$l=$(stat -c %i "/sys/fs/cgroup/$l")"
done | tr '\n' ' ')
# the daemon's BPF links and programs (its fds), and the sandbox's veth
LINKS=$(grep -h '^link_id:' /proc/"$DPID"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -u | tr '\n' ' ')
PROGS=$(grep -h '^prog_id:' /proc/"$DPID"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -u | tr '\n' ' ')
VETH=$(for f in /run/ward/net/[0-9]*; do
	[ "$(cut -d' ' -f1 "$f" 2>/dev/null)" = "$DPID" ] &&
		echo "ward${f##*/}=$(cat "/sys/class/net/ward${f##*/}/ifindex" 2>/dev/null)"
done | tr '\n' ' ')
echo "old instance: pids $PIDS; $NETNS; cgroup inode $CGINO; v1 $V1; veth $VETH"
echo "  links $LINKS; progs $PROGS"
check "7. found what the sandbox holds (links, veth)" test -n "$LINKS" -a -n "$VETH" -a -n "$NETNS"
# the kill's time in clock ticks since boot, as /proc/PID/stat's starttime
KILLED_AT=$(awk -v hz="$(getconf CLK_TCK)" '{printf "%d", $1 * hz + 1}' /proc/uptime)
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=
gone() { local p; for p in $PIDS $PIDS3; do kill -0 "$p" 2>/dev/null && return 1; done; return 0; }
check "7. kill -9 of the daemon: every process of the sandbox is gone" wait_for 100 gone
cg_empty() { [ ! -e "$CG/ward/$ID" ] || grep -q "populated 0" "$CG/ward/$ID/cgroup.events" 2>/dev/null; }
check "7. ... its cgroup is empty (or gone)" wait_for 50 cg_empty
wait "$PS"
RC=$?
wait "$PS3"
RC3=$?
BG=()
check "7. ward exec says the daemon went away (125, got $RC and $RC3)" test "$RC" -eq 125 -a "$RC3" -eq 125
check "7. the daemon starts again" start_daemon
back_same() { [ "$(sbfield box state)" = running ] && [ "$(sbfield box id)" = "$ID" ]; }
check "7. the sandbox is back running, same id" wait_for 100 back_same
check "7. the old cgroup was removed (a new one has its path)" \
	test "$(stat -c %i "$CG/ward/$ID" 2>/dev/null)" != "$CGINO"
back3() { [ "$(sbfield box3 state)" = running ]; }
check "7. the new sandbox is back too" wait_for 100 back3
check "7. ... its old cgroup removed" test "$(stat -c %i "$CG/ward/$ID3" 2>/dev/null)" != "$CGINO3"
v1_fresh() { # every old v1 leaf is gone or is a new directory
	local e d
	for e in $V1; do
		d=/sys/fs/cgroup/${e%%=*}
		[ "$(stat -c %i "$d" 2>/dev/null)" = "${e##*=}" ] && { echo "left: $d"; return 1; }
	done
	return 0
}
check "7. the old v1 leaves were removed ($V1)" v1_fresh
netns_gone() {
	local f p st
	# nsfs inode numbers are reused once a namespace is freed: a process that
	# started after the kill and has the old number is in a new namespace
	# (ours or anyone's), which proves the old one gone
	for f in /proc/[0-9]*/ns/net; do
		[ "$(readlink "$f" 2>/dev/null)" = "$NETNS" ] || continue
		p=${f#/proc/}
		p=${p%%/*}
		st=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f20)
		[ -n "$st" ] && [ "$st" -gt "$KILLED_AT" ] && continue
		echo "left: $f ($(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null))"
		return 1
	done
	! grep -F "${NETNS#net:}" /proc/self/mountinfo
}
check "7. the old network namespace is gone" netns_gone
veth_gone() { # the old host-side veth is gone (its name may be someone else's now)
	local e
	for e in $VETH; do
		[ "$(cat "/sys/class/net/${e%%=*}/ifindex" 2>/dev/null)" = "${e##*=}" ] &&
			{ echo "left: $e"; return 1; }
	done
	return 0
}
check "7. the old veth is gone ($VETH)" veth_gone
bpftool link show -j >"$T/links.json" 2>/dev/null
bpftool prog show -j >"$T/progs.json" 2>/dev/null
ids_gone() { # ids_gone FILE IDS...: none of IDS in bpftool's list
	python3 - "$@" <<'EOF'
import json, sys
have = {o["id"] for o in json.load(open(sys.argv[1]))}
left = [i for i in sys.argv[2:] if int(i) in have]
print("left:", left) if left else None
sys.exit(1 if left else 0)
EOF
}
# shellcheck disable=SC2086
check "7. none of the old BPF links is left" ids_gone "$T/links.json" $LINKS
# shellcheck disable=SC2086
check "7. none of the old BPF programs is left" ids_gone "$T/progs.json" $PROGS
check "7. no link is attached to the old cgroup" python3 -c '
import json, sys
sys.exit(any(o.get("cgroup_id") == int(sys.argv[2]) for o in json.load(open(sys.argv[1]))))' \
	"$T/links.json" "$CGINO"
wardc exec box -- sh -c 'cat $HOME/mark'
check "7. sessions run in it again; the home is there" test "$OUT" = "$MARK"
wardc exec box -- sh -c "curl -sS --max-time 15 -H \"Authorization: Bearer \$SVC_TOK\" https://$A/seven"
check "7. ... the policy and the rotated secret too" \
	test "$(sbfield box policy_rev)" = "$REV_A" -a "$(js "$OUT" 'r["header"]["authorization"]')" = "Bearer $VAL2"
wardc sessions --json
SLEEPER=$(python3 -c '
import json, sys
for l in sys.stdin:
    o = json.loads(l)
    if o["id"] == sys.argv[1]:
        print(o["status"], "ended" if o["end_ns"] else "running")' "$SID7" <<<"$OUT")
check "7. the killed session ($SID7) is recorded as ended by SIGKILL ($SLEEPER)" \
	test -n "$SID7" -a "$SLEEPER" = "137 ended"
SLEEPER=$(python3 -c '
import json, sys
for l in sys.stdin:
    o = json.loads(l)
    if o["id"] == sys.argv[1]:
        print(o["status"], "ended" if o["end_ns"] else "running")' "$SID73" <<<"$OUT")
check "7. ... and the new sandbox's ($SID73: $SLEEPER)" test -n "$SID73" -a "$SLEEPER" = "137 ended"
wardc sandbox rm box3
check "7. rm the new sandbox" test "$RC" -eq 0

# --- 8. a uid in neither group
setpriv --reuid=65534 --regid=65534 --clear-groups "$WARD" sandbox list >"$T/out" 2>"$T/err"
RC=$?
check "8. a non-member is refused (exit 1, got $RC)" test "$RC" -eq 1
check "8. ... with the daemon's reason ($(head -c 200 "$T/err"))" grep -q "uid 65534 is not" "$T/err"
REPLY=$(setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
try:
    s.sendall(b"{\"id\":1,\"verb\":\"sandbox.list\"}\n")
except OSError:
    pass
print(s.makefile("rb").readline().decode().strip())' "$SOCK")
check "8. ... the socket answers EPERM ($REPLY)" test "$(js "$REPLY" 'r["error"]["code"]')" = EPERM
denied() {
	[ "$(sqlite3 "$LOG" "SELECT count(*) FROM decisions WHERE layer='control' AND action='deny' AND rule='connect' AND reason LIKE 'uid=65534 %'")" -ge 2 ]
}
check "8. ... a deny control row each" wait_for 50 denied

check "the log verifies" "$WARD" audit verify --log "$LOG" >/dev/null
check "the daemon stops on SIGTERM" stop_daemon
[ $fail -eq 0 ] || { echo "--- daemon output"; tail -40 "$T/daemon.log"; }
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
