#!/bin/bash
# SPDX-License-Identifier: MIT
# Identity through `ward run` on the real kernel (docs/egress.md):
#  - rows name the executable that acted: a curl CONNECT to a foreign host
#    with inference routes and no inference.binaries has binary and
#    binary_sha256; with ancestors: true a copied curl run from bash is
#    logged as the copy, bash in via (kernel, proxy and DNS rows);
#  - binaries that appear after the start (exec-time matching): a copy of
#    curl made inside the sandbox into a writable path a glob names connects
#    (same content as the read-only /usr/bin/curl); a copy to a path no glob
#    names gets nothing; a different program written to the glob's path gets
#    nothing, and a row says why; a binary named by sha256 connects from any
#    path.
# The upstream is a python HTTP server in a network namespace this test
# creates; names come from --hosts. Nothing leaves the machine. Root only.
set -u

. "$(dirname "$0")/lib.sh"
need_root
[ -x "$WARD" ] || { echo "SKIP: no ward binary at $WARD"; exit 77; }
grep -q cgroup2 /proc/self/mountinfo || { echo "SKIP: no cgroup2 mount"; exit 77; }
for c in curl python3 sqlite3 ip sha256sum bash dash; do
	command -v $c >/dev/null || { echo "SKIP: needs $c"; exit 77; }
done
PY=$(readlink -f /usr/bin/python3)
CURL=$(readlink -f "$(command -v curl)")
BASH_=$(readlink -f "$(command -v bash)")
SH=$(readlink -f "$(command -v dash)")
CURL_SHA=$(sha256sum "$CURL" | cut -d' ' -f1)

NS=wid$$
T=$(test_tmpdir ward-test-ident)
chmod 755 "$T"
SRV=
cleanup() {
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	ip link del "wid$$" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
LOG=$T/log.db
UID_=4246
H=$T/home
mkdir "$T/wd" "$T/ro" "$H" && chown "$UID_:$UID_" "$T/wd" "$H"

ip netns add "$NS" || { echo "SKIP: ip netns add"; exit 77; }
ip link add "wid$$" type veth peer name up0 netns "$NS"
ip addr add 192.168.178.1/24 dev "wid$$"
ip link set "wid$$" up
ip -n "$NS" addr add 192.168.178.2/24 dev up0
ip -n "$NS" link set up0 up
ip -n "$NS" link set lo up
mkdir "$T/www" && echo "hello from upstream" >"$T/www/index.html"
(cd "$T/www" && exec ip netns exec "$NS" "$PY" -m http.server 8080 --bind 192.168.178.2 \
	>/dev/null 2>&1) &
SRV=$!
for _ in $(seq 50); do
	curl -s -o /dev/null --max-time 1 http://192.168.178.2:8080/ && break
	sleep 0.1
done
printf '192.168.178.2 up.test other.test llm.test\n' >"$T/hosts"
chmod 644 "$T/hosts"
cp "$CURL" "$T/ro/anccurl"
cp "$PY" "$T/ro/ancpy"
# dns.py NAME: one A query to the sandbox's resolver, prints the rcode
cat >"$T/ro/dns.py" <<'EOF'
import socket, struct, sys
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
q += b"".join(bytes([len(p)]) + p.encode() for p in sys.argv[1].split(".")) + b"\0"
q += struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(q, ("127.0.0.53", 53))
print("rcode=%d" % (s.recv(512)[3] & 15))
EOF
chmod 755 "$T/ro"/*

cat >"$T/policy.yaml" <<EOF
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc, $T/ro]
  read_write: [$H]
process:
  run_as_user: $UID_
  run_as_group: $UID_
network_policies:
  web:
    binaries: [{ path: $CURL }, { path: "$H/.codex/packages/**/bin/curl" }]
    endpoints: [{ host: up.test, port: 8080 }]
  shell:
    binaries: [{ path: $BASH_, ancestors: true }]
    endpoints: [{ host: up.test, port: 8080 }]
EOF
# a binary named by content (any copy of curl gets its policy: kept apart)
sed 's/^network_policies:$/&\n  bycontent:\n    binaries: [{ sha256: '"$CURL_SHA"' }]\n    endpoints: [{ host: other.test, port: 8080 }]/' \
	"$T/policy.yaml" >"$T/sha.yaml"
# inference routes and no inference.binaries: every binary may reach the
# proxy (for inference.local), curl is in no network policy
cat >"$T/infer.yaml" <<EOF
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc, $T/ro]
process:
  run_as_user: $UID_
  run_as_group: $UID_
