#!/bin/sh
# SPDX-License-Identifier: MIT
# The filesystem layer's cost (docs/filesystem.md): open()+close() by a
# process OUTSIDE any sandbox while a sandbox's fs layer is attached vs
# detached (the host-wide tax; 61 short interleaved rounds), then of an
# unprotected file by a process of a sandbox cgroup with the denial
# tracepoints attached vs detached (interleaved rounds, one run, ratio of
# medians), the cost of a protected open (fanotify round trip), of an
# ENOENT with and without hidden-path rows, and of a read with the guard on
# other processes' memory.
# Usage: tools/bench/fs.sh [BUILD_DIR] [ITERATIONS]   (root)
set -eu
BUILD=${1:-${BUILD:-build}}
ITERS=${2:-20000}
[ "$(id -u)" = 0 ] || { echo "fs.sh: needs root" >&2; exit 1; }
cmake --build "$BUILD" --target fs_bench >/dev/null
# bounded: ITERATIONS per round, 15 rounds each side, a tenth for the protected file
exec timeout 300 "$BUILD/fs_bench" "$ITERS"
