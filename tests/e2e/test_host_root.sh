#!/bin/bash
# SPDX-License-Identifier: MIT
# Host mode at its default scope, the cgroup v2 root, without touching this
# machine's root cgroup: the daemon runs in a cgroup namespace whose root is a
# cgroup this test creates, with cgroup2 mounted again in a mount namespace of
# its own, so "the whole host" is that subtree. Checks what only the default
# scope shows (docs/host.md): `ward host enforce` without --scope attaches at
# the root, a process anywhere below it is decided, the daemon's own cgroup
# and ward's sandbox cgroups (<cgroup2>/ward, created by the daemon) are
# exempt, `host stop` lets everything through again. Break tests of the
# exemptions: a sibling of an exempt cgroup is refused, and without the
# exemption the same cgroup is refused (a policy exemption removed by an
# enforce in place and by host stop + enforce; <cgroup2>/ward by a scope
# that does not contain it). Network: namespaces of its own
# (10.213.28.0/24), pins in a bpffs instance of its own.
set -u
. "$(dirname "$0")/../integration/lib.sh"
need_root
need_host_mode

if [ "${WARD_HOSTROOT_STAGE:-}" = inner ]; then
	# --- stage 2: in the cgroup namespace rooted at $TOP, a mount namespace
	# where cgroup2 shows that root at the usual path
	# (the kernel refuses cgroup2 twice on one mount point: detach the
	# machine's view first, in this mount namespace only)
	umount -l "$CGROOT" && mount -t cgroup2 cgroup2 "$CGROOT" ||
		{ echo "FAIL: mount cgroup2 in the namespace"; exit 1; }
	mount -t bpf bpf /sys/fs/bpf || { echo "FAIL: mount bpffs"; exit 1; }
	fails=0 passes=0
	check() {
		local what=$1
		shift
		if "$@"; then
			echo "PASS: $what"
			passes=$((passes + 1))
		else
			echo "FAIL: $what"
			fails=$((fails + 1))
		fi
	}
	in_cg() {
		local cg=$1
		shift
		mkdir -p "$CGROOT$cg"
		nsenter --net=/run/netns/"$NS" sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' \
			"$CGROOT$cg" "$@"
	}
	PYCONN='import socket,sys
try:
    socket.create_connection(("10.213.28.2", 80), timeout=5).close()
except PermissionError:
    print("EPERM"); sys.exit(1)
print("connected")'
	mkdir -p "$CGROOT/daemon"
	check "the namespace's cgroup root is the test's cgroup" \
		grep -qx '0::/' /proc/self/cgroup
	nsenter --net=/run/netns/"$NS" sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' \
		"$CGROOT/daemon" "$WARD" daemon --socket "$T/ward.sock" --state "$T/state" \
		--log "$T/log.db" --pin-dir "$PINS" --host-policy "" 2>>"$T/daemon.err" &
	DPID=$!
	for _ in $(seq 100); do [ -S "$T/ward.sock" ] && break; sleep 0.1; done
	out=$("$WARD" host enforce --socket "$T/ward.sock" --policy "$T/host.yaml" 2>&1)
	check "host enforce without --scope: $out" [ $? -eq 0 ]
	st=$("$WARD" host status --socket "$T/ward.sock" --json)
	check "the scope is the cgroup v2 root" python3 -c '