inference:
  routes:
    - name: fast
      provider: openai
      model: mock-small
      base_url: http://llm.test:8080/v1
      api_key_env: WARD_TEST_IDENT_KEY
EOF
export WARD_TEST_IDENT_KEY=sk-test

run() {
	local pol=$1
	shift
	OUT=$(timeout 90 "$WARD" run --policy "$pol" --log "$LOG" --hosts "$T/hosts" \
		--workdir "$T/wd" -- "$@" 2>&1)
	RC=$?
}
has() { grep -q -- "$1" <<<"$OUT"; }
q() { sqlite3 "$LOG" "$1"; }

# ---- rows name who acted ----
run "$T/infer.yaml" curl -s --max-time 10 -p -o /dev/null -w '%{http_code}' http://other.test:8080/
check "no inference.binaries: CONNECT to a foreign host refused" [ "$RC" != 0 ]
check "...its proxy row names curl and its sha256" \
	[ "$(q "select count(*) from decisions where layer='proxy' and action='deny'
		and host='other.test' and binary='$CURL' and binary_sha256='$CURL_SHA'")" -gt 0 ]

run "$T/policy.yaml" "$BASH_" -c "'$T/ro/anccurl' -s --max-time 10 http://up.test:8080/;
	'$T/ro/anccurl' -s --max-time 10 -p http://up.test:8080/; true"
check "ancestors: a copy of curl run from bash connects" has "hello from upstream"
for layer in kernel proxy l7; do
	check "ancestors: $layer row binary = the copy, via = bash" \
		[ "$(q "select count(*) from decisions where layer='$layer' and action='allow'
			and binary='$T/ro/anccurl' and via='$BASH_'")" -gt 0 ]
done
check "ancestors: no row names bash as the binary that connected" \
	[ "$(q "select count(*) from decisions where binary='$BASH_' and layer in ('kernel','proxy','l7')")" = 0 ]
check "ancestors: TOFU of the copy (sha256 in the l7 row)" \
	[ "$(q "select count(*) from decisions where layer='l7' and binary='$T/ro/anccurl'
		and binary_sha256='$CURL_SHA'")" -gt 0 ]

run "$T/policy.yaml" "$BASH_" -c "'$T/ro/ancpy' '$T/ro/dns.py' up.test; true"
check "dns: the query is answered" has "rcode=0"
check "dns: row binary = the program that asked, via = bash" \
	[ "$(q "select count(*) from decisions where layer='dns' and host='up.test'
		and binary='$T/ro/ancpy' and via='$BASH_'")" -gt 0 ]

# ---- binaries that appear later (exec-time matching) ----
CX=$H/.codex/packages/app/bin/curl
run "$T/policy.yaml" "$SH" -c "mkdir -p '${CX%/curl}' && cp '$CURL' '$CX' &&
	for i in 1 2 3 4 5 6 7 8 9 10; do '$CX' -s --max-time 10 http://up.test:8080/ && exit 0;
	sleep 0.2; done; exit 1"
check "codex case: a copy of curl made at run time under the glob connects" has "hello from upstream"
check "...the identity was added at exec, same content as curl" \
	[ "$(q "select count(*) from decisions where layer='kernel' and action='allow' and binary='$CX'
		and rule='web' and reason like 'exec: identity added (same content%'")" = 1 ]
