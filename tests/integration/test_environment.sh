#!/bin/bash
# SPDX-License-Identifier: MIT
# The sandbox sees nothing of ward: the command's environment is
# deny-by-default (secrets in ward's environment are absent from `env` and
# from every /proc/*/environ and /proc/*/cmdline of the sandbox, read inside
# and, as root, from the host), pass/set work, a secret-like name never
# passes through a glob, the start row names variables without values;
# pid 1 is ward-init (no ward arguments, empty environment, no file of ward's
# configuration open). Root only.
set -u
. "$(dirname "$0")/lib.sh"
need_root
[ -x "$WARD" ] || { echo "SKIP: no ward binary at $WARD"; exit 77; }
grep -q cgroup2 /proc/self/mountinfo || { echo "SKIP: no cgroup2 mount"; exit 77; }
PY=/usr/bin/python3
[ -x "$PY" ] || { echo "SKIP: needs /usr/bin/python3"; exit 77; }

T=$(test_tmpdir ward-test-env)
chmod 755 "$T"
WPID=
cleanup() {
	[ -n "$WPID" ] && kill -KILL "$WPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
W=$T/w
mkdir "$W"
chown 4242:4242 "$W"
LOG=$T/log.db
POL=$T/policy-path-marker.yaml
cat >"$POL" <<'YAML'
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc]
process:
  run_as_user: 4242
  run_as_group: 4242
environment:
  pass: [EDITOR, "MYAPP_*", EXACT_API_KEY]
  set: { SET_ME: set-value, EDITOR: set-wins }
YAML

# Inside: print what the command sees, then wait (bounded) so the host can
# look at every process of the sandbox.
cat >"$W/probe.py" <<'PY'
import os, sys, time
for k in sorted(os.environ):
    print("ENV %s=%s" % (k, os.environ[k]))
seen = []
for p in os.listdir("/proc"):
    if not p.isdigit():
        continue
    for f in ("environ", "cmdline"):
        try:
            data = open("/proc/%s/%s" % (p, f), "rb").read()
            seen.append("%s/%s" % (p, f))
            print("PROC %s/%s %s" % (p, f, data.replace(b"\0", b" ").decode(errors="replace")))
        except OSError as e:
            print("PROCERR %s/%s %s" % (p, f, e.strerror))
print("READ " + " ".join(sorted(seen)))
print("FDS " + " ".join(sorted(os.listdir("/proc/self/fd"))))
for l in open("/proc/self/cgroup"):
    print("CGROUP " + l.strip())
open("ready", "w").write(os.environ.get("WARD_SANDBOX", ""))
for _ in range(300):
    if os.path.exists("done"):
        break
    time.sleep(0.1)
PY
chown 4242:4242 "$W/probe.py"

CG=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
AWS_SECRET_ACCESS_KEY=sekrit-aws GITHUB_TOKEN=sekrit-gh UNLISTED_VAR=sekrit-unlisted \
	MYAPP_MODE=glob-ok MYAPP_TOKEN=sekrit-glob EXACT_API_KEY=exact-ok EDITOR=vim \
	WARD_LOG="$LOG" \
	"$WARD" run --policy "$POL" --log "$LOG" --workdir "$W" -- "$PY" probe.py >"$T/out" 2>&1 &
WPID=$!
for _ in $(seq 100); do [ -s "$W/ready" ] && break; sleep 0.1; done
ID=$(cat "$W/ready" 2>/dev/null)
HOSTVIEW=
NPROC=0
if [ -n "$ID" ] && [ -r "$CG/ward/$ID/cgroup.procs" ]; then
	for p in $(cat "$CG/ward/$ID/cgroup.procs"); do
		NPROC=$((NPROC + 1))
		HOSTVIEW+="pid $p: $(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null) | $(tr '\0' ' ' </proc/$p/environ 2>/dev/null)"$'\n'
		for fd in /proc/$p/fd/*; do
			HOSTVIEW+="fd $p ${fd##*/} $(readlink "$fd" 2>/dev/null)"$'\n'
		done
	done
fi
touch "$W/done"
wait "$WPID"
RC=$?
WPID=
OUT=$(cat "$T/out")

[ "$RC" = 0 ] && pass "probe ran" || fail "probe status $RC: $OUT"
[ "$NPROC" -ge 2 ] && pass "host saw the sandbox's processes ($NPROC)" ||
	fail "host view: no processes in $CG/ward/$ID"

