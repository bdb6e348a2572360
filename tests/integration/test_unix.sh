#!/bin/bash
# SPDX-License-Identifier: MIT
# Host unix sockets on the real kernel (docs/sandbox.md, "Unix sockets"):
# host listeners that record every connection they accept, under a mapped
# /tmp and under a mapped home-like directory. From the sandbox, absolute,
# relative, symlinked and length-16 addresses are refused with no hit and a
# deny row; a socket named for one binary (perl, standing in for ssh) reaches
# its listener as the sandbox user while another binary (python3) is
# refused; a socket server and client of the sandbox's own keep working;
# datagrams to a host socket are refused.
# Root only; exit 77 (skip) when a kernel feature is missing.
set -u
. "$(dirname "$0")/lib.sh"

need_root
[ -x "$WARD" ] || { echo "SKIP: no ward binary at $WARD"; exit 77; }
grep -q cgroup2 /proc/self/mountinfo || { echo "SKIP: no cgroup2 mount"; exit 77; }
command -v jq >/dev/null || { echo "SKIP: needs jq"; exit 77; }
for b in /usr/bin/python3 /usr/bin/perl; do
	[ -x $b ] || { echo "SKIP: needs $b"; exit 77; }
done
"$WARD" doctor --json | jq -e '.features[] | select(.name == "unix.broker" and .available)' \
	>/dev/null || { echo "SKIP: no seccomp user notification or connect_unix BPF"; exit 77; }

UID_=4244
# the workdir and the home-like directory: not under /tmp (mapped whole here)
T=$(mktemp -d /var/tmp/ward-test-unix.XXXXXX)
# the host /tmp the policy maps, with a listener in it
H=$(mktemp -d /tmp/wux.XXXXXX)
chmod 755 "$T"
chmod 1777 "$H" # the sandbox user makes its own socket there
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$T" "$H"
}
trap cleanup EXIT
WD=$T/wd
HOMEDIR=$T/home
mkdir -p "$WD" "$HOMEDIR"
chown "$UID_:$UID_" "$WD" "$HOMEDIR"
chmod 755 "$WD" "$HOMEDIR"
LOG=$T/log.db

# listener SOCKET HITS: accepts until killed, one line per connection with
# the peer's uid (SO_PEERCRED), datagrams too
cat >"$T/listen.py" <<'EOF'
import os, socket, struct, sys
path, hits = sys.argv[1], sys.argv[2]
kind = socket.SOCK_DGRAM if len(sys.argv) > 3 else socket.SOCK_STREAM
s = socket.socket(socket.AF_UNIX, kind)
s.bind(path)
os.chmod(path, 0o777)
open(hits, "w").close()
if kind == socket.SOCK_DGRAM:
    while True:
        d = s.recv(100)
        with open(hits, "a") as f:
            f.write("datagram %r\n" % d)
s.listen(16)
while True:
    c, _ = s.accept()
    pid, uid, gid = struct.unpack("3i", c.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    with open(hits, "a") as f:
        f.write("uid=%d\n" % uid)
    c.sendall(b"host-says-hi\n")
    c.close()
EOF
listen() {
	python3 "$T/listen.py" "$@" &
	PIDS+=($!)
	for _ in $(seq 50); do [ -S "$1" ] && [ -e "$2" ] && return 0; sleep 0.1; done
	echo "listener $1 did not start"
	exit 1
}
listen "$H/host.sock" "$T/hits-tmp"
listen "$HOMEDIR/agent.sock" "$T/hits-agent"
listen "$H/dgram.sock" "$T/hits-dgram" dgram

# the client: connect (or send) and say what happened
cat >"$T/client.py" <<'EOF'
import ctypes, os, socket, sys
mode, path = sys.argv[1], sys.argv[2]
if len(sys.argv) > 3:
    os.chdir(sys.argv[3])
try:
    if mode == "dgram":
        socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).sendto(b"x", path)
        print("SENT")
    elif mode == "len16":
        # an address length of 16, as a sockaddr_in's
        s = socket.socket(socket.AF_UNIX)
        addr = (b"\x01\x00" + path.encode()).ljust(110, b"\0")
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.connect(s.fileno(), ctypes.c_char_p(addr), 16) < 0:
            raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
        print("CONNECTED", s.recv(100))
    else:
        s = socket.socket(socket.AF_UNIX)
        s.connect(path)
        print("CONNECTED", s.recv(100))
except OSError as e:
    print("REFUSED", e.errno)
EOF
cat >"$T/client.pl" <<'EOF'
use IO::Socket::UNIX;
my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM, Peer => $ARGV[0]);
if ($s) { my $l = <$s>; print "CONNECTED $l"; } else { print "REFUSED $!\n"; }
EOF
# a server and its client, both in the sandbox, on a mapped /tmp
cat >"$T/own.py" <<'EOF'
import os, socket, sys, threading
path = sys.argv[1]
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(1)
def serve():
    c, _ = s.accept()
    c.sendall(b"own-server")
    c.close()
t = threading.Thread(target=serve)
t.start()
c = socket.socket(socket.AF_UNIX)
os.chdir(os.path.dirname(path))
try:
    c.connect(os.path.basename(path))  # relative, as a dev server's client might
    print("CONNECTED", c.recv(100))
except OSError as e:
    print("REFUSED", e.errno)
    socket.socket(socket.AF_UNIX).connect(path)  # let the server thread end
