#!/bin/bash
# SPDX-License-Identifier: MIT
# The proxy through `ward run` on the real kernel (docs/proxy.md): explicit
# CONNECT and forward http://, transparent redirect, 403 JSON bodies, a binary
# in no policy, SSRF (loopback, metadata, undeclared private; exact host and
# allowed_ips allowed), malformed HTTP, TOFU, audit vs enforce, decision rows.
# The upstream is a python HTTP server in a network namespace this test
# creates; names come from --hosts. Nothing leaves the machine. Root only.
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

NS=wp1up$$
T=$(test_tmpdir ward-test-proxy)
chmod 755 "$T"
SRV=
cleanup() {
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	ip link del "wp1h$$" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
[ -n "${P1_DEBUG:-}" ] && trap - EXIT
LOG=$T/log.db
UID_=4245
mkdir "$T/wd" && chown "$UID_:$UID_" "$T/wd"

# the upstream: 192.168.177.2:8080 in its own netns
ip netns add "$NS" || { echo "SKIP: ip netns add"; exit 77; }
ip link add "wp1h$$" type veth peer name up0 netns "$NS"
ip addr add 192.168.177.1/24 dev "wp1h$$"
ip link set "wp1h$$" up
ip -n "$NS" addr add 192.168.177.2/24 dev up0
ip -n "$NS" link set up0 up
ip -n "$NS" link set lo up
mkdir "$T/www" && echo "hello from upstream" >"$T/www/index.html"
(cd "$T/www" && exec ip netns exec "$NS" "$PY" -m http.server 8080 --bind 192.168.177.2 \
	>/dev/null 2>&1) &
SRV=$!
for _ in $(seq 50); do
	curl -s -o /dev/null --max-time 1 http://192.168.177.2:8080/ && break
	sleep 0.1
done

cat >"$T/hosts" <<'EOF'
192.168.177.2 up.test other.test ro.test audit.test a.wild.test b.ips.test
127.0.0.1 loop.test
169.254.169.254 meta.test
EOF
chmod 644 "$T/hosts"

# raw.py HOST-PORT-FROM-ENV DATA: send bytes to the explicit proxy, print the response
cat >"$T/raw.py" <<'EOF'
import os, socket, sys, urllib.parse
u = urllib.parse.urlsplit(os.environ["HTTP_PROXY"])
s = socket.create_connection((u.hostname, u.port), timeout=10)
s.sendall(sys.argv[1].encode().decode("unicode_escape").encode("latin-1"))
out = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
except socket.timeout:
    pass
sys.stdout.write(out.decode("latin-1"))
EOF
# body.py FIELD...: the JSON body of an HTTP response on stdin, fields printed
cat >"$T/body.py" <<'EOF'
import json, sys
raw = sys.stdin.read()
body = raw.split("\r\n\r\n", 1)[1] if "\r\n\r\n" in raw else raw
j = json.loads(body)
for f in sys.argv[1:]:
    v = j
    for k in f.split("."):
        v = v[k] if v is not None else None
    print("%s=%s" % (f, v))
EOF
cp "$CURL" "$T/tcurl"
cp "$CURL" "$T/nocurl"
chmod 755 "$T/tcurl" "$T/nocurl" "$T/raw.py" "$T/body.py"

write_policy() {
	cat >"$T/policy.yaml" <<EOF
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc, $T]
process:
  run_as_user: $UID_
  run_as_group: $UID_
network_policies:
  web:
    binaries: [{ path: $CURL }, { path: $PY }, { path: $T/tcurl }]
    endpoints:
      - { host: up.test, port: 8080 }
      - { host: loop.test, port: 8080 }
      - { host: meta.test, port: 8080 }
      - { host: "*.wild.test", port: 8080 }
      - { host: "*.ips.test", port: 8080, allowed_ips: [192.168.177.0/24] }
  rest:
    binaries: [{ path: $CURL }]
    endpoints:
      - { host: ro.test, port: 8080, protocol: rest, access: read-only }
      - { host: audit.test, port: 8080, protocol: rest, access: read-only, enforcement: audit }
EOF
}
write_policy

