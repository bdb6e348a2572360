#!/bin/bash
# SPDX-License-Identifier: MIT
# Signed policy bundles (issue 16 items 3 and 5, docs/fleet.md) on the real
# kernel: keygen; bundles that fail `ward policy check` are not signed; a
# daemon with --policy-source (its own state, socket, log, in a network
# namespace and a cgroup of its own; host mode at a scope cgroup the test
# makes, pins under /sys/fs/bpf/ward-test-bundle-PID in a private bpffs)
# applies a sandbox policy bundle to a running sandbox (its rev changes) and
# a host policy bundle (host mode enforced at the scope, rev in status);
# a tampered bundle, one signed by another key and an older one are each
# refused with a control row while the current policy stays; a restart keeps
# the applied version; a bundle naming a missing sandbox is a warning row.
# The EXIT trap removes everything (daemon, pins, cgroups, netns, files).
set -u
. "$(dirname "$0")/lib.sh"
need_root
need_host_mode
if [ -z "${WARD_BUNDLE_TEST_NS:-}" ]; then
	command -v unshare >/dev/null || { echo "SKIP: unshare missing"; exit 77; }
	WARD_BUNDLE_TEST_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
mount -t bpf bpf /sys/fs/bpf || { echo "SKIP: cannot mount bpffs"; exit 77; }
for t in python3 sqlite3 nsenter; do
	command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
CGROOT=$(findmnt -t cgroup2 -n -o TARGET | head -1)
[ -n "$CGROOT" ] || { echo "SKIP: no cgroup2 mount"; exit 77; }

T=$(test_tmpdir ward-test-bundle)
chmod 755 "$T"
SOCK=$T/ward.sock
STATE=$T/state
LOG=$T/log.db
SRC=$T/source
PINS=/sys/fs/bpf/ward-test-bundle-$$
TOP=$CGROOT/bundle-test-$$
SCOPE=$TOP/scope
NS=bundle-n$$
DPID=

cg_rm() {
	[ -d "$1" ] || return 0
	for c in "$1"/*/; do [ -d "$c" ] && cg_rm "${c%/}"; done
	[ -e "$1/cgroup.kill" ] && echo 1 >"$1/cgroup.kill" 2>/dev/null
	for _ in $(seq 50); do rmdir "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "cleanup: could not remove $1" >&2
}
stop_daemon() {
	[ -n "$DPID" ] || return 0
	kill "$DPID" 2>/dev/null
	for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$DPID" 2>/dev/null
	wait "$DPID" 2>/dev/null
	DPID=
}
cleanup() {
	[ -n "$DPID" ] && "$WARD" host stop --socket "$SOCK" >/dev/null 2>&1
	stop_daemon
	[ -d "$PINS" ] && WARD_SOCKET=$SOCK "$WARD" doctor --cleanup --pin-dir "$PINS" \
		>/dev/null 2>&1
	[ -d "$PINS" ] && rm -rf "$PINS"
	cg_rm "$TOP"
	ip netns del "$NS" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

ward() { "$WARD" "$@"; }
rows() { sqlite3 "$LOG" "SELECT count(*) FROM decisions WHERE $1" 2>/dev/null || echo 0; }
wait_rows() { # WHERE [N]: at least N (default 1) rows; bounded wait
	for _ in $(seq 100); do [ "$(rows "$1")" -ge "${2:-1}" ] && return 0; sleep 0.1; done
	return 1
}
meta() { sqlite3 "$LOG" "SELECT value FROM meta WHERE key = '$1'" 2>/dev/null; }
rev_of() { ward policy check "$1" | sed -n 's/.*(rev \([0-9a-f]*\)).*/\1/p'; }
box_rev() {
	ward sandbox list --socket "$SOCK" --json | python3 -c '
import json,sys
for l in sys.stdin:
    s = json.loads(l)
    if s["name"] == "box": print(s["policy_rev"][:12])'
}
status_json() { ward host status --socket "$SOCK" --json 2>/dev/null; }
bundle_version() {
	status_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["bundle"]["version"])'
}

