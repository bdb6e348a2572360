#!/bin/bash
# SPDX-License-Identifier: MIT
# ward run on the real kernel: filesystem view, Landlock, seccomp, identity,
# pid namespace, exit statuses, signals, lifecycle rows, cleanup.
# Root only; exit 77 (skip) when a kernel feature is missing.
set -eu

WARD=${WARD:-$(pwd)/build/ward}
# shellcheck source=tmpdir.sh
. "$(dirname "$0")/tmpdir.sh"
# shellcheck source=kernel.sh
. "$(dirname "$0")/kernel.sh"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -x "$WARD" ] || { echo "SKIP: no ward binary at $WARD"; exit 77; }
grep -q cgroup2 /proc/self/mountinfo || { echo "SKIP: no cgroup2 mount"; exit 77; }
PY=/usr/bin/python3
[ -x "$PY" ] || { echo "SKIP: needs /usr/bin/python3"; exit 77; }
ABI=$("$PY" -c 'import ctypes; print(ctypes.CDLL(None, use_errno=True).syscall(444, None, 0, 1))')
[ "$ABI" -ge 1 ] 2>/dev/null || { echo "SKIP: no Landlock"; exit 77; }

T=$(test_tmpdir ward-test-run)
chmod 755 "$T"
LOG=$T/log.db
UID_=4242
pass=0
fail=0
trap 'rm -rf "$T"' EXIT

ok() { echo "PASS: $1"; pass=$((pass + 1)); }
ko() { echo "FAIL: $1"; fail=$((fail + 1)); }

# policy NAME [include_workdir] [extra yaml lines...]: writes $T/NAME.yaml
policy() {
	local name=$1 incl=${2:-true}
	shift 2 || shift $#
	{
		echo "version: 1"
		echo "filesystem_policy:"
		echo "  include_workdir: $incl"
		echo "  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc]"
		for l in "$@"; do echo "$l"; done
		echo "process:"
		echo "  run_as_user: $UID_"
		echo "  run_as_group: $UID_"
	} >"$T/$name.yaml"
}

# newdir NAME: a fresh workdir owned by the sandbox uid
newdir() {
	mkdir -p "$T/$1"
	chown "$UID_:$UID_" "$T/$1"
	echo "$T/$1"
}

# run POLICY WORKDIR CMD...: ward run; stdout+stderr in $OUT, status in $RC
run() {
	local pol=$1 wd=$2
	shift 2
	set +e
	OUT=$("$WARD" run --policy "$T/$pol.yaml" --log "$LOG" --workdir "$wd" -- "$@" 2>&1)
	RC=$?
	OUT=$(no_layer_warnings <<<"$OUT")
	set -e
}

