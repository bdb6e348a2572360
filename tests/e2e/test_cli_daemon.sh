#!/bin/bash
# SPDX-License-Identifier: MIT
# The CLI against a real `ward daemon` (temp socket, state directory and log):
# sandbox create with relative paths, list --json fields, a refused policy as
# FILE:LINE:COL lines, exec (stdin/stdout passed, exit statuses, a forwarded
# SIGTERM, 125 with one line when refused or unreachable), policy apply
# --dry-run / --json / --wait, secret set + list (the value never printed nor
# logged), sessions (table and --json), stop/start/rm, a non-member uid
# refused, --help of every verb. Root only; 77 when something needed is missing.
set -u
. "$(dirname "$0")/../integration/lib.sh"
need_root
for t in python3 sqlite3 setpriv findmnt script stty; do
	command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
[ -n "$(findmnt -t cgroup2 -n -o TARGET | head -1)" ] || { echo "SKIP: no cgroup2 mount"; exit 77; }

T=$(mktemp -d /tmp/ward-test-cli.XXXXXX)
chmod 755 "$T"
export WARD_SOCKET=$T/ward.sock
LOG=$T/log.db
DPID=
cleanup() {
	if [ -n "$DPID" ]; then
		kill "$DPID" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$DPID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT

# one JSON object per line on stdin: FIELD of the line whose name is NAME
jfield() { # NAME FIELD
	python3 -c '
import json, sys
for l in sys.stdin:
    o = json.loads(l)
    if o.get("name", o.get("sandbox")) == sys.argv[1]:
        v = o.get(sys.argv[2]); print("null" if v is None else v); break' "$1" "$2"
}

cat >"$T/policy.yaml" <<'EOF'
version: 1
extends: [deny-all]
filesystem_policy:
  include_workdir: true
network_policies:
  web:
    binaries: [{ path: /usr/bin/curl }]
    endpoints: [{ host: a.example.test, port: 443 }]
EOF
sed 's/endpoints: .*/endpoints: [{ host: a.example.test, port: 443 }, { host: b.example.test, port: 443 }]/' \
	"$T/policy.yaml" >"$T/wider.yaml"
printf 'version: 1\nextends: [deny-all]\nnetwork_policies:\n  web:\n    bogus: 1\n' >"$T/bad.yaml"
mkdir -p "$T/work"

"$WARD" daemon --socket "$WARD_SOCKET" --state "$T/state" --log "$LOG" >"$T/daemon.out" 2>&1 &
DPID=$!
for _ in $(seq 100); do [ -S "$WARD_SOCKET" ] && break; sleep 0.1; done
check "the daemon listens" test -S "$WARD_SOCKET"

# --- help of every verb (the text the man page is made from)
for v in "sandbox" "sandbox create" "sandbox list" "sandbox stop" "sandbox start" \
	"sandbox rm" "exec" "sessions" "secret" "secret set" "secret list" "secret rm" \
	"policy apply"; do
	# shellcheck disable=SC2086
	"$WARD" $v --help >"$T/help" 2>&1 && grep -q "^Usage: ward $v" "$T/help" ||
		fail "ward $v --help"
done
pass "--help of every daemon verb"

# --- create: relative paths made absolute; list --json
(cd "$T" && "$WARD" sandbox create box --policy policy.yaml --workdir work >"$T/out" 2>&1)
check "create exits 0" test $? -eq 0
check "create prints the new row" grep -q "^box  *running" "$T/out"
"$WARD" sandbox list --json >"$T/list"
check "list --json: one object per line" python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 1
r = rows[0]
for k in ("name", "state", "policy_rev", "sessions", "uptime_ms", "workdir", "created_ns", "id"):
    assert k in r, k
assert r["state"] == "running" and len(r["policy_rev"]) == 64' "$T/list"
check "the workdir went absolute" test "$(jfield box workdir <"$T/list")" = "$T/work"
REV1=$(jfield box policy_rev <"$T/list")
"$WARD" sandbox list >"$T/out"
check "list: a table" grep -Eq "^box +running +${REV1:0:12} " "$T/out"

# --idle-timeout: a duration in the daemon's milliseconds
"$WARD" sandbox create idler --policy "$T/policy.yaml" --workdir "$T/work" --idle-timeout 10m >/dev/null
check "--idle-timeout 10m is 600000 ms" \
	test "$("$WARD" sandbox list --json | jfield idler idle_timeout_ms)" = 600000
"$WARD" sandbox rm idler >/dev/null
"$WARD" sandbox create idler2 --policy "$T/policy.yaml" --idle-timeout 5x 2>/dev/null
check "--idle-timeout 5x is a usage error" test $? -eq 2

# --- a refused policy: the compiler's lines, as they are
(cd "$T" && "$WARD" sandbox create other --policy bad.yaml >"$T/out" 2>"$T/err")
check "create with a bad policy exits 1" test $? -eq 1
check "its errors are FILE:LINE:COL lines" grep -Eq "^$T/bad.yaml:[0-9]+:[0-9]+: " "$T/err"
check "nothing was created" sh -c "! '$WARD' sandbox list --json | grep -q '\"other\"'"
"$WARD" sandbox create box --policy "$T/policy.yaml" 2>"$T/err"
check "a second 'box' is refused" test $? -eq 1
check "usage error: exit 2" sh -c "'$WARD' sandbox create 2>/dev/null; test \$? -eq 2"

# --- exec
out=$("$WARD" exec box -- /bin/echo hello 2>"$T/err")
check "exec: stdout is ours (rc=$?, '$out': $(head -c 300 "$T/err"))" test "$out" = hello
out=$(echo piped | "$WARD" exec box -- /bin/cat)
check "exec: stdin is ours" test "$out" = piped
"$WARD" exec box -- /bin/sh -c 'exit 7'
check "exec: the command's status" test $? -eq 7
"$WARD" exec box -- /nonexistent/cmd 2>/dev/null
check "exec: not found is 127" test $? -eq 127
"$WARD" exec box -- /bin/sh -c 'kill -KILL $$'
check "exec: killed by signal 9 is 137" test $? -eq 137
out=$("$WARD" exec box -- /bin/sh -c 'pwd')
check "exec: starts in the workdir ($out)" test "$out" = "$T/work"
"$WARD" exec nosuch -- /bin/true 2>"$T/err"
rc=$?
check "exec in a missing sandbox: 125" test $rc -eq 125
check "... with a one-line reason" test "$(wc -l <"$T/err")" -eq 1
"$WARD" exec --socket "$T/none.sock" box -- /bin/true 2>"$T/err"
rc=$?
check "exec without a daemon: 125" test $rc -eq 125
check "... with a one-line reason" test "$(wc -l <"$T/err")" -eq 1

# a forwarded SIGTERM: sh traps it and says so through our stdout
"$WARD" exec box -- /bin/sh -c 'trap "echo got-term; exit 3" TERM; echo up; while :; do sleep 0.1; done' \
	>"$T/sig" 2>&1 &
EPID=$!
for _ in $(seq 100); do grep -q up "$T/sig" && break; sleep 0.1; done
kill -TERM $EPID
for _ in $(seq 100); do kill -0 $EPID 2>/dev/null || break; sleep 0.1; done
wait $EPID
rc=$?
check "exec: SIGTERM forwarded, status back (rc=$rc)" test $rc -eq 3
check "... the command saw it" grep -q got-term "$T/sig"

# a terminal (script(1) makes one): the command has it, and a size change
# reaches it (our SIGWINCH -> a winsize message -> the session's SIGWINCH)
chmod 777 "$T/work"
cat >"$T/winch.sh" <<EOF
stty rows 33 cols 101
"$WARD" exec box -- sh -c 'test -t 0 && echo on-a-tty; trap "stty size; exit 4" WINCH; touch ready; while :; do sleep 0.1; done' </dev/tty &
p=\$!
for i in \$(seq 400); do [ -e "$T/work/ready" ] && break; sleep 0.1; done
stty rows 40 cols 120
wait \$p
echo "rc=\$?"
EOF
timeout 90 script -qec "sh $T/winch.sh" /dev/null >"$T/tty.out" 2>&1
check "exec on a terminal: the command has it" grep -q on-a-tty "$T/tty.out"
check "... a size change reaches it" grep -q "^40 120" "$T/tty.out"
check "... its status comes back" grep -q "rc=4" "$T/tty.out"

# --- policy apply
(cd "$T" && "$WARD" policy apply box wider.yaml --dry-run >"$T/out" 2>&1)
check "apply --dry-run exits 0" test $? -eq 0
check "... prints the added access" grep -q "^  + .*b.example.test:443" "$T/out"
check "... and changes nothing" test "$("$WARD" sandbox list --json | jfield box policy_rev)" = "$REV1"
"$WARD" policy apply box "$T/wider.yaml" --dry-run --json >"$T/out"
check "apply --json: one object" python3 -c '
import json, sys
o = json.loads(open(sys.argv[1]).read())
assert o["old_rev"] != o["new_rev"] and o["dry_run"] is True
assert any("b.example.test" in json.dumps(i) for i in o["diff"]["added"])' "$T/out"
"$WARD" policy apply box "$T/bad.yaml" >"$T/out" 2>"$T/err"
check "apply of a bad file exits 1" test $? -eq 1
check "... with FILE:LINE:COL lines" grep -Eq "^$T/bad.yaml:[0-9]+:[0-9]+: " "$T/err"
"$WARD" policy apply box "$T/wider.yaml" --wait >"$T/out" 2>&1
check "apply --wait exits 0" test $? -eq 0
check "... says how long enforcing took" grep -Eq "^enforced in [0-9.]+ ms" "$T/out"
check "... the sandbox has the new rev" \
	test "$("$WARD" sandbox list --json | jfield box policy_rev)" != "$REV1"
# a directory the running sandbox does not map: new sessions get it
mkdir -p "$T/extra" && echo extra >"$T/extra/x" && chmod -R a+rX "$T/extra"
sed "s|^  include_workdir: true|&\n  read_only: [$T/extra]|" "$T/wider.yaml" >"$T/mounts.yaml"
"$WARD" exec box -- cat "$T/extra/x" >"$T/out" 2>&1
check "before: the directory is not in the sandbox" test $? -ne 0
"$WARD" policy apply box "$T/mounts.yaml" --wait >"$T/out" 2>&1
check "apply of a new mapped path exits 0 ($(tr '\n' ' ' <"$T/out"))" test $? -eq 0
check "... says the filesystem applies to new sessions" \
	grep -Eq "^  filesystem_policy +applies to new sessions only" "$T/out"
out=$("$WARD" exec box -- cat "$T/extra/x" 2>&1)
check "... and a new session reads it ($out)" test "$out" = extra
# protected paths are the sandbox's own (made before its init): next start
sed "s|^  read_only: \[$T/extra\]|&\n  binaries:\n    - path: /usr/bin/head\n      read_only: [$T/extra]|" \
	"$T/mounts.yaml" >"$T/prot.yaml"
"$WARD" policy apply box "$T/prot.yaml" --wait >"$T/out" 2>&1
check "apply of a protected path exits 0 ($(tr '\n' ' ' <"$T/out"))" test $? -eq 0
check "... says it applies at the next start" \
	grep -Eq "^  filesystem_policy.binaries +applies at the next start" "$T/out"

# --- secrets: never on argv, never printed, never logged
VALUE="cli-s3cret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
printf '%s\n' "$VALUE" | "$WARD" secret set tok >"$T/out" 2>&1
check "secret set from stdin" test $? -eq 0
"$WARD" secret list >>"$T/out" 2>&1
"$WARD" secret list --json >"$T/sl" 2>&1
cat "$T/sl" >>"$T/out"
check "secret list names it" grep -q '"name":"tok"' "$T/sl"
check "the value is in the store, without the newline" \
	test "$(cat "$T/state/secrets/tok")" = "$VALUE" -a "$(wc -c <"$T/state/secrets/tok")" -eq ${#VALUE}
check "the value is never printed" sh -c "! grep -qF '$VALUE' '$T/out'"
check "nor logged" sh -c "! sqlite3 '$LOG' .dump | grep -qF '$VALUE'"
"$WARD" secret set tok "$VALUE" </dev/null >/dev/null 2>&1
check "a value on argv is a usage error" test $? -eq 2
"$WARD" secret rm tok >/dev/null
check "secret rm" sh -c "! '$WARD' secret list --json | grep -q tok"

# without a daemon, root works on the store directly (what ward run reads)
if [ ! -e /run/ward/ward.sock ]; then
	printf 'local-value\n' | env -u WARD_SOCKET WARD_STATE="$T/local" "$WARD" secret set loc \
		>/dev/null 2>"$T/err"
	check "no daemon: secret set on the store itself" \
		test "$(cat "$T/local/secrets/loc" 2>/dev/null)" = local-value
	check "... and says so" grep -q "using the store $T/local/secrets directly" "$T/err"
	check "... list too" sh -c "env -u WARD_SOCKET WARD_STATE='$T/local' '$WARD' secret list --json 2>/dev/null | grep -q '\"loc\"'"
else
	skip "no-daemon secret store: a daemon answers on /run/ward/ward.sock here"
fi

# --- sessions
"$WARD" sessions box --json >"$T/sess"
check "sessions --json: one object per session" python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 10, len(rows)  # every exec above that ran
for k in ("id", "sandbox", "command", "start_ns", "end_ns", "duration_ms", "status", "rows",
          "tokens_in", "tokens_out", "cost_usd"):
    assert k in rows[0], k
assert len({r["id"] for r in rows}) == len(rows)
assert 7 in [r["status"] for r in rows] and 127 in [r["status"] for r in rows]' "$T/sess"
"$WARD" sessions >"$T/out"
check "sessions: a table" grep -Eq "^[^ ]+ +box .* 7 .*exit 7" "$T/out"

# --- authorisation: a uid in neither group
setpriv --reuid=65534 --regid=65534 --clear-groups "$WARD" sandbox list >"$T/out" 2>"$T/err"
check "a non-member is refused (exit 1)" test $? -eq 1
check "... with the daemon's reason, not 'connection closed'" grep -q "uid 65534 is not" "$T/err"

# --- stop / start / rm
"$WARD" sandbox stop box >/dev/null
check "stop" test "$("$WARD" sandbox list --json | jfield box state)" = stopped
"$WARD" sandbox start box >/dev/null
check "start" test "$("$WARD" sandbox list --json | jfield box state)" = running
"$WARD" sandbox rm box >/dev/null
check "rm" test -z "$("$WARD" sandbox list --json)"
"$WARD" sandbox rm box 2>"$T/err"
check "rm of a missing sandbox: exit 1, the reason" grep -q "box" "$T/err"

finish
