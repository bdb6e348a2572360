#!/bin/bash
# SPDX-License-Identifier: MIT
# ward run --watch on the real kernel: one sandbox, one long-running command,
# the policy file edited under it. The command acts only when told (a file
# per step in its workdir) and the test moves on only once ward said on
# stderr what it did with the edit, so nothing here depends on timing.
#   (a) a host unix socket refused under the first policy is reached after
#       an edit allows it, and refused again after the edit is undone;
#   (b) an invalid edit: FILE:LINE:COL on stderr, a control row, and the
#       policy in force still decides;
#   (c) an edit of a section a running process cannot change is reported as
#       "applies to new sessions only" (stderr and row);
#   every applied edit is one control row naming the old and the new rev;
#   SIGHUP sent to ward still reaches the command.
#   Through the proxy (a second run, upstreams in a network namespace the
#   test creates): a request refused before an edit is allowed after it and
#   refused again after the reverse edit; (d) an open CONNECT tunnel to a
#   host the edit removes is closed, with a proxy row "revoked by policy rev R".
# Root only; exit 77 (skip) when a kernel feature is missing.
set -u
. "$(dirname "$0")/lib.sh"

need_root
[ -x "$WARD" ] || { echo "SKIP: no ward binary at $WARD"; exit 77; }
grep -q cgroup2 /proc/self/mountinfo || { echo "SKIP: no cgroup2 mount"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: needs jq"; exit 77; }
for b in /usr/bin/python3 /usr/bin/perl; do
	[ -x $b ] || { echo "SKIP: needs $b"; exit 77; }
done
"$WARD" doctor --json | jq -e '.features[] | select(.name == "unix.broker" and .available)' \
	>/dev/null || { echo "SKIP: no seccomp user notification or connect_unix BPF"; exit 77; }

UID_=4246
T=$(test_tmpdir ward-test-watch /var/tmp)
H=$(mktemp -d /var/tmp/ward-test-watch-sock.XXXXXX)
chmod 755 "$T" "$H"
PIDS=()
WARD_PID=
cleanup() {
	[ -n "$WARD_PID" ] && kill "$WARD_PID" 2>/dev/null
	[ -n "${NS:-}" ] && ip netns del "$NS" 2>/dev/null
	ip link del "wwh$$" 2>/dev/null
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T" "$H"
}
trap cleanup EXIT
WD=$T/wd
mkdir -p "$WD"
chown "$UID_:$UID_" "$WD"
LOG=$T/log.db
P=$T/policy.yaml
ERR=$T/stderr

# a host listener: one line per connection accepted
cat >"$T/listen.py" <<'EOF'
import os, socket, sys
path, hits = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
os.chmod(path, 0o777)
open(hits, "w").close()
s.listen(16)
while True:
    c, _ = s.accept()
    with open(hits, "a") as f:
        f.write("hit\n")
    c.sendall(b"host-says-hi\n")
    c.close()
EOF
python3 "$T/listen.py" "$H/agent.sock" "$T/hits" &
PIDS+=($!)
for _ in $(seq 100); do [ -S "$H/agent.sock" ] && [ -e "$T/hits" ] && break; sleep 0.1; done
[ -S "$H/agent.sock" ] || { fail "the host listener did not start"; finish; exit 1; }

cat >"$T/client.pl" <<'EOF'
use IO::Socket::UNIX;
my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $ARGV[0]);
if ($s) { my $l = <$s>; print "CONNECTED $l"; } else { print "REFUSED $!\n"; }
EOF
# a TCP connect by python3, which no policy before the failed edit names:
# EPERM from the kernel's egress programs
cat >"$T/client.py" <<'EOF'
import socket
s = socket.socket()
try:
    s.connect(("192.0.2.1", 443))
    print("CONNECTED")
except OSError as e:
    print("REFUSED", e.errno)