check "...and its l7 row names the copy" \
	[ "$(q "select count(*) from decisions where layer='l7' and action='allow' and binary='$CX'
		and binary_sha256='$CURL_SHA'")" -gt 0 ]

# an admitted copy rewritten in place (same inode: the proxy compares the
# content), then renamed out of the glob (the kernel: another name)
RW=$H/.codex/packages/rw/bin/curl
CX2=$H/renamed
run "$T/policy.yaml" "$SH" -c "mkdir -p '${RW%/curl}' && cp '$CURL' '$RW' &&
	for i in 1 2 3 4 5 6 7 8 9 10; do '$RW' -s --max-time 10 -o /dev/null http://up.test:8080/ && break;
	sleep 0.2; done; cat '$PY' >'$RW' &&
	'$RW' -c 'import urllib.request as u; print(u.urlopen(\"http://up.test:8080/\", timeout=5).read())';
	mv '$RW' '$CX2' &&
	'$CX2' -c 'import urllib.request as u; print(u.urlopen(\"http://up.test:8080/\", timeout=5).read())'"
check "rewritten in place after admission: refused" \
	bash -c "[ $RC != 0 ] && ! grep -q 'hello from upstream' <<<'$OUT'"
check "...the row says the content changed since it was admitted" \
	[ "$(q "select count(*) from decisions where layer='l7' and action='deny' and binary='$RW'
		and reason like 'binary changed since%'")" -gt 0 ]
# renamed: its identity pins another name and directory (bpf/exe_ident.h),
# so the kernel refuses it before the proxy could compare its content
check "...refused in the kernel: renamed, it has no identity" \
	[ "$(q "select count(*) from decisions where layer='kernel' and action='deny'
		and binary='$CX2' and reason='binary has no network policy'")" -gt 0 ]

run "$T/policy.yaml" "$SH" -c "mkdir -p '$H/other' && cp '$CURL' '$H/other/curl' &&
	for i in 1 2 3; do '$H/other/curl' -s --max-time 10 http://up.test:8080/ && exit 0;
	sleep 0.3; done; exit 1"
check "attacker's copy: curl copied to a path no glob names gets nothing" \
	bash -c "[ $RC = 1 ] && ! grep -q 'hello from upstream' <<<'$OUT'"
check "...no identity added for it" \
	[ "$(q "select count(*) from decisions where binary='$H/other/curl' and action='allow'")" = 0 ]

EV=$H/.codex/packages/evil/bin/curl
run "$T/policy.yaml" "$SH" -c "mkdir -p '${EV%/curl}' && cp '$PY' '$EV' &&
	for i in 1 2 3; do '$EV' -c 'import urllib.request as u; print(u.urlopen(\"http://up.test:8080/\", timeout=5).read())' && exit 0;
	sleep 0.3; done; exit 1"
check "attacker's copy: a different program written to the glob's path gets nothing" \
	bash -c "[ $RC = 1 ] && ! grep -q 'hello from upstream' <<<'$OUT'"
check "...a row says why" \
	[ "$(q "select count(*) from decisions where layer='kernel' and action='deny' and binary='$EV'
		and reason like 'exec: matches binary%sandbox can write it%'")" -gt 0 ]

# named by content: a copy of curl anywhere, under any name
SC=$H/somewhere/tool
run "$T/sha.yaml" "$SH" -c "mkdir -p '$H/somewhere' && cp '$CURL' '$SC' &&
	for i in 1 2 3 4 5 6 7 8 9 10; do '$SC' -s --max-time 10 http://other.test:8080/ && exit 0;
	sleep 0.2; done; exit 1"
check "sha256: a copy of curl under another name and path connects" has "hello from upstream"
check "...identity added at exec by its content, rule bycontent" \
	[ "$(q "select count(*) from decisions where layer='kernel' and action='allow' and binary='$SC'
		and rule='bycontent' and reason like 'exec: identity added (sha256%'")" = 1 ]

finish
