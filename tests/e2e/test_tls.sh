#!/bin/bash
# SPDX-License-Identifier: MIT
# TLS interception end to end: curl inside `ward run` against an HTTPS test
# upstream in its own netns (tests/e2e/lib). The TLS is terminated by ward
# (curl trusts only the exported bundle and sees a ward-issued certificate),
# L7 rules decide per request, credentials are swapped in only for their
# endpoint, and the sandbox never sees the secret.
# Root only; exit 77 when the kernel or the proxy integration is missing.
set -u

WARD=${WARD:-$(pwd)/build/ward}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# shellcheck source=lib/upstream.sh
source "$HERE/lib/upstream.sh"
e2e_require /usr/bin/curl /usr/bin/python3 openssl ip

T=$(mktemp -d /tmp/ward-test-tls.XXXXXX)
chmod 755 "$T"
LOG=$T/log.db
UID_=4243
SECRET="e2e-s3cret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
export WARD_E2E_SECRET=$SECRET
pass=0
fail=0
e2e_cleanup_hook() { rm -rf "$T"; }

ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }
check() { local n=$1; shift; if "$@"; then ok "$n"; else ko "$n"; fi; }

upstream_up tls api.test.example other.test.example || { echo "FAIL: test upstream"; exit 1; }
# The upstream works on its own (so a failure below is ward's).
upstream_curl tls https://api.test.example/ping | grep -q '"tls": true' ||
	{ echo "FAIL: upstream not reachable directly"; exit 1; }

cat >"$T/policy.yaml" <<EOF
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
      - host: api.test.example
        port: 443
        protocol: rest
        rules:
          - allow: { method: GET, path: "/**" }
          - allow: { method: POST, path: "/v1/**" }
        deny_rules:
          - { method: POST, path: "/v1/admin/**" }
      - host: other.test.example
        port: 443
        protocol: rest
        access: full
credentials:
  - { name: testkey, env: WARD_E2E_SECRET, host: api.test.example, path: "/v1/**" }
EOF
mkdir -p "$T/work"
chown "$UID_:$UID_" "$T/work"

# run CMD...: ward run; stdout in $OUT, stderr in $ERR, status in $RC
run() {
	"$WARD" run --policy "$T/policy.yaml" --log "$LOG" --workdir "$T/work" \
		--hosts "$UPSTREAM_HOSTS" --upstream-ca "$UPSTREAM_CA" -- "$@" >"$T/out" 2>"$T/err"
	RC=$?
	OUT=$(cat "$T/out")
	ERR=$(cat "$T/err")
}

# The proxy must be part of `ward run`: the sandbox gets the proxy and bundle env.
run /bin/sh -c 'echo "proxy=${HTTPS_PROXY:-}"; echo "bundle=${SSL_CERT_FILE:-}"'
if [ $RC -ne 0 ]; then
	echo "FAIL: ward run failed ($RC): $ERR"
	exit 1
fi
if ! grep -q '^proxy=.\+' <<<"$OUT" || ! grep -q '^bundle=.\+' <<<"$OUT"; then
	echo "SKIP: the proxy is not integrated into ward run yet (no HTTPS_PROXY/SSL_CERT_FILE in the sandbox)"
	exit 77
fi
BUNDLE=$(sed -n 's/^bundle=//p' <<<"$OUT")

# Every CA variable points at the bundle, and the bundle is readable inside.
run /bin/sh -c 'for v in SSL_CERT_FILE REQUESTS_CA_BUNDLE CURL_CA_BUNDLE NODE_EXTRA_CA_CERTS \
	GIT_SSL_CAINFO PIP_CERT npm_config_cafile; do eval "echo \$v=\${$v:-}"; done; \
	grep -c "BEGIN CERTIFICATE" "$SSL_CERT_FILE"'
check "all seven CA variables name the bundle" \
	test "$(grep -c "=$BUNDLE\$" <<<"$OUT")" -eq 7
check "the bundle holds system roots and the ward CA" \
	test "$(tail -n1 <<<"$OUT")" -ge 2

# 1. Intercepted GET: curl trusts only the exported bundle; the certificate
#    it sees is issued by the ward CA, not the upstream's test CA.
run /usr/bin/curl -sS -v --max-time 20 https://api.test.example/repos/x?q=1
check "GET through TLS interception succeeds" test $RC -eq 0
check "the upstream saw the request over TLS" grep -q '"tls": true' <<<"$OUT"
check "the upstream saw the path" grep -q '"path": "/repos/x"' <<<"$OUT"
check "curl saw a ward-issued certificate" grep -qi 'issuer:.*ward.*ephemeral CA' <<<"$ERR"
check "curl did not see the upstream's test CA" bash -c '! grep -qi "issuer:.*ward e2e test CA" <<<"$1"' _ "$ERR"
check "ALPN is http/1.1" grep -qi 'ALPN.*http/1.1' <<<"$ERR"

# 2. deny_rules win: 403 with a JSON body; the upstream never sees it.
run /usr/bin/curl -sS --max-time 20 -o "$T/work/deny.json" -w '%{http_code}' \
	-X POST -d x https://api.test.example/v1/admin/users
check "POST matching deny_rules gets 403" test "$OUT" = 403
check "the 403 body is JSON" /usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1]))' \
	"$T/work/deny.json"
check "the 403 body is ward's, not the echo" bash -c '! grep -q "\"method\": \"POST\"" "$1"' _ \
	"$T/work/deny.json"

# An allowed POST passes.
run /usr/bin/curl -sS --max-time 20 -X POST -d hello https://api.test.example/v1/things
check "POST allowed by rules passes" grep -q '"body": "hello"' <<<"$OUT"

# 3. Credentials: the sandbox sees only the placeholder; the upstream the secret.
run /bin/sh -c 'echo "$WARD_E2E_SECRET"'
PH=$OUT
check "the sandbox sees a placeholder" grep -q '^ward-placeholder-testkey-[0-9a-f]\{16\}$' <<<"$PH"
check "the sandbox does not see the secret" bash -c '! grep -qF "$1" <<<"$2"' _ "$SECRET" "$PH"
run /bin/sh -c '/usr/bin/curl -sS --max-time 20 -H "Authorization: Bearer $WARD_E2E_SECRET" \
	https://api.test.example/v1/models'
check "the upstream received the real secret" \
	/usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(d["header"]["authorization"] != "Bearer " + sys.argv[2])' \
	"$OUT" "$SECRET"

# 4. The placeholder sent anywhere else: 403 credential_endpoint_mismatch.
run /bin/sh -c '/usr/bin/curl -sS --max-time 20 -w "\n%{http_code}" \
	-H "Authorization: Bearer $WARD_E2E_SECRET" https://other.test.example/steal'
check "placeholder to another host gets 403" test "$(tail -n1 <<<"$OUT")" = 403
check "the 403 says credential_endpoint_mismatch" grep -q credential_endpoint_mismatch <<<"$OUT"
run /bin/sh -c '/usr/bin/curl -sS --max-time 20 -o /dev/null -w "%{http_code}" \
	-H "Authorization: Bearer $WARD_E2E_SECRET" https://api.test.example/outside-v1'
check "placeholder outside the bound path gets 403" test "$OUT" = 403

# 5. The decision log has the rows and never the secret.
check "the log has a credential_endpoint_mismatch row" \
	bash -c '"$1" logs --log "$2" --json | grep -q credential_endpoint_mismatch' _ "$WARD" "$LOG"
check "the secret is in no log file" \
	bash -c '! cat "$1"* 2>/dev/null | grep -qaF "$2"' _ "$LOG" "$SECRET"

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
