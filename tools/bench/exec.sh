#!/bin/bash
# SPDX-License-Identifier: MIT
# fork+exec of /bin/true with the egress programs' exec tracepoint attached
# and without, inside the sandbox cgroup and outside it, in one run.
# Usage: tools/bench/exec.sh [ITERATIONS]   (root; BUILD=build dir, default build)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
N=${1:-2000}
[ "$(id -u)" = 0 ] || { echo "exec.sh: needs root" >&2; exit 77; }
cmake --build "$BUILD" --target exec_bench >/dev/null
"$BUILD/exec_bench" "$N"
