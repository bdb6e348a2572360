#!/bin/bash
# SPDX-License-Identifier: MIT
# The DNS stub through `ward run` on the real kernel (docs/dns.md): the
# sandbox's resolv.conf, names from --hosts for a binary with policy, NXDOMAIN
# for unlisted names and for random subdomains of unlisted domains, wildcard
# depth, TCP DNS, a binary without network policy cannot even ask, rows in
# the decision log. Nothing leaves the machine: every allowed name is in
# --hosts, and unlisted names are never forwarded. Root only; exit 77 skips.
set -u

. "$(dirname "$0")/lib.sh"
need_root
[ -x "$WARD" ] || { echo "SKIP: no ward binary at $WARD"; exit 77; }
grep -q cgroup2 /proc/self/mountinfo || { echo "SKIP: no cgroup2 mount"; exit 77; }
PY=/usr/bin/python3
[ -x "$PY" ] || { echo "SKIP: needs /usr/bin/python3"; exit 77; }
command -v sqlite3 >/dev/null || { echo "SKIP: needs sqlite3"; exit 77; }

T=$(test_tmpdir ward-test-dns)
chmod 755 "$T"
trap 'rm -rf "$T"' EXIT
LOG=$T/log.db
UID_=4244
mkdir "$T/wd" && chown "$UID_:$UID_" "$T/wd"
# the helpers live in the workdir, mapped on every kernel (without unix
# hooks, before 6.7, ward keeps /tmp private even where a policy maps it)
B=$T/wd/bin
mkdir "$B"

cat >"$T/hosts" <<'EOF'
# test names: never resolved anywhere else
10.77.0.1 allowed.test
fd77:77::1 allowed.test
10.77.0.2 one.wild.test
10.77.0.3 a.b.deep.test
10.77.0.4 unlisted.test
EOF
# A client that speaks DNS itself: over UDP or TCP, to 127.0.0.53, prints the
# rcode and the addresses; "EPERM" when the kernel refuses the socket.
cat >"$B/q.py" <<'EOF'
import socket, struct, sys
proto, name, qtype = sys.argv[1], sys.argv[2], int(sys.argv[3])
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
for l in name.split("."):
    q += bytes([len(l)]) + l.encode()
q += b"\0" + struct.pack(">HH", qtype, 1)
try:
    if proto == "udp":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(3)
        s.sendto(q, ("127.0.0.53", 53))
        r = s.recv(4096)
    else:
        s = socket.create_connection(("127.0.0.53", 53), timeout=3)
        s.sendall(struct.pack(">H", len(q)) + q)
        n = struct.unpack(">H", s.recv(2))[0]
        r = b""
        while len(r) < n:
            r += s.recv(n - len(r))
except PermissionError:
    print("EPERM"); sys.exit(0)
except OSError as e:
    print("ERR", e); sys.exit(0)
rid, flags, qd, an = struct.unpack(">HHHH", r[:8])
out = ["rcode=%d" % (flags & 15), "id=%s" % (rid == 0x1234), "an=%d" % an]
if an:
    out.append(socket.inet_ntop(socket.AF_INET if qtype == 1 else socket.AF_INET6, r[-(4 if qtype == 1 else 16):]))
print(" ".join(out))
EOF
# Borrowing a DNS identity (docs/dns.md, "Identity of UDP clients"): the
# victim asks from a fixed source port; the attacker, another binary, binds
# that port, connects to the stub, floods the kernel's record map with more
# live sockets than it holds and then with short-lived ones, and asks for the
# victim's name. Prints the rcode, the answer count, and how many of its
# flood connects the kernel refused.
cat >"$B/borrow.py" <<'EOF'
import resource, socket, struct, sys
role, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
for l in name.split("."):
    q += bytes([len(l)]) + l.encode()
q += b"\0" + struct.pack(">HH", 1, 1)
stub = ("127.0.0.53", 53)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", port))
s.settimeout(3)
refused = 0
if role == "attacker":
    s.connect(stub)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    live = []
    for i in range(min(17000, hard - 64)):   # more than the 16384 records
        f = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            f.connect(stub)
        except PermissionError:
            refused += 1
        live.append(f)
    for f in live:
        f.close()
    for step in range(20):                    # then churn, in steps
        for i in range(1000):
            f = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            f.connect(stub)
            f.close()
    s.send(q)
else:
    s.sendto(q, stub)
try:
    r = s.recv(4096)
    rid, flags, qd, an = struct.unpack(">HHHH", r[:8])
    print("%s rcode=%d an=%d refused=%d" % (role, flags & 15, an, refused))
except OSError as e:
    print("%s ERR %s refused=%d" % (role, e, refused))
EOF
cp "$PY" "$B/py-nopolicy"
cp "$PY" "$B/py-attacker"
chmod 755 "$B/py-nopolicy" "$B/py-attacker" "$B/q.py" "$B/borrow.py"
chmod 644 "$T/hosts"

cat >"$T/policy.yaml" <<EOF
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc]
process:
  run_as_user: $UID_
  run_as_group: $UID_
network_policies:
  names:
    binaries: [{ path: /usr/bin/getent }, { path: $(readlink -f $PY) }]
    endpoints:
      - { host: allowed.test, port: 443 }
      - { host: "*.wild.test", port: 443 }
      - { host: "**.deep.test", port: 443 }
  attacker:
    binaries: [{ path: $B/py-attacker }]
    endpoints:
      - { host: attacker.test, port: 443 }
EOF

run() {
	OUT=$(timeout "${RUN_TIMEOUT:-60}" "$WARD" run --policy "$T/policy.yaml" --log "$LOG" --hosts "$T/hosts" \
		--workdir "$T/wd" -- "$@" 2>&1)
	RC=$?
}

