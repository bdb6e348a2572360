#!/bin/bash
# SPDX-License-Identifier: MIT
# What the unix-socket layer costs a sandbox (docs/sandbox.md, "Unix
# sockets"): every connect() is a seccomp round trip to ward's broker. Inside
# one `ward run`, loopback TCP connect+accept+close (the broker answers
# "continue") and connect to a unix socket of the sandbox's own (the broker
# resolves, checks sock_diag and connects), N per round, median of 5 rounds.
# Compare TCP with a build whose filter leaves connect() in the kernel.
# Usage: tools/bench/unix.sh [BUILD_DIR] [N]   (root)
set -eu
BUILD=${1:-${BUILD:-build}}
N=${2:-2000}
[ "$(id -u)" = 0 ] || { echo "unix.sh: needs root" >&2; exit 1; }
cmake --build "$BUILD" --target ward >/dev/null
BUILD=$(cd "$BUILD" && pwd)
T=$(mktemp -d /var/tmp/ward-bench-unix.XXXXXX)
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
cat >"$T/bench.py" <<'PY'
import os, socket, sys, time
n = int(sys.argv[1])
def rounds(fn):
    ts = []
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            fn()
        ts.append((time.perf_counter() - t) / n * 1e6)
    return sorted(ts)[2]
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(4096)
port = srv.getsockname()[1]
def tcp():
    c = socket.socket(); c.connect(("127.0.0.1", port)); a, _ = srv.accept(); a.close(); c.close()
path = "/tmp/bench-%d.sock" % os.getpid()
us = socket.socket(socket.AF_UNIX); us.bind(path); us.listen(4096)
def unix():
    c = socket.socket(socket.AF_UNIX); c.connect(path); a, _ = us.accept(); a.close(); c.close()
print("tcp %.1f" % rounds(tcp))
print("unix %.1f" % rounds(unix))
os.unlink(path)
PY
chmod 644 "$T/bench.py"
cat >"$T/policy.yaml" <<YAML
version: 1
filesystem_policy:
  read_only: [/usr, /lib, /lib64, /bin, /etc, $T/bench.py]
process:
  run_as_user: 4245
  run_as_group: 4245
YAML
cd "$T"
# Side by side in one run: the same program on the host (no sandbox, no
# broker) and inside `ward run`, interleaved three times; medians and ratios.
for i in 1 2 3; do
	(cd /tmp && python3 "$T/bench.py" "$N") | sed 's/^/host /' >>"$T/out"
	timeout 300 "$BUILD/ward" run --policy "$T/policy.yaml" --log "$T/log.db" --workdir "$T" \
		-- python3 "$T/bench.py" "$N" | sed 's/^/ward /' >>"$T/out"
done
python3 - "$T/out" <<'PY'
import statistics, sys
v = {}
for line in open(sys.argv[1]):
    who, what, us = line.split()
    v.setdefault((who, what), []).append(float(us))
for what, label in (("tcp", "loopback TCP connect+accept+close"),
                    ("unix", "own unix socket connect+accept+close")):
    h, w = statistics.median(v[("host", what)]), statistics.median(v[("ward", what)])
    print("%-38s host %7.1f us  ward %7.1f us  ratio %.2f" % (label, h, w, w / h))
PY