import json,sys; s=json.loads(sys.argv[1]); root=sys.argv[2]
assert s["scope"].rstrip("/") == root.rstrip("/"), s
ex = {e["why"]: e.get("cgroup") for e in s["exempt"]}
assert ex.get("the daemon") == root + "/daemon", s
assert ex.get("ward sandboxes") == root + "/ward", s' "$st" "$CGROOT"
	check "the daemon created <cgroup2>/ward" [ -d "$CGROOT/ward" ]
	out=$(in_cg /some/unit "$PY" -c "$PYCONN")
	check "python anywhere below the root: refused ($out)" [ "$out" = EPERM ]
	out=$(in_cg /ward/sandbox-x "$PY" -c "$PYCONN")
	check "python in a ward sandbox cgroup: exempt ($out)" [ "$out" = connected ]
	out=$(in_cg /daemon "$PY" -c "$PYCONN")
	check "python in the daemon's cgroup: exempt ($out)" [ "$out" = connected ]
	# the exemption is that subtree, not a name prefix: a sibling is decided
	out=$(in_cg /wardx/sandbox-x "$PY" -c "$PYCONN")
	check "python in /wardx, a sibling of <cgroup2>/ward: refused ($out)" [ "$out" = EPERM ]

	# --- a policy exemption: the cgroup and below connect, a sibling does not
	enforce() { "$WARD" host enforce --socket "$T/ward.sock" "$@" >/dev/null 2>&1; }
	# EXPR over the status s (enforced), ex(why, path): it lists that
	# exemption, cg(path): that cgroup's id (s["exempt_cgids"]: the pins')
	st_ok() {
		python3 -c '
import json,os,sys; s=json.loads(sys.argv[1]); root=sys.argv[2]
cg=lambda p: os.stat(root+p).st_ino
ex=lambda why,p: any(e["why"]==why and e.get("cgroup")==root+p for e in s["exempt"])
assert s["state"]=="enforced" and ex("the daemon","/daemon"), s
assert eval(sys.argv[3]), s' "$("$WARD" host status --socket "$T/ward.sock" --json)" \
			"$CGROOT" "$1"
	}
	mkdir -p "$CGROOT/svc/exempt/child" "$CGROOT/svc/other"
	enforce --policy "$T/host-exempt.yaml"
	check "enforce a policy exempting /svc/exempt (switch in place)" [ $? -eq 0 ]
	check "status lists /svc/exempt (policy) and the pins hold its id" \
		st_ok 'ex("policy","/svc/exempt") and cg("/svc/exempt") in s["exempt_cgids"]'
	out=$(in_cg /svc/exempt "$PY" -c "$PYCONN")
	check "python in /svc/exempt: exempt ($out)" [ "$out" = connected ]
	out=$(in_cg /svc/exempt/child "$PY" -c "$PYCONN")
	check "python below it: exempt ($out)" [ "$out" = connected ]
	out=$(in_cg /svc/other "$PY" -c "$PYCONN")
	check "python in its sibling /svc/other: refused ($out)" [ "$out" = EPERM ]
	# removed by enforcing the policy without it, in place
	enforce --policy "$T/host.yaml"
	check "enforce the policy without the exemption (switch in place)" [ $? -eq 0 ]
	check "status and pins no longer hold /svc/exempt" \
		st_ok 'not ex("policy","/svc/exempt") and cg("/svc/exempt") not in s["exempt_cgids"]'
	out=$(in_cg /svc/exempt "$PY" -c "$PYCONN")
	check "python in /svc/exempt without the exemption: refused ($out)" [ "$out" = EPERM ]
	out=$(in_cg /svc/exempt/child "$PY" -c "$PYCONN")
	check "... and below it: refused ($out)" [ "$out" = EPERM ]
	# removed by host stop, then enforce without it (a fresh attach)
	enforce --policy "$T/host-exempt.yaml"
	out=$(in_cg /svc/exempt "$PY" -c "$PYCONN")
	check "exempt again after enforcing it again ($out)" [ "$out" = connected ]
	"$WARD" host stop --socket "$T/ward.sock" >/dev/null 2>&1
	check "host stop" [ $? -eq 0 ]
	enforce --policy "$T/host.yaml"
	check "host stop + enforce without the exemption" [ $? -eq 0 ]
	out=$(in_cg /svc/exempt "$PY" -c "$PYCONN")
	check "python in /svc/exempt after stop + enforce without it: refused ($out)" \
		[ "$out" = EPERM ]
	out=$(in_cg /ward/sandbox-x "$PY" -c "$PYCONN")
	check "python in a ward sandbox cgroup: still exempt ($out)" [ "$out" = connected ]

	# --- <cgroup2>/ward without its exemption: a scope inside it gets none
	"$WARD" host stop --socket "$T/ward.sock" >/dev/null 2>&1
	check "host stop" [ $? -eq 0 ]
	enforce --policy "$T/host.yaml" --scope /ward
	check "host stop + enforce --scope /ward" [ $? -eq 0 ]
	check "status: no ward sandboxes exemption" \
		st_ok 'not ex("ward sandboxes","/ward") and cg("/ward") not in s["exempt_cgids"]'
	out=$(in_cg /ward/sandbox-x "$PY" -c "$PYCONN")
	check "python in a ward sandbox cgroup without the exemption: refused ($out)" \
		[ "$out" = EPERM ]
	out=$(in_cg /some/unit "$PY" -c "$PYCONN")
	check "python outside that scope: untouched ($out)" [ "$out" = connected ]

	"$WARD" host stop --socket "$T/ward.sock" >/dev/null 2>&1
	check "host stop" [ $? -eq 0 ]
	out=$(in_cg /some/unit "$PY" -c "$PYCONN")
	check "after host stop: python connects ($out)" [ "$out" = connected ]
	out=$(in_cg /ward/sandbox-x "$PY" -c "$PYCONN")
	check "after host stop: python in /ward connects ($out)" [ "$out" = connected ]
	check "no pin left" [ -z "$(ls -A "$PINS" 2>/dev/null)" ]
	kill "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	echo "$passes passed, $fails failed"
	exit $((fails > 0))