run cat /etc/resolv.conf
check "resolv.conf inside names the stub" grep -qx "nameserver 127.0.0.53" <<<"$OUT"
check "host's resolv.conf untouched" bash -c "! grep -q 127.0.0.53 /etc/resolv.conf"

run getent ahostsv4 allowed.test
check "getent: a --hosts name allowed by policy resolves" \
	bash -c "[ $RC = 0 ] && grep -q '^10.77.0.1 ' <<<'$OUT'"
run getent ahostsv6 allowed.test
check "getent: AAAA from --hosts" bash -c "[ $RC = 0 ] && grep -q '^fd77:77::1 ' <<<'$OUT'"
run getent hosts unlisted.test
check "getent: a name in --hosts but in no policy is NXDOMAIN (exit 2)" [ "$RC" = 2 ]
run getent hosts nosuchname.example
check "getent: an unlisted name is NXDOMAIN (exit 2)" [ "$RC" = 2 ]
RAND=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
run getent hosts "$RAND.c2.exfil.example"
check "getent: a long random subdomain of an unlisted domain never resolves" [ "$RC" = 2 ]
run getent hosts one.wild.test
check "*.wild.test: one label resolves" [ "$RC" = 0 ]
run getent hosts x.one.wild.test
check "*.wild.test: two labels do not" [ "$RC" = 2 ]
run getent hosts a.b.deep.test
check "**.deep.test: any depth resolves" [ "$RC" = 0 ]

run "$PY" "$B/q.py" udp allowed.test 1
check "UDP: A answer, id echoed" grep -qx "rcode=0 id=True an=1 10.77.0.1" <<<"$OUT"
run "$PY" "$B/q.py" tcp allowed.test 1
check "TCP DNS: A answer" grep -qx "rcode=0 id=True an=1 10.77.0.1" <<<"$OUT"
run "$PY" "$B/q.py" tcp "$RAND.exfil.example" 1
check "TCP DNS: unlisted name NXDOMAIN" grep -qx "rcode=3 id=True an=0" <<<"$OUT"
run "$PY" "$B/q.py" udp allowed.test 16
check "TXT for an allowed name: empty NOERROR" grep -qx "rcode=0 id=True an=0" <<<"$OUT"
run "$B/py-nopolicy" "$B/q.py" udp allowed.test 1
check "a binary without network policy cannot even ask (EPERM)" grep -qx EPERM <<<"$OUT"
run "$B/py-nopolicy" "$B/q.py" tcp allowed.test 1
check "...nor over TCP (EPERM)" grep -qx EPERM <<<"$OUT"

# 37,000 socket calls: seconds here, over a minute in an emulated guest
# under load (check-kernels), where the 60 s bound cut the attacker short
RUN_TIMEOUT=300 run /bin/sh -c "$PY $B/borrow.py victim 40053 allowed.test; $B/py-attacker $B/borrow.py attacker 40053 allowed.test"
grep -q "^attacker " <<<"$OUT" || echo "borrow: status $RC: $OUT"
check "borrow: the victim's own query is answered" grep -qx "victim rcode=0 an=1 refused=0" <<<"$OUT"
check "borrow: the attacker on the victim's port gets NXDOMAIN, not the victim's answer" \
	grep -q "^attacker rcode=3 an=0 " <<<"$OUT"
REFUSED=$(sed -n 's/^attacker .*refused=\([0-9]*\)$/\1/p' <<<"$OUT")
check "borrow: a full record map refuses new sockets (refused ${REFUSED:-?})" \
	[ "${REFUSED:-0}" -gt 0 ]

q() { sqlite3 "$LOG" "$1"; }
check "borrow: the refusals are counted in drop rows (sum = ${REFUSED:-?})" \
	[ "$(q "select coalesce(sum(cast(reason as integer)), 0) from decisions where layer='kernel' and rule='events_dropped' and reason like '% UDP sockets refused (identity map full)'")" = "${REFUSED:-x}" ]
check "borrow: the attacker's query is logged as its own" \
	[ "$(q "select count(*) from decisions where layer='dns' and action='deny' and host='allowed.test' and binary='$B/py-attacker'")" -ge 1 ]
check "borrow: no allow row for the attacker" \
	[ "$(q "select count(*) from decisions where layer='dns' and action='allow' and binary='$B/py-attacker'")" = 0 ]
check "row: allowed query with binary, pid, rule" \
	[ "$(q "select count(*) from decisions where layer='dns' and action='allow' and host='allowed.test' and binary='/usr/bin/getent' and rule='names' and pid>0")" -ge 1 ]
check "row: denied unlisted name" \
	[ "$(q "select count(*) from decisions where layer='dns' and action='deny' and host='nosuchname.example' and binary='/usr/bin/getent'")" -ge 1 ]
check "row: the random subdomain is logged as denied" \
	[ "$(q "select count(*) from decisions where layer='dns' and action='deny' and host='$RAND.c2.exfil.example'")" -ge 1 ]
check "row: TCP query" \
	[ "$(q "select count(*) from decisions where layer='dns' and protocol='tcp' and host='allowed.test'")" -ge 1 ]
check "row: the kernel denied the binary without policy, to 127.0.0.53:53" \
	[ "$(q "select count(*) from decisions where layer='kernel' and action='deny' and binary='$B/py-nopolicy' and ip='127.0.0.53' and port=53")" -ge 1 ]
check "no dns row ever allows an unlisted name" \
	[ "$(q "select count(*) from decisions where layer='dns' and action='allow' and host not in ('allowed.test','one.wild.test','a.b.deep.test')")" = 0 ]

finish