check() { # NAME EXPECTED_RC [GREP]
	if [ "$RC" != "$2" ]; then
		ko "$1 (status $RC, expected $2): $OUT"
	elif [ $# -ge 3 ] && ! grep -q -- "$3" <<<"$OUT"; then
		ko "$1 (output lacks '$3'): $OUT"
	else
		ok "$1"
	fi
}

# Mount points present before; a sandbox mount that leaked would be a new one
# (network namespaces other tests create under /run/netns are not ours).
mounts() { awk '{ print $5 }' /proc/self/mountinfo | grep -v '^/run/netns/' | sort -u; }
MOUNTS_BEFORE=$(mounts)
policy base true
W=$(newdir w)

# --- filesystem view
run base "$W" /bin/sh -c 'for p in /run /var /root /home /srv /boot; do [ -e $p ] && echo VISIBLE $p; done; echo done'
check "host /run, /var, /root, /home are not visible" 0 '^done$'
if has_feature bpf.cgroup_unix; then
	[ "$(grep -c VISIBLE <<<"$OUT")" = 0 ] || ko "something visible: $OUT"
else
	# without the unix-socket layer ward mounts a private /run and /var/tmp
	[ "$(grep VISIBLE <<<"$OUT" | tr '\n' ' ')" = "VISIBLE /run VISIBLE /var " ] ||
		ko "something visible: $OUT"
	run base "$W" /bin/sh -c 'echo run $(ls -A /run) var/tmp $(ls -A /var/tmp)'
	check "  but /run and /var/tmp are ward's own, empty" 0 '^run var/tmp$'
fi

run base "$W" "$PY" -c 'import os
try:
    os.stat("/var/lib"); print("visible")
except FileNotFoundError: print("ENOENT")'
check "path outside the policy: ENOENT" 0 ENOENT

# Not under /tmp: the private /tmp's Landlock rule would cover it.
policy nowork false
T2=$(test_tmpdir ward-test-run /var/tmp)
chmod 755 "$T2"
trap 'rm -rf "$T" "$T2"' EXIT
mkdir "$T2/w2"
chown "$UID_:$UID_" "$T2/w2"
W2=$T2/w2
echo secret >"$W2/secret"
chmod 644 "$W2/secret"
run nowork "$W2" "$PY" -c 'import errno
try:
    open("'"$W2"'/secret").read(); print("READ")
except OSError as e: print(errno.errorcode[e.errno])'
check "visible but not allowed by Landlock: EACCES" 0 EACCES

run base "$W" "$PY" -c 'import errno
for p in ("/etc/ward-test", "/usr/ward-test"):
    try:
        open(p, "w"); print("WROTE", p)
    except OSError as e: print(errno.errorcode[e.errno])'
if [ "$RC" = 0 ] && ! grep -q WROTE <<<"$OUT" && [ "$(grep -cE 'EROFS|EACCES' <<<"$OUT")" = 2 ]; then
	ok "read-only paths cannot be written"
else
	ko "read-only paths cannot be written: $OUT"
fi
[ ! -e /etc/ward-test ] || { ko "/etc/ward-test created on the host"; rm -f /etc/ward-test; }

RW=$(newdir rw)
policy rwp true "  read_write: [$RW]"
run rwp "$W" /bin/sh -c "echo hello >$RW/out && cat $RW/out"
check "read-write path can be written" 0 hello
[ "$(cat "$RW/out" 2>/dev/null)" = hello ] && ok "write reached the host path" || ko "write did not reach the host"

run base "$W" /bin/sh -c 'echo x >file && cat file'
check "workdir is read-write with include_workdir" 0 x

run nowork "$W2" /bin/sh -c 'echo x >file'
[ "$RC" != 0 ] && [ ! -e "$W2/file" ] && ok "workdir is read-only without include_workdir" ||
	ko "workdir writable without include_workdir: $OUT"

touch "/tmp/ward-host-marker.$$"
run base "$W" /bin/sh -c "echo x >/tmp/t && cat /tmp/t >/dev/null && [ ! -e /tmp/ward-host-marker.$$ ] && echo private"
rm -f "/tmp/ward-host-marker.$$"
check "private /tmp" 0 private

run base "$W" /bin/sh -c 'test -L /bin && readlink /bin'
if [ -L /bin ]; then check "symlinked policy path stays a symlink" 0 "$(readlink /bin)"; fi

run base "$W" /bin/sh -c 'echo z >/dev/null && head -c4 /dev/urandom | wc -c && test -c /dev/tty && test -d /dev/pts && test -d /dev/shm && test -L /dev/fd && echo devok'
check "minimal /dev" 0 devok

# --- seccomp and capabilities
run base "$W" "$PY" -c 'import socket, ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
def e(f):
    try:
        f(); return "OK"
    except OSError as x: return errno.errorcode[x.errno]
print("raw", e(lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)))
print("raw6", e(lambda: socket.socket(socket.AF_INET6, socket.SOCK_RAW, 58)))
print("packet", e(lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)))
def sc(*a):
    r = libc.syscall(*a); return "OK" if r >= 0 else errno.errorcode[ctypes.get_errno()]
print("ptrace", sc(101, 0, 0, 0, 0))
print("userns", sc(272, 0x10000000))
print("bpf", sc(321, 0, 0, 0))
print("mount", sc(165, b"none", b"/tmp", b"tmpfs", 0, 0))
print("io_uring", sc(425, 1, 0))
print("clone3", sc(435, 0, 0))
print("tcp", e(lambda: socket.create_connection(("127.0.0.1", 1), 1)))
print("udp", e(lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM).close()))'
for k in raw raw6 packet ptrace userns bpf mount io_uring; do
	grep -q "^$k EPERM$" <<<"$OUT" && ok "seccomp: $k -> EPERM" || ko "seccomp: $k not EPERM: $OUT"
