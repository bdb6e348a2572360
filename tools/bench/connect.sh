#!/bin/bash
# SPDX-License-Identifier: MIT
# connect()+close() with bpf/egress.bpf.c attached and without, in one run, in
# a network namespace and cgroup of its own (nothing leaves the machine).
# Usage: tools/bench/connect.sh [ITERATIONS]   (root; BUILD=build dir, default build)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
N=${1:-5000}
[ "$(id -u)" = 0 ] || { echo "connect.sh: needs root" >&2; exit 77; }
[ -f "$BUILD/bpf/egress.skel.h" ] || cmake --build "$BUILD" --target bpf_skeletons >/dev/null
OUT=$(mktemp -d /tmp/ward-bench-connect.XXXXXX)
trap 'rm -rf "$OUT"' EXIT
# shellcheck disable=SC2046
cc -O2 -D_GNU_SOURCE -Isrc -Iinclude -I"$BUILD/bpf" -o "$OUT/connect_bench" \
	tools/bench/connect_bench.c src/enforcer/egress.c src/enforcer/egress_ident.c \
	src/enforcer/egress_events.c src/common/*.c src/audit/*.c \
	$(pkg-config --libs libbpf sqlite3 libcrypto) -lpthread
"$OUT/connect_bench" "$N"
