#!/bin/bash
# SPDX-License-Identifier: MIT
# What separates the sandbox's processes from the host's besides the file
# system: an abstract unix socket of the host is not reachable (its own
# network namespace; Landlock scoping inside), and the command cannot signal
# pid 1 (ward-init: root, outside its Landlock domain) nor see host pids.
set -eu
. "$(dirname "$0")/lib.sh"
need_root
grep -q cgroup2 /proc/self/mountinfo || { echo "SKIP: no cgroup2 mount"; exit 77; }

T=$(test_tmpdir ward-test-scoping)
chmod 755 "$T"
LISTENER=
cleanup() {
	[ -n "$LISTENER" ] && kill "$LISTENER" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
cat >"$T/p.yaml" <<'YAML'
version: 1
extends: [deny-all]
YAML

# a host listener on an abstract address that records every connection
NAME="ward-test-scoping-$$"
python3 - "$NAME" "$T/hits" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind("\0" + sys.argv[1])
s.listen(8)
s.settimeout(30)
while True:
    try:
        c, _ = s.accept()
    except socket.timeout:
        break
    open(sys.argv[2], "a").write("hit\n")
    c.close()
PY
LISTENER=$!
for _ in $(seq 50); do
	python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect('\0' + sys.argv[1])" "$NAME" 2>/dev/null && break
	sleep 0.1
done
check "the host listener answers the host" [ "$(wc -l <"$T/hits" 2>/dev/null)" = 1 ]

OUT=$("$WARD" run --log "$T/log.db" --policy "$T/p.yaml" --workdir "$T" -- python3 -c '
import errno, os, socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("\0" + sys.argv[1]); print("abstract connected")
except OSError as e:
    print("abstract", errno.errorcode[e.errno])
try:
    os.kill(1, 15); print("kill 1 delivered")
except OSError as e:
    print("kill 1", errno.errorcode[e.errno])
print("pids", sorted(int(p) for p in os.listdir("/proc") if p.isdigit()))
' "$NAME" 2>&1) || true
check "a host abstract socket is not reachable" grep -q "^abstract ECONNREFUSED$" <<<"$OUT"
check "the host listener saw nothing from the sandbox" [ "$(wc -l <"$T/hits")" = 1 ]
check "pid 1 (root, outside the Landlock domain) cannot be signalled" grep -q "^kill 1 EPERM$" <<<"$OUT"
check "only the sandbox's own pids are visible" grep -q "^pids \[1, 2\]$" <<<"$OUT"
[ "$FAILED" = 0 ] || echo "$OUT"
finish
