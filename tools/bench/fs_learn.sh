#!/bin/bash
# SPDX-License-Identifier: MIT
# Learn mode's filesystem cost (docs/filesystem.md, "Learn mode"): CPU time
# (user + system, CLOCK_PROCESS_CPUTIME_ID of the process: the tracepoint runs in its
# syscall exit) of N open()+close() of one file the policy allows (after the
# first: a dedup-map hit in the kernel) and of N distinct files outside the
# policy (new keys: the token bucket and, within it, ring buffer events and
# rows), in `ward run` vs `ward run --learn`, ROUNDS interleaved rounds in
# one run, medians and their ratio.
# Usage: tools/bench/fs_learn.sh [BUILD_DIR] [N] [ROUNDS]   (root)
set -eu
BUILD=${1:-build}
N=${2:-100000}
ROUNDS=${3:-5}
WARD=$(realpath "$BUILD/ward")
[ "$(id -u)" = 0 ] || { echo "fs_learn.sh: needs root" >&2; exit 1; }
T=$(mktemp -d /var/tmp/ward-bench-fslearn.XXXXXX)
trap 'rm -rf "$T"' EXIT
chmod 755 "$T"
mkdir "$T/files" "$T/bin"
python3 -c "
import os
for i in range(2000):
    open(os.path.join('$T/files', 'f%05d' % i), 'w').close()"
cat >"$T/p.yaml" <<EOF2
version: 1
filesystem_policy:
  include_workdir: false
  read_only: [/usr, /lib, /lib64, /bin, /etc, $T/bin]
EOF2
cat >"$T/bin/b.py" <<'EOF2'
import os, sys, time
mode, n, d = sys.argv[1], int(sys.argv[2]), sys.argv[3]
names = sorted(os.listdir(d)) if mode != "same" else []
t0 = time.process_time_ns()
for i in range(n):
    p = "/etc/hostname" if mode == "same" else os.path.join(d, names[i % len(names)])
    os.close(os.open(p, os.O_RDONLY))
print("%.1f" % ((time.process_time_ns() - t0) / n))
EOF2
chmod 644 "$T/bin/b.py"
run() { # MODE FLAGS...
	local mode=$1
	shift
	# the distinct-files case reads outside the policy: only under --learn
	(cd /tmp && timeout 120 "$WARD" run --log "$T/d.db" --policy "$T/p.yaml" "$@" -- \
		/usr/bin/python3 "$T/bin/b.py" "$mode" "$N" "$T/files" 2>/dev/null)
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for _ in $(seq "$ROUNDS"); do
	run same >>"$T/same.off"
	run same --learn >>"$T/same.on"
	run distinct --learn >>"$T/distinct.on"
done
so=$(median <"$T/same.off")
sl=$(median <"$T/same.on")
dl=$(median <"$T/distinct.on")
echo "open+close of an allowed file, ns CPU per call (median of $ROUNDS x $N):"
echo "  ward run:          $so"
echo "  ward run --learn:  $sl  (ratio $(awk -v a="$sl" -v b="$so" 'BEGIN{printf "%.2f", a/b}'))"
echo "open+close of distinct files outside the policy, --learn: $dl ns CPU per call" \
	"(ratio to the allowed file without learn: $(awk -v a="$dl" -v b="$so" 'BEGIN{printf "%.2f", a/b}'))"
