#!/bin/bash
# SPDX-License-Identifier: MIT
# Proxy benchmark (docs/proxy.md): CONNECT tunnel throughput through ward vs
# direct and vs tinyproxy; requests/s with p50/p99 latency for plain http://
# forwarded through ward vs direct; and for intercepted HTTPS (keep-alive,
# requests inside one CONNECT tunnel) through ward vs mitmproxy (also
# intercepting) and squid (intercepting with ssl-bump from Debian's
# squid-openssl; a plain CONNECT tunnel where that is not available). Peers are Debian packages,
# installed on demand when missing (apt-get). Upstreams are python servers in
# network namespaces this script creates; nothing leaves the machine.
# Concurrent tunnels: CONNS (default 2000) tunnels opened at once, each
# echoing 4 KiB and all held open until every one has (tools/bench/load_client.c),
# through ward vs straight to the echo server: tunnels/s, median of ROUNDS.
# Request rates and latencies (plain http, intercepted HTTPS) are interleaved
# too: ROUNDS runs of REQUESTS each per side, medians of req/s, p50 and p99.
# PARTS (default tunnel,conns,http,https) picks the sections to run;
# TUNNEL_PROFILE (a command prefix) runs one more tunnel transfer under it.
# Wall-clock rates swing with whatever else the 2 cores run; the CPU time
# each proxy spends per intercepted request does not, much: ward's own
# (utime+stime of the ward process, all threads, read from /proc when it
# exits: a run of CPU_N requests less a run of 1, which pays the same
# startup) and squid's (its process over all its rounds).
# Usage: tools/bench/proxy.sh [MB] [REQUESTS]   (root)
set -eu
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
WARD=${WARD:-$(pwd)/build/ward}
MB=${1:-256}
N=${2:-300}
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 1; }
CONNS=${CONNS:-2000}
ROUNDS=${ROUNDS:-5}
CPU_N=${CPU_N:-2000}
PARTS=${PARTS:-tunnel,conns,http,https}
part() { case ",$PARTS," in *",$1,"*) return 0 ;; esac; return 1; }
[ "$MB" -le 2048 ] && [ "$N" -le 5000 ] && [ "$CONNS" -le 5000 ] && [ "$ROUNDS" -le 10 ] &&
	[ "$CPU_N" -gt 1 ] && [ "$CPU_N" -le 5000 ] ||
	{ echo "bounded: MB <= 2048, REQUESTS <= 5000, CONNS <= 5000, ROUNDS <= 10, 1 < CPU_N <= 5000"; exit 1; }
LOADC=$(dirname "$WARD")/load_client
PY=$(readlink -f /usr/bin/python3)
CURL=$(readlink -f "$(command -v curl)")
NS=wbench$$
T=$(mktemp -d /tmp/ward-bench-proxy.XXXXXX)
chmod 755 "$T"
SRV=
ECHO=
TP=
MITM=
SQ=
cleanup() {
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null
	[ -n "$ECHO" ] && kill "$ECHO" 2>/dev/null
	[ -n "$TP" ] && kill "$TP" 2>/dev/null
	[ -n "$MITM" ] && kill "$MITM" 2>/dev/null
	[ -n "$SQ" ] && kill "$SQ" 2>/dev/null
	[ -n "${HS:-}" ] && kill "$HS" 2>/dev/null
	declare -F upstream_down_all >/dev/null && [ -n "${UPSTREAM_TMP:-}" ] && upstream_down_all
	ip netns del "$NS" 2>/dev/null
	ip link del "wb$$" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# what an interrupted earlier run left (its pid is in the names) would shadow our addresses
for old in $(ip netns list | awk '/^wbench[0-9]+/ { print $1 }'); do
	kill -0 "${old#wbench}" 2>/dev/null && continue
	ip netns del "$old" 2>/dev/null || true
	ip link del "wb${old#wbench}" 2>/dev/null || true # gone with its netns, usually
done
# another job on 192.168.178.0/24 (integration/test_identity.sh uses it too)
# takes the route: transfers would reach its server, not ours
clash() { ip -o addr show 2>/dev/null | awk -v me="wb$$" '{ sub(/@.*/, "", $2) } $4 ~ /^192\.168\.178\./ && $2 != me { print $2 }'; }
if [ -n "$(clash)" ]; then
	echo "192.168.178.0/24 is in use here ($(clash | tr '\n' ' ')): run the bench when it is free"
	exit 1
fi
ip netns add "$NS"
ip link add "wb$$" type veth peer name up0 netns "$NS"
ip addr add 192.168.178.1/24 dev "wb$$"
ip link set "wb$$" up
ip -n "$NS" addr add 192.168.178.2/24 dev up0
ip -n "$NS" link set up0 up
mkdir "$T/www"
head -c $((MB << 20)) /dev/zero >"$T/www/big"
echo ok >"$T/www/small"
(cd "$T/www" && exec ip netns exec "$NS" "$PY" -m http.server 8080 --bind 192.168.178.2 \
	>/dev/null 2>&1) &
SRV=$!
for _ in $(seq 50); do curl -s -o /dev/null --max-time 1 http://192.168.178.2:8080/small && break; sleep 0.1; done
# the load client, where the sandbox can run it (named by the policy below)
[ -x "$LOADC" ] && cp "$LOADC" "$T/load_client" && chmod 755 "$T/load_client"
echo "192.168.178.2 bench.test" >"$T/hosts"
chmod 644 "$T/hosts"
cat >"$T/policy.yaml" <<EOF
version: 1
filesystem_policy:
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc, $T]
process: { run_as_user: 4246, run_as_group: 4246 }
network_policies:
  bench:
    binaries: [{ path: $CURL }, { path: $PY }, { path: $T/load_client }]
    endpoints: [{ host: bench.test, port: 8080 }, { host: bench.test, ports: [$(seq -s, 7000 7019)] }]