t.join()
os.unlink(path)
EOF
chmod 644 "$T"/*.py "$T/client.pl"

cat >"$T/policy.yaml" <<EOF
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /etc, $T/client.py, $T/client.pl, $T/own.py]
  read_write: [/tmp, $HOMEDIR]
network_policies:
  agent:
    binaries:
      - path: /usr/bin/perl
    endpoints:
      - unix: $HOMEDIR/agent.sock
process:
  run_as_user: $UID_
  run_as_group: $UID_
EOF
"$WARD" policy check "$T/policy.yaml" || { fail "policy check"; finish; exit 1; }

# run CMD...: output in $OUT
run() {
	OUT=$(cd "$WD" && timeout 60 "$WARD" run --policy "$T/policy.yaml" --log "$LOG" \
		--workdir "$WD" -- "$@" 2>&1)
}
hits() { wc -l <"$1"; }
# on a failure, the run's output helps
check() {
	local name=$1
	shift
	if "$@"; then pass "$name"; else fail "$name"; echo "  output: $OUT"; fi
}
# rows ACTION PATH: unix rows with that action and path
rows() {
	"$WARD" logs --log "$LOG" --json --layer unix |
		jq -s --arg a "$1" --arg p "$2" '[.[] | select(.action == $a and .path == $p)] | length'
}

# --- host sockets under a mapped /tmp: refused every way, no hit
ln -s "$H/host.sock" "$WD/link.sock"
run python3 "$T/client.py" connect "$H/host.sock"
check "absolute path to a host socket is refused" grep -q '^REFUSED 13' <<<"$OUT"
run python3 "$T/client.py" connect host.sock "$H"
check "relative path (cd + name) is refused" grep -q '^REFUSED 13' <<<"$OUT"
run python3 "$T/client.py" connect link.sock
check "symlink in the workdir to a host socket is refused" grep -q '^REFUSED 13' <<<"$OUT"
run python3 "$T/client.py" connect "$WD/../../../../..$H/./host.sock"
check "../ and ./ in the path are refused" grep -q '^REFUSED 13' <<<"$OUT"
run python3 "$T/client.py" len16 host.sock "$H"
check "address length 16 (an IPv4-sized address) is refused too" \
	grep -q '^REFUSED' <<<"$OUT"
check "the /tmp listener recorded no hit" [ "$(hits "$T/hits-tmp")" -eq 0 ]
check "deny row for the absolute path" [ "$(rows deny "$H/host.sock")" -ge 1 ]
check "deny rows name the binary and its sha256" \
	[ "$("$WARD" logs --log "$LOG" --json --layer unix | jq -s '[.[] | select(.action == "deny"
		and (.binary | test("python3")) and (.binary_sha256 | length) == 64 and .pid > 0
		and .rule == null)] | length')" -ge 5 ]

# --- datagrams to a host socket
run python3 "$T/client.py" dgram "$H/dgram.sock"
check "datagram to a host socket is refused" grep -q '^REFUSED 1$' <<<"$OUT"
check "the datagram listener received nothing" [ "$(hits "$T/hits-dgram")" -eq 0 ]
check "deny row for the datagram" [ "$(rows deny "$H/dgram.sock")" -ge 1 ]
# uid and cgroup (docs/audit.md): the broker's rows (read in /proc while the
# caller waits) and the kernel's (the datagram) name the sandbox's process
# owned rows ACTION PATH: unix rows with that action and path, a uid and a
# cgroup below the sandbox's (/ward/ID)
owned() {
	"$WARD" logs --log "$LOG" --json --layer unix |
		jq -s --arg a "$1" --arg p "$2" '[.[] | select(.action == $a and .path == $p
			and .uid != null and (.cgroup // "" | startswith("/ward/")))] | length'
}
check "deny rows of the host socket name a uid and the sandbox's cgroup" \
	[ "$(owned deny "$H/host.sock")" -ge 1 ]
check "deny row of the datagram names a uid and the sandbox's cgroup" \
	[ "$(owned deny "$H/dgram.sock")" -ge 1 ]

# --- the ssh-agent case: only the named binary, as the sandbox user
run python3 "$T/client.py" connect "$HOMEDIR/agent.sock"
check "python3 may not use the agent socket" grep -q '^REFUSED 13' <<<"$OUT"
check "the agent listener recorded no hit from python3" [ "$(hits "$T/hits-agent")" -eq 0 ]
run perl "$T/client.pl" "$HOMEDIR/agent.sock"
check "perl, named for it, reaches the agent socket" grep -q '^CONNECTED host-says-hi' <<<"$OUT"
check "the agent listener recorded exactly one hit" [ "$(hits "$T/hits-agent")" -eq 1 ]
check "SO_PEERCRED at the listener is the sandbox user, not root" \
	grep -qx "uid=$UID_" "$T/hits-agent"
check "allow row with the rule key" [ "$("$WARD" logs --log "$LOG" --json --layer unix |
	jq -s --arg p "$HOMEDIR/agent.sock" '[.[] | select(.action == "allow" and .path == $p and
		.rule == "agent" and (.binary | test("perl")))] | length')" -eq 1 ]
run perl "$T/client.pl" "$H/host.sock"
check "perl may not use a socket not named for it" grep -q '^REFUSED' <<<"$OUT"
check "the /tmp listener still recorded no hit" [ "$(hits "$T/hits-tmp")" -eq 0 ]

# --- the sandbox's own socket, on the mapped /tmp
run python3 "$T/own.py" "$H/own.sock"
check "a socket the sandbox created works (server and client inside)" \
	grep -q "^CONNECTED b'own-server'" <<<"$OUT"

finish