fi

# --- stage 1: the network, the test's cgroup, then stage 2 inside it
for t in python3 nsenter unshare; do
	command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
PY=/usr/bin/python3
CGROOT=$(findmnt -t cgroup2 -n -o TARGET | head -1)
[ -n "$CGROOT" ] || { echo "SKIP: no cgroup2 mount"; exit 77; }
T=$(mktemp -d /tmp/ward-test-hostroot.XXXXXX)
chmod 755 "$T"
TOP=$CGROOT/hostroot-test-$$
NS=hostr-m$$
NSU=hostr-u$$
UPID=
cleanup() {
	[ -n "$UPID" ] && kill "$UPID" 2>/dev/null && wait "$UPID" 2>/dev/null
	if [ -d "$TOP" ]; then
		echo 1 >"$TOP/cgroup.kill" 2>/dev/null
		for _ in $(seq 50); do
			find "$TOP" -depth -mindepth 1 -type d -exec rmdir {} + 2>/dev/null
			rmdir "$TOP" 2>/dev/null && break
			sleep 0.1
		done
		[ -d "$TOP" ] && echo "cleanup: could not remove $TOP" >&2
	fi
	ip netns del "$NS" 2>/dev/null
	ip netns del "$NSU" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

ip netns add "$NS" && ip netns add "$NSU" || { echo "FAIL: netns"; exit 1; }
ip link add hostr-a$$ type veth peer name hostr-b$$ || { echo "FAIL: veth"; exit 1; }
ip link set hostr-a$$ netns "$NS"
ip link set hostr-b$$ netns "$NSU"
ip -n "$NS" addr add 10.213.28.1/24 dev hostr-a$$
ip -n "$NSU" addr add 10.213.28.2/24 dev hostr-b$$
for n in "$NS" "$NSU"; do ip -n "$n" link set lo up; done
ip -n "$NS" link set hostr-a$$ up
ip -n "$NSU" link set hostr-b$$ up
nsenter --net=/run/netns/"$NSU" timeout 300 "$PY" -m http.server --bind 10.213.28.2 80 \
	>/dev/null 2>&1 &
UPID=$!
cat >"$T/host.yaml" <<EOF
version: 1
network_policies:
  web:
    binaries: [{ path: /usr/bin/curl }]
    endpoints: [{ host: allowed.test, port: 80 }]
EOF
# the same with a policy exemption (a cgroup path below the namespace's root)
cp "$T/host.yaml" "$T/host-exempt.yaml"
printf 'host:\n  exempt:\n    - cgroup: /svc/exempt\n' >>"$T/host-exempt.yaml"
mkdir "$TOP" || { echo "FAIL: mkdir $TOP"; exit 1; }
# the upstream answers directly (not through ward): the setup works
for _ in $(seq 50); do
	nsenter --net=/run/netns/"$NS" "$PY" -c \
		'import socket; socket.create_connection(("10.213.28.2", 80), timeout=1).close()' \
		2>/dev/null && break
	sleep 0.1
done
export WARD WARD_HOSTROOT_STAGE=inner CGROOT T NS PY PINS=/sys/fs/bpf/ward-test-hostroot-$$
sh -c 'echo $$ >"$0/cgroup.procs" && exec unshare -C -m --propagation private bash "$1"' \
	"$TOP" "$0"