EOF
# lat.py URL N: sequential GETs on one keep-alive connection (through $HTTP_PROXY when set)
cat >"$T/lat.py" <<'EOF'
import http.client, os, sys, time, urllib.parse
url, n = sys.argv[1], int(sys.argv[2])
u = urllib.parse.urlsplit(url)
px = os.environ.get("HTTP_PROXY")
if px:
    p = urllib.parse.urlsplit(px)
    c = http.client.HTTPConnection(p.hostname, p.port, timeout=10); target = url
else:
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10); target = u.path
lat = []
t0 = time.monotonic()
for _ in range(n):
    s = time.monotonic()
    c.request("GET", target, headers={"Host": u.netloc})
    c.getresponse().read()
    lat.append(time.monotonic() - s)
total = time.monotonic() - t0
lat.sort()
print("%.0f %.3f %.3f" % (n / total, lat[len(lat) // 2] * 1e3, lat[int(len(lat) * 0.99)] * 1e3))
EOF
chmod 644 "$T/lat.py" "$T/policy.yaml"

inward() { "$WARD" run --policy "$T/policy.yaml" --log "$T/log.db" --hosts "$T/hosts" --workdir "$T" -- "$@"; }
speed() { awk '{ printf "%.1f", $1 / 1048576 }'; }

# Throughput swings from run to run on 2 cores (client, ward and server share
# them): ROUNDS interleaved transfers each way, medians compared.
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
# medians FILE: the median of each column of FILE (lines "req/s p50 p99")
medians() {
	local out='' i
	for i in 1 2 3; do out="$out $(awk -v i=$i '{ print $i }' "$1" | median)"; done
	echo "$out"
}
if part tunnel; then
	: >"$T/direct.mibs"
	: >"$T/ward.mibs"
	: >"$T/ward.cpu"
	# CPU seconds (user+sys) of a command and what it waited for: curl alone,
	# or ward with the curl it runs; ward's own CPU per MiB is the difference
	# (less a run through ward that moves nothing, which pays the same startup)
	# cpu OUT CMD...: CMD's stdout to OUT, its CPU seconds on stdout
	cpu() { local out=$1; shift; /usr/bin/time -f '%U %S' -o "$T/t" "$@" >"$out"; awk '{ printf "%.4f\n", $1 + $2 }' "$T/t"; }
	for _ in $(seq "$ROUNDS"); do
		d=$(cpu "$T/s" curl -s -o /dev/null -w '%{speed_download}' http://192.168.178.2:8080/big)
		speed <"$T/s" >>"$T/direct.mibs"
		echo >>"$T/direct.mibs"
		w=$(cpu "$T/s" "$WARD" run --policy "$T/policy.yaml" --log "$T/log.db" --hosts "$T/hosts" --workdir "$T" -- \
			curl -s -p -o /dev/null -w '%{speed_download}' http://bench.test:8080/big)
		speed <"$T/s" >>"$T/ward.mibs"
		echo >>"$T/ward.mibs"
		w0=$(cpu /dev/null "$WARD" run --policy "$T/policy.yaml" --log "$T/log.db" --hosts "$T/hosts" --workdir "$T" -- \
			curl -s -p -o /dev/null http://bench.test:8080/small)
		awk "BEGIN { printf \"%.0f\\n\", ($w - $w0 - $d) * 1e6 / $MB }" >>"$T/ward.cpu"
	done
	direct=$(median <"$T/direct.mibs")
	ward=$(median <"$T/ward.mibs")
	echo "CONNECT tunnel, $MB MiB, median of $ROUNDS: direct $direct MiB/s, ward $ward MiB/s," \
		"ratio $(awk "BEGIN{printf \"%.2f\", $ward/$direct}") (target >= 0.9)"
	echo "  ward's CPU per tunnelled MiB, median of $ROUNDS: $(median <"$T/ward.cpu") us" \
		"(rounds: $(tr '\n' ' ' <"$T/ward.cpu"))"
	[ -z "$(clash)" ] || echo "  void: 192.168.178.0/24 was taken meanwhile ($(clash | tr '\n' ' '))"
	# TUNNEL_PROFILE: a command prefix (strace -c -f -o FILE, perf stat ...,
	# perf record ...) one more ward transfer runs under, after the rounds
	if [ -n "${TUNNEL_PROFILE:-}" ]; then
		# shellcheck disable=SC2086 # a prefix of words
		$TUNNEL_PROFILE "$WARD" run --policy "$T/policy.yaml" --log "$T/log.db" --hosts "$T/hosts" \
			--workdir "$T" -- curl -s -p -o /dev/null -w '%{speed_download}' \
			http://bench.test:8080/big | speed | sed 's/^/  profiled transfer: /; s/$/ MiB\/s\n/'
		[ -z "$(clash)" ] || echo "  void: 192.168.178.0/24 was taken meanwhile ($(clash | tr '\n' ' '))"
	fi
fi
# concurrent tunnels: setup + one echo each, all open at once, ward vs direct
if ! part conns; then
	:
elif [ -x "$T/load_client" ]; then
	# a port per round and side (7000+2r direct, 7001+2r ward): no round
	# connects where an earlier one left its TIME_WAIT sockets
	ip netns exec "$NS" timeout -s KILL 600 "$T/load_client" echo -l 192.168.178.2:7000 -p 20 \
		-t 590 >"$T/echo.out" 2>&1 &
	ECHO=$!
	for _ in $(seq 50); do grep -q ready "$T/echo.out" 2>/dev/null && break; sleep 0.1; done
	# tunnels/s of a round without error; a round with any prints its counts on stderr
	tps() {
		awk -v n="$CONNS" '{ ok = -1; ms = 0
			for (i = 1; i <= NF; i++) {
				split($i, kv, "=")
				if (kv[1] == "ok") ok = kv[2]
				if (kv[1] == "all_ms") ms = kv[2]
			}
			if (ok == n && ms > 0) printf "%.0f\n", n / (ms / 1000)
			else print "  round with errors: " $0 >"/dev/stderr" }'
	}
	: >"$T/direct.tps"
	: >"$T/ward.tps"
	for r in $(seq 0 $((ROUNDS - 1))); do
		"$T/load_client" tunnels --direct -n "$CONNS" -b 4096 -t 60 \
			192.168.178.2:$((7000 + 2 * r)) | tps >>"$T/direct.tps"
		inward "$T/load_client" tunnels -n "$CONNS" -b 4096 -t 60 bench.test:$((7001 + 2 * r)) |
			tps >>"$T/ward.tps"
	done
	# a round with any error prints nothing: fewer medians than rounds say so
	dt=$(median <"$T/direct.tps")
	wt=$(median <"$T/ward.tps")
	echo "$CONNS concurrent tunnels (4 KiB echo each), median of $ROUNDS:" \
		"direct $dt tunnels/s ($(wc -l <"$T/direct.tps") rounds without error)," \
		"ward $wt tunnels/s ($(wc -l <"$T/ward.tps") rounds without error)," \
		"ratio $(awk "BEGIN{ if ($dt > 0) printf \"%.2f\", $wt/$dt; else print \"-\" }")"
else
	echo "no $LOADC: concurrent tunnels skipped (build tools/bench/load_client.c)"
fi
want() { # want CMD PKG: install PKG when CMD is missing (bounded, quiet)
	command -v "$1" >/dev/null || timeout 300 env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q "$2" >/dev/null 2>&1 || true
	command -v "$1" >/dev/null
}
if ! part tunnel; then
	:
elif want tinyproxy tinyproxy; then
	printf 'Port 18888\nListen 127.0.0.1\nAllow 127.0.0.1\nConnectPort 8080\nMaxClients 100\n' >"$T/tp.conf"
	tinyproxy -d -c "$T/tp.conf" >/dev/null 2>&1 &
	TP=$!
	sleep 0.5
	tp=$(curl -s -p -x http://127.0.0.1:18888 -o /dev/null -w '%{speed_download}' http://192.168.178.2:8080/big | speed)
	echo "tinyproxy tunnel: $tp MiB/s; ward/tinyproxy $(awk "BEGIN{printf \"%.2f\", $ward/$tp}")"
else
	echo "tinyproxy not installed: skipped (apt-get install tinyproxy)"
fi
if part http; then
	: >"$T/http.direct"
	: >"$T/http.ward"
	for _ in $(seq "$ROUNDS"); do
		env -u HTTP_PROXY "$PY" "$T/lat.py" http://192.168.178.2:8080/small "$N" >>"$T/http.direct"
		inward "$PY" "$T/lat.py" http://bench.test:8080/small "$N" >>"$T/http.ward"
	done
	read -r drps dp50 dp99 < <(medians "$T/http.direct")
	read -r wrps wp50 wp99 < <(medians "$T/http.ward")
	echo "forward http, $N requests, median of $ROUNDS: direct $drps req/s p50 $dp50 ms p99 $dp99 ms;" \
		"ward $wrps req/s p50 $wp50 ms p99 $wp99 ms; added p50 $(awk "BEGIN{printf \"%.3f\", $wp50-$dp50}") ms"
fi
part https || exit 0

# --- intercepted HTTPS: ward, mitmproxy and squid (ssl-bump) terminate TLS
set +e # the upstream library expects commands that may fail (tests/e2e/lib)
# shellcheck source=../../tests/e2e/lib/upstream.sh
source "$HERE/../../tests/e2e/lib/upstream.sh"
# the library owns the EXIT trap from upstream_up on; it calls this hook
e2e_cleanup_hook() { trap - EXIT; cleanup; }
upstream_up wbench bench.test.example >/dev/null || { echo "HTTPS upstream failed"; exit 1; }
# A small HTTPS server without Nagle (the e2e echo writes head and body apart
# and would measure delayed ACKs), on 8443 in the upstream's netns.
UD=$(upstream_dir wbench)
ip netns exec ward-test-wbench timeout -s KILL 300 "$PY" -c '
import socket, ssl, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()
    def log_message(self, *a): pass
    def do_GET(self):
        self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok\n")
s = ThreadingHTTPServer(("0.0.0.0", 8443), H)
c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain(sys.argv[1], sys.argv[2])
s.socket = c.wrap_socket(s.socket, server_side=True)
s.serve_forever()' "$UD/server.pem" "$UD/server.key" >/dev/null 2>&1 &
HS=$!
sleep 0.5
cat "$UPSTREAM_HOSTS" /etc/hosts >"$T/etchosts"
cat >"$T/https.yaml" <<EOF
version: 1
filesystem_policy:
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc, $T]
process: { run_as_user: 4246, run_as_group: 4246 }
network_policies:
  bench:
    binaries: [{ path: $PY }]
    endpoints: [{ host: bench.test.example, port: 8443, protocol: rest, access: full }]
EOF
# tls.py URL N [IP]: N GETs on one keep-alive HTTPS connection, through a
# CONNECT tunnel when HTTPS_PROXY is set, else straight to IP
cat >"$T/tls.py" <<'EOF'
import http.client, os, socket, sys, time, urllib.parse
url, n = sys.argv[1], int(sys.argv[2])
u = urllib.parse.urlsplit(url)
px = os.environ.get("HTTPS_PROXY")
if px:
    p = urllib.parse.urlsplit(px)
    c = http.client.HTTPSConnection(p.hostname, p.port, timeout=10)
    c.set_tunnel(u.hostname, u.port)
else:
    c = http.client.HTTPSConnection(u.hostname, u.port, timeout=10)
    c._create_connection = lambda a, *r, **k: socket.create_connection((sys.argv[3], u.port), *r, **k)
lat = []
t0 = time.monotonic()
for _ in range(n):
    s = time.monotonic()
    c.request("GET", u.path)
    c.getresponse().read()
    lat.append(time.monotonic() - s)
total = time.monotonic() - t0
lat.sort()
print("%.0f %.3f %.3f" % (n / total, lat[len(lat) // 2] * 1e3, lat[int(len(lat) * 0.99)] * 1e3))
EOF
chmod 644 "$T/tls.py" "$T/https.yaml" "$T/etchosts"
URL=https://bench.test.example:8443/small
line() { printf '%-36s %6s req/s  p50 %7s ms  p99 %7s ms\n' "$@"; }
# the peers start first; then ROUNDS rounds, each measuring every side once
MITM_OK=
if want mitmdump mitmproxy; then
	mkdir -p "$T/mitm"
	unshare -m sh -c "mount --bind '$T/etchosts' /etc/hosts && exec mitmdump -q \
		--listen-host 127.0.0.1 -p 18080 --set confdir='$T/mitm' \
		--set ssl_verify_upstream_trusted_ca='$UPSTREAM_CA'" >/dev/null 2>&1 &
	MITM=$!
	for _ in $(seq 150); do
		[ -s "$T/mitm/mitmproxy-ca-cert.pem" ] && ss -ltn | grep -q ':18080 ' && break
		sleep 0.1
	done
	MITM_OK=1
fi
# squid intercepts with ssl-bump, which Debian builds only in squid-openssl
# (it replaces squid); without it squid is measured as a plain CONNECT tunnel.
squid -v 2>/dev/null | grep -q enable-ssl-crtd ||
	timeout 300 env DEBIAN_FRONTEND=noninteractive apt-get install -y -q squid-openssl \
		>/dev/null 2>&1 || true
SQ_OK=
if command -v squid >/dev/null; then
	CERTGEN=/usr/lib/squid/security_file_certgen
	cat >"$T/squid.conf" <<EOF
http_access allow all
cache deny all
hosts_file $T/etchosts
pid_filename $T/squid.pid
access_log none
cache_log $T/squid-cache.log
shutdown_lifetime 0 seconds
EOF
	if squid -v | grep -q enable-ssl-crtd && [ -x "$CERTGEN" ]; then
		mode="intercepted, ssl-bump"
		openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
			-subj "/CN=squid bench CA" -keyout "$T/squid-ca.key" -out "$T/squid-ca.crt" \
			-addext "basicConstraints=critical,CA:TRUE" \
			-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
		cat "$T/squid-ca.crt" "$T/squid-ca.key" >"$T/squid-ca.pem"
		"$CERTGEN" -c -s "$T/ssl_db" -M 4MB >/dev/null 2>&1
		chown -R proxy:proxy "$T/ssl_db" 2>/dev/null
		cat >>"$T/squid.conf" <<EOF
http_port 127.0.0.1:13128 ssl-bump tls-cert=$T/squid-ca.pem generate-host-certificates=on dynamic_cert_mem_cache_size=4MB
sslcrtd_program $CERTGEN -s $T/ssl_db -M 4MB
ssl_bump bump all
tls_outgoing_options cafile=$UPSTREAM_CA
EOF
		SQ_TRUST=$T/squid-ca.crt
	else
		mode="CONNECT tunnel, no ssl-bump in this build"
		echo "http_port 127.0.0.1:13128" >>"$T/squid.conf"
		SQ_TRUST=$UPSTREAM_CA
	fi
	chmod 644 "$T/squid.conf"
	squid -N -f "$T/squid.conf" >/dev/null 2>&1 &
	SQ=$!
	for _ in $(seq 100); do ss -ltn | grep -q ':13128 ' && break; sleep 0.1; done
	SQ_OK=1
fi
: >"$T/https.direct"
: >"$T/https.ward"
: >"$T/https.mitm"
: >"$T/https.squid"
: >"$T/cpu.ward"
# ticks PID: "STATE utime+stime" of PID (all its threads), in clock ticks
ticks() { awk '{ print $3, $14 + $15 }' "/proc/$1/stat" 2>/dev/null; }
# ward_ticks K: K intercepted requests in ward; ward's own CPU ticks, read
# from its zombie (exited, not yet reaped: the totals are final) (bounded)
ward_ticks() {
	local pid st t last=0
	"$WARD" run --policy "$T/https.yaml" --log "$T/log.db" --workdir "$T" \
		--hosts "$UPSTREAM_HOSTS" --upstream-ca "$UPSTREAM_CA" -- "$PY" "$T/tls.py" "$URL" "$1" \
		>/dev/null 2>&1 &
	pid=$!
	for _ in $(seq 6000); do
		read -r st t < <(ticks $pid) || break
		last=$t
		[ "$st" = Z ] && break
		sleep 0.05
	done
	wait $pid
	echo "$last"
}
SQ_T0=0
for _ in $(seq "$ROUNDS"); do
	env -u HTTPS_PROXY SSL_CERT_FILE="$UPSTREAM_CA" "$PY" "$T/tls.py" "$URL" "$N" \
		"$(upstream_ip wbench)" >>"$T/https.direct"
	"$WARD" run --policy "$T/https.yaml" --log "$T/log.db" --workdir "$T" \
		--hosts "$UPSTREAM_HOSTS" --upstream-ca "$UPSTREAM_CA" -- "$PY" "$T/tls.py" "$URL" "$N" \
		>>"$T/https.ward"
	[ -n "$SQ_OK" ] && HTTPS_PROXY=http://127.0.0.1:13128 SSL_CERT_FILE="$SQ_TRUST" \
		"$PY" "$T/tls.py" "$URL" "$N" >>"$T/https.squid"
	[ -n "$MITM_OK" ] && HTTPS_PROXY=http://127.0.0.1:18080 \
		SSL_CERT_FILE="$T/mitm/mitmproxy-ca-cert.pem" "$PY" "$T/tls.py" "$URL" "$N" >>"$T/https.mitm"
	[ -n "$SQ_OK" ] && SQ_T1=$(ticks "$SQ" | awk '{ print $2 }') &&
		HTTPS_PROXY=http://127.0.0.1:13128 SSL_CERT_FILE="$SQ_TRUST" \
			"$PY" "$T/tls.py" "$URL" "$CPU_N" >/dev/null &&
		SQ_T0=$((SQ_T0 + $(ticks "$SQ" | awk '{ print $2 }') - SQ_T1))
	echo "$(ward_ticks "$CPU_N") $(ward_ticks 1)" >>"$T/cpu.ward"
done
TCK=$(getconf CLK_TCK)
echo "intercepted HTTPS, $N keep-alive requests, median of $ROUNDS:"
read -r hd hd50 hd99 < <(medians "$T/https.direct")
line "HTTPS direct" "$hd" "$hd50" "$hd99"
read -r hw hw50 hw99 < <(medians "$T/https.ward")
line "HTTPS via ward (intercepted)" "$hw" "$hw50" "$hw99"
echo "  ward added p50 $(awk "BEGIN{printf \"%.3f\", $hw50-$hd50}") ms (target <= 0.1)"
if [ -n "$MITM_OK" ] && [ -s "$T/https.mitm" ]; then
	read -r hm hm50 hm99 < <(medians "$T/https.mitm")
	line "HTTPS via mitmproxy (intercepted)" "$hm" "$hm50" "$hm99"
	echo "  ward/mitmproxy req/s $(awk "BEGIN{printf \"%.2f\", $hw/$hm}")"
else
	echo "mitmproxy not installable or not answering: skipped"
fi
if [ -n "$SQ_OK" ] && [ -s "$T/https.squid" ]; then
	read -r hs hs50 hs99 < <(medians "$T/https.squid")
	line "HTTPS via squid ($mode)" "$hs" "$hs50" "$hs99"
	echo "  ward/squid req/s $(awk "BEGIN{printf \"%.2f\", $hw/$hs}") (target >= 2)"
fi
# CPU per request: ward's median over rounds of (ticks of CPU_N - ticks of 1)
wcpu=$(awk -v n="$CPU_N" -v tck="$TCK" '{ printf "%.0f\n", ($1 - $2) * 1e6 / tck / (n - 1) }' \
	"$T/cpu.ward" | median)
echo "CPU per intercepted request, median of $ROUNDS: ward ${wcpu} us (its process, $CPU_N requests less 1)"
if [ -n "$SQ_OK" ] && [ -n "$SQ_T1" ]; then
	# squid: ticks over its CPU_N-request runs, all rounds
	scpu=$(awk "BEGIN{printf \"%.0f\", $SQ_T0 * 1e6 / $TCK / ($CPU_N * $ROUNDS)}")
	echo "  squid ${scpu} us (its process, $ROUNDS x $CPU_N requests); squid/ward CPU" \
		"$(awk "BEGIN{ if ($wcpu > 0) printf \"%.2f\", $scpu/$wcpu; else print \"-\" }")"
else
	[ -n "$SQ_OK" ] && tail -n 5 "$T/squid-cache.log" >&2
	echo "squid not installable or not answering: skipped"
fi