EOF
# a name through the sandbox's resolver, which is ward's DNS stub
cat >"$T/resolve.pl" <<'EOF'
my @a = gethostbyname($ARGV[0]);
print @a ? "RESOLVED " . join(".", unpack("C4", $a[4])) . "\n" : "NOTFOUND\n";
EOF
printf '192.0.2.7 dns.test\n' >"$T/hosts"
# the command: for each step, wait for goN, run the client it names (perl:
# the unix socket, dns: a name, py: TCP), write rN (bounded waits)
cat >"$T/steps.sh" <<EOF
echo "\$WARD_SANDBOX" >"$WD/id"
for n in 1 2 3 4 5 6 7 8 9; do
	i=0
	while [ ! -e "$WD/go\$n" ] && [ \$i -lt 1200 ]; do sleep 0.05; i=\$((i + 1)); done
	[ -e "$WD/go\$n" ] || exit 3
	if [ "\$(cat "$WD/go\$n")" = py ]; then
		/usr/bin/python3 "$T/client.py" >"$WD/r\$n.tmp" 2>&1
	elif [ "\$(cat "$WD/go\$n")" = dns ]; then
		/usr/bin/perl "$T/resolve.pl" dns.test >"$WD/r\$n.tmp" 2>&1
	else
		/usr/bin/perl "$T/client.pl" "$H/agent.sock" >"$WD/r\$n.tmp" 2>&1
	fi
	mv "$WD/r\$n.tmp" "$WD/r\$n"
done
EOF
chmod 644 "$T/listen.py" "$T/client.pl" "$T/client.py" "$T/resolve.pl" "$T/steps.sh" "$T/hosts"

# policy SOCKET [EXTRA [ENDPOINT]]: perl may reach SOCKET (and ENDPOINT)
policy() {
	cat <<EOF
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /etc, $T/client.pl, $T/client.py, $T/resolve.pl, $T/steps.sh, $H]
network_policies:
  agent:
    binaries:
      - path: /usr/bin/perl
    endpoints:
      - unix: $1
${3:-}
process:
  run_as_user: $UID_
  run_as_group: $UID_
${2:-}
EOF
}
# step N [py]: let the command connect once; its answer in $OUT
step() {
	echo "${2:-perl}" >"$WD/go$1.tmp" && mv "$WD/go$1.tmp" "$WD/go$1"
	for _ in $(seq 1200); do [ -e "$WD/r$1" ] && break; sleep 0.05; done
	OUT=$(cat "$WD/r$1" 2>/dev/null)
}
# wait_err PATTERN: until ward's stderr shows it (bounded; the rows are read
# after the run, when the log is closed)
wait_err() {
	for _ in $(seq 600); do grep -q -- "$1" "$ERR" && return 0; sleep 0.05; done
	return 1
}
# edit_inplace / edit_rename FILE-CONTENT-CMD...: the two ways editors save
# in place: a writer that pauses between its truncate and the rest, longer
# than the debounce (a slow script; a loaded test guest): never read
# half-written (one deny row below, the invalid edit's, not two)
edit_inplace() {
	local c
	c=$("$@")
	{ printf '%s' "${c:0:20}"; sleep 0.5; printf '%s\n' "${c:20}"; } >"$P"
}
edit_rename() { "$@" >"$P.new" && mv "$P.new" "$P"; }

policy "$H/other.sock" >"$P"
"$WARD" policy check "$P" || { fail "policy check"; finish; exit 1; }
(cd "$WD" && exec timeout 120 "$WARD" run --watch --policy "$P" --log "$LOG" \
	--workdir "$WD" --hosts "$T/hosts" -- /bin/bash "$T/steps.sh" 2>"$ERR") &
WARD_PID=$!

# --- under the first policy: refused
step 1
check "(a) before the edit: perl cannot reach the socket" grep -q '^REFUSED' <<<"$OUT"
step 2 dns
check "(a) before the edit: the stub does not resolve dns.test for perl" grep -q '^NOTFOUND' <<<"$OUT"

# --- (b) an invalid edit (rename): diagnostics, the old policy stays
edit_rename printf 'version: 1\nnetwork_policies:\n  agent: [\n'
check "(b) the invalid file is reported as FILE:LINE:COL" wait_err "^$P:[0-9]*:[0-9]*: "
check "(b) ward says the policy in force stays" grep -q "policy $P not applied: rev [0-9a-f]* stays" "$ERR"
step 3
check "(b) the old policy still decides" grep -q '^REFUSED' <<<"$OUT"

