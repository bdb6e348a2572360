#!/bin/bash
# SPDX-License-Identifier: MIT
# Secrets rotate without restarts (docs/policy.md, "Secrets"): `ward run`
# with a credential that says `secret: tok`; a curl loop inside calls a test
# upstream (in a netns this test creates, 10.213.6.0/24) that echoes the
# Authorization header it received. The secret is rotated from outside while
# the loop runs: every request that starts after the rotation carries the
# new value. Then it is removed: the next request is refused (503, a deny
# row naming the secret). A secret missing at start is exit 125 naming it.
# No row, no stderr line and no byte of the log database holds a value.
# Root only; exit 77 when something it needs is missing.
set -u

WARD=${WARD:-$(pwd)/build/ward}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# shellcheck source=lib/upstream.sh
source "$HERE/lib/upstream.sh" # e2e_require only: this test has its own netns
e2e_require /usr/bin/curl /usr/bin/python3 /usr/bin/sqlite3 openssl ip timeout

NS=secrets-e2e
VH=secrets-h0
VN=secrets-n0
HOST_IP=10.213.6.1
UP_IP=10.213.6.2
NAME=api.secrets.test
UID_=4246
T=$(mktemp -d /tmp/ward-test-secrets.XXXXXX)
chmod 755 "$T"
LOG=$T/log.db
STATE=$T/state
W=$T/work
UP_PID=
rnd() { od -An -N8 -tx1 /dev/urandom | tr -d ' \n'; }
VAL_A="e2e-secret-A-$(rnd)"
VAL_B="e2e-secret-B-$(rnd)"
pass=0
fail=0

cleanup() {
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

ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }
check() { local n=$1; shift; if "$@"; then ok "$n"; else ko "$n"; fi; }

# put_secret NAME VALUE: what any writer of the store does (policy/secrets.h):
# a 0600 file under a name no secret has, fsync'd, renamed over the old one.
put_secret() {
	/usr/bin/python3 - "$STATE/secrets" "$1" "$2" <<'EOF'
import os, sys
d, name, value = sys.argv[1:]
tmp = os.path.join(d, "#tmp." + name + "." + os.urandom(8).hex())
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
os.write(fd, value.encode())
os.fsync(fd)
os.close(fd)
os.rename(tmp, os.path.join(d, name))
EOF
}

# --- the test upstream: an HTTPS echo in its own netns
ip netns del "$NS" 2>/dev/null
ip link del "$VH" 2>/dev/null
ip netns add "$NS" &&
	ip link add "$VH" type veth peer name "$VN" &&
	ip link set "$VN" netns "$NS" &&
	ip addr add "$HOST_IP/30" dev "$VH" &&
	ip link set "$VH" up &&
	ip -n "$NS" addr add "$UP_IP/30" dev "$VN" &&
	ip -n "$NS" link set "$VN" up &&
	ip -n "$NS" link set lo up || { echo "FAIL: network setup"; exit 1; }
mkdir -p "$T/ca"
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout "$T/ca/ca.key" -out "$T/ca/ca.pem" -days 1 -subj "/CN=ward secrets e2e CA" \
	-addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" \
	2>/dev/null &&
	printf 'subjectAltName=DNS:%s,IP:%s\nextendedKeyUsage=serverAuth\n' "$NAME" "$UP_IP" \
		>"$T/ca/ext.cnf" &&
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$T/ca/server.key" -out "$T/ca/server.csr" -subj "/CN=$NAME" 2>/dev/null &&
	openssl x509 -req -in "$T/ca/server.csr" -CA "$T/ca/ca.pem" -CAkey "$T/ca/ca.key" \
		-CAcreateserial -days 1 -extfile "$T/ca/ext.cnf" -out "$T/ca/server.pem" 2>/dev/null ||
	{ echo "FAIL: test certificates"; exit 1; }
chmod 644 "$T/ca/ca.pem"
echo "$UP_IP $NAME" >"$T/hosts"
ip netns exec "$NS" timeout -s KILL 300 /usr/bin/python3 "$HERE/lib/upstream.py" \
	--https 443 --cert "$T/ca/server.pem" --key "$T/ca/server.key" --lifetime 290 \
	--ready-file "$T/ready" >"$T/upstream.log" 2>&1 &
UP_PID=$!
disown "$UP_PID" # no job-control noise when cleanup kills it
for _ in $(seq 1 100); do [ -s "$T/ready" ] && break; sleep 0.1; done
[ -s "$T/ready" ] || { echo "FAIL: upstream did not start"; cat "$T/upstream.log"; exit 1; }

# --- the store and the policy
mkdir -m 0700 "$STATE" "$STATE/secrets"
mkdir -p "$W"
chown "$UID_:$UID_" "$W"
policy() { # policy FILE SECRET
	cat >"$1" <<EOP
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
      - { host: $NAME, port: 443, protocol: rest, access: full }
credentials:
  - { name: tok, secret: $2, host: $NAME }
EOP
}
policy "$T/policy.yaml" tok
policy "$T/absent.yaml" absent

