#!/bin/bash
# SPDX-License-Identifier: MIT
# Real clients inside `ward run` against test upstreams in their own netns
# (tests/e2e/lib): curl through the proxy environment and without it
# (transparent: BPF redirect + SNI), over intercepted HTTPS and plain HTTP;
# python3 urllib; node fetch (transparent: Debian's node does not read the
# proxy environment); git clone over HTTPS from `git http-backend` with rules
# that let clone through and deny push; credential injection seen by the
# upstream and never inside; malformed HTTP -> 400; a stalled upstream that
# does not block other connections. Root only; 77 when a tool is missing.
set -u

WARD=${WARD:-$(pwd)/build/ward}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NODE=$(command -v node || command -v nodejs || true)

# shellcheck source=lib/upstream.sh
source "$HERE/lib/upstream.sh"
e2e_require curl python3 openssl ip git sqlite3

T=$(mktemp -d /tmp/ward-test-clients.XXXXXX)
chmod 755 "$T"
LOG=$T/log.db
UID_=4247
SECRET="e2e-cl-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export WARD_E2E_TOKEN=$SECRET
STALL=
pass=0
fail=0
e2e_cleanup_hook() {
	[ -n "$STALL" ] && kill "$STALL" 2>/dev/null
	rm -rf "$T"
}

ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }
check() { local n=$1; shift; if "$@"; then ok "$n"; else ko "$n"; fi; }

upstream_up cl --git web.test.example || { echo "FAIL: test upstream"; exit 1; }
upstream_curl cl https://web.test.example/ping | grep -q '"tls": true' ||
	{ echo "FAIL: upstream not reachable directly"; exit 1; }
# A server that accepts and never answers, in the upstream's netns (port 8081).
ip netns exec ward-test-cl timeout -s KILL 120 python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8081)); s.listen(16); held = []
while True:
    c, _ = s.accept(); held.append(c)
' >/dev/null 2>&1 &
STALL=$!

PY=$(readlink -f /usr/bin/python3)
GIT_CORE=$(git --exec-path)
NODE_BIN=
[ -n "$NODE" ] && NODE_BIN="      - { path: $(readlink -f "$NODE") }"
cat >"$T/policy.yaml" <<EOF
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc]
process:
  run_as_user: $UID_
  run_as_group: $UID_
network_policies:
  web:
    binaries:
      - { path: /usr/bin/curl }
      - { path: $PY }
      - { path: /usr/bin/git }
      - { path: $GIT_CORE/git-remote-https }
      - { path: $GIT_CORE/git-remote-http }
$NODE_BIN
    endpoints:
      - host: web.test.example
        port: 443
        protocol: rest
        rules:
          - allow: { method: GET, path: "/**" }
          - allow: { method: POST, path: "/v1/**" }
          - allow: { method: POST, path: "/git/*/git-upload-pack" }
        deny_rules:
          - { method: POST, path: "/**/git-receive-pack" }
          - { method: GET, path: "/git/**", query: { service: git-receive-pack } }
      - host: web.test.example
        port: 80
        protocol: rest
        access: read-write
      - host: web.test.example
        port: 8081
credentials:
  - { name: token, env: WARD_E2E_TOKEN, host: web.test.example, path: "/v1/**" }
EOF
mkdir -p "$T/work"
chown "$UID_:$UID_" "$T/work"
NOPROXY='env -u HTTP_PROXY -u HTTPS_PROXY -u ALL_PROXY -u http_proxy -u https_proxy -u all_proxy'

# run CMD...: ward run; stdout in $OUT, stderr in $ERR, status in $RC
run() {
	"$WARD" run --policy "$T/policy.yaml" --log "$LOG" --workdir "$T/work" \
		--hosts "$UPSTREAM_HOSTS" --upstream-ca "$UPSTREAM_CA" -- "$@" >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}
field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2" 2>/dev/null; }