# --- (a) an edit that allows it (in place)
edit_inplace policy "$H/agent.sock" "" "      - { host: dns.test, ports: [443] }"
check "(a) ward reports the new revision" wait_err "policy rev [0-9a-f]* -> [0-9a-f]*: "
step 4
check "(a) after the edit: perl reaches the socket" grep -q '^CONNECTED host-says-hi' <<<"$OUT"
check "(a) the listener saw it" [ "$(grep -c hit "$T/hits")" -eq 1 ]
step 5 dns
check "(a) after the edit: the stub resolves dns.test for perl" grep -q '^RESOLVED 192.0.2.7' <<<"$OUT"

# --- (c) + the reverse: the socket taken away again, the environment and
# the pids limit changed
# the leaf with the pids controller: v2, or its v1 leaf on a hybrid host
CG=
for d in $(find /sys/fs/cgroup -maxdepth 6 -type d -name "$(cat "$WD/id")"); do
	[ -e "$d/pids.max" ] && CG=$d
done
check "the sandbox's cgroup starts with the default pids limit" \
	[ "$(cat "$CG/pids.max" 2>/dev/null)" = 4096 ]
edit_rename policy "$H/other.sock" "environment:
  pass: [WARD_TEST_WATCH]
resources:
  pids: 300"
check "(c) environment applies to new sessions only" \
	wait_err "applies to new sessions only: .*environment"
check "the cgroup limits are applied live" grep -q "applied: .*resources" "$ERR"
check "pids.max of the running sandbox is the new limit" [ "$(cat "$CG/pids.max")" = 300 ]
step 6
check "(a) reverse: refused again after the edit removed it" grep -q '^REFUSED' <<<"$OUT"
check "(a) reverse: the listener saw nothing more" [ "$(grep -c hit "$T/hits")" -eq 1 ]
step 7 dns
check "(a) reverse: the stub no longer resolves dns.test" grep -q '^NOTFOUND' <<<"$OUT"

# --- an edit a layer cannot take (unix: more than 4096 socket rules) that
# also gives python3 TCP: the layers switched before it (egress) go back
cp "$P" "$T/in-force.yaml"
policy "$H/other.sock" "environment:
  pass: [WARD_TEST_WATCH]
resources:
  pids: 300" >"$P.new"
# a second network policy, after the first one's endpoints
python3 - "$P.new" "$(readlink -f /usr/bin/python3)" <<'EOF'
import sys
path, py = sys.argv[1], sys.argv[2]
lines = open(path).read().split("\n")
i = lines.index("process:")
extra = ["  py:", "    binaries:", "      - path: " + py, "    endpoints:",
         "      - { host: 192.0.2.1, ports: [443] }"]
extra += ["      - unix: /run/many/s%d.sock" % k for k in range(4100)]
open(path, "w").write("\n".join(lines[:i] + extra + lines[i:]))
EOF
"$WARD" policy check "$P.new" >/dev/null || fail "the large policy is valid"
mv "$P.new" "$P"
check "a policy a layer cannot take is not applied" \
	wait_err "policy $P not applied: unix: .*; rev [0-9a-f]* stays"
step 8 py
check "the egress layer went back: python3 still gets EPERM" grep -q '^REFUSED 1$' <<<"$OUT"

# --- a save that changes nothing compiled (the policy in force, a comment)
{ cat "$T/in-force.yaml"; echo "# a comment"; } >"$P.new" && mv "$P.new" "$P"
check "a comment-only save applies nothing (and says so)" \
	wait_err "policy $P: nothing compiled changed"
check "only the two edits before were applied" [ "$(grep -c 'policy rev .* -> ' "$ERR")" -eq 2 ]
step 9
check "the policy in force still decides" grep -q '^REFUSED' <<<"$OUT"
wait "$WARD_PID"
RC=$?
WARD_PID=
check "ward run --watch exits with the command's status" [ "$RC" -eq 0 ]