done
grep -q "^clone3 ENOSYS$" <<<"$OUT" && ok "seccomp: clone3 -> ENOSYS" || ko "clone3: $OUT"
# Loopback inside the sandbox's own netns stays usable (local dev servers)...
grep -q "^tcp ECONNREFUSED$" <<<"$OUT" && ok "loopback TCP connect reaches the netns (refused: no server)" || ko "tcp: $OUT"
grep -q "^udp OK$" <<<"$OUT" && ok "ordinary sockets still work" || ko "udp: $OUT"
# ...unless the policy asks Landlock to restrict TCP connect to ward's ports.
if [ "$ABI" -ge 4 ]; then
	policy tcpr true "landlock:" "  restrict_tcp: true"
	run tcpr "$W" "$PY" -c 'import socket
try:
    socket.create_connection(("127.0.0.1", 1), 1)
except OSError as x: print("tcp", x.errno)'
	check "landlock restrict_tcp: TCP connect -> EACCES" 0 "^tcp 13$"
fi

# --- identity, pid namespace
run base "$W" /bin/sh -c 'echo uid=$(id -u) gid=$(id -g) groups=$(id -G) pid=$$; grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status; echo nproc=$(ls /proc | grep -c "^[0-9]*$"); hostname'
check "runs as the policy's uid" 0 "uid=$UID_ gid=$UID_ groups=$UID_ "
grep -q "pid=2$" <<<"$OUT" && ok "command is pid 2 (init is 1)" || ko "pid: $OUT"
grep -q "CapEff:.0000000000000000" <<<"$OUT" && grep -q "CapBnd:.0000000000000000" <<<"$OUT" &&
	grep -q "NoNewPrivs:.1" <<<"$OUT" && ok "no capabilities, no_new_privs" || ko "caps: $OUT"
# init, sh, the subshell, ls and grep
N=$(sed -n 's/^nproc=//p' <<<"$OUT")
[ -n "$N" ] && [ "$N" -le 5 ] && ok "/proc shows only the sandbox ($N pids)" || ko "/proc: $OUT"
grep -q "^ward-[0-9a-f]\{12\}$" <<<"$OUT" && ok "hostname ward-<id>" || ko "hostname: $OUT"

# --- environment: ward's WARD_* variables pass (the rest is deny-by-default,
# test_environment.sh); ward adds WARD_SANDBOX and the run-as user's
# HOME/USER (a home the policy does not map becomes /tmp).
WARD_TEST_MARK=through run base "$W" /bin/sh -c 'echo "mark=$WARD_TEST_MARK sb=$WARD_SANDBOX home=$HOME"; touch "$HOME/.dotfile" && echo home-writable'
grep -q "^mark=through sb=[0-9a-f]\{12\} home=/tmp$" <<<"$OUT" && ok "environment: passed through, WARD_SANDBOX and HOME set" || ko "env: $OUT"
grep -q "^home-writable$" <<<"$OUT" && ok "HOME is writable" || ko "home: $OUT"

run base "$W" /bin/sh -c 'ulimit -c; ulimit -H -c'
check "no core dumps" 0 "^0$"

# --- exit statuses and signals
run base "$W" /bin/sh -c 'exit 3'
check "exit status passes through" 3
run base "$W" /bin/sh -c 'kill -TERM $$'
check "death by SIGTERM -> 143" 143
run base "$W" ward-no-such-command
check "command not found -> 127" 127 "not found"
printf '#!/bin/sh\necho ran\n' >"$W/noexec.sh"
chmod 644 "$W/noexec.sh"
run base "$W" ./noexec.sh
check "not executable -> 126" 126

set +e
"$WARD" run --policy "$T/base.yaml" --log "$LOG" --workdir "$W" -- \
	/bin/sh -c 'trap "echo got-term; exit 42" TERM; echo trap-set; sleep 20 & wait' >"$T/sig.out" 2>&1 &
WPID=$!
# the signal goes once the command has set its trap (a slow guest kernel
# takes seconds to start a sandbox): bounded, 60 s
for _ in $(seq 1 600); do
	grep -q trap-set "$T/sig.out" && break
	kill -0 $WPID 2>/dev/null || break
	sleep 0.1
done
kill -TERM $WPID
wait $WPID
RC=$?
set -e
OUT=$(cat "$T/sig.out")
check "SIGTERM to ward is forwarded to the command" 42 got-term

OUT=$(echo piped | "$WARD" run --policy "$T/base.yaml" --log "$LOG" --workdir "$W" -- /bin/cat 2>&1) && RC=0 || RC=$?
check "stdin and stdout pass through" 0 piped

if command -v script >/dev/null; then
	OUT=$(script -qec "$WARD run --policy $T/base.yaml --log $LOG --workdir $W -- /bin/sh -c 'test -t 0 && test -t 1 && stty size >/dev/null && echo TTY-OK'" /dev/null 2>&1) && RC=0 || RC=$?
	check "controlling terminal passes through" 0 TTY-OK
