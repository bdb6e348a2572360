#!/bin/bash
# SPDX-License-Identifier: MIT
# connect()+close() with bpf/egress.bpf.c attached and without, in one run, in
# a network namespace and cgroup of its own (nothing leaves the machine).
# Usage: tools/bench/connect.sh [ITERATIONS]   (root; BUILD=build dir, default build;
# WARD_BENCH_ROUNDS=N rounds, default 15; WARD_BENCH_STATS=1 the kernel's run time per program)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
N=${1:-5000}
[ "$(id -u)" = 0 ] || { echo "connect.sh: needs root" >&2; exit 77; }
cmake --build "$BUILD" --target connect_bench >/dev/null
"$BUILD/connect_bench" "$N"