# --- rows
ctl() { "$WARD" logs --log "$LOG" --json --layer control | jq -s "$1"; }
SB=$(sqlite3 "$LOG" "SELECT sandbox FROM decisions WHERE layer = 'lifecycle' AND rule = 'start'")
check "a deny control row for the layer that could not switch" \
	[ "$(ctl '[.[] | select(.action == "deny" and (.reason | test("^policy rev [0-9a-f]{64} not applied [(]unix: .*[)]; rev [0-9a-f]{64} stays$")))] | length')" -eq 1 ]
check "one deny control row for the invalid edit, with FILE:LINE:COL, in this sandbox" \
	[ "$(ctl "[.[] | select(.action == \"deny\" and .rule == \"policy_apply\"
		and .sandbox == \"$SB\" and (.reason | test(\"^$P:[0-9]+:[0-9]+: .*stays\")))] | length")" -eq 1 ]
check "two allow control rows, each naming the old and the new rev" \
	[ "$(ctl '[.[] | select(.action == "allow" and .rule == "policy_apply"
		and (.reason | test("^policy rev [0-9a-f]{64} -> [0-9a-f]{64}: ")))] | length')" -eq 2 ]
check "each applied row carries the new rev, which the log stores" \
	[ "$(sqlite3 "$LOG" "SELECT count(*) FROM decisions d JOIN policies p ON p.rev = d.policy_rev
		WHERE d.layer = 'control' AND d.action = 'allow'
		AND d.reason LIKE 'policy rev % -> ' || d.policy_rev || ':%'")" -eq 2 ]
check "(c) the row says environment applies to new sessions only" \
	[ "$(ctl '[.[] | select(.action == "allow" and (.reason | test("applies to new sessions only: .*environment")))] | length')" -eq 1 ]
check "dns rows: dns.test refused, answered after the edit, refused after the reverse" \
	[ "$("$WARD" logs --log "$LOG" --json --layer dns | jq -s '[.[] | select(.host == "dns.test"
		and (.binary | test("perl"))) | .action] | .[0] == "deny" and .[-1] == "deny"
		and (map(select(. == "allow")) | length) >= 1')" = true ]
check "unix rows: denied twice, allowed after the edit, denied after the reverse" \
	[ "$("$WARD" logs --log "$LOG" --json --layer unix | jq -s --arg p "$H/agent.sock" \
		'[.[] | select(.path == $p) | .action] | join(",")')" = '"deny,deny,allow,deny,deny"' ]
check "kernel rows: python3's connect denied" \
	[ "$("$WARD" logs --log "$LOG" --json --layer kernel | jq -s '[.[] | select(.action == "deny"
		and (.binary | test("python3")) and .ip == "192.0.2.1")] | length')" -ge 1 ]