ip netns add "$NS" || { echo "FAIL: netns"; exit 1; }
ip -n "$NS" link set lo up
mkdir -p "$SCOPE" "$TOP/daemon" "$SRC" || { echo "FAIL: cgroups"; exit 1; }

cat >"$T/a.yaml" <<'EOF'
version: 1
extends: [deny-all]
network_policies:
  web:
    binaries: [{ path: /usr/bin/curl }]
    endpoints: [{ host: a.example.test, port: 443 }]
EOF
sed 's/endpoints: .*/endpoints: [{ host: a.example.test, port: 443 }, { host: b.example.test, port: 443 }]/' \
	"$T/a.yaml" >"$T/b.yaml"
cat >"$T/host.yaml" <<'EOF'
version: 1
network_policies:
  web:
    binaries: [{ path: /usr/bin/curl }]
    endpoints:
      - { host: a.example.test, port: 443 }
      - { host: b.example.test, port: 443 }
EOF
# the host policy without b.example.test: b.yaml is wider than it
sed '/b.example.test/d' "$T/host.yaml" >"$T/narrow-host.yaml"
printf 'version: 1\nextends: [deny-all]\nnetwork_policies:\n  web:\n    bogus: 1\n' >"$T/bad.yaml"
REV_A=$(rev_of "$T/a.yaml")
REV_B=$(rev_of "$T/b.yaml")
REV_H=$(rev_of "$T/host.yaml")
check "three distinct revisions" [ -n "$REV_A" -a -n "$REV_B" -a "$REV_A" != "$REV_B" ]

# --- keys and the bundle command
out=$(ward policy bundle keygen -o "$T/k.pem")
check "keygen: private and public key" [ -s "$T/k.pem" -a -s "$T/k.pub.pem" ]
check "keygen: private key 0600" [ "$(stat -c %a "$T/k.pem")" = 600 ]
ward policy bundle keygen -o "$T/other.pem" >/dev/null
ward policy bundle keygen -o "$T/k.pem" >/dev/null 2>&1
check "keygen never overwrites a key" [ $? -eq 1 ]

err=$(ward policy bundle --key "$T/k.pem" -o "$T/bad.bundle" --sandbox box="$T/bad.yaml" 2>&1)
check "an invalid policy is not signed (exit 1)" [ $? -eq 1 ]
check "... its problem as FILE:LINE:COL" grep -q "bad.yaml:5:5:" <<<"$err"
check "... no bundle written" [ ! -e "$T/bad.bundle" ]
err=$(ward policy bundle --key "$T/k.pem" -o "$T/wide.bundle" --host-policy "$T/narrow-host.yaml" \
	--sandbox box="$T/b.yaml" 2>&1)
check "a sandbox policy wider than the bundle's host policy is not signed" [ $? -eq 1 ]
check "... the ceiling's FILE:LINE:COL" grep -q "b.yaml:[0-9]*:[0-9]*: error: .*b.example.test" <<<"$err"
check "... no bundle written" [ ! -e "$T/wide.bundle" ]

ward policy bundle --key "$T/k.pem" -o "$T/v10.bundle" --version 10 --sandbox box="$T/b.yaml" \
	>/dev/null
check "bundle v10" [ -s "$T/v10.bundle" ]
v=$(ward policy bundle verify --pub "$T/k.pub.pem" "$T/v10.bundle" --json)
check "verify --json: version, role, sandbox, sha256 of the file" python3 -c '
import json,sys,hashlib; b=json.loads(sys.argv[1]); f=b["files"][0]
assert b["ok"] and b["version"]==10 and len(b["files"])==1, b
assert f["role"]=="sandbox" and f["sandbox"]=="box" and f["name"]=="b.yaml", f
assert f["sha256"]==hashlib.sha256(open(sys.argv[2],"rb").read()).hexdigest(), f' "$v" "$T/b.yaml"
ward policy bundle verify --pub "$T/other.pub.pem" "$T/v10.bundle" >/dev/null 2>&1
check "verify with another key: refused (exit 1)" [ $? -eq 1 ]