# --- inside: env, and every /proc/*/environ and cmdline the command can read
INSIDE=$(grep -E '^(ENV|PROC) ' <<<"$OUT")
for s in sekrit AWS_SECRET_ACCESS_KEY GITHUB_TOKEN UNLISTED_VAR MYAPP_TOKEN WARD_LOG; do
	grep -q -- "$s" <<<"$INSIDE" && fail "inside: $s visible" || pass "inside: no $s"
done
grep -q '^PROC 1/cmdline ward-init $' <<<"$OUT" && pass "inside: /proc/1/cmdline is ward-init" ||
	fail "inside: /proc/1/cmdline: $(grep 'PROC 1/cmdline' <<<"$OUT")"
for s in -- --policy policy-path-marker log.db; do
	grep -q -- "$s" <<<"$(grep '^PROC ' <<<"$OUT")" && fail "inside: '$s' in a /proc file" ||
		pass "inside: no '$s' in /proc"
done
grep -q '^READ .*2/environ' <<<"$OUT" && pass "inside: the command's own environ was read" ||
	fail "inside: nothing read: $(grep '^READ' <<<"$OUT")"
grep -q '^ENV MYAPP_MODE=glob-ok$' <<<"$OUT" && pass "glob-passed name present" || fail "MYAPP_MODE missing"
grep -q '^ENV EXACT_API_KEY=exact-ok$' <<<"$OUT" && pass "secret-like name passed by exact name" ||
	fail "EXACT_API_KEY missing"
grep -q '^ENV SET_ME=set-value$' <<<"$OUT" && pass "set value present" || fail "SET_ME missing"
grep -q '^ENV EDITOR=set-wins$' <<<"$OUT" && pass "set overrides a passed name" || fail "EDITOR: $(grep EDITOR <<<"$OUT")"
grep -q '^ENV PATH=' <<<"$OUT" && grep -q '^ENV WARD_SANDBOX=' <<<"$OUT" && pass "core set and WARD_SANDBOX present" ||
	fail "core set missing"
grep -q '^FDS 0 1 2 3$' <<<"$OUT" && pass "the command has only stdin, stdout, stderr (3: the listing)" ||
	fail "command fds: $(grep '^FDS' <<<"$OUT")"

grep -q '^CGROUP 0::/$' <<<"$OUT" && pass "cgroup namespace: the leaf is / inside" ||
	fail "cgroup inside: $(grep '^CGROUP 0:' <<<"$OUT")"

# --- host side, as root: what no process of the sandbox holds
for s in sekrit AWS_SECRET_ACCESS_KEY GITHUB_TOKEN MYAPP_TOKEN -- --policy policy-path-marker log.db; do
	grep -q -- "$s" <<<"$HOSTVIEW" && fail "host view: '$s' in a sandbox process" ||
		pass "host view: no '$s' in any sandbox process"
done
INIT_LINE=$(grep '^pid .*: ward-init ' <<<"$HOSTVIEW")
[ -n "$INIT_LINE" ] && [ "${INIT_LINE##*| }" = "" ] && pass "host view: init is ward-init with an empty environment" ||
	fail "host view of init: $(head -3 <<<"$HOSTVIEW")"
INIT_PID=$(sed -n 's/^pid \([0-9]*\): ward-init .*/\1/p' <<<"$HOSTVIEW")
INIT_FDS=$(grep "^fd $INIT_PID " <<<"$HOSTVIEW" | awk '{ print $3 }' | sort -n | tr '\n' ' ')
[ "$INIT_FDS" = "0 1 2 3 " ] && grep -q "^fd $INIT_PID 3 socket:" <<<"$HOSTVIEW" &&
	pass "init holds only stdio and its socket to ward" || fail "init fds: $INIT_FDS"

# --- the start row: names, never values
START=$(sqlite3 "$LOG" "SELECT reason FROM decisions WHERE layer = 'lifecycle' AND rule = 'start' AND sandbox = '$ID'")
grep -q ' env=.*MYAPP_MODE' <<<"$START" && grep -q 'SET_ME' <<<"$START" && grep -q 'PATH' <<<"$START" &&
	pass "start row lists the names passed" || fail "start row: $START"
grep -qE 'glob-ok|set-value|exact-ok|sekrit|AWS_SECRET|MYAPP_TOKEN|=/' <<<"${START#* env=}" &&
	fail "start row shows values or secrets: $START" || pass "start row has no values"

finish
