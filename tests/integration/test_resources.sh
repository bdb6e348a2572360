#!/bin/bash
# SPDX-License-Identifier: MIT
# Resource limits of the sandbox (policy `resources`, docs/sandbox.md): the
# cgroup files of the leaf (v2, or v1 on hybrid hosts) hold the limits while
# the command runs, defaults apply without a policy section, a bounded fork
# loop meets pids.max (EAGAIN and a row), a memory hog is OOM-killed (137 and
# a row), a fork bomb ends with ward and the host stays responsive, writing
# more than tmp_size into the private /tmp is ENOSPC. Root only.
set -u
. "$(dirname "$0")/lib.sh"
need_root
[ -x "$WARD" ] || { echo "SKIP: no ward binary at $WARD"; exit 77; }
grep -q cgroup2 /proc/self/mountinfo || { echo "SKIP: no cgroup2 mount"; exit 77; }
PY=/usr/bin/python3
[ -x "$PY" ] || { echo "SKIP: needs /usr/bin/python3"; exit 77; }

T=$(test_tmpdir ward-test-res)
chmod 755 "$T"
WPID=
UID_=4243
# ward killed: the sandbox dies with it (PDEATHSIG), its leaves at the next start
cleanup() {
	[ -n "$WPID" ] && kill -KILL "$WPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
W=$T/w
mkdir "$W"
chown "$UID_:$UID_" "$W"
LOG=$T/log.db

policy() { # NAME [resources line]
	{
		echo "version: 1"
		echo "filesystem_policy:"
		echo "  include_workdir: true"
		echo "  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc]"
		echo "process: { run_as_user: $UID_, run_as_group: $UID_ }"
		[ $# -ge 2 ] && echo "$2"
	} >"$T/$1.yaml"
}
run() { # POLICY CMD...: status in RC, output in OUT, the sandbox id in ID
	local pol=$1
	shift
	OUT=$(timeout -s KILL 120 "$WARD" run --policy "$T/$pol.yaml" --log "$LOG" --workdir "$W" -- "$@" 2>&1)
	RC=$?
	OUT=$(no_layer_warnings <<<"$OUT")
	ID=$(sqlite3 "$LOG" "SELECT sandbox FROM decisions WHERE layer = 'lifecycle' ORDER BY id DESC LIMIT 1")
}
row() { # ID RULE: the reason of the lifecycle row RULE of sandbox ID
	sqlite3 "$LOG" "SELECT reason FROM decisions WHERE layer = 'lifecycle' AND sandbox = '$1' AND rule = '$2' AND action = 'deny'"
}

CG=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
# sandbox_pid: the host pid of the init (ward-init: it lives as long as the
# sandbox) of the sandbox whose command wrote its id into $W/ready (the uid
# may be shared with other tests)
sandbox_pid() {
	local id p
	for _ in $(seq 100); do [ -s "$W/ready" ] && break; sleep 0.1; done
	id=$(cat "$W/ready" 2>/dev/null)
	[ -n "$id" ] || return
	for p in $(cat "$CG/ward/$id/cgroup.procs" 2>/dev/null); do
		[ "$(tr -d '\0' <"/proc/$p/cmdline" 2>/dev/null)" = ward-init ] && echo "$p" && return
	done
}

# cgfile PID CONTROLLER FILE_V2 FILE_V1: the path of a limit file of the
# cgroup PID is in, wherever that controller lives (v2 leaf, else v1).
cgfile() {
	local pid=$1 ctl=$2 f2=$3 f1=$4 mnt rel
	rel=$(sed -n 's/^0:://p' /proc/"$pid"/cgroup)
	mnt=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
	if [ -n "$rel" ] && [ -e "$mnt$rel/$f2" ]; then
		echo "$mnt$rel/$f2"
		return
	fi
	rel=$(awk -F: -v c="$ctl" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' /proc/"$pid"/cgroup)
	mnt=$(awk -v c="$ctl" '$8 == "cgroup" { n = split($10, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) { print $5; exit } }' /proc/self/mountinfo)
	[ -n "$rel" ] && [ -n "$mnt" ] && echo "$mnt$rel/$f1"
}

# --- the leaf's files while the command runs
policy lim "resources: { memory: 64M, pids: 32, cpu: 0.5, tmp_size: 2M }"
timeout -s KILL 60 "$WARD" run --policy "$T/lim.yaml" --log "$LOG" --workdir "$W" -- \
	/bin/sh -c 'echo $WARD_SANDBOX >ready; for i in $(seq 300); do [ -e done ] && exit 0; sleep 0.1; done' >"$T/out" 2>&1 &
WPID=$!
SPID=$(sandbox_pid)
if [ -n "$SPID" ]; then
	MEM=$(cat "$(cgfile "$SPID" memory memory.max memory.limit_in_bytes)" 2>/dev/null)
	PIDS=$(cat "$(cgfile "$SPID" pids pids.max pids.max)" 2>/dev/null)
	CPU2=$(cat "$(cgfile "$SPID" cpu cpu.max cpu.cfs_quota_us)" 2>/dev/null)
	SWAP=$(cat "$(cgfile "$SPID" memory memory.swap.max memory.memsw.limit_in_bytes)" 2>/dev/null)
fi
touch "$W/done"
wait "$WPID"
WPID=
rm -f "$W/ready" "$W/done"
[ "${MEM:-}" = 67108864 ] && pass "memory limit in the leaf (64M)" || fail "memory limit: '${MEM:-}'"
PIDS_SEEN=${PIDS:-}
[ "${PIDS:-}" = 32 ] && pass "pids.max in the leaf (32)" || fail "pids.max: '${PIDS:-}'"
case "${CPU2:-}" in
"50000 100000" | 50000) pass "cpu limit in the leaf (0.5 core)" ;;
*) fail "cpu limit: '${CPU2:-}'" ;;
esac
case "${SWAP:-none}" in
0 | 67108864 | none) pass "no swap beyond the memory limit (${SWAP:-no swap accounting})" ;;
*) fail "swap limit: '$SWAP'" ;;
esac
ID=$(sqlite3 "$LOG" "SELECT sandbox FROM decisions WHERE rule = 'start' ORDER BY id DESC LIMIT 1")
grep -q 'limits=memory=67108864,pids=32,cpu=0.500' <<<"$(sqlite3 "$LOG" "SELECT reason FROM decisions WHERE sandbox = '$ID' AND rule = 'start'")" &&
	pass "start row says the limits" || fail "start row: $(sqlite3 "$LOG" "SELECT reason FROM decisions WHERE sandbox = '$ID' AND rule = 'start'")"