run() {
	OUT=$(timeout 60 "$WARD" run --policy "$T/policy.yaml" --log "$LOG" --hosts "$T/hosts" \
		--workdir "$T/wd" -- "$@" 2>&1)
	RC=$?
	OUT=$(no_layer_warnings <<<"$OUT")
}
has() { grep -q -- "$1" <<<"$OUT"; }

run sh -c 'echo "$HTTP_PROXY $https_proxy $NO_PROXY $NODE_USE_ENV_PROXY"'
check "proxy environment set" grep -Eq '^http://10\.254\.[0-9.]+:3128 http://10\.254\.[0-9.]+:3128 localhost,127.0.0.1,::1 1$' <<<"$OUT"

run curl -s --max-time 10 http://up.test:8080/
check "forward http:// through the explicit proxy" has "hello from upstream"
run curl -s --max-time 10 -p http://up.test:8080/
check "CONNECT tunnel through the explicit proxy" has "hello from upstream"

# The same over IPv6: the proxy listens on the veth's IPv6 host side too
# (fd77:7761:7264:N::1, N the sandbox's index: docs/network.md), identity
# comes from the same kernel map for a v6 client.
run sh -c 'h=${HTTP_PROXY#http://}; h=${h%:*}; IFS=. read -r a b c d <<E
$h
E
n=$(( (c * 256 + d - 1) / 4 )); px=$(printf "http://[fd77:7761:7264:%x::1]:3128" "$n")
curl -s --max-time 10 -x "$px" http://up.test:8080/ && curl -s --max-time 10 -p -x "$px" http://up.test:8080/'
check "forward and CONNECT through the proxy over IPv6" \
	test "$(grep -c "hello from upstream" <<<"$OUT")" -eq 2

run curl -s --max-time 10 -i http://other.test:8080/
check "forward: undeclared host -> 403" has "HTTP/1.1 403"
check "403 has X-Ward-Decision" grep -Eq "^X-Ward-Decision: deny; rule=(web|rest); reason=host other.test not allowed" <<<"$OUT"
J=$("$PY" "$T/body.py" error layer failed host port closest_rule.policy <<<"$OUT" 2>&1)
check "403 JSON: error, layer l7, failed host, host, port, closest policy" \
	bash -c "grep -qx error=ward_denied <<<'$J' && grep -qx layer=l7 <<<'$J' &&
		 grep -qx failed=host <<<'$J' && grep -qx host=other.test <<<'$J' &&
		 grep -qx port=8080 <<<'$J' && grep -Eqx 'closest_rule.policy=(web|rest)' <<<'$J'"

run "$PY" "$T/raw.py" 'CONNECT other.test:8080 HTTP/1.1\r\nHost: other.test:8080\r\n\r\n'
J=$("$PY" "$T/body.py" layer failed reason <<<"$OUT" 2>&1)
check "CONNECT denial: 403 JSON, layer proxy, failed host" \
	bash -c "grep -q 'HTTP/1.1 403' <<<'$OUT' && grep -qx layer=proxy <<<'$J' && grep -qx failed=host <<<'$J'"
run "$PY" "$T/raw.py" 'CONNECT up.test:9999 HTTP/1.1\r\nHost: up.test\r\n\r\n'
J=$("$PY" "$T/body.py" failed hint <<<"$OUT" 2>&1)
check "CONNECT to an undeclared port: failed port, hint names the port" \
	bash -c "grep -qx failed=port <<<'$J' && grep -q 'add port 9999' <<<'$J'"

run "$T/nocurl" -s --max-time 10 http://up.test:8080/
check "a binary in no policy: EPERM at connect (curl exit 7)" [ "$RC" = 7 ]

# transparent: no proxy environment, the kernel redirects to port 3129
run env -u HTTP_PROXY -u http_proxy -u ALL_PROXY -u all_proxy curl -s --max-time 10 http://up.test:8080/
check "transparent: direct http:// redirected and allowed" has "hello from upstream"
run env -u HTTP_PROXY -u http_proxy -u ALL_PROXY -u all_proxy curl -s --max-time 10 -i http://192.168.177.2:8080/
J=$("$PY" "$T/body.py" failed host <<<"$OUT" 2>&1)
check "transparent: undeclared host -> 403 JSON failed host" \
	bash -c "grep -q 'HTTP/1.1 403' <<<'$OUT' && grep -qx failed=host <<<'$J'"