run() { # run POLICY CMD...: ward run with this test's store
	local p=$1
	shift
	WARD_STATE=$STATE "$WARD" run --policy "$p" --log "$LOG" --workdir "$W" \
		--hosts "$T/hosts" --upstream-ca "$T/ca/ca.pem" -- "$@" >"$T/out" 2>"$T/err"
	RC=$?
}

check "ward policy check does not need the secret" "$WARD" policy check "$T/absent.yaml"

# 1. A referenced secret missing at start: exit 125 naming it, nothing runs.
put_secret tok "$VAL_A"
run "$T/absent.yaml" /bin/sh -c "echo ran >$W/ran"
check "missing secret: exit 125 (got $RC)" test "$RC" -eq 125
check "missing secret: stderr names it" grep -q "secret 'absent' is not set" "$T/err"
check "missing secret: the command did not run" test ! -e "$W/ran"
cp "$T/err" "$T/err.absent"

# 2. Rotation while a curl loop runs inside: the sandbox holds a placeholder
# in TOK; the upstream echoes the Authorization header it received.
cat >"$W/loop.sh" <<'EOS'
# loop.sh DIR: one request at a time until DIR/stop (at most 300)
i=0
while [ $i -lt 300 ] && [ ! -e "$1/stop" ]; do
	curl -sS --max-time 10 -H "Authorization: Bearer $TOK" "https://api.secrets.test/r/$i" \
		>"$1/resp.tmp" 2>&1
	mv "$1/resp.tmp" "$1/resp.$i"
	i=$((i + 1))
	sleep 0.05
done
echo "$TOK" >"$1/placeholder"
EOS
chmod 644 "$W/loop.sh"
run "$T/policy.yaml" /bin/sh "$W/loop.sh" "$W" &
RUN_PID=$!

# seen N: the number of complete responses so far
seen() { find "$W" -maxdepth 1 -name 'resp.[0-9]*' | wc -l; }
wait_for() { # wait_for PATTERN: a response holding it (bounded: 30 s)
	for _ in $(seq 1 300); do
		grep -lqF -- "$1" "$W"/resp.[0-9]* 2>/dev/null && return 0
		kill -0 "$RUN_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
check "before rotation: the upstream received value A" wait_for "Bearer $VAL_A"
put_secret tok "$VAL_B"
ROTATED_AT=$(seen) # responses 0..ROTATED_AT-1 were complete; one may be in flight
check "after rotation: the upstream received value B" wait_for "Bearer $VAL_B"
wait_seen() { # wait_seen N: until N responses are complete (bounded: 30 s)
	for _ in $(seq 1 300); do
		[ "$(seen)" -ge "$1" ] && return 0
		kill -0 "$RUN_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
check "three requests after the rotation" wait_seen $((ROTATED_AT + 3))
rm -f "$STATE/secrets/tok"
REMOVED_AT=$(seen)
check "after removal: the request is refused" wait_for "credential_unavailable"
check "two requests after the removal" wait_seen $((REMOVED_AT + 2))
touch "$W/stop"
wait "$RUN_PID"
RC=$?
check "ward run exits with the loop's status (got $RC)" test "$RC" -eq 0

# Every request that started after the rotation (index > ROTATED_AT) carried
# B, up to the removal; none after the removal reached the upstream.
bad=
for f in "$W"/resp.[0-9]*; do
	i=${f##*.}
	if [ "$i" -gt "$ROTATED_AT" ] && [ "$i" -lt "$REMOVED_AT" ] &&
		! grep -qF "Bearer $VAL_B" "$f"; then bad="$bad $i"; fi
	if [ "$i" -gt "$REMOVED_AT" ] && ! grep -qF "credential_unavailable" "$f"; then
		bad="$bad $i(removed)"
	fi
done
echo "responses: $(seen); rotated after $ROTATED_AT, removed after $REMOVED_AT"
echo "ward run (missing secret): $(head -c 300 "$T/err.absent")"
check "every request after the rotation used the new value (bad:${bad:- none})" test -z "$bad"
check "the sandbox only ever saw a placeholder" \
	grep -q '^ward-placeholder-tok-[0-9a-f]\{16\}$' "$W/placeholder"

# 3. Nothing holds a value: rows, stderr, the log database's bytes.
ROWS=$("$WARD" logs --log "$LOG" --json)
check "a deny row names the removed secret" bash -c \
	'grep "credential unavailable" <<<"$1" | grep -q "secret '"'"'tok'"'"' is not set"' _ "$ROWS"
check "injections are logged" grep -q 'credential_injected' <<<"$ROWS"
no_value() { ! grep -qaF -e "$VAL_A" -e "$VAL_B" "$@"; }
check "no value in any row" no_value <<<"$ROWS"
check "no value on ward's stderr" no_value "$T/err" "$T/err.absent"
check "no value in the log database (sqlite3 .dump)" bash -c \
	'! sqlite3 "$1" .dump | grep -qF -e "$2" -e "$3"' _ "$LOG" "$VAL_A" "$VAL_B"
check "no value in the log files' bytes" no_value "$LOG"*

echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
