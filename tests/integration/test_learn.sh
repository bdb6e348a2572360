#!/bin/bash
# SPDX-License-Identifier: MIT
# Learn mode round trip on the real kernel (docs/learn.md): under a minimal
# policy that allows no network, `ward run --learn` lets curl (a GET and a
# POST through the explicit proxy) and python3 (a DNS name, then a socket
# connect() the eBPF programs redirect to the transparent proxy) reach an
# upstream in a network namespace this test creates, and a file is written in
# a directory the policy maps read-only; every row of theirs says audit. `ward policy suggest` turns the log into a policy that passes
# `ward policy check`; `ward replay` of the learn log under it denies nothing
# but the telemetry-looking host, which the suggestion leaves commented out;
# the same commands then succeed WITHOUT --learn under the suggested policy,
# and the telemetry host stays refused. Subnet 10.213.32.0/24. Root only.
set -u

. "$(dirname "$0")/lib.sh"
need_root
[ -x "$WARD" ] || { echo "SKIP: no ward binary at $WARD"; exit 77; }
grep -q cgroup2 /proc/self/mountinfo || { echo "SKIP: no cgroup2 mount"; exit 77; }
for c in curl python3 sqlite3 ip; do
	command -v $c >/dev/null || { echo "SKIP: needs $c"; exit 77; }
done
PY=$(readlink -f /usr/bin/python3)
CURL=$(readlink -f "$(command -v curl)")

