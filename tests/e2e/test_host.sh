#!/bin/bash
# SPDX-License-Identifier: MIT
# Host mode (docs/host.md) end to end, on the real kernel, attached only to a
# scope cgroup this test creates: a daemon (in a cgroup of its own) enforces a
# host policy with `ward host enforce --scope`; processes moved into the scope
# are decided: python (no rule) refused, curl reaches its allowed host through
# the loopback proxy and gets a 403 body for another, a copy of curl refused,
# DNS for an unlisted name NXDOMAIN; --audit allows and logs audit rows;
# kill -9 of the daemon keeps refusing (fail closed, counted) and the restarted
# daemon logs the count; a process outside the scope is untouched; `host stop`
# leaves no program, link or pin. IPv6 as well: curl -6 through a resolver
# with an IPv6 address reaches its allowed host through the stub's and the
# proxy's ::1 listeners and gets a 403 for another, python without a rule is
# refused over IPv6 (TCP and UDP), DNS over IPv6 (UDP sendto, connected UDP,
# TCP) to an address nobody listens on is answered by the stub. Everything
# runs in network namespaces the test creates (10.213.24.0/24 and
# fd00:213:34::/64; the upstream in a second one), pins under
# /sys/fs/bpf/ward-test-hostd-PID; the EXIT trap removes all of it.
set -u
. "$(dirname "$0")/../integration/lib.sh"
need_root
need_host_mode
# a mount namespace of our own with a bpffs instance of its own: the pins
# never touch the machine's bpffs (which may not even be mounted)
if [ -z "${WARD_HOST_TEST_NS:-}" ]; then
	command -v unshare >/dev/null || { echo "SKIP: unshare missing"; exit 77; }
	WARD_HOST_TEST_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
mount -t bpf bpf /sys/fs/bpf || { echo "SKIP: cannot mount bpffs"; exit 77; }
for t in python3 curl sqlite3 nsenter bpftool; do
	command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
PY=/usr/bin/python3
[ -x "$PY" ] || { echo "SKIP: $PY missing"; exit 77; }
CURL=$(readlink -f "$(command -v curl)")
CGROOT=$(findmnt -t cgroup2 -n -o TARGET | head -1)
[ -n "$CGROOT" ] || { echo "SKIP: no cgroup2 mount"; exit 77; }

T=$(mktemp -d /tmp/ward-test-host.XXXXXX)
chmod 755 "$T"
SOCK=$T/ward.sock
STATE=$T/state
LOG=$T/log.db
PINS=/sys/fs/bpf/ward-test-hostd-$$
TOP=$CGROOT/hostd-test-$$
SCOPE=$TOP/scope
NS=hostd-m$$
NSU=hostd-u$$
NS4=hostd-4$$ # a namespace without IPv6
VA=hostd-a$$
VB=hostd-b$$
DPID=
UPID=