# --- defaults without a resources section
policy plain
timeout -s KILL 60 "$WARD" run --policy "$T/plain.yaml" --log "$LOG" --workdir "$W" -- \
	/bin/sh -c 'echo $WARD_SANDBOX >ready; for i in $(seq 300); do [ -e done ] && exit 0; sleep 0.1; done' >"$T/out" 2>&1 &
WPID=$!
SPID=$(sandbox_pid)
MEM= PIDS=
if [ -n "$SPID" ]; then
	MEM=$(cat "$(cgfile "$SPID" memory memory.max memory.limit_in_bytes)" 2>/dev/null)
	PIDS=$(cat "$(cgfile "$SPID" pids pids.max pids.max)" 2>/dev/null)
fi
touch "$W/done"
wait "$WPID"
WPID=
rm -f "$W/ready" "$W/done"
[ "$PIDS" = 4096 ] && pass "default pids.max 4096" || fail "default pids.max: '$PIDS'"
WANT=$(($(awk '/^MemTotal:/ { print $2 }' /proc/meminfo) * 1024 / 100 * 80))
# the kernel rounds the limit down to a page
[ -n "$MEM" ] && [ "$MEM" -le "$WANT" ] && [ $((WANT - MEM)) -lt 65536 ] &&
	pass "default memory limit 80% of MemTotal" || fail "default memory: '$MEM', expected about $WANT"

# --- a bounded fork loop against pids: 32
cat >"$W/forks.py" <<'PY'
import errno, os, time
kids = []
got = "no-EAGAIN"
for i in range(100):
    try:
        pid = os.fork()
    except OSError as e:
        got = errno.errorcode[e.errno]
        break
    if pid == 0:
        time.sleep(30)
        os._exit(0)
    kids.append(pid)
