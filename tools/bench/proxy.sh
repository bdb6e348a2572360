#!/bin/bash
# SPDX-License-Identifier: MIT
# Proxy benchmark (docs/proxy.md): CONNECT tunnel throughput through ward vs
# direct (and vs tinyproxy when it is installed), and requests/s with p50/p99
# latency for plain http:// forwarded through ward vs direct. The upstream is
# a python server in a network namespace this script creates; nothing leaves
# the machine. Usage: tools/bench/proxy.sh [MB] [REQUESTS]   (root)
set -eu
WARD=${WARD:-$(pwd)/build/ward}
MB=${1:-256}
N=${2:-300}
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 1; }
[ "$MB" -le 2048 ] && [ "$N" -le 5000 ] || { echo "bounded: MB <= 2048, REQUESTS <= 5000"; exit 1; }
PY=$(readlink -f /usr/bin/python3)
CURL=$(readlink -f "$(command -v curl)")
NS=wbench$$
T=$(mktemp -d /tmp/ward-bench-proxy.XXXXXX)
chmod 755 "$T"
SRV=
TP=
cleanup() {
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null
	[ -n "$TP" ] && kill "$TP" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	ip link del "wb$$" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

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
echo "192.168.178.2 bench.test" >"$T/hosts"
chmod 644 "$T/hosts"
cat >"$T/policy.yaml" <<EOF
version: 1
filesystem_policy:
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc, $T]
process: { run_as_user: 4246, run_as_group: 4246 }
network_policies:
  bench:
    binaries: [{ path: $CURL }, { path: $PY }]
    endpoints: [{ host: bench.test, port: 8080 }]
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

direct=$(curl -s -o /dev/null -w '%{speed_download}' http://192.168.178.2:8080/big | speed)
ward=$(inward curl -s -p -o /dev/null -w '%{speed_download}' http://bench.test:8080/big | speed)
echo "CONNECT tunnel, $MB MiB: direct $direct MiB/s, ward $ward MiB/s, ratio $(awk "BEGIN{printf \"%.2f\", $ward/$direct}")"
if command -v tinyproxy >/dev/null; then
	printf 'Port 18888\nListen 127.0.0.1\nAllow 127.0.0.1\nConnectPort 8080\nMaxClients 100\n' >"$T/tp.conf"
	tinyproxy -d -c "$T/tp.conf" >/dev/null 2>&1 &
	TP=$!
	sleep 0.5
	tp=$(curl -s -p -x http://127.0.0.1:18888 -o /dev/null -w '%{speed_download}' http://192.168.178.2:8080/big | speed)
	echo "tinyproxy tunnel: $tp MiB/s; ward/tinyproxy $(awk "BEGIN{printf \"%.2f\", $ward/$tp}")"
else
	echo "tinyproxy not installed: skipped (apt-get install tinyproxy)"
fi
read -r drps dp50 dp99 < <(env -u HTTP_PROXY "$PY" "$T/lat.py" http://192.168.178.2:8080/small "$N")
read -r wrps wp50 wp99 < <(inward "$PY" "$T/lat.py" http://bench.test:8080/small "$N")
echo "forward http, $N requests: direct $drps req/s p50 $dp50 ms p99 $dp99 ms;" \
	"ward $wrps req/s p50 $wp50 ms p99 $wp99 ms; added p50 $(awk "BEGIN{printf \"%.3f\", $wp50-$dp50}") ms"