# kill what runs in a cgroup (bounded), then remove it
cg_rm() {
	[ -d "$1" ] || return 0
	for c in "$1"/*/; do [ -d "$c" ] && cg_rm "${c%/}"; done
	[ -e "$1/cgroup.kill" ] && echo 1 >"$1/cgroup.kill" 2>/dev/null
	for _ in $(seq 50); do rmdir "$1" 2>/dev/null && return 0; sleep 0.1; done
	echo "cleanup: could not remove $1" >&2
}
cleanup() {
	if [ -n "$DPID" ]; then
		kill -9 "$DPID" 2>/dev/null
		wait "$DPID" 2>/dev/null
	fi
	# timeout passes SIGTERM on to the server
	[ -n "$UPID" ] && kill "$UPID" 2>/dev/null && wait "$UPID" 2>/dev/null
	# the programs go with their links: unpin whatever is left (never another's)
	[ -d "$PINS" ] && WARD_SOCKET=$SOCK "$WARD" doctor --cleanup --pin-dir "$PINS" \
		>/dev/null 2>&1
	[ -d "$PINS" ] && rm -rf "$PINS"
	cg_rm "$TOP"
	ip netns del "$NS" 2>/dev/null
	ip netns del "$NSU" 2>/dev/null
	ip netns del "$NS4" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# --- network: NS (daemon, scope processes) <-> NSU (the upstream)
ip netns add "$NS" && ip netns add "$NSU" || { echo "FAIL: netns"; exit 1; }
ip link add "$VA" type veth peer name "$VB" || { echo "FAIL: veth"; exit 1; }
ip link set "$VA" netns "$NS"
ip link set "$VB" netns "$NSU"
ip -n "$NS" addr add 10.213.24.1/24 dev "$VA"
ip -n "$NSU" addr add 10.213.24.2/24 dev "$VB"
ip -n "$NS" addr add fd00:213:34::1/64 dev "$VA" nodad
ip -n "$NSU" addr add fd00:213:34::2/64 dev "$VB" nodad
for n in "$NS" "$NSU"; do ip -n "$n" link set lo up; done
ip -n "$NS" link set "$VA" up
ip -n "$NSU" link set "$VB" up
# an HTTP upstream that names itself, on IPv4 and (as upstream6) on IPv6
# (timeout: it never outlives the test)
cat >"$T/up.py" <<'EOF'
import http.server, socket, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        who = "upstream6" if ":" in self.server.server_address[0] else "upstream"
        b = (who + " saw host " + self.headers.get("Host", "?") + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
class S6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
threading.Thread(target=S6(("fd00:213:34::2", 80), H).serve_forever, daemon=True).start()
http.server.ThreadingHTTPServer(("10.213.24.2", 80), H).serve_forever()
EOF
nsenter --net=/run/netns/"$NSU" timeout 600 "$PY" "$T/up.py" &
UPID=$!
printf '10.213.24.2 allowed.test other.test\nfd00:213:34::2 allowed6.test other6.test\n' \
	>"$T/hosts"
# a resolver with an IPv6 address nobody listens on: only the redirect to the
# stub answers it (for curl, bind-mounted over /etc/resolv.conf in a mount
# namespace of its own: see curl6)
echo "nameserver fd00:213:34::53" >"$T/resolv6.conf"
# a copy of python with a rule (the DNS client over IPv6; python itself has none)
cp "$(readlink -f "$PY")" "$T/py-dns"

# --- cgroups: the scope, the daemon's own, one outside the scope
mkdir -p "$SCOPE/exempt" "$TOP/daemon" "$TOP/outside" || { echo "FAIL: cgroups"; exit 1; }

cat >"$T/host.yaml" <<EOF
version: 1
network_policies:
  web:
    binaries: [{ path: $CURL }]
    endpoints:
      - { host: allowed.test, port: 80, allowed_ips: [10.213.24.0/24] }
      - { host: allowed6.test, port: 80, allowed_ips: ["fd00:213:34::/64"] }
  dns6:
    binaries: [{ path: $T/py-dns }]
    endpoints:
      - { host: allowed6.test, port: 80 }
host:
  exempt:
    - cgroup: ${SCOPE#$CGROOT}/exempt
    - cgroup: /hostd-test-$$/not-there
EOF

# run CMD in cgroup CG inside NS
in_cg() {
	local cg=$1
	shift
	nsenter --net=/run/netns/"$NS" sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$cg" "$@"
}
ward() { "$WARD" "$@"; }

start_daemon() {
	# nsenter and sh exec: $! is the daemon's pid
	nsenter --net=/run/netns/"$NS" sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' \
		"$TOP/daemon" "$WARD" daemon --socket "$SOCK" --state "$STATE" --log "$LOG" \
		--pin-dir "$PINS" --host-policy "" 2>>"$T/daemon.err" &
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
rows() { # SQL WHERE clause -> count
	sqlite3 "$LOG" "SELECT count(*) FROM decisions WHERE $1" 2>/dev/null || echo 0
}
wait_rows() { # WHERE: the daemon's writer batches rows; bounded wait
	for _ in $(seq 50); do [ "$(rows "$1")" -gt 0 ] && return 0; sleep 0.1; done
	return 1
}
PYCONN='import socket,sys
try:
    socket.create_connection(("10.213.24.2", 80), timeout=5).close()
except PermissionError:
    print("EPERM"); sys.exit(1)
print("connected")'
# the same over IPv6: TCP connect, or (udp) a datagram sendto
PYCONN6='import socket,sys
try:
    if sys.argv[1:] == ["udp"]:
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).sendto(b"x", ("fd00:213:34::2", 5353))
    else:
        socket.create_connection(("fd00:213:34::2", 80), timeout=5).close()
except PermissionError:
    print("EPERM"); sys.exit(1)
print("connected")'
# a DNS query over IPv6 to [fd00:213:34::53]:53, where nothing listens (MODE
# udp: sendto, udpc: connected, tcp) -> "rcode=N" and the answer's AAAA
PYDNS6='import socket,struct,sys
mode, name, qtype = sys.argv[1], sys.argv[2], int(sys.argv[3])
q = struct.pack(">HHHHHH", 0x6b6b, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
q += struct.pack(">HH", qtype, 1)
dst = ("fd00:213:34::53", 53)
try:
    if mode == "tcp":
        s = socket.create_connection(dst, timeout=5)
        s.sendall(struct.pack(">H", len(q)) + q)
        f = s.makefile("rb")
        a = f.read(struct.unpack(">H", f.read(2))[0])
    else:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.settimeout(5)
        if mode == "udpc":
            s.connect(dst)
            s.send(q)
        else:
            s.sendto(q, dst)
        a = s.recv(4096)
except PermissionError:
    print("EPERM"); sys.exit(1)
except OSError as e:
    print("error", e); sys.exit(1)
off = 12
while a[off]:
    off += a[off] + 1
off += 5
out = []
for _ in range(struct.unpack(">H", a[6:8])[0]):
    if a[off] & 0xc0 == 0xc0:
        off += 2
    else:
        while a[off]:
            off += a[off] + 1
        off += 1
    t, c, ttl, l = struct.unpack(">HHIH", a[off:off + 10])
    off += 10
    if t == 28:
        out.append(socket.inet_ntop(socket.AF_INET6, a[off:off + l]))
    off += l
print(" ".join(["rcode=%d" % (a[3] & 15)] + out))'
# curl -6 in the scope, its resolver IPv6-only (resolv6.conf over
# /etc/resolv.conf in a mount namespace of its own)
curl6() {
	in_cg "$SCOPE" unshare -m --propagation private sh -c \
		'mount --bind "$0" /etc/resolv.conf && exec "$@"' "$T/resolv6.conf" \
		"$CURL" -6 "$@"
}

start_daemon || exit 1

# the upstream answers directly (not through ward): the setup works
for _ in $(seq 50); do
	out=$(nsenter --net=/run/netns/"$NS" "$CURL" -s -m 5 http://10.213.24.2/ -H "Host: allowed.test")
	[ -n "$out" ] && break
	sleep 0.1
done
check "upstream reachable before host mode" [ "$out" = "upstream saw host allowed.test" ]

# a policy error is FILE:LINE:COL and changes nothing
printf 'version: 1\nhost:\n  exempt:\n    - {}\n' >"$T/bad.yaml"
err=$(ward host enforce --socket "$SOCK" --policy "$T/bad.yaml" --scope "$SCOPE" 2>&1)
check "bad host policy: FILE:LINE:COL" grep -q "bad.yaml:4:7: missing 'cgroup' or 'binary'" <<<"$err"
check "bad host policy: nothing pinned" [ ! -e "$PINS" ]

# --- enforce (the times are printed for the record, never asserted)
t0=$(date +%s%N)
out=$(ward host enforce --socket "$SOCK" --policy "$T/host.yaml" --scope "$SCOPE" \
	--hosts "$T/hosts" 2>&1)
check "host enforce" [ $? -eq 0 ]
echo "figure: ward host enforce, first attach: $((($(date +%s%N) - t0) / 1000000)) ms"
echo "$out"
check "pins in the test's directory" [ -d "$PINS" ]
st=$(ward host status --socket "$SOCK" --json)
check "status: enforced, enforce mode" python3 -c '
import json,sys; s=json.loads(sys.argv[1])
assert s["state"]=="enforced" and s["mode"]=="enforce", s
assert len(s["programs"])>0 and all(p["prog_id"] and p["link_id"] for p in s["programs"]), s
assert any(e["why"]=="the daemon" for e in s["exempt"]), s' "$st"
check "ceiling file: the exact policy text" cmp -s "$T/host.yaml" "$STATE/host/policy.yaml"

out=$(in_cg "$SCOPE" "$PY" -c "$PYCONN")
check "python without a rule: EPERM" [ "$out" = EPERM ]
out=$(in_cg "$SCOPE" "$CURL" -s -m 10 http://allowed.test/)
check "curl reaches its allowed host (DNS stub + proxy): $out" \
	[ "$out" = "upstream saw host allowed.test" ]
out=$(in_cg "$SCOPE" "$CURL" -s -m 10 --resolve other.test:80:10.213.24.2 http://other.test/)
check "curl refused another host with a 403 body: $out" grep -q '"error":"ward_denied"' <<<"$out"
code=$(in_cg "$SCOPE" "$CURL" -s -o /dev/null -w '%{http_code}' -m 10 \
	--resolve other.test:80:10.213.24.2 http://other.test/)
check "... status 403" [ "$code" = 403 ]
cp "$CURL" "$T/curl-copy"
in_cg "$SCOPE" "$T/curl-copy" -s -m 5 --resolve allowed.test:80:10.213.24.2 \
	http://allowed.test/ >/dev/null 2>&1
check "a copy of curl refused (exit 7: could not connect)" [ $? -eq 7 ]
in_cg "$SCOPE" "$CURL" -s -m 10 http://unlisted.test/ >/dev/null 2>&1
check "curl: an unlisted name does not resolve (exit 6)" [ $? -eq 6 ]
check "dns row: unlisted.test denied (NXDOMAIN)" \
	wait_rows "sandbox='host' AND layer='dns' AND action='deny' AND host='unlisted.test'"
check "dns row: allowed.test answered" \
	wait_rows "sandbox='host' AND layer='dns' AND action='allow' AND host='allowed.test'"
check "kernel rows: python denied" \
	wait_rows "sandbox='host' AND layer='kernel' AND action='deny' AND binary LIKE '%python%'"
check "proxy row: other.test denied" \
	wait_rows "sandbox='host' AND layer IN ('proxy','l7') AND action='deny' AND host='other.test'"
check "control row host.enforce" \
	wait_rows "layer='control' AND rule='host.enforce' AND action='allow' AND sandbox='host'"
n=$(ward logs --log "$LOG" --sandbox host --json | wc -l)
check "ward logs --sandbox host shows the rows ($n)" [ "$n" -gt 5 ]

# --- IPv6: the proxy and the stub on ::1 as well (same ports, own cookies)
check "status: listeners on ::1 registered" python3 -c '
import json,sys; s=json.loads(sys.argv[1])
assert s["listeners"]["registered6"] and s["proxy"]["address6"]=="::1", s
assert s["dns"]["address6"]=="::1", s' "$(ward host status --socket "$SOCK" --json)"
out=$(curl6 -s -m 10 http://allowed6.test/)
check "curl -6 reaches its allowed host (DNS over IPv6 to the stub, proxy on ::1): $out" \
	[ "$out" = "upstream6 saw host allowed6.test" ]
check "dns row: allowed6.test answered" \
	wait_rows "sandbox='host' AND layer='dns' AND action='allow' AND host='allowed6.test'"
check "proxy row: allowed6.test allowed" \
	wait_rows "sandbox='host' AND layer IN ('proxy','l7') AND action='allow' AND host='allowed6.test'"
out=$(curl6 -s -m 10 --resolve other6.test:80:[fd00:213:34::2] http://other6.test/)
check "curl -6 refused another host with a 403 body: $out" grep -q '"error":"ward_denied"' <<<"$out"
code=$(curl6 -s -o /dev/null -w '%{http_code}' -m 10 --resolve other6.test:80:[fd00:213:34::2] \
	http://other6.test/)
check "... status 403" [ "$code" = 403 ]
curl6 -s -m 10 http://unlisted6.test/ >/dev/null 2>&1
check "curl -6: an unlisted name does not resolve (exit 6)" [ $? -eq 6 ]
in_cg "$SCOPE" "$T/curl-copy" -6 -s -m 5 --resolve allowed6.test:80:[fd00:213:34::2] \
	http://allowed6.test/ >/dev/null 2>&1
check "a copy of curl refused over IPv6 (exit 7)" [ $? -eq 7 ]
out=$(in_cg "$SCOPE" "$PY" -c "$PYCONN6")
check "python without a rule: IPv6 connect EPERM" [ "$out" = EPERM ]
out=$(in_cg "$SCOPE" "$PY" -c "$PYCONN6" udp)
check "python without a rule: IPv6 sendto EPERM" [ "$out" = EPERM ]
check "kernel row: python's IPv6 connect denied" \
	wait_rows "sandbox='host' AND layer='kernel' AND action='deny' AND binary LIKE '%python%' AND ip='fd00:213:34::2' AND port=80"
out=$(in_cg "$SCOPE" "$PY" -c "$PYDNS6" udp unlisted.test 28)
check "python without a rule: DNS over IPv6 EPERM" [ "$out" = EPERM ]
for mode in udp udpc tcp; do
	out=$(in_cg "$SCOPE" "$T/py-dns" -c "$PYDNS6" $mode unlisted.test 28)
	check "DNS over IPv6 ($mode) from a ruled binary, unlisted name: NXDOMAIN ($out)" \
		[ "$out" = "rcode=3" ]
	out=$(in_cg "$SCOPE" "$T/py-dns" -c "$PYDNS6" $mode allowed6.test 28)
	check "DNS over IPv6 ($mode), its allowed name: the AAAA ($out)" \
		[ "$out" = "rcode=0 fd00:213:34::2" ]
done
check "dns rows: the IPv6 queries of py-dns, by binary" \
	wait_rows "sandbox='host' AND layer='dns' AND action='deny' AND host='unlisted.test' AND binary='$T/py-dns'"

# rows name the uid and the cgroup (docs/audit.md): root's python above, and
# python and curl of a non-root uid (setpriv), all in the scope
SCOPE_REL=${SCOPE#"$CGROOT"}
UIDT=4242
as_uid() { in_cg "$SCOPE" setpriv --reuid "$UIDT" --regid "$UIDT" --clear-groups "$@"; }
check "kernel row: root's python names uid 0 and the scope ($SCOPE_REL)" \
	wait_rows "sandbox='host' AND layer='kernel' AND action='deny' AND binary LIKE '%python%' AND uid=0 AND cgroup='$SCOPE_REL'"
if command -v setpriv >/dev/null; then
	out=$(as_uid "$PY" -c "$PYCONN")
	check "python as uid $UIDT: EPERM" [ "$out" = EPERM ]
	check "kernel row: python of uid $UIDT refused, its uid and the scope" \
		wait_rows "sandbox='host' AND layer='kernel' AND action='deny' AND binary LIKE '%python%' AND uid=$UIDT AND cgroup='$SCOPE_REL'"
	out=$(as_uid "$CURL" -s -m 10 http://allowed.test/)
	check "curl as uid $UIDT reaches its allowed host: $out" \
		[ "$out" = "upstream saw host allowed.test" ]
	out=$(as_uid "$CURL" -s -m 10 --resolve other.test:80:10.213.24.2 http://other.test/)
	check "curl as uid $UIDT refused another host: $out" grep -q '"error":"ward_denied"' <<<"$out"
	check "kernel row: curl of uid $UIDT, its uid and the scope" \
		wait_rows "sandbox='host' AND layer='kernel' AND binary='$CURL' AND uid=$UIDT AND cgroup='$SCOPE_REL'"
	check "dns row: curl of uid $UIDT asked allowed.test" \
		wait_rows "sandbox='host' AND layer='dns' AND host='allowed.test' AND uid=$UIDT AND cgroup='$SCOPE_REL'"
	check "proxy row: curl of uid $UIDT refused other.test" \
		wait_rows "sandbox='host' AND layer IN ('proxy','l7') AND action='deny' AND host='other.test' AND uid=$UIDT AND cgroup='$SCOPE_REL'"
	check "proxy row: curl of uid $UIDT allowed to allowed.test" \
		wait_rows "sandbox='host' AND layer IN ('proxy','l7') AND action='allow' AND host='allowed.test' AND uid=$UIDT AND cgroup='$SCOPE_REL'"
	check "ward logs --json: uid and cgroup of python's row" python3 -c '
import json,sys
rows=[json.loads(l) for l in sys.stdin]
assert any(r["uid"]==int(sys.argv[1]) and r["cgroup"]==sys.argv[2] and "python" in (r["binary"] or "")
           for r in rows), rows[-3:]' "$UIDT" "$SCOPE_REL" < <(ward logs --log "$LOG" --sandbox host --layer kernel --json)
else
	fail "setpriv missing: the non-root rows are not checked"
fi

# an exempt cgroup in the scope: untouched; one that does not exist: a warning
out=$(in_cg "$SCOPE/exempt" "$PY" -c "$PYCONN")
check "python in an exempt cgroup of the scope: untouched" [ "$out" = connected ]
check "status lists the policy's exemption and the warning" python3 -c '
import json,sys; s=json.loads(sys.argv[1])
assert any(e["why"]=="policy" and e["cgroup"].endswith("/scope/exempt") for e in s["exempt"]), s
assert any("not-there does not exist" in w for w in s["warnings"]), s' \
	"$(ward host status --socket "$SOCK" --json)"
# a binary exemption: that executable itself connects directly, a copy of it
# and the binary without the exemption do not
cp "$(readlink -f "$PY")" "$T/py-exempt"
cp "$(readlink -f "$PY")" "$T/py-copy"
sed '/^host:/,$d' "$T/host.yaml" >"$T/bin.yaml"
printf 'host:\n  exempt:\n    - binary: %s\n' "$T/py-exempt" >>"$T/bin.yaml"
ward host enforce --socket "$SOCK" --policy "$T/bin.yaml" --scope "$SCOPE" \
	--hosts "$T/hosts" >/dev/null
check "host enforce with a binary exemption" [ $? -eq 0 ]
out=$(in_cg "$SCOPE" "$T/py-exempt" -c "$PYCONN")
check "the exempt binary connects directly: $out" [ "$out" = connected ]
out=$(in_cg "$SCOPE" "$T/py-copy" -c "$PYCONN")
check "a copy of it is not exempt: $out" [ "$out" = EPERM ]
out=$(in_cg "$SCOPE" "$PY" -c "$PYCONN")
check "python itself still refused: $out" [ "$out" = EPERM ]
out=$(in_cg "$SCOPE" "$T/py-exempt" -c "import subprocess,sys; sys.stdout.write(subprocess.run(['$T/py-copy','-c',sys.argv[1]],capture_output=True,text=True).stdout)" "$PYCONN")
check "its child running another binary is not exempt: $out" [ "$out" = EPERM ]
check "status lists the binary exemption" python3 -c '
import json,sys; s=json.loads(sys.argv[1])
assert any(e.get("binary")==sys.argv[2] and e["why"]=="policy" for e in s["exempt"]), s' \
	"$(ward host status --socket "$SOCK" --json)" "$T/py-exempt"
ward host enforce --socket "$SOCK" --policy "$T/host.yaml" --scope "$SCOPE" \
	--hosts "$T/hosts" >/dev/null
check "back to the first host policy" [ $? -eq 0 ]

# outside the scope: untouched
out=$(in_cg "$TOP/outside" "$PY" -c "$PYCONN")
check "python outside the scope: untouched" [ "$out" = connected ]

# --- audit mode: allowed and logged
t0=$(date +%s%N)
ward host enforce --socket "$SOCK" --policy "$T/host.yaml" --scope "$SCOPE" \
	--hosts "$T/hosts" --audit >/dev/null
check "host enforce --audit" [ $? -eq 0 ]
echo "figure: ward host enforce --audit, switch in place: $((($(date +%s%N) - t0) / 1000000)) ms"
out=$(in_cg "$SCOPE" "$PY" -c "$PYCONN")
check "audit: python allowed" [ "$out" = connected ]
check "audit: an audit row for python" \
	wait_rows "sandbox='host' AND layer='kernel' AND action='audit' AND binary LIKE '%python%'"
out=$(in_cg "$SCOPE" "$PY" -c "$PYCONN6")
check "audit: python's IPv6 connect allowed" [ "$out" = connected ]
check "audit: an audit row for python's IPv6 connect" \
	wait_rows "sandbox='host' AND layer='kernel' AND action='audit' AND binary LIKE '%python%' AND ip='fd00:213:34::2'"

# --- enforce again, then kill -9: still refused, counted, logged at restart
ward host enforce --socket "$SOCK" --policy "$T/host.yaml" --scope "$SCOPE" \
	--hosts "$T/hosts" >/dev/null
check "back to enforce" [ $? -eq 0 ]
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=
out=$(in_cg "$SCOPE" "$PY" -c "$PYCONN")
check "daemon down: python still refused" [ "$out" = EPERM ]
in_cg "$SCOPE" "$CURL" -s -m 5 --resolve allowed.test:80:10.213.24.2 http://allowed.test/ \
	>/dev/null 2>&1
check "daemon down: curl's redirected connect fails closed (exit 7)" [ $? -eq 7 ]
failclosed() {
	ward host status --socket "$SOCK" --pin-dir "$PINS" --json |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["counters"]["failclosed"])'
}
fc4=$(failclosed)
in_cg "$SCOPE" "$CURL" -6 -s -m 5 --resolve allowed6.test:80:[fd00:213:34::2] \
	http://allowed6.test/ >/dev/null 2>&1
check "daemon down: curl's redirected IPv6 connect fails closed (exit 7)" [ $? -eq 7 ]
out=$(in_cg "$SCOPE" "$T/py-dns" -c "$PYDNS6" udp allowed6.test 28)
check "daemon down: DNS over IPv6 refused ($out)" [ "$out" = EPERM ]
fc6=$(failclosed)
check "daemon down: the IPv6 refusals counted ($fc4 -> $fc6)" [ "$fc6" -ge $((fc4 + 2)) ]
st=$(ward host status --socket "$SOCK" --pin-dir "$PINS" --json)
check "status without a daemon: pinned, daemon down, counted" python3 -c '
import json,sys; s=json.loads(sys.argv[1])
assert s["state"]=="pinned, daemon down", s
assert s["counters"]["failclosed"]>=1, s
assert int(sys.argv[2]) in s["exempt_cgids"], s' "$st" "$(stat -c %i "$TOP/daemon")"
start_daemon || exit 1
check "restart: the fail-closed count logged" \
	wait_rows "layer='control' AND rule='host.failclosed' AND action='deny' AND reason LIKE '%connections refused while the daemon was down%'"
out=$(in_cg "$SCOPE" "$CURL" -s -m 10 http://allowed.test/)
check "after the restart curl works again" [ "$out" = "upstream saw host allowed.test" ]
out=$(curl6 -s -m 10 http://allowed6.test/)
check "after the restart curl -6 works again (the new ::1 listeners registered)" \
	[ "$out" = "upstream6 saw host allowed6.test" ]

# ward doctor --cleanup leaves what a running daemon holds
out=$(WARD_SOCKET=$SOCK ward doctor --cleanup --pin-dir "$PINS" 2>&1)
check "doctor --cleanup: pins a daemon holds are left" [ -d "$PINS" ]
check "... and it says so" grep -q "held by a running daemon" <<<"$out"
out=$(WARD_SOCKET=$SOCK ward doctor --pin-dir "$PINS" 2>&1)
check "doctor: a host mode section with the pins" grep -q "pins .* yes .*ward-test-hostd-$$: enforced" <<<"$out"

# --- stop: no program, link or pin left
st=$(ward host status --socket "$SOCK" --json)
ids=$(python3 -c '
import json,sys; s=json.loads(sys.argv[1])
print(" ".join("%d:%d" % (p["prog_id"], p["link_id"]) for p in s["programs"]))' "$st")
ward host stop --socket "$SOCK" >/dev/null
check "host stop" [ $? -eq 0 ]
check "no pin directory left" [ ! -e "$PINS" ]
left=
for _ in $(seq 50); do
	left=
	for pl in $ids; do
		bpftool prog show id "${pl%%:*}" >/dev/null 2>&1 && left="$left prog ${pl%%:*}"
		bpftool link show id "${pl##*:}" >/dev/null 2>&1 && left="$left link ${pl##*:}"
	done
	[ -z "$left" ] && break
	sleep 0.1
done
none_left() { [ -n "$ids" ] && [ -z "$left" ]; }
check "no program or link left ($ids)${left:+: still$left}" none_left
check "nothing attached to the scope" [ -z "$(bpftool cgroup show "$SCOPE" 2>/dev/null)" ]
out=$(in_cg "$SCOPE" "$PY" -c "$PYCONN")
check "after stop: python in the scope connects" [ "$out" = connected ]
check "host stop is a control row" wait_rows "rule='host.stop' AND action='allow'"
check "state after stop: ceiling file removed" [ ! -e "$STATE/host/policy.yaml" ]

# a daemon restart after stop enforces nothing
kill "$DPID"
wait "$DPID" 2>/dev/null
DPID=
start_daemon || exit 1
check "restart after stop: nothing pinned" [ ! -e "$PINS" ]

# --host-policy: enforced at the first start of a daemon with no host state
kill "$DPID"
wait "$DPID" 2>/dev/null
DPID=
nsenter --net=/run/netns/"$NS" sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' \
	"$TOP/daemon" "$WARD" daemon --socket "$SOCK" --state "$T/state2" --log "$LOG" \
	--pin-dir "$PINS" --host-policy "$T/host.yaml" --host-scope "$SCOPE" \
	2>>"$T/daemon.err" &
DPID=$!
for _ in $(seq 100); do
	[ -S "$SOCK" ] && ward sandbox list --socket "$SOCK" >/dev/null 2>&1 && break
	sleep 0.1
done
check "--host-policy: enforced at start" [ -d "$PINS" ]
check "--host-policy: stored as if enforced" cmp -s "$T/host.yaml" "$T/state2/host/policy.yaml"
out=$(in_cg "$SCOPE" "$PY" -c "$PYCONN")
check "--host-policy: python refused" [ "$out" = EPERM ]

# ward doctor --cleanup removes pins no daemon holds
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=
out=$(WARD_SOCKET=$SOCK ward doctor --cleanup --pin-dir "$PINS" 2>&1)
check "doctor --cleanup: pins of a dead daemon removed" [ ! -e "$PINS" ]
check "doctor --cleanup: nothing attached to the scope" \
	[ -z "$(bpftool cgroup show "$SCOPE" 2>/dev/null)" ]
out=$(in_cg "$SCOPE" "$PY" -c "$PYCONN")
check "after cleanup: python in the scope connects" [ "$out" = connected ]

# --- a daemon whose network namespace has no IPv6: listeners on 127.0.0.1
# only, a warning, IPv6 destinations of ruled binaries refused (not counted
# as fail closed), IPv4 still redirected
ip netns add "$NS4" || { echo "FAIL: netns $NS4"; exit 1; }
ip -n "$NS4" link set lo up
nsenter --net=/run/netns/"$NS4" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
	net.ipv6.conf.lo.disable_ipv6=1
check "no ::1 in $NS4" [ -z "$(ip -n "$NS4" -6 addr show dev lo)" ]
nsenter --net=/run/netns/"$NS4" sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' \
	"$TOP/daemon" "$WARD" daemon --socket "$T/ward4.sock" --state "$T/state4" --log "$LOG" \
	--pin-dir "$PINS" --host-policy "" 2>>"$T/daemon.err" &
DPID=$!
for _ in $(seq 100); do
	[ -S "$T/ward4.sock" ] && ward sandbox list --socket "$T/ward4.sock" >/dev/null 2>&1 && break
	sleep 0.1
done
ward host enforce --socket "$T/ward4.sock" --policy "$T/host.yaml" --scope "$SCOPE" \
	--hosts "$T/hosts" >/dev/null
check "host enforce without IPv6" [ $? -eq 0 ]
check "status: a warning, no ::1 listeners" python3 -c '
import json,sys; s=json.loads(sys.argv[1])
assert any("no IPv6 loopback" in w for w in s["warnings"]), s
assert not s["listeners"]["registered6"] and s["listeners"]["registered"], s
assert s["proxy"]["address6"] is None and s["dns"]["address6"] is None, s' \
	"$(ward host status --socket "$T/ward4.sock" --json)"
in_ns4() { nsenter --net=/run/netns/"$NS4" sh -c 'echo $$ >"$0/cgroup.procs" && exec "$@"' "$SCOPE" "$@"; }
in_ns4 "$CURL" -6 -s -m 5 --resolve allowed6.test:80:[fd00:213:34::2] http://allowed6.test/ \
	>/dev/null 2>&1
check "without IPv6: curl's IPv6 connect refused (exit 7)" [ $? -eq 7 ]
check "... a kernel row: ipv6 destination and no ipv6 proxy address" \
	wait_rows "sandbox='host' AND layer='kernel' AND action='deny' AND binary='$CURL' AND ip='fd00:213:34::2' AND reason LIKE '%no ipv6 proxy%'"
check "... not counted as fail closed" python3 -c '
import json,sys; s=json.loads(sys.argv[1]); assert s["counters"]["failclosed"]==0, s' \
	"$(ward host status --socket "$T/ward4.sock" --json)"
code=$(in_ns4 "$CURL" -s -o /dev/null -w '%{http_code}' -m 10 \
	--resolve allowed.test:80:10.213.24.2 http://allowed.test/)
check "without IPv6: IPv4 still redirected to the proxy (a 502: no upstream from $NS4)" \
	[ "$code" = 502 ]
ward host stop --socket "$T/ward4.sock" >/dev/null
check "host stop" [ $? -eq 0 ]
check "no pin directory left" [ ! -e "$PINS" ]

finish