print("forked=%d %s" % (len(kids), got))
for k in kids:
    os.kill(k, 9)
    os.waitpid(k, 0)
PY
chown "$UID_:$UID_" "$W/forks.py"
run lim "$PY" forks.py
[ "$RC" = 0 ] && grep -q " EAGAIN$" <<<"$OUT" && pass "fork loop stopped by pids.max with EAGAIN ($OUT)" ||
	fail "fork loop: status $RC: $OUT"
R=$(row "$ID" pids)
grep -q '^pids.max reached [1-9][0-9]* times$' <<<"$R" && pass "row: $R" || fail "no pids row: '$R'"

# --- the row comes while the command still runs (the counters are watched)
cat >>"$W/forks.py" <<'PY'
import sys
if len(sys.argv) > 1:
    open("ready", "w").write(os.environ["WARD_SANDBOX"])
    for _ in range(300):
        if os.path.exists("done"):
            break
        time.sleep(0.1)
PY
timeout -s KILL 60 "$WARD" run --policy "$T/lim.yaml" --log "$LOG" --workdir "$W" -- "$PY" forks.py wait >"$T/out" 2>&1 &
WPID=$!
for _ in $(seq 100); do [ -s "$W/ready" ] && break; sleep 0.1; done
ID=$(cat "$W/ready" 2>/dev/null)
R=
for _ in $(seq 100); do
	R=$(row "$ID" pids)
	[ -n "$R" ] && break
	sleep 0.1
done
EXITED=$(sqlite3 "$LOG" "SELECT count(*) FROM decisions WHERE sandbox = '$ID' AND rule = 'exit'")
touch "$W/done"
wait "$WPID"
WPID=
rm -f "$W/ready" "$W/done"
[ -n "$ID" ] && [ -n "$R" ] && [ "$EXITED" = 0 ] && pass "pids row while the command runs: $R" ||
	fail "no pids row while running (row '$R', exit rows $EXITED)"
[ "$(sqlite3 "$LOG" "SELECT count(*) FROM decisions WHERE sandbox = '$ID' AND rule = 'pids'")" = 1 ] &&
	pass "one pids row (nothing new at exit)" || fail "pids rows: $(sqlite3 "$LOG" "SELECT reason FROM decisions WHERE sandbox = '$ID' AND rule = 'pids'")"

# --- a memory hog against memory: 64M
run lim "$PY" -c 'b = []
for i in range(1024): b.append(bytearray(1 << 20))
print("survived")'
[ "$RC" = 137 ] && pass "memory hog OOM-killed: ward exits 137" || fail "memory hog: status $RC: $OUT"
R=$(row "$ID" memory)
grep -q '^oom_kill=[1-9]' <<<"$R" && pass "row: $R" || fail "no memory row: '$R'"
grep -q 'signal=SIGKILL' <<<"$(sqlite3 "$LOG" "SELECT reason FROM decisions WHERE sandbox = '$ID' AND rule = 'exit'")" &&
	pass "exit row says SIGKILL" || fail "exit row"

# --- tmp_size: 2M
run lim "$PY" -c 'import errno
try:
    with open("/tmp/big", "wb") as f:
        for i in range(3): f.write(b"x" * (1 << 20)); f.flush()
    print("wrote 3M")
except OSError as e: print(errno.errorcode[e.errno])'
[ "$RC" = 0 ] && grep -q '^ENOSPC$' <<<"$OUT" && pass "more than tmp_size in /tmp: ENOSPC" || fail "tmp_size: status $RC: $OUT"
run plain "$PY" -c 'open("/tmp/big", "wb").write(b"x" * (3 << 20)); print("wrote 3M")'
grep -q '^wrote 3M$' <<<"$OUT" && pass "without tmp_size, 3M fit in /tmp" || fail "default /tmp: $OUT"

