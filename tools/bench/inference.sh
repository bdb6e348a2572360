#!/bin/bash
# SPDX-License-Identifier: MIT
# Inference benchmark (docs/inference.md): added latency per request (p50,
# p99) and time to the first streamed byte, through ward's inference.local vs
# calling the mock backend directly, in one run. The mock (tests/e2e/lib/
# mock_llm.py) runs in a network namespace of this script's own; nothing
# leaves the machine. Clients keep their connection alive on both sides; ward
# opens one upstream connection per request (docs/inference.md, "Limits").
# Usage: tools/bench/inference.sh [REQUESTS]   (root; REQUESTS <= 5000)
set -eu
WARD=${WARD:-$(pwd)/build/ward}
N=${1:-300}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[ "$(id -u)" = 0 ] || { echo "needs root"; exit 1; }
[ "$N" -ge 10 ] && [ "$N" -le 5000 ] || { echo "bounded: 10 <= REQUESTS <= 5000"; exit 1; }
PY=$(readlink -f /usr/bin/python3)
NS=wbinf$$
L=wbi$$
T=$(mktemp -d /tmp/ward-bench-inference.XXXXXX)
chmod 755 "$T"
SRV=
cleanup() {
	[ -n "$SRV" ] && kill "$SRV" 2>/dev/null
	ip netns del "$NS" 2>/dev/null
	ip link del "$L" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# the backend: 192.168.251.2 in its own netns (this machine only)
ip netns add "$NS"
ip link add "$L" type veth peer name "${L}p"
ip link set "${L}p" netns "$NS"
ip addr add 192.168.251.1/30 dev "$L"
ip link set "$L" up
ip -n "$NS" addr add 192.168.251.2/30 dev "${L}p"
ip -n "$NS" link set "${L}p" up
ip -n "$NS" link set lo up
echo "192.168.251.2 llm.bench.example" >"$T/hosts"
export WARD_BENCH_KEY=sk-bench-0123456789
ip netns exec "$NS" timeout -s KILL 600 "$PY" "$HERE/../../tests/e2e/lib/mock_llm.py" --http 8080 \
	--openai-key "$WARD_BENCH_KEY" --anthropic-key unused --model bench-model --lifetime 590 \
	--ready-file "$T/ready" >"$T/mock.log" 2>&1 &
SRV=$!
for _ in $(seq 1 100); do [ -s "$T/ready" ] && break; sleep 0.1; done
[ -s "$T/ready" ] || { echo "mock did not start"; cat "$T/mock.log"; exit 1; }

cat >"$T/policy.yaml" <<EOP
version: 1
filesystem_policy:
  read_only: [/usr, /lib, /lib64, /bin, /etc, $T]
process: { run_as_user: 4246, run_as_group: 4246 }
inference:
  routes:
    - { name: bench, provider: openai, model: bench-model, api_key_env: WARD_BENCH_KEY,
        base_url: "http://llm.bench.example:8080/v1" }
EOP

# The client: N non-streamed calls (latency) and N streamed ones (time to
# the first body byte), keep-alive, through a proxy (ward) or straight.
cat >"$T/client.py" <<'EOPY'
import http.client, json, os, sys, time
mode, n = sys.argv[1], int(sys.argv[2])
if mode == "ward":
    proxy = os.environ["HTTP_PROXY"].split("//")[1]
    host, port = proxy.split(":")
    url = "http://inference.local/v1/chat/completions"
    auth = {}
else:
    host, port, url = "192.168.251.2", "8080", "/v1/chat/completions"
    auth = {"Authorization": "Bearer " + os.environ["WARD_BENCH_KEY"]}
import socket
conn = http.client.HTTPConnection(host, int(port), timeout=10)
conn.connect()
conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # same for both sides
def one(stream):
    body = json.dumps({"model": "bench-model", "stream": stream,
                       "messages": [{"role": "user", "content": "hi"}]})
    t0 = time.perf_counter()
    conn.request("POST", url, body, {"Content-Type": "application/json", **auth})
    r = conn.getresponse()
    first = r.read(1) if stream else b""
    t1 = time.perf_counter()
    r.read()
    t2 = time.perf_counter()
    assert r.status == 200, r.status
    return (t1 - t0) if stream else (t2 - t0)
for s in (False, True):
    for _ in range(10):
        one(s)  # warm up
    xs = sorted(one(s) for _ in range(n))
    print("%s %s p50 %.1f p99 %.1f" % (mode, "ttfb" if s else "latency",
          xs[len(xs) // 2] * 1e6, xs[min(len(xs) - 1, int(len(xs) * 0.99))] * 1e6))
EOPY
chmod 644 "$T/client.py"

"$PY" "$T/client.py" direct "$N" >"$T/direct.txt"
"$WARD" run --policy "$T/policy.yaml" --log "$T/log.db" --hosts "$T/hosts" --workdir "$T" -- \
	"$PY" "$T/client.py" ward "$N" >"$T/ward.txt"

echo "inference.local, $N requests each, microseconds (one run):"
printf '%-22s %10s %10s %10s %10s\n' "" "direct" "ward" "added" ""
while read -r _ what _ p50 _ p99; do
	read -r _ _ _ wp50 _ wp99 < <(grep " $what " "$T/ward.txt")
	printf '%-22s %10.0f %10.0f %10.0f\n' "$what p50" "$p50" "$wp50" "$(echo "$wp50 - $p50" | bc)"
	printf '%-22s %10.0f %10.0f %10.0f\n' "$what p99" "$p99" "$wp99" "$(echo "$wp99 - $p99" | bc)"
done <"$T/direct.txt"