# 1. curl: explicit proxy and transparent, HTTPS (intercepted) and plain HTTP,
#    in one sandbox. Each answer lands in a file of the work directory.
cat >"$T/work/curl.sh" <<EOF
cd "$T/work"
curl -sS -v --max-time 15 https://web.test.example/a/explicit >c1 2>c1.err; echo "rc1=\$?"
$NOPROXY curl -sS -v --max-time 15 https://web.test.example/a/transparent >c2 2>c2.err; echo "rc2=\$?"
curl -sS --max-time 15 http://web.test.example/p/explicit >c3 2>&1; echo "rc3=\$?"
$NOPROXY curl -sS --max-time 15 http://web.test.example/p/transparent >c4 2>&1; echo "rc4=\$?"
EOF
run /bin/sh "$T/work/curl.sh"
check "curl HTTPS via HTTPS_PROXY" grep -q '^rc1=0$' <<<"$OUT"
check "  upstream saw TLS and the path" grep -q '"path": "/a/explicit".*"tls": true' "$T/work/c1"
check "  curl saw ward's certificate" grep -qi 'issuer:.*ward.*ephemeral CA' "$T/work/c1.err"
check "curl HTTPS transparent (no proxy env)" grep -q '^rc2=0$' <<<"$OUT"
check "  upstream saw TLS and the path" grep -q '"path": "/a/transparent".*"tls": true' "$T/work/c2"
check "  intercepted too (ward's certificate)" grep -qi 'issuer:.*ward.*ephemeral CA' "$T/work/c2.err"
check "curl plain HTTP via HTTP_PROXY" grep -q '"path": "/p/explicit".*"tls": false' "$T/work/c3"
check "curl plain HTTP transparent" grep -q '"path": "/p/transparent".*"tls": false' "$T/work/c4"

# 2. python3 urllib (honours https_proxy; trusts SSL_CERT_FILE through OpenSSL).
run "$PY" -c '
import json, urllib.request
r = urllib.request.urlopen("https://web.test.example/py/get?x=1", timeout=15)
d = json.load(r); print(d["path"], d["tls"], r.status)
req = urllib.request.Request("https://web.test.example/v1/py", data=b"from-python", method="POST")
print(json.load(urllib.request.urlopen(req, timeout=15))["body"])'
check "python urllib HTTPS GET" grep -q '^/py/get True 200$' <<<"$OUT"
check "python urllib HTTPS POST body" grep -q '^from-python$' <<<"$OUT"

# 3. node fetch: Debian's node ignores the proxy environment (NODE_USE_ENV_PROXY
#    needs a newer node), so fetch goes direct and the kernel redirects it.
if [ -n "$NODE" ]; then
	run "$NODE" -e '
fetch("https://web.test.example/node/x").then(r => r.json()).then(d => {
  console.log(d.path, d.tls); }).catch(e => { console.log("ERR", e.cause || e); process.exit(1); });'
	check "node fetch HTTPS (transparent, intercepted)" grep -q '^/node/x true$' <<<"$OUT"
else
	echo "NOTE: node not installed: node fetch not tested"
fi

# 4. git over HTTPS: clone allowed, push denied with a 403 git shows.
cat >"$T/work/git.sh" <<EOF
cd "$T/work" && export HOME="$T/work"
git clone -q https://web.test.example/git/repo.git clone 2>clone.err; echo "clone=\$?"
cd clone && echo change >>README && git -c user.name=t -c user.email=t@t commit -qam change &&
git push -q origin main 2>../push.err; echo "push=\$?"
EOF
run /bin/sh "$T/work/git.sh"
check "git clone over HTTPS succeeds" grep -q '^clone=0$' <<<"$OUT"|| echo "$ERR"
check "  the clone has the upstream's README" grep -q 'hello from the ward test upstream' "$T/work/clone/README"
check "git push is refused" bash -c '! grep -q "^push=0$" <<<"$1"' _ "$OUT"
check "  git shows the 403" grep -q '403' "$T/work/push.err"
check "  the push never reached the upstream repository" \
	bash -c '[ "$(git -C "$1/git/repo.git" log --oneline main | wc -l)" = 1 ]' _ "$(upstream_dir cl)"

