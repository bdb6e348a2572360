#!/bin/bash
# SPDX-License-Identifier: MIT
# The filesystem layer on the real kernel (docs/filesystem.md): protected
# paths opened only by the named executable (a copy of it is refused), and not
# obtained through another process (pidfd_getfd, /proc/PID/fd/N,
# /proc/PID/mem); denials outside the Landlock ceiling logged with binary and
# path; host paths the mount plan hides logged as "hidden by policy", missing
# ones not; unprotected paths unaffected, two sandboxes apart, the kernel's
# rate limit.
# Root only; exit 77 (skip) when a kernel feature is missing.
# WARD_FS_ONLY=protect: the protected-path sections only (the test guest's
# quick run of the bpf-lsm path, tests/vm; the whole file under
# make check-kernels).
set -u
. "$(dirname "$0")/lib.sh"

need_root
[ -x "$WARD" ] || { echo "SKIP: no ward binary at $WARD"; exit 77; }
grep -q cgroup2 /proc/self/mountinfo || { echo "SKIP: no cgroup2 mount"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: needs jq"; exit 77; }
[ -x /usr/bin/python3 ] || { echo "SKIP: needs /usr/bin/python3"; exit 77; }
[ -x /usr/bin/perl ] || { echo "SKIP: needs /usr/bin/perl"; exit 77; }
"$WARD" doctor --json | jq -e '.features[] | select(.name == "fs.protect" and .available)' \
	>/dev/null || { echo "SKIP: no mechanism for protected paths"; exit 77; }
"$WARD" doctor --json | jq -e '.features[] | select(.name == "bpf.tracepoint" and .available)' \
	>/dev/null || { echo "SKIP: no BPF tracepoints"; exit 77; }

# not under /tmp: the sandbox's private /tmp is granted in full by Landlock,
# and a workdir bound below it would be inside the ceiling
T=$(test_tmpdir ward-test-fs /var/tmp)
chmod 755 "$T"
trap '[ -n "${KEEP:-}" ] || rm -rf "$T"' EXIT
UID_=4243
WD=$T/wd
mkdir -p "$WD/keys" "$T/sig"
echo "the-secret" >"$WD/keys/id"
echo "plain-text" >"$WD/plain"
echo "only-cat" >"$WD/single"
cp /usr/bin/cat "$WD/mycat"
ln -s "$T/hidden/cred" "$WD/link"
# on the host, outside every mapped path
mkdir -p "$T/hidden"
echo "host-only" >"$T/hidden/cred"
chmod 644 "$T/hidden/cred"
# the named binary holds the protected file open, and its content in memory
cat >"$WD/holder.py" <<'EOF'
import ctypes, os, time
f = open("keys/id", "rb")
buf = ctypes.create_string_buffer(f.read(64))
with open("/tmp/holder.addr", "w") as o:
    o.write("%d %d\n" % (ctypes.addressof(buf), f.fileno()))
for _ in range(300):  # until the other program is done, at most 30 s
    if os.path.exists("/tmp/done"):
        break
    time.sleep(0.1)
EOF
# another program of the sandbox after it: its descriptor, its fd link, its memory
cat >"$WD/thief.pl" <<'EOF'
use strict;
my ($mode, $pid) = @ARGV;
for (1 .. 300) { last if -s "/tmp/holder.addr"; select(undef, undef, undef, 0.1); }
open(my $a, "<", "/tmp/holder.addr") or die "addr: $!";
my ($addr, $fd) = split(' ', <$a>);
my $m;
if ($mode eq "mem") {
    open($m, "<", "/proc/$pid/mem") or die "open mem: $!\n";
    sysseek($m, $addr, 0) or die "seek: $!\n";
    sysread($m, my $data, 10);
    print "got: $data\n";
    exit 0;
} elsif ($mode eq "fd") {
    open($m, "<", "/proc/$pid/fd/$fd") or die "open fd: $!\n";
} else {
    my $pidfd = syscall(434, $pid + 0, 0);          # pidfd_open
    die "pidfd_open: $!\n" if $pidfd < 0;
    my $nfd = syscall(438, $pidfd + 0, $fd + 0, 0);  # pidfd_getfd
    die "pidfd_getfd: $!\n" if $nfd < 0;
    open($m, "<&=", $nfd) or die "fdopen: $!\n";
    sysseek($m, 0, 0);
}
print "got: ", scalar(<$m>);
EOF
chown -R "$UID_:$UID_" "$WD" "$T/sig"
chmod 755 "$WD" "$WD/keys" "$WD/mycat"

# policy NAME INCLUDE_WORKDIR [extra lines]
policy() {
	local name=$1 incl=$2
	shift 2
	{
		echo "version: 1"
		echo "filesystem_policy:"
		echo "  include_workdir: $incl"
		echo "  read_only: [/usr, /lib, /lib64, /bin, /etc]"
		for l in "$@"; do echo "$l"; done
		echo "process:"
		echo "  run_as_user: $UID_"
		echo "  run_as_group: $UID_"
	} >"$T/$name.yaml"
}
policy prot true "  binaries:" "    - path: /usr/bin/cat" \
	"      read_only: [$WD/keys, $WD/single]"
policy ceiling false
policy ceiling_sig false "  read_write: [$T/sig]"
policy prot_py true "  binaries:" "    - path: /usr/bin/python3" "      read_only: [$WD/keys]"

# run POLICY LOG CMD...: the command's output (stdout and stderr) in $OUT,
# ward's own warnings in $WARN (a kernel without a layer says so: 6.1 has no
# unix socket hooks), status in $RC
run() {
	local pol=$1 log=$2
	shift 2
	OUT=$(cd "$WD" && timeout 60 "$WARD" run --policy "$T/$pol.yaml" --log "$log" --workdir "$WD" \
		-- "$@" 2>&1)
	RC=$?
	WARN=$(grep '^ward: warning: ' <<<"$OUT")
	OUT=$(grep -v '^ward: warning: ' <<<"$OUT")
}
# rows LOG JQ-FILTER: matching fs rows, one JSON object per line
rows() { "$WARD" logs --log "$1" --layer fs --json | jq -c "select($2)"; }
count() { rows "$1" "$2" | wc -l; }

# --- protected paths ---
L=$T/prot.db
run prot "$L" cat keys/id
check "named binary reads a protected file" [ "$RC" = 0 -a "$OUT" = "the-secret" ]
check "its first open is an allow row" \
	[ "$(count "$L" ".action == \"allow\" and .binary == \"/usr/bin/cat\" and .path == \"$WD/keys/id\"")" = 1 ]

run prot "$L" head -1 keys/id
check "another binary is refused" [ "$RC" != 0 ] 
check "  and its output has no secret" eval '! grep -q the-secret <<<"$OUT"'
check "  and is logged with binary and path" \
	[ "$(count "$L" ".action == \"deny\" and .binary == \"/usr/bin/head\" and .path == \"$WD/keys/id\" and (.rule | startswith(\"filesystem_policy.binaries:\"))")" = 1 ]
check "  and names the opener's uid (the sandbox's, never 0) and the sandbox's cgroup" \
	[ "$(count "$L" ".action == \"deny\" and .binary == \"/usr/bin/head\" and .uid != null and .uid != 0 and (.cgroup // \"\" | startswith(\"/ward/\"))")" = 1 ]

run prot "$L" ./mycat keys/id
check "a copy of the named binary is refused" [ "$RC" != 0 ]
check "  and is logged as the copy" \
	[ "$(count "$L" ".action == \"deny\" and .binary == \"$WD/mycat\" and .path == \"$WD/keys/id\"")" = 1 ]

run prot "$L" head -1 single
check "a protected single file is refused to another binary" [ "$RC" != 0 ]
run prot "$L" cat single
check "  and readable by the named one" [ "$RC" = 0 -a "$OUT" = "only-cat" ]

run prot "$L" sh -c 'head -1 plain; ./mycat plain'
check "unprotected paths are unaffected" [ "$RC" = 0 -a "$OUT" = "$(printf 'plain-text\nplain-text')" ]
check "  and make no row" [ "$(count "$L" ".path == \"$WD/plain\"")" = 0 ]

check "one refusal is one row (no second row from the tracepoints)" \
	[ "$(count "$L" ".action == \"deny\" and .path == \"$WD/keys/id\"")" = 2 ]

cat /dev/null "$WD/keys/id" >/dev/null 2>&1
check "host processes are never refused" [ "$(cat "$WD/keys/id")" = "the-secret" ]

run prot "$L" sh -c 'echo x > keys/new'
check "a read_only protected path is read-only inside" [ "$RC" != 0 ]

# stopped POLICY LOG SIGDIR CMD...: CMD runs in a sandbox while ward is
# stopped (SIGSTOP) and exits before ward reads its events, whose rows must
# name its binary all the same (the kernel reads the executable's path at the
# event); GONE=0 when it ran and exited meanwhile. SIGDIR: a directory the
# sandbox writes, for the hand-shake.
# wait_file FILE: until it exists, at most 30 s
wait_file() { for _ in $(seq 300); do [ -e "$1" ] && return 0; sleep 0.1; done; return 1; }
stopped() {
	local pol=$1 log=$2 sig=$3 pid
	shift 3
	rm -f "$sig/ready" "$sig/go" "$sig/gone" "$sig/end"
	(cd "$WD" && exec "$WARD" run --policy "$T/$pol.yaml" --log "$log" --workdir "$WD" -- sh -c \
		'w() { for i in $(seq 300); do [ -e "$1" ] && return; sleep 0.1; done; }
		 s=$1; shift; touch "$s/ready"; w "$s/go"; "$@"; touch "$s/gone"; w "$s/end"' \
		sh "$sig" "$@" >/dev/null 2>&1) &
	pid=$!
	wait_file "$sig/ready"
	kill -STOP "$pid"
	touch "$sig/go"
	wait_file "$sig/gone"
	GONE=$?
	kill -CONT "$pid"
	touch "$sig/end"
	wait "$pid"
}
# bpf-lsm refuses in the kernel and the opener goes on (fanotify holds it
# until ward answers)
if "$WARD" doctor --json |
	jq -e '.features[] | select(.name == "fs.protect") | .detail | startswith("bpf-lsm")' \
		>/dev/null; then
	stopped prot "$T/gone.db" "$WD" tail -1 keys/id
	check "a refused opener that exited before ward read its event is named" \
		[ "$GONE" = 0 -a "$(count "$T/gone.db" ".action == \"deny\" and .binary == \"/usr/bin/tail\" and .path == \"$WD/keys/id\"")" = 1 ]
fi

# --- a protected file through another process ---
L=$T/other.db
# thief MODE: the named binary holds keys/id open; perl goes after it
thief() {
	run prot_py "$L" sh -c "/usr/bin/python3 holder.py & /usr/bin/perl thief.pl $1 \$!; echo thief=\$?; touch /tmp/done; wait"
}
thief getfd
check "pidfd_getfd of the named binary's descriptor is refused" \
	eval 'grep -q "pidfd_getfd: Operation not permitted" <<<"$OUT"'
check "  and its content is not obtained" eval '! grep -q the-secret <<<"$OUT"'
thief fd
# EPERM from fanotify (FAN_DENY), EACCES from bpf-lsm (docs/filesystem.md)
check "reopening /proc/PID/fd/N of the named binary is refused" \
	eval 'grep -Eq "open fd: (Operation not permitted|Permission denied)" <<<"$OUT" && ! grep -q the-secret <<<"$OUT"'
check "  and logged for the other binary with the protected path" \
	[ "$(count "$L" ".action == \"deny\" and .binary == \"/usr/bin/perl\" and .path == \"$WD/keys/id\"")" = 1 ]
thief mem
check "reading the named binary's /proc/PID/mem kills the reader" \
	eval 'grep -q "thief=137" <<<"$OUT" && ! grep -q "got:" <<<"$OUT"'
check "  and its content is not obtained" eval '! grep -q the-secret <<<"$OUT"'
check "  and is logged as a read of another process's memory" \
	[ "$(count "$L" ".action == \"deny\" and .binary == \"/usr/bin/perl\" and (.reason | startswith(\"read of the memory of another process\")) and (.reason | test(\"python\"))")" = 1 ]
# a descriptor on another process's memory that did not come from an open
# (inherited here; a racing thread or SCM_RIGHTS alike): its first read kills
run prot_py "$L" /usr/bin/perl -e 'open(my $m, "<", "/proc/self/mem") or die;
	my $pid = fork(); if (!$pid) { sysseek($m, 4096, 0); sysread($m, my $d, 1); exit 0 }
	waitpid($pid, 0); print "child signal ", $? & 127, "\n"'
check "reading an inherited descriptor on the parent's memory kills the reader" \
	[ "$RC" = 0 -a "$OUT" = "child signal 9" ]
check "  and is logged" \
	[ "$(count "$L" ".binary == \"/usr/bin/perl\" and (.reason | startswith(\"read of the memory of another process\")) and (.reason | test(\"syscall=read/write\"))")" = 1 ]
run prot_py "$L" /usr/bin/perl -e 'open(my $m, "<", "/proc/self/mem") or die; print "self ok\n"'
check "  a process's own /proc/self/mem stays open to it" [ "$RC" = 0 -a "$OUT" = "self ok" ]

if [ "${WARD_FS_ONLY:-}" = protect ]; then
	finish
	exit
fi

# --- hidden paths: on the host, not in the mount plan ---
L=$T/hidden.db
hidden() { count "$L" "(.reason | startswith(\"hidden by policy\")) and $1"; }
run prot "$L" cat "$T/hidden/cred"
check "a host file outside the plan is not there inside" [ "$RC" != 0 ]
check "  and its attempt is one row with binary and path" \
	[ "$(hidden ".action == \"deny\" and .binary == \"/usr/bin/cat\" and .path == \"$T/hidden/cred\"")" = 1 ]
run prot "$L" sh -c 'cd keys && cat ../../hidden/cred'
check "  a relative path is resolved against the cwd" \
	[ "$(hidden ".binary == \"/usr/bin/cat\" and .path == \"$T/hidden/cred\" and (.reason | test(\"relative=../../hidden/cred in cwd\"))")" = 1 ]
run prot "$L" cat link
check "  a symlink in a mapped directory to a hidden host file is one row" \
	[ "$(hidden ".binary == \"/usr/bin/cat\" and .path == \"$WD/link\" and (.reason | test(\"a symlink to $T/hidden/cred\"))")" = 1 ]
run prot "$L" sh -c "cat $T/hidden/cred; cat $T/hidden/cred"
check "  every attempt is a row" [ "$(hidden ".path == \"$T/hidden/cred\"")" = 4 ]
run prot "$L" sh -c "cat $T/nowhere/cred; cat $T/hidden/nothing; cat $WD/missing; cat keys/missing"
check "a path missing on the host too makes no row" \
	[ "$(count "$L" ".path | test(\"nowhere|nothing\")")" = 0 ]
check "a missing file in a mapped directory makes no row" \
	[ "$(count "$L" ".path | test(\"missing\")")" = 0 ]
# the sandbox's /proc is another pid namespace's: a host pid missing there
# is in the plan, not hidden
run prot "$L" cat "/proc/$$/status"
check "a host pid missing from the sandbox's /proc makes no row" \
	[ "$RC" != 0 -a "$(count "$L" ".path == \"/proc/$$/status\"")" = 0 ]
run prot "$L" /usr/bin/python3 -c 'import json, email.parser'
check "library search paths make no row" [ "$RC" = 0 -a "$(hidden "true")" = 5 ]

# --- denials outside the Landlock ceiling ---
L=$T/ceiling.db
run ceiling "$L" cat plain
check "reading outside the ceiling is refused" [ "$RC" != 0 ]
check "  logged with binary, resolved path, access and errno" \
	[ "$(count "$L" ".action == \"deny\" and .binary == \"/usr/bin/cat\" and .method == \"read\" and (.reason | test(\"errno=EACCES\")) and ((.path == \"$WD/plain\" and (.reason | test(\"relative=plain resolved against cwd\"))) or (.path == \"plain\" and (.reason | test(\"relative to cwd .unresolved.\"))))")" = 1 ]
check "  and names the uid and the sandbox's cgroup (tracepoint event)" \
	[ "$(count "$L" ".action == \"deny\" and .binary == \"/usr/bin/cat\" and .method == \"read\" and .uid != null and .uid != 0 and (.cgroup // \"\" | startswith(\"/ward/\"))")" = 1 ]
# a program in no directory of $PATH (ward's search there finds /usr/bin's)
cp /usr/bin/cat "$T/sig/gonecat"
stopped ceiling_sig "$T/gone2.db" "$T/sig" "$T/sig/gonecat" plain
check "  a refused program that exited before ward read its event is named" \
	[ "$GONE" = 0 -a "$(count "$T/gone2.db" ".action == \"deny\" and .binary == \"$T/sig/gonecat\" and .method == \"read\"")" = 1 ]
run ceiling "$L" sh -c 'echo x > /etc/ward-test-fs'
check "writing to a read-only path is refused and logged" \
	[ "$RC" != 0 -a "$(count "$L" ".binary == \"/usr/bin/dash\" and .path == \"/etc/ward-test-fs\" and (.method | test(\"write\")) and (.method | test(\"create\"))")" = 1 ]
run ceiling "$L" mkdir "$WD/newdir"
check "mkdir outside the ceiling is logged" \
	[ "$(count "$L" ".binary == \"/usr/bin/mkdir\" and .path == \"$WD/newdir\" and .method == \"create,dir\"")" = 1 ]
# without protected paths only sys_exit is attached: it reads the
# arguments from the saved registers (docs/filesystem.md, "Cost")
run ceiling "$L" sh -c "cat $T/hidden/cred; cd /usr && cat ../$T/hidden/cred"
check "without protected paths, a hidden host path is still a row per attempt" \
	[ "$(count "$L" "(.reason | startswith(\"hidden by policy\")) and .binary == \"/usr/bin/cat\" and .path == \"$T/hidden/cred\"")" = 2 ]
check "  the relative one resolved against the cwd" \
	[ "$(count "$L" "(.reason | startswith(\"hidden by policy\")) and (.reason | test(\"relative=[.][.]/\"))")" = 1 ]
long=$WD/$(printf 'x%.0s' $(seq 200))/$(printf 'y%.0s' $(seq 100))
mkdir -p "$(dirname "$long")" && echo deep >"$long" && chmod -R a+rX "$WD"
run ceiling "$L" cat "$long"
check "a long path is marked truncated, never complete" \
	[ "$(count "$L" ".binary == \"/usr/bin/cat\" and (.reason | test(\"path truncated\"))")" = 1 ]

# --- two sandboxes at once ---
LA=$T/a.db
LB=$T/b.db
(cd "$WD" && timeout 60 "$WARD" run --policy "$T/ceiling.yaml" --log "$LA" --workdir "$WD" -- \
	sh -c 'for i in 1 2 3 4 5; do cat /etc/shadow-A-$i 2>/dev/null; cat $0/plain 2>/dev/null; sleep 0.1; done' \
	"$WD" >/dev/null 2>&1) &
(cd "$WD" && timeout 60 "$WARD" run --policy "$T/ceiling.yaml" --log "$LB" --workdir "$WD" -- \
	sh -c 'for i in 1 2 3 4 5; do head -1 $0/plain 2>/dev/null; sleep 0.1; done' "$WD" >/dev/null 2>&1) &
wait
check "sandbox A sees its own denials" [ "$(count "$LA" ".binary == \"/usr/bin/cat\" and .path == \"$WD/plain\"")" = 5 ]
check "  and none of B's" [ "$(count "$LA" ".binary == \"/usr/bin/head\"")" = 0 ]
check "sandbox B sees its own" [ "$(count "$LB" ".binary == \"/usr/bin/head\" and .path == \"$WD/plain\"")" = 5 ]
check "  and none of A's" [ "$(count "$LB" ".binary == \"/usr/bin/cat\"")" = 0 ]

# --- rate limit: 10000 refused opens in one process ---
L=$T/rate.db
start=$(date +%s%N)
run ceiling "$L" /usr/bin/python3 -c '
import os
for i in range(10000):
    try:
        os.close(os.open("plain", os.O_RDONLY))
    except PermissionError:
        pass
'
end=$(date +%s%N)
secs=$(((end - start) / 1000000000 + 1))
logged=$(count "$L" ".binary == \"/usr/bin/python3.11\" or (.binary // \"\" | test(\"python\"))")
suppressed=$(rows "$L" '.reason | test("rate limit")' | jq -r '.reason' |
	sed -E 's/.*: ([0-9]+) filesystem denials.*/\1/' | paste -sd+ | bc)
echo "rate: $logged rows, ${suppressed:-0} suppressed, ${secs}s"
check "10000 denials make at most burst + rate x time rows" \
	[ "$logged" -ge 100 -a "$logged" -le $((200 + 100 * secs)) ]
check "  and the rest is counted in suppressed-count rows" \
	[ "$((logged + ${suppressed:-0}))" = 10000 ]

finish