NS=learnup$$
HV=learnh$$
T=$(test_tmpdir ward-test-learn)
chmod 755 "$T"
SRV=
USRV=
MOCK=
DPID=
cleanup() {
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null
	[ -n "$USRV" ] && kill "$USRV" 2>/dev/null
	[ -n "$MOCK" ] && kill "$MOCK" 2>/dev/null
	if [ -n "$DPID" ]; then
		kill "$DPID" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$DPID" 2>/dev/null
	fi
	ip netns del "$NS" 2>/dev/null
	ip link del "$HV" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
[ -n "${LEARN_DEBUG:-}" ] && trap - EXIT
LOG=$T/log.db
UID_=4251
mkdir "$T/wd" && chown "$UID_:$UID_" "$T/wd"
# read-only under the policy ($T), writable on the host
mkdir "$T/data" && chown "$UID_:$UID_" "$T/data"

# the upstream: 10.213.32.2:8080 (and :8081) in its own netns
ip netns add "$NS" || { echo "SKIP: ip netns add"; exit 77; }
ip link add "$HV" type veth peer name up0 netns "$NS"
ip addr add 10.213.32.1/24 dev "$HV"
ip link set "$HV" up
ip -n "$NS" addr add 10.213.32.2/24 dev up0
ip -n "$NS" link set up0 up
ip -n "$NS" link set lo up
cat >"$T/srv.py" <<'EOF'
import http.server, socketserver, threading
class H(http.server.BaseHTTPRequestHandler):
    def reply(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n:
            self.rfile.read(n)
        body = ("upstream %s %s\n" % (self.command, self.path)).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = reply
    def log_message(self, *a):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
for port in (8081,):
    threading.Thread(target=S(("10.213.32.2", port), H).serve_forever, daemon=True).start()
S(("10.213.32.2", 8080), H).serve_forever()
EOF
ip netns exec "$NS" "$PY" "$T/srv.py" >/dev/null 2>&1 &
SRV=$!
for _ in $(seq 50); do
	curl -s -o /dev/null --max-time 1 http://10.213.32.2:8081/ && break
	sleep 0.1
done

# the fake inference backend (tests/e2e/lib/mock_llm.py), plain HTTP on :8082
MOCKPY=$(cd "$(dirname "$0")/../e2e/lib" && pwd)/mock_llm.py
export LEARN_OPENAI_KEY=sk-learn-test-key
ip netns exec "$NS" "$PY" "$MOCKPY" --http 8082 --bind 10.213.32.2 \
	--openai-key "$LEARN_OPENAI_KEY" --anthropic-key unused --model mock-gpt-small \
	--lifetime 280 --ready-file "$T/mock.ready" >"$T/mock.out" 2>&1 &
MOCK=$!
for _ in $(seq 100); do [ -s "$T/mock.ready" ] && break; sleep 0.1; done
[ -s "$T/mock.ready" ] || { echo "FAIL: mock LLM did not start"; cat "$T/mock.out"; exit 1; }

cat >"$T/hosts" <<'EOF'
10.213.32.2 api.learn.test telemetry.learn.test llm.learn.test
EOF
chmod 644 "$T/hosts"

# python3: resolve a name (the DNS stub), then connect() directly (no proxy
# variables): the kernel redirects it to the transparent proxy
cat >"$T/client.py" <<'EOF'
import socket, sys
host = sys.argv[1]
ip = socket.getaddrinfo(host, 8081, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
s = socket.create_connection((ip, 8081), timeout=10)
s.sendall(("GET /v2/status HTTP/1.0\r\nHost: %s:8081\r\n\r\n" % host).encode())
out = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    out += b
sys.stdout.write(out.decode("latin-1"))
EOF
chmod 644 "$T/client.py"

# a host unix socket (not in the policy): the broker connects it under --learn
cat >"$T/usrv.py" <<'EOF'
import os, socket, sys
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o777)
s.listen(8)
while True:
    c, _ = s.accept()
    c.sendall(b"unix hello\n")
    c.close()
EOF
cat >"$T/uclient.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
sys.stdout.write(s.recv(100).decode())
EOF
chmod 644 "$T/uclient.py"
mkdir "$T/sock" && chmod 755 "$T/sock"
"$PY" "$T/usrv.py" "$T/sock/u.sock" >/dev/null 2>&1 &
USRV=$!
for _ in $(seq 50); do [ -S "$T/sock/u.sock" ] && break; sleep 0.1; done

cat >"$T/minimal.yaml" <<EOF
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc, $T]
process:
  run_as_user: $UID_
  run_as_group: $UID_
inference:
  binaries: [{ path: /usr/bin/true }]
  routes:
    - { name: main, provider: openai, model: mock-gpt-small, api_key_env: LEARN_OPENAI_KEY,
        base_url: "http://llm.learn.test:8082/v1" }
EOF
CHAT='{"model":"mock-gpt-small","messages":[{"role":"user","content":"hi"}]}'

# run POLICY [--learn] -- CMD...: output in $OUT, status in $RC, stderr in $T/err
run() {
	local pol=$1
	shift
	OUT=$(timeout 60 "$WARD" run --policy "$pol" --log "$LOG" --hosts "$T/hosts" \
		--workdir "$T/wd" "$@" 2>"$T/err")
	RC=$?
}
has() { grep -q -- "$1" <<<"$OUT"; }
q() { sqlite3 "$LOG" "$1"; }
sandboxes() { q "SELECT DISTINCT sandbox FROM decisions WHERE layer = 'lifecycle' ORDER BY id"; }

# --- learn: everything goes through, every row of it says audit
BEFORE=$(q "SELECT COUNT(*) FROM decisions" 2>/dev/null || echo 0)
run "$T/minimal.yaml" --learn -- sh -c "
	curl -s --max-time 10 http://api.learn.test:8080/v1/items &&
	curl -s --max-time 10 -X POST -d x=1 http://api.learn.test:8080/v1/items/42 &&
	$PY $T/client.py api.learn.test &&
	$PY $T/uclient.py $T/sock/u.sock &&
	echo learnt >$T/data/out.txt &&
	curl -s --max-time 20 -H 'content-type: application/json' -d '$CHAT' \
		http://inference.local/v1/chat/completions &&
	curl -s --max-time 10 http://telemetry.learn.test:8080/v1/track"
check "learn: the command succeeded (status $RC)" test "$RC" = 0
check "learn: the file write in a read-only dir happened" grep -qx learnt "$T/data/out.txt"
check "learn: curl GET went through" has "upstream GET /v1/items"
check "learn: curl POST went through" has "upstream POST /v1/items/42"
check "learn: python3 socket connect went through" has "upstream GET /v2/status"
check "learn: the telemetry host went through" has "upstream GET /v1/track"
check "learn: python3 reached the host unix socket" has "unix hello"
check "learn: curl (not in inference.binaries) got an answer from inference.local" has '"chat.completion"' 
check "learn: stderr says learn mode is on" grep -q "learn mode" "$T/err"
SB=$(q "SELECT sandbox FROM decisions WHERE id > $BEFORE AND layer = 'lifecycle' LIMIT 1")
rows() { q "SELECT COUNT(*) FROM decisions WHERE sandbox = '$SB' AND $1"; }
check "learn: l7 GET row is audit" test "$(rows "layer = 'l7' AND action = 'audit' AND method = 'GET' AND path = '/v1/items' AND binary = '$CURL'")" -ge 1
check "learn: l7 POST row is audit" test "$(rows "layer = 'l7' AND action = 'audit' AND method = 'POST' AND path = '/v1/items/42'")" -ge 1
check "learn: python3 DNS row is audit" test "$(rows "layer = 'dns' AND action = 'audit' AND host = 'api.learn.test' AND binary = '$PY'")" -ge 1
check "learn: python3 transparent row is audit" test "$(rows "layer IN ('l7', 'proxy') AND action = 'audit' AND binary = '$PY' AND port = 8081")" -ge 1
check "learn: the kernel row of python3's redirected connect() is audit" test "$(rows "layer = 'kernel' AND action = 'audit' AND binary = '$PY' AND reason = 'redirect to proxy'")" -ge 1
check "learn: the kernel row of curl's proxy connection is audit" test "$(rows "layer = 'kernel' AND action = 'audit' AND binary = '$CURL' AND reason = 'to the proxy'")" -ge 1
has_feature bpf.cgroup_unix && # without it no unix layer: docs/kernels.md
check "learn: the unix row is audit" test "$(rows "layer = 'unix' AND action = 'audit' AND path = '$T/sock/u.sock' AND binary = '$PY'")" -ge 1
check "learn: the file write row is audit" test "$(rows "layer = 'fs' AND action = 'audit' AND method = 'write' AND path = '$T/data/out.txt'")" = 1
check "learn: the inference row is audit, naming inference.binaries" test "$(rows "layer = 'inference' AND action = 'audit' AND binary = '$CURL' AND reason LIKE '%learn=inference.binaries%'")" = 1
check "learn: no network row denied" test "$(rows "layer IN ('kernel', 'dns', 'proxy', 'l7', 'unix', 'inference') AND action = 'deny'")" = 0
check "learn: the audit rows name why the policy would refuse" test "$(rows "action = 'audit' AND reason LIKE '%no network policy%'")" -ge 1

# --- suggest, check, replay
if "$WARD" policy suggest --log "$LOG" --sandbox "$SB" -o "$T/suggested.yaml" 2>"$T/serr"; then
	pass "suggest wrote a policy"
else
	fail "suggest: $(cat "$T/serr")"
fi
check "suggest: passes ward policy check" "$WARD" policy check "$T/suggested.yaml"
check "suggest: GET rule" grep -q 'method: "GET", path: "/v1/items"' "$T/suggested.yaml"
check "suggest: POST rule, the id generalised" grep -q 'method: "POST", path: "/v1/items/\*"' "$T/suggested.yaml"
check "suggest: telemetry host commented out with a reason" \
	bash -c "grep -B1 '^ *# - host: \"telemetry.learn.test\"' '$T/suggested.yaml' | grep -q '# optional (telemetry: host matches'"
check "suggest: telemetry host not allowed" \
	bash -c "! grep -Ev '^ *#' '$T/suggested.yaml' | grep -q telemetry.learn.test"
check "suggest: the written dir read-write" \
	bash -c "sed -n '/read_write:/,/^[a-z]/p' '$T/suggested.yaml' | grep -q '\"$T/data\"'"
has_feature bpf.cgroup_unix &&
check "suggest: the unix socket" grep -q "unix: \"$T/sock/u.sock\"" "$T/suggested.yaml"
check "suggest: the inference route kept" grep -q '^    - name: "main"' "$T/suggested.yaml"
check "suggest: curl added to inference.binaries" \
	bash -c "sed -n '/^inference:/,/^  routes:/p' '$T/suggested.yaml' | grep -q 'path: \"$CURL\"'"
check "suggest: no inference.local endpoint" bash -c "! grep -Ev '^ *#' '$T/suggested.yaml' | grep -q 'host: \"inference.local\"'"
"$WARD" replay --log "$LOG" --sandbox "$SB" --policy "$T/suggested.yaml" --json --examples 100 \
	>"$T/replay.json" 2>"$T/rerr"
check "replay: under the suggested policy, nothing but the telemetry host is denied" \
	"$PY" - "$T/replay.json" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
bad, learned = [], 0
for g in j["groups"]:
    if g["to"] == "allow" and g["from"] == "audit":
        learned += g["count"]
    if g["to"] != "deny":
        continue
    if g["count"] != len(g["examples"]):
        bad.append(g)
    bad += [x for x in g["examples"] if x.get("host") != "telemetry.learn.test"]
if bad or not j["replayed"] or not learned:
    print(json.dumps(j, indent=1)[:4000])
    sys.exit(1)
EOF

# --- enforce: the suggested policy, no --learn
run "$T/suggested.yaml" -- sh -c "
	curl -s --max-time 10 http://api.learn.test:8080/v1/items &&
	curl -s --max-time 10 -X POST -d x=1 http://api.learn.test:8080/v1/items/7 &&
	$PY $T/client.py api.learn.test &&
	$PY $T/uclient.py $T/sock/u.sock &&
	curl -s --max-time 20 -H 'content-type: application/json' -d '$CHAT' \
		http://inference.local/v1/chat/completions &&
	echo enforced >$T/data/out.txt"
check "enforce: the same commands succeed (status $RC: $(head -c 300 "$T/err"))" test "$RC" = 0
check "enforce: curl GET" has "upstream GET /v1/items"
check "enforce: curl POST (another id)" has "upstream POST /v1/items/7"
check "enforce: python3 socket connect" has "upstream GET /v2/status"
check "enforce: python3 host unix socket" has "unix hello"
check "enforce: the file write" grep -qx enforced "$T/data/out.txt"
check "enforce: curl's inference call" has '"chat.completion"' 
run "$T/suggested.yaml" -- curl -s --max-time 10 http://telemetry.learn.test:8080/v1/track
check "enforce: the telemetry host is refused" bash -c "! grep -q 'upstream GET' <<<'$OUT'"
check "enforce: no stderr learn banner" bash -c "! grep -q 'learn mode' '$T/err'"
SB2=$(sandboxes | tail -n 2 | head -n 1)
check "enforce: rows say allow, not audit" test "$(q "SELECT COUNT(*) FROM decisions WHERE sandbox = '$SB2' AND action = 'audit'")" = 0

# --- the daemon: sandbox create --learn, persisted, listed, exec'ed
export WARD_SOCKET=$T/ward.sock
DLOG=$T/dlog.db
"$WARD" daemon --socket "$WARD_SOCKET" --state "$T/state" --log "$DLOG" >"$T/daemon.out" 2>&1 &
DPID=$!
for _ in $(seq 100); do [ -S "$WARD_SOCKET" ] && break; sleep 0.1; done
check "daemon: listens" test -S "$WARD_SOCKET"
"$WARD" sandbox create lbox --policy "$T/minimal.yaml" --workdir "$T/wd" --hosts "$T/hosts" \
	--learn >"$T/out" 2>"$T/err"
check "daemon: sandbox create --learn" test $? = 0
check "daemon: create says learn mode on stderr" grep -q "learn mode" "$T/err"
check "daemon: list shows learn mode" bash -c "'$WARD' sandbox list | grep '^lbox ' | grep -q '(learn mode)'"
jl() { "$WARD" sandbox list --json | "$PY" -c 'import json,sys
for l in sys.stdin:
    o = json.loads(l)
    if o["name"] == "lbox": print(o[sys.argv[1]])' "$1"; }
check "daemon: list --json learn true" test "$(jl learn)" = True
check "daemon: learn persisted in the sandbox config" \
	grep -q '"learn": true' "$T/state/sandboxes/lbox/config.json"
OUT=$("$WARD" exec lbox -- curl -s --max-time 10 http://api.learn.test:8080/v1/daemon 2>&1)
check "daemon: exec curl goes through under learn" has "upstream GET /v1/daemon"
"$WARD" sandbox stop lbox >/dev/null 2>&1 && "$WARD" sandbox start lbox >/dev/null 2>&1
check "daemon: learn kept across stop/start" test "$(jl learn)" = True
OUT=$("$WARD" exec lbox -- curl -s --max-time 10 http://api.learn.test:8080/v1/again 2>&1)
check "daemon: after restart, still learning" has "upstream GET /v1/again"
LID=$(jl id)
dq() { sqlite3 "$DLOG" "SELECT COUNT(*) FROM decisions WHERE sandbox = '$LID' AND $1"; }
check "daemon: the l7 rows say audit" test "$(dq "layer = 'l7' AND action = 'audit' AND path IN ('/v1/daemon', '/v1/again')")" = 2
check "daemon: no network row denied" test "$(dq "layer IN ('kernel', 'dns', 'proxy', 'l7') AND action = 'deny'")" = 0
"$WARD" sandbox rm lbox >/dev/null 2>&1

finish