FIRST_NEW=$(sqlite3 "$LOG" "SELECT policy_rev FROM decisions WHERE layer = 'control'
	AND action = 'allow' ORDER BY id LIMIT 1")
check "the allow row carries the rev the edit made" \
	[ "$(sqlite3 "$LOG" "SELECT policy_rev FROM decisions WHERE layer = 'unix'
		AND action = 'allow'")" = "$FIRST_NEW" ]
# --- SIGHUP sent to ward still reaches the command (it does not reload)
cat >"$T/hup.sh" <<EOF
trap 'echo got-hup >"$WD/hup"; exit 0' HUP
touch "$WD/ready"
i=0
while [ \$i -lt 1200 ]; do sleep 0.05; i=\$((i + 1)); done
exit 3
EOF
chmod 644 "$T/hup.sh"
policy "$H/other.sock" >"$P"
sed -i "s|$T/steps.sh|$T/hup.sh|" "$P"
(cd "$WD" && exec timeout 120 "$WARD" run --watch --policy "$P" --log "$T/hup.db" \
	--workdir "$WD" -- /bin/bash "$T/hup.sh" 2>"$T/hup.err") &
WARD_PID=$!
for _ in $(seq 1200); do [ -e "$WD/ready" ] && break; sleep 0.05; done
kill -HUP "$WARD_PID"
wait "$WARD_PID"
RC=$?
WARD_PID=
check "SIGHUP is forwarded to the command under --watch" [ "$(cat "$WD/hup" 2>/dev/null)" = got-hup ]
check "the command's status after HUP is ward's" [ "$RC" -eq 0 ]

# --- the proxy: a request denied before an edit is allowed after it, and an
# open tunnel to a host the next edit removes is closed and logged
for c in curl ip; do
	command -v $c >/dev/null || { fail "needs $c"; finish; exit 1; }
done
PY=$(readlink -f /usr/bin/python3)
CURL=$(readlink -f "$(command -v curl)")
NS=wwup$$
ip netns add "$NS" || { fail "ip netns add"; finish; exit 1; }
ip link add "wwh$$" type veth peer name up0 netns "$NS"
ip addr add 192.168.179.1/24 dev "wwh$$"
ip link set "wwh$$" up
ip -n "$NS" addr add 192.168.179.2/24 dev up0
ip -n "$NS" link set up0 up
ip -n "$NS" link set lo up
mkdir "$T/www" && echo "hello from upstream" >"$T/www/index.html"
(cd "$T/www" && exec ip netns exec "$NS" "$PY" -m http.server 8080 --bind 192.168.179.2 \
	>/dev/null 2>&1) &
PIDS+=($!)
# an echo server that keeps its connections open
cat >"$T/echo.py" <<'EOF'
import socket, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.168.179.2", 9000))
s.listen(16)
def serve(c):
    while True:
        d = c.recv(4096)
        if not d:
            break
        c.sendall(d)
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
ip netns exec "$NS" "$PY" "$T/echo.py" &
PIDS+=($!)
for _ in $(seq 100); do
	curl -s -o /dev/null --max-time 1 http://192.168.179.2:8080/ &&
		"$PY" -c 'import socket; socket.create_connection(("192.168.179.2", 9000), 1)' \
			2>/dev/null && break
	sleep 0.1
done
printf '192.168.179.2 up.test other.test\n' >"$T/hosts2"
# tunnel.py WD N: CONNECT other.test:9000 through the proxy, one echo; rN
# says OPEN; then, once closeN exists, wait for the proxy to close it: rNb
cat >"$T/tunnel.py" <<'EOF'
import os, socket, sys, time, urllib.parse
wd, n = sys.argv[1], sys.argv[2]
def out(name, text):
    with open(os.path.join(wd, name + ".tmp"), "w") as f:
        f.write(text + "\n")
    os.rename(os.path.join(wd, name + ".tmp"), os.path.join(wd, name))
u = urllib.parse.urlsplit(os.environ["HTTP_PROXY"])
s = socket.create_connection((u.hostname, u.port), timeout=60)
s.sendall(b"CONNECT other.test:9000 HTTP/1.1\r\nHost: other.test:9000\r\n\r\n")
head = b""
while b"\r\n\r\n" not in head:
    b = s.recv(1)
    if not b:
        break
    head += b
parts = head.split(b" ")
if len(parts) < 2 or parts[1] != b"200":
    out("r" + n, "REFUSED " + head[:40].decode("latin-1"))
    sys.exit(0)
s.sendall(b"ping\n")
out("r" + n, "OPEN " + s.recv(100).decode().strip())
for _ in range(1200):
    if os.path.exists(os.path.join(wd, "close" + n)):
        break
    time.sleep(0.05)
try:
    d = s.recv(100)
    out("r" + n + "b", "CLOSED" if not d else "OPEN " + d.decode().strip())
except socket.timeout:
    out("r" + n + "b", "OPEN (no close within the guard)")
except OSError as e:
    out("r" + n + "b", "CLOSED " + str(e.errno))
EOF
WD2=$T/wd2
mkdir "$WD2" && chown "$UID_:$UID_" "$WD2"
cat >"$T/steps2.sh" <<EOF
for n in 1 2 3 4; do
	i=0
	while [ ! -e "$WD2/go\$n" ] && [ \$i -lt 1200 ]; do sleep 0.05; i=\$((i + 1)); done
	[ -e "$WD2/go\$n" ] || exit 3
	if [ "\$(cat "$WD2/go\$n")" = tunnel ]; then
		/usr/bin/python3 "$T/tunnel.py" "$WD2" \$n
	else
		curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 http://other.test:8080/ \
			>"$WD2/r\$n.tmp" 2>&1
		mv "$WD2/r\$n.tmp" "$WD2/r\$n"
	fi
done
EOF
chmod 644 "$T/echo.py" "$T/tunnel.py" "$T/steps2.sh" "$T/hosts2"
chmod -R a+rX "$T/www"
# policy2 [HOSTS...]: curl and python3 may reach up.test and HOSTS
policy2() {
	cat <<EOF
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc, $T/tunnel.py, $T/steps2.sh]
process:
  run_as_user: $UID_
  run_as_group: $UID_
network_policies:
  web:
    binaries: [{ path: $CURL }, { path: $PY }]
    endpoints:
      - { host: up.test, ports: [8080] }
EOF
	for h in "$@"; do echo "      - { host: $h, ports: [8080, 9000] }"; done
}
step2() {
	echo "${2:-curl}" >"$WD2/go$1.tmp" && mv "$WD2/go$1.tmp" "$WD2/go$1"
	for _ in $(seq 1200); do [ -e "$WD2/r$1" ] && break; sleep 0.05; done
	OUT=$(cat "$WD2/r$1" 2>/dev/null)
}
wait_err2() {
	for _ in $(seq 600); do [ "$(grep -c -- "$1" "$ERR2")" -ge "${2:-1}" ] && return 0; sleep 0.05; done
	return 1
}
P2=$T/policy2.yaml
ERR2=$T/stderr2
LOG2=$T/log2.db
policy2 >"$P2"
(cd "$WD2" && exec timeout 120 "$WARD" run --watch --policy "$P2" --log "$LOG2" \
	--workdir "$WD2" --hosts "$T/hosts2" -- /bin/bash "$T/steps2.sh" 2>"$ERR2") &