# --- the daemon
start_daemon() {
	nsenter --net=/run/netns/"$NS" sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' \
		"$TOP/daemon" "$WARD" daemon --socket "$SOCK" --state "$STATE" --log "$LOG" \
		--pin-dir "$PINS" --host-policy "" --host-scope "$SCOPE" \
		--policy-source "$SRC" --bundle-key "$T/k.pub.pem" 2>>"$T/daemon.err" &
	DPID=$!
	for _ in $(seq 100); do
		kill -0 "$DPID" 2>/dev/null || break
		[ -S "$SOCK" ] && ward sandbox list --socket "$SOCK" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "daemon did not start:"
	cat "$T/daemon.err"
	return 1
}
ward daemon --policy-source "$SRC" --socket "$SOCK" >/dev/null 2>&1
check "--policy-source without --bundle-key: usage error" [ $? -eq 2 ]
start_daemon || exit 1
ward sandbox create box --socket "$SOCK" --policy "$T/a.yaml" >/dev/null ||
	{ cat "$T/daemon.err"; fail "sandbox create"; }
check "box runs policy A" [ "$(box_rev)" = "$REV_A" ]
check "... and is running" grep -q '"state": *"running"' <<<"$(ward sandbox list --socket "$SOCK" --json)"
check "status: no bundle applied yet" [ "$(bundle_version)" = 0 ]

# a sandbox bundle, written into the directory by rename (as -o does)
ward policy bundle --key "$T/k.pem" -o "$SRC/v10.bundle" --version 10 --sandbox box="$T/b.yaml" \
	>/dev/null
check "v10 applied: allow row" wait_rows "layer='control' AND rule='bundle' AND action='allow' \
AND reason LIKE '%v10.bundle: version 10 applied%'"
check "... box runs policy B (its rev changed)" [ "$(box_rev)" = "$REV_B" ]
check "... a policy.apply row A -> B by the daemon" [ "$(rows "rule='policy.apply' AND \
action='allow' AND sandbox='box' AND reason LIKE 'daemon pid=%' AND policy_rev LIKE '$REV_B%'")" -ge 1 ]
check "... status: bundle version 10" [ "$(bundle_version)" = 10 ]
check "... meta bundle_version 10" [ "$(meta bundle_version)" = 10 ]
check "... meta bundle_sha256 = the file's" \
	[ "$(meta bundle_sha256)" = "$(sha256sum "$SRC/v10.bundle" | cut -d' ' -f1)" ]
check "... state bundle.json" grep -q '"version":10' "$STATE/bundle.json"

# a host policy bundle (and box back to A): host mode at the daemon's --host-scope
ward policy bundle --key "$T/k.pem" -o "$T/v20.bundle" --version 20 \
	--host-policy "$T/host.yaml" --sandbox box="$T/a.yaml" >/dev/null
mv "$T/v20.bundle" "$SRC/"
check "v20 applied: allow row" wait_rows "rule='bundle' AND action='allow' AND \
reason LIKE '%version 20 applied%'"
st=$(status_json)
check "... host mode enforced at the scope, the bundle's host policy" python3 -c '
import json,sys; s=json.loads(sys.argv[1])
assert s["state"]=="enforced" and s["mode"]=="enforce", s
assert s["bundle"]["version"]==20, s["bundle"]
assert json.dumps(s).find(sys.argv[2])>=0, s' "$st" "$REV_H"
check "... a host.enforce row naming the bundle" [ "$(rows "rule='host.enforce' AND \
action='allow' AND reason LIKE '%bundle v20.bundle version 20%'")" -ge 1 ]
check "... the ceiling file is the bundle's host policy" cmp -s "$T/host.yaml" "$STATE/host/policy.yaml"
check "... box runs policy A" [ "$(box_rev)" = "$REV_A" ]
check "... meta bundle_version 20" [ "$(meta bundle_version)" = 20 ]

# refused: tampered (one byte of a file), another key, an older version
ward policy bundle --key "$T/k.pem" -o "$T/v30.bundle" --version 30 --sandbox box="$T/b.yaml" \
	>/dev/null