fi

# --- failures before anything runs
printf 'version: 1\nfilesystem_policy:\n  read_onyl: [/usr]\n' >"$T/bad.yaml"
run bad "$W" /bin/sh -c "touch $W/marker"
check "bad policy -> 125 with position" 125 "bad.yaml:3:"
[ ! -e "$W/marker" ] && ok "nothing ran for a bad policy" || ko "marker created"

policy hard true "  read_write: [/ward-missing-path]" "landlock:" "  compatibility: hard_requirement"
run hard "$W" /bin/sh -c "touch $W/marker"
if [ "$ABI" -ge 4 ]; then
	check "missing path under hard_requirement -> 125" 125 "hard.yaml:5:.*/ward-missing-path"
else # hard_requirement needs TCP restriction first
	check "hard_requirement on Landlock ABI $ABI -> 125, naming what it lacks" 125 \
		"landlock ABI $ABI lacks TCP restriction (ABI 4)"
fi
[ ! -e "$W/marker" ] || ko "marker created under hard_requirement"

policy soft true "  read_write: [/ward-missing-path]"
run soft "$W" /bin/true
check "missing path under best_effort -> warning, runs" 0 "warning: .*soft.yaml:5:.*/ward-missing-path does not exist; skipped"

OUT=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$WARD" run --policy "$T/base.yaml" -- /bin/true 2>&1) && RC=0 || RC=$?
check "not root -> 125" 125 "needs root"

# --- ward killed: no orphan, stale cgroup removed at the next start
CG=$(awk '$9 == "cgroup2" { print $5; exit }' /proc/self/mountinfo)
"$WARD" run --policy "$T/base.yaml" --log "$LOG" --workdir "$W" -- /bin/sleep 3171 >/dev/null 2>&1 &
WPID=$!
for _ in $(seq 50); do pgrep -f "^/bin/sleep 3171" >/dev/null && break; sleep 0.1; done
SPID=$(pgrep -f "^/bin/sleep 3171" | head -1)
LEAF=$CG$(sed -n 's/^0:://p' /proc/"$SPID"/cgroup 2>/dev/null)
[ "$LEAF" != "$CG" ] || LEAF=
kill -KILL $WPID
wait $WPID 2>/dev/null || true
for _ in $(seq 50); do pgrep -f "^/bin/sleep 3171" >/dev/null || break; sleep 0.1; done
pgrep -f "^/bin/sleep 3171" >/dev/null && { ko "sandboxed command survived ward's death"; pkill -KILL -f "^/bin/sleep 3171"; } ||
	ok "ward killed -> the sandbox dies too"
if [ -n "$LEAF" ]; then
	run base "$W" /bin/true
	[ ! -d "$LEAF" ] && ok "stale cgroup leaf removed at the next start" || ko "stale leaf $LEAF remains"
else
	ko "could not find the sandbox's cgroup leaf"
fi
run base "$W" /bin/sh -c 'hostname'
ID=${OUT#ward-}
[ -n "$ID" ] && [ ! -e "$CG/ward/$ID" ] && ok "no cgroup leaf left after a run" || ko "leaf $ID left"

# --- the decision log
ROWS=$(sqlite3 "$LOG" "SELECT rule || ':' || (policy_rev != '') || ':' || (binary IS NOT NULL) || ':' || reason FROM decisions WHERE layer = 'lifecycle' AND sandbox = (SELECT sandbox FROM decisions WHERE reason = 'status=3' LIMIT 1) ORDER BY id")
grep -q "^start:1:1:layers=namespaces,cgroup,landlock(abi=[0-9]),seccomp" <<<"$ROWS" && ok "start row with policy_rev and layers" || ko "start row: $ROWS"
grep -q "^exit:1:1:status=3$" <<<"$ROWS" && ok "exit row with status" || ko "exit row: $ROWS"
sqlite3 "$LOG" "SELECT count(*) FROM decisions WHERE rule = 'exit' AND reason = 'signal=SIGTERM'" | grep -q '^[1-9]' &&
	ok "exit row for a signal" || ko "no signal exit row"

NEW_MOUNTS=$(comm -13 <(echo "$MOUNTS_BEFORE") <(mounts))
[ -z "$NEW_MOUNTS" ] && ok "no mounts left on the host" || ko "mounts left on the host: $NEW_MOUNTS"

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