# a policy that maps /tmp: tmp_size cannot apply, and the start row says so
policy tmpmap "resources: { tmp_size: 2M }"
sed -i 's|^  include_workdir: true$|  include_workdir: true\n  read_write: [/tmp]|' "$T/tmpmap.yaml"
if has_feature bpf.cgroup_unix; then
	run tmpmap /bin/true
	grep -q 'warnings=tmp_size ignored: the policy maps /tmp' <<<"$(sqlite3 "$LOG" "SELECT reason FROM decisions WHERE sandbox = '$ID' AND rule = 'start'")" &&
		pass "tmp_size with /tmp mapped: a warning in the start row" || fail "no tmp_size warning (status $RC: $OUT)"
else # no unix-socket layer: /tmp stays private, and tmp_size applies to it
	run tmpmap "$PY" -c '
import errno
try: open("/tmp/big", "wb").write(b"x" * (3 << 20)); print("wrote 3M")
except OSError as e: print(errno.errorcode[e.errno])'
	grep -q "tmpmap.yaml:[0-9]*:[0-9]*: /tmp not mapped: without the unix-socket layer /tmp is private" <<<"$OUT" &&
		grep -q '^ENOSPC$' <<<"$OUT" &&
		pass "tmp_size with /tmp mapped, no unix-socket layer: /tmp private, its size applies" ||
		fail "/tmp mapped without the unix-socket layer: status $RC: $OUT"
fi

# --- a fork bomb ends with ward; the host stays responsive. Only where
# pids.max was seen in the leaf above: without it the bomb would take the
# (shared) host.
if [ "$PIDS_SEEN" != 32 ]; then
	fail "fork bomb not run: no pids limit was seen in the leaf"
	finish
	exit
fi
policy bomb "resources: { pids: 64 }"
START=$(date +%s)
timeout -s KILL 60 "$WARD" run --policy "$T/bomb.yaml" --log "$LOG" --workdir "$W" -- \
	/bin/sh -c 'b() { b | b & }; b; sleep 30' >/dev/null 2>&1 &
WPID=$!
PIDS_V1=$(awk '$9 == "cgroup" && $NF ~ /(^|,)pids(,|$)/ { print $5; exit }' /proc/self/mountinfo)
# until the bomb has hit its limit, not a fixed time: ward takes seconds to
# build the sandbox in the test guest (bounded: 60 s)
for _ in $(seq 600); do
	BID=$(sqlite3 "$LOG" "SELECT sandbox FROM decisions WHERE layer = 'lifecycle' AND rule = 'start' ORDER BY id DESC LIMIT 1" 2>/dev/null)
	# the pids controller's leaf: v2, or v1 on hybrid hosts
	HIT=$(sed -n 's/^max //p' "$CG/ward/$BID/pids.events" "$PIDS_V1/ward/$BID/pids.events" 2>/dev/null | head -n1)
	[ -n "$BID" ] && [ "${HIT:-0}" -gt 0 ] && break
	sleep 0.1
done
RESP=no
timeout 5 /bin/true && [ "$(timeout 5 /bin/sh -c 'echo alive')" = alive ] && RESP=yes
kill -TERM "$WPID"
for _ in $(seq 100); do kill -0 "$WPID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$WPID" 2>/dev/null; then
	fail "ward still running 10 s after SIGTERM during a fork bomb"
else
	wait "$WPID"
	pass "fork bomb: ward ended on SIGTERM (status $?)"
fi
WPID=
[ "$RESP" = yes ] && pass "host responsive during the fork bomb" || fail "host unresponsive"
ID=$(sqlite3 "$LOG" "SELECT sandbox FROM decisions WHERE layer = 'lifecycle' ORDER BY id DESC LIMIT 1")
LEFT=$(grep -l "/ward/$ID\$" /proc/[0-9]*/cgroup 2>/dev/null | wc -l)
[ -n "$ID" ] && [ "$LEFT" = 0 ] && [ ! -e "$CG/ward/$ID" ] && pass "nothing of the bomb survived ward" ||
	fail "the bomb's sandbox $ID: $LEFT processes left"
R=$(row "$ID" pids)
[ -n "$R" ] && pass "fork bomb row: $R" || fail "no pids row for the bomb"

finish