# SSRF
for h in loop.test meta.test a.wild.test; do
	run curl -s --max-time 10 http://$h:8080/
	J=$("$PY" "$T/body.py" failed reason <<<"$OUT" 2>&1)
	check "ssrf: $h -> 403 failed host reason ssrf" \
		bash -c "grep -qx failed=host <<<'$J' && grep -q 'reason=ssrf' <<<'$J'"
done
run curl -s --max-time 10 http://b.ips.test:8080/
check "ssrf: a private address inside allowed_ips is allowed" has "hello from upstream"

# malformed HTTP: 400, and the proxy serves the next connection
run sh -c "'$PY' '$T/raw.py' 'GET http://up.test:8080/ HTTP/1.1\nHost: x\n\n'; echo; curl -s --max-time 10 http://up.test:8080/"
check "malformed request -> 400 JSON" has "HTTP/1.1 400"
check "...and the next connection is served" has "hello from upstream"

# L7 on plain http: read-only enforce vs audit
run curl -s --max-time 10 -o /dev/null -w '%{http_code}' -X POST http://ro.test:8080/
check "rest read-only: POST denied (403)" [ "$OUT" = 403 ]
run curl -s --max-time 10 http://ro.test:8080/
check "rest read-only: GET allowed" has "hello from upstream"
run curl -s --max-time 10 -o /dev/null -w '%{http_code}' -X POST http://audit.test:8080/
check "enforcement audit: POST passes to the upstream (501 from it)" [ "$OUT" = 501 ]

# keep-alive: two requests on one connection, each decided
run curl -s --max-time 10 http://up.test:8080/ http://other.test:8080/ -o /dev/null -o /dev/null -w '%{http_code} '
check "keep-alive: second request decided on its own (200 then 403)" grep -q "200 403" <<<"$OUT"

q() { sqlite3 "$LOG" "$1"; }
check "row: l7 allow with binary, host, port, rule, sha256" \
	[ "$(q "select count(*) from decisions where layer='l7' and action='allow' and binary='$CURL'
		and host='up.test' and port=8080 and rule='web' and length(binary_sha256)=64 and pid>0")" -gt 0 ]
check "row: proxy allow for the CONNECT tunnel" \
	[ "$(q "select count(*) from decisions where layer='proxy' and action='allow' and protocol='connect' and host='up.test'")" -gt 0 ]
check "row: l7 deny for other.test" \
	[ "$(q "select count(*) from decisions where layer='l7' and action='deny' and host='other.test'")" -gt 0 ]
check "row: ssrf deny with ip" \
	[ "$(q "select count(*) from decisions where action='deny' and host='loop.test' and reason like 'ssrf:%'")" -gt 0 ]
check "row: audit action for enforcement audit" \
	[ "$(q "select count(*) from decisions where layer='l7' and action='audit' and host='audit.test' and method='POST'")" -gt 0 ]
check "row: transparent connection through the proxy" \
	[ "$(q "select count(*) from decisions where layer='l7' and action='allow' and host='up.test' and protocol='http'")" -gt 0 ]
check "no query string ever logged" [ "$(q "select count(*) from decisions where path like '%?%'")" = 0 ]

# TOFU: first use records the hash; a replaced binary at the same path is denied
run "$T/tcurl" -s --max-time 10 http://up.test:8080/
check "tofu: first use allowed" has "hello from upstream"
check "tofu: first use recorded in binaries" \
	[ "$(q "select count(*) from binaries where path='$T/tcurl' and length(sha256)=64")" = 1 ]
rm -f "$T/tcurl" && cp "$CURL" "$T/tcurl" && printf 'changed' >>"$T/tcurl" && chmod 755 "$T/tcurl"
run "$T/tcurl" -s --max-time 10 http://up.test:8080/
J=$("$PY" "$T/body.py" failed reason <<<"$OUT" 2>&1)
check "tofu: a replaced binary is denied, reason names both hashes" \
	bash -c "grep -qx failed=binary <<<'$J' && grep -q 'binary changed since first use (TOFU): was [0-9a-f]\{64\}, now [0-9a-f]\{64\}' <<<'$J'"

finish