# 5. Credentials: the upstream gets the secret; the sandbox only a placeholder.
run /bin/sh -c 'env | grep -c "^WARD_E2E_TOKEN=ward-placeholder-"; env | grep -cF "$0"; \
	curl -sS --max-time 15 -H "Authorization: Bearer $WARD_E2E_TOKEN" https://web.test.example/v1/cred' \
	"$SECRET"
check "the sandbox sees the placeholder, not the secret" test "$(head -n2 <<<"$OUT" | tr '\n' ' ')" = "1 0 "
check "the upstream got the secret" \
	test "$(field "$(tail -n1 <<<"$OUT")" 'd["header"]["authorization"]')" = "Bearer $SECRET"

# 6. Malformed HTTP gets 400, over the explicit port and inside TLS.
run "$PY" -c '
import os, socket, ssl
host, port = os.environ["HTTP_PROXY"][7:].rsplit(":", 1)
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(b"GET http://web.test.example/ HTTP/1.1\r\nHost: web.test.example\nX: y\r\n\r\n")
print(s.recv(200).split(b"\r\n")[0].decode())
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(b"CONNECT web.test.example:443 HTTP/1.1\r\nHost: web.test.example:443\r\n\r\n")
s.recv(200)
t = ssl.create_default_context().wrap_socket(s, server_hostname="web.test.example")
t.sendall(b"GET / HTTP/1.1\r\nHost: web.test.example\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n")
print(t.recv(200).split(b"\r\n")[0].decode())
s = socket.create_connection((host, int(port)), timeout=10)
s.sendall(b"CONNECT web.test.example:443 HTTP/1.1\r\nHost: web.test.example:443\r\n\r\n")
s.recv(200)
try:  # a client trusting no CA at all refuses the ward certificate
    ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).wrap_socket(s, server_hostname="web.test.example")
    print("accepted")
except ssl.SSLError as e:
    print("refused", e.reason)'
check "malformed request -> 400 (explicit)" grep -q '^HTTP/1.1 400' <<<"$(sed -n 1p <<<"$OUT")"
check "malformed request inside TLS -> 400" grep -q '^HTTP/1.1 400' <<<"$(sed -n 2p <<<"$OUT")"
check "a client without the ward CA fails the handshake" grep -q '^refused' <<<"$(sed -n 3p <<<"$OUT")"

# 7. A stalled upstream holds its own connections only: 8 requests hang on
#    it while requests to the echo answer. Ordering, not a stopwatch: the 3
#    fast requests must all have answered while the 8 are still waiting.
cat >"$T/work/stall.sh" <<EOF
cd "$T/work"
pids=
for i in 1 2 3 4 5 6 7 8; do curl -s --max-time 40 http://web.test.example:8081/ >/dev/null & pids="\$pids \$!"; done
sleep 1
for i in 1 2 3; do curl -sS --max-time 20 https://web.test.example/fast/\$i >/dev/null || echo slowfail; done
n=0
for p in \$pids; do kill -0 \$p 2>/dev/null && n=\$((n + 1)); done
echo "stalled=\$n"
kill \$pids 2>/dev/null
wait
EOF
run /bin/sh "$T/work/stall.sh"
stalled=$(sed -n 's/^stalled=//p' <<<"$OUT")
check "requests answer while an upstream stalls (${stalled:-?} of 8 still held)" \
	bash -c '[ "$1" = 8 ] && ! grep -q slowfail <<<"$2"' _ "$stalled" "$OUT"

# 8. Rows: intercepted requests are l7 rows with method and path; the push a deny.
q() { sqlite3 "$LOG" "$1" 2>/dev/null; }
check "row: intercepted GET (l7, allow, https)" \
	test "$(q "select count(*) from decisions where layer='l7' and action='allow' and protocol='https' and path='/a/transparent'")" -ge 1
check "row: the push denied (l7)" \
	test "$(q "select count(*) from decisions where layer='l7' and action='deny' and path like '/git/%'")" -ge 1
check "row: the client that rejected the ward CA" \
	test "$(q "select count(*) from decisions where layer='proxy' and reason like 'client rejected ward CA%'")" -ge 1
check "the secret is in no log file" bash -c '! cat "$1"* 2>/dev/null | grep -qaF "$2"' _ "$LOG" "$SECRET"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