WARD_PID=$!
step2 1
check "(a) proxy: before the edit, other.test is refused (403)" [ "$OUT" = 403 ]
policy2 other.test >"$P2.new" && mv "$P2.new" "$P2"
check "(a) proxy: the edit is applied live" wait_err2 "policy rev [0-9a-f]* -> [0-9a-f]*: applied: network_policies"
step2 2
check "(a) proxy: after the edit, other.test is allowed (200)" [ "$OUT" = 200 ]
step2 3 tunnel
check "(d) a tunnel to other.test is open (its echo came back)" [ "$OUT" = "OPEN ping" ]
[ "$OUT" = "OPEN ping" ] || echo "  the tunnel said: $OUT"
policy2 >"$P2.new" && mv "$P2.new" "$P2"
check "(d) the edit removing other.test is applied" wait_err2 "policy rev [0-9a-f]* -> " 2
touch "$WD2/close3"
for _ in $(seq 1200); do [ -e "$WD2/r3b" ] && break; sleep 0.05; done
check "(d) the open tunnel is closed by the proxy" grep -q '^CLOSED' "$WD2/r3b"
step2 4
check "(a) proxy reverse: other.test refused again (403)" [ "$OUT" = 403 ]
wait "$WARD_PID"
RC=$?
WARD_PID=
check "the proxy run exits with the command's status" [ "$RC" -eq 0 ]
REV_C=$(sqlite3 "$LOG2" "SELECT policy_rev FROM decisions WHERE layer = 'control'
	AND action = 'allow' ORDER BY id DESC LIMIT 1")
check "(d) the closed tunnel is a proxy deny row 'revoked by policy rev R' (R: the edit's)" \
	[ "$(sqlite3 "$LOG2" "SELECT count(*) FROM decisions WHERE layer = 'proxy'
		AND action = 'deny' AND host = 'other.test' AND port = 9000
		AND reason = 'revoked by policy rev $REV_C'")" -eq 1 ]
check "(a) proxy rows: other.test denied, allowed after the edit, denied after the reverse" \
	[ "$(sqlite3 "$LOG2" "SELECT group_concat(action) FROM (SELECT action FROM decisions
		WHERE layer IN ('proxy', 'l7') AND host = 'other.test' AND port = 8080
		ORDER BY id)")" = deny,allow,deny ]
ip netns del "$NS" 2>/dev/null
ip link del "wwh$$" 2>/dev/null

[ "$FAILED" -gt 0 ] && { cat "$ERR" "$ERR2"; "$WARD" logs --log "$LOG"; "$WARD" logs --log "$LOG2"; }
finish