python3 - "$T/v30.bundle" <<'EOF'
import sys
p = sys.argv[1]
d = bytearray(open(p, "rb").read())
i = d.rfind(b"b.example.test")
d[i] = ord("c")  # one byte of the policy file, after the signed manifest
open(p, "wb").write(d)
EOF
cp "$T/v30.bundle" "$SRC/v30.bundle"
check "tampered: deny row naming the file's sha256" wait_rows "rule='bundle' AND action='deny' \
AND reason LIKE '%v30.bundle: refused: b.yaml: sha256%version 20 stays%'"
check "... box still runs A" [ "$(box_rev)" = "$REV_A" ]
ward policy bundle --key "$T/other.pem" -o "$SRC/v40.bundle" --version 40 \
	--sandbox box="$T/b.yaml" >/dev/null
check "another key: deny row (bad signature)" wait_rows "rule='bundle' AND action='deny' \
AND reason LIKE '%v40.bundle: refused: bad signature%'"
check "... box still runs A" [ "$(box_rev)" = "$REV_A" ]
ward policy bundle --key "$T/k.pem" -o "$SRC/v15.bundle" --version 15 --sandbox box="$T/b.yaml" \
	>/dev/null
check "older: deny row" wait_rows "rule='bundle' AND action='deny' AND reason LIKE \
'%v15.bundle: refused: version 15 is not greater than the applied version 20%'"
check "... box still runs A" [ "$(box_rev)" = "$REV_A" ]
check "... version still 20 (status, meta)" [ "$(bundle_version)" = 20 -a "$(meta bundle_version)" = 20 ]
check "... no policy.apply for the refused bundles" [ "$(rows "rule='policy.apply' AND \
action='allow' AND sandbox='box'")" -eq 2 ]

# a restart: the applied version persists; the directory's bundles are judged
# again (the older ones refused), nothing re-applied
stop_daemon
start_daemon || exit 1
check "restart: older bundles refused again" wait_rows "rule='bundle' AND action='deny' AND \
reason LIKE '%v15.bundle: refused: version 15 is not greater than the applied version 20%'" 2
check "... v20 not applied again" [ "$(rows "rule='bundle' AND action='allow'")" -eq 2 ]
check "... status: version 20" [ "$(bundle_version)" = 20 ]
for _ in $(seq 100); do [ "$(box_rev)" = "$REV_A" ] && break; sleep 0.1; done
check "... box back with A" [ "$(box_rev)" = "$REV_A" ]

# a bundle for a sandbox this host does not have: a warning row, the rest applies
ward policy bundle --key "$T/k.pem" -o "$SRC/v50.bundle" --version 50 --sandbox box="$T/b.yaml" \
	--sandbox ghost="$T/a.yaml" >/dev/null
check "v50 applied" wait_rows "rule='bundle' AND action='allow' AND reason LIKE '%version 50 applied%'"
check "... ghost: a warning (audit) row" [ "$(rows "rule='bundle' AND action='audit' AND \
sandbox='ghost' AND reason LIKE '%sandbox ghost does not exist%'")" -eq 1 ]
check "... box runs B" [ "$(box_rev)" = "$REV_B" ]

check "host status (text) shows the bundle version" grep -q "^bundle: *version 50 from $SRC" \
	<<<"$(ward host status --socket "$SOCK")"

# all or nothing: one policy of the bundle wider than the host policy in
# force (the bundle has none of its own, so only the daemon can see it)
sed 's/endpoints: .*/endpoints: [{ host: c.example.test, port: 443 }]/' "$T/a.yaml" >"$T/wide.yaml"
ward policy bundle --key "$T/k.pem" -o "$SRC/v60.bundle" --version 60 --sandbox box="$T/a.yaml" \
	--sandbox other="$T/wide.yaml" >/dev/null
check "v60: refused, naming the policy outside the ceiling" wait_rows "rule='bundle' AND \
action='deny' AND reason LIKE '%v60.bundle: version 60 refused: %wide.yaml:%c.example.test%version 50 stays%'"
check "... box not switched to A (still B)" [ "$(box_rev)" = "$REV_B" ]
check "... version still 50" [ "$(bundle_version)" = 50 ]

# the chain stays valid with all of these rows
stop_daemon
out=$(ward audit verify --log "$LOG" 2>&1)
check "audit verify: $out" [ $? -eq 0 ]
finish
