#!/bin/bash
# SPDX-License-Identifier: MIT
# Credentials go into TLS only (docs/tls.md, "Credentials"): a request to a
# credential's bound host and port that leaves ward in clear text keeps the
# placeholder and is a deny row, through the forward proxy (an
# http://host:443/ URL) and on the transparent path (plain HTTP to port 443);
# over TLS the upstream gets the secret; a credential with `scheme: http` is
# injected into clear text too. The upstreams record the Authorization header
# they receive. Root only; exit 77 when the kernel or the proxy is missing.
set -u

WARD=${WARD:-$(pwd)/build/ward}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# shellcheck source=lib/upstream.sh
source "$HERE/lib/upstream.sh"
e2e_require /usr/bin/curl /usr/bin/python3 openssl ip

T=$(mktemp -d /tmp/ward-test-cred.XXXXXX)
chmod 755 "$T"
LOG=$T/log.db
UID_=4245
rnd() { od -An -N8 -tx1 /dev/urandom | tr -d ' \n'; }
TLS_SECRET="e2e-tls-$(rnd)"
PLAIN_SECRET="e2e-plain-$(rnd)"
OPEN_SECRET="e2e-open-$(rnd)"
export WARD_E2E_TLS_SECRET=$TLS_SECRET WARD_E2E_PLAIN_SECRET=$PLAIN_SECRET
export WARD_E2E_OPEN_SECRET=$OPEN_SECRET
pass=0
fail=0
e2e_cleanup_hook() { rm -rf "$T"; }

ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }
check() { local n=$1; shift; if "$@"; then ok "$n"; else ko "$n"; fi; }

upstream_up tls api.test.example || { echo "FAIL: test upstream"; exit 1; }
# clear-text HTTP on port 443: what a credential's bound port looks like without TLS
upstream_up plain --plain plain.test.example open.test.example ||
	{ echo "FAIL: plain test upstream"; exit 1; }
upstream_curl plain http://plain.test.example:443/ping | grep -q '"tls": false' ||
	{ echo "FAIL: plain upstream not reachable directly"; exit 1; }

cat >"$T/policy.yaml" <<EOP
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc]
process:
  run_as_user: $UID_
  run_as_group: $UID_
network_policies:
  upstream:
    binaries: [{ path: /usr/bin/curl }]
    endpoints:
      - { host: api.test.example, port: 443, protocol: rest, access: full }
      - { host: plain.test.example, port: 443, protocol: rest, access: full }
      - { host: open.test.example, port: 443, protocol: rest, access: full }
credentials:
  - { name: tlskey, env: WARD_E2E_TLS_SECRET, host: api.test.example }
  - { name: plainkey, env: WARD_E2E_PLAIN_SECRET, host: plain.test.example }
  - { name: openkey, env: WARD_E2E_OPEN_SECRET, host: open.test.example, scheme: http }
EOP
mkdir -p "$T/work"
chown "$UID_:$UID_" "$T/work"

run() {
	"$WARD" run --policy "$T/policy.yaml" --log "$LOG" --workdir "$T/work" \
		--hosts "$UPSTREAM_HOSTS" --upstream-ca "$UPSTREAM_CA" -- "$@" >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}

run /bin/sh -c 'echo "proxy=${HTTP_PROXY:-}"'
if [ $RC -ne 0 ]; then
	echo "FAIL: ward run failed ($RC): $ERR"
	exit 1
fi
grep -q '^proxy=.\+' <<<"$OUT" || { echo "SKIP: no proxy in ward run"; exit 77; }

# auth JSON [VALUE]: the Authorization header the echo upstream received
auth() { /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["header"].get("authorization", ""))' "$1" 2>/dev/null; }
# placeholders are drawn per run: the shape, not the value of an earlier run
is_placeholder() { grep -q '^Bearer ward-placeholder-plainkey-[0-9a-f]\{16\}$' <<<"$1"; }
tls_of() { /usr/bin/python3 -c 'import json,sys; print(json.loads(sys.argv[1])["tls"])' "$1" 2>/dev/null; }

run /bin/sh -c 'echo "$WARD_E2E_PLAIN_SECRET"'
PH=$OUT
check "the sandbox sees the placeholder" grep -q '^ward-placeholder-plainkey-[0-9a-f]\{16\}$' <<<"$PH"

# 1. Over TLS the upstream gets the secret.
run /bin/sh -c 'curl -sS --max-time 20 -H "Authorization: Bearer $WARD_E2E_TLS_SECRET" \
	https://api.test.example/v1/x'
check "TLS: the request went over TLS" test "$(tls_of "$OUT")" = True
check "TLS: the upstream received the secret" test "$(auth "$OUT")" = "Bearer $TLS_SECRET"

# 2. Forward proxy, http://host:443/: clear text to the bound host and port.
run /bin/sh -c 'curl -sS --max-time 20 -H "Authorization: Bearer $WARD_E2E_PLAIN_SECRET" \
	http://plain.test.example:443/v1/x'
check "forward proxy: the request reached the plain upstream" test "$(tls_of "$OUT")" = False
check "forward proxy: the upstream got the placeholder" is_placeholder "$(auth "$OUT")"
check "forward proxy: the upstream never saw the secret" bash -c '! grep -qF "$1" <<<"$2"' _ \
	"$PLAIN_SECRET" "$OUT"

# 3. Transparent path: plain HTTP straight to port 443 (no proxy variables).
run /bin/sh -c 'curl -sS --max-time 20 --noproxy "*" \
	-H "Authorization: Bearer $WARD_E2E_PLAIN_SECRET" http://plain.test.example:443/v1/y'
check "transparent: the request reached the plain upstream" test "$(tls_of "$OUT")" = False
check "transparent: the upstream got the placeholder" is_placeholder "$(auth "$OUT")"
check "transparent: the upstream never saw the secret" bash -c '! grep -qF "$1" <<<"$2"' _ \
	"$PLAIN_SECRET" "$OUT"

# 4. scheme: http says clear text is fine for this one.
run /bin/sh -c 'curl -sS --max-time 20 -H "Authorization: Bearer $WARD_E2E_OPEN_SECRET" \
	http://open.test.example:443/v1/z'
check "scheme http: the upstream received the secret in clear text" \
	test "$(auth "$OUT")" = "Bearer $OPEN_SECRET"

# 5. The log: one deny row per clear-text attempt, never a secret.
ROWS=$("$WARD" logs --log "$LOG" --json)
N=$(grep -c '"reason": *"credential not injected: plain HTTP"' <<<"$ROWS")
check "two deny rows 'credential not injected: plain HTTP' (got $N)" test "$N" -eq 2
check "they name the credential" bash -c \
	'test "$(grep "credential not injected" <<<"$1" | grep -c "\"rule\": *\"credential:plainkey\"")" -eq 2' _ "$ROWS"
check "no row for the TLS or scheme: http credentials" bash -c \
	'! grep "credential not injected" <<<"$1" | grep -q "tlskey\|openkey"' _ "$ROWS"
check "no secret in any log file" bash -c \
	'! cat "$1"* 2>/dev/null | grep -qaF -e "$2" -e "$3" -e "$4"' _ "$LOG" "$TLS_SECRET" "$PLAIN_SECRET" "$OPEN_SECRET"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
