#!/bin/bash
# SPDX-License-Identifier: MIT
# Decision-log throughput: rows/s the writer sustains (rows submitted through
# ward_audit_submit, committed and closed; target >= 100,000 rows/s), the time
# `ward replay` takes over a 1,000,000-row log (target < 10 s), and the time
# `ward audit verify` takes over the same log. The rows come from the replay
# test's scenario (tests/unit/test_replay.c), written through the audit API.
# Usage: audit.sh [BUILD_DIR] [ROWS] (ROWS <= 5,000,000, default 1,000,000).
set -eu

BUILD=$(realpath "${1:-${WARD_BUILD:-build}}")
ROWS=${2:-1000000}
[ "$ROWS" -ge 1000 ] && [ "$ROWS" -le 5000000 ] || { echo "ROWS must be 1000..5000000" >&2; exit 2; }
GEN=$BUILD/test_replay
WARD=$BUILD/ward
[ -x "$GEN" ] && [ -x "$WARD" ] || { echo "build $BUILD first (targets ward, test_replay)" >&2; exit 2; }

T=$(mktemp -d /tmp/ward-bench-audit.XXXXXX)
trap 'rm -rf "$T"' EXIT

secs() { # CMD...: wall seconds, 3 decimals; output to $T/out
	local s e
	s=$(date +%s%N)
	"$@" >"$T/out" 2>&1 || { echo "failed: $*" >&2; cat "$T/out" >&2; exit 1; }
	e=$(date +%s%N)
	echo "scale=3; ($e - $s) / 1000000000" | bc
}

echo "== writer (200,000 rows, 2 cores)"
"$GEN" --bench-write 200000 "$T/w.db" | tee "$T/w.out"
rate=$(sed -n 's/.*s: \([0-9]*\) rows\/s.*/\1/p' "$T/w.out")

echo "== generating a $ROWS-row log through the writer"
gen_s=$(secs "$GEN" --bulk "$ROWS" "$T/r.db" "$T")
n=$(sqlite3 "$T/r.db" "SELECT count(*) FROM decisions")
echo "$n rows in $gen_s s"

echo "== ward replay over $n rows"
# exit 1 means "decisions would change": expected here
replay_s=$(secs bash -c '"$0" replay --log "$1" --policy "$2" --json; [ $? -le 1 ]' "$WARD" "$T/r.db" "$T/b.yaml")
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("rows %d, replayed %d, unchanged %d, changed %d" % (d["rows"], d["replayed"], d["unchanged"], d["changed"]))' "$T/out"
echo "$replay_s s"

echo "== ward audit verify over $n rows"
verify_s=$(secs "$WARD" audit verify --log "$T/r.db")
cat "$T/out"
echo "$verify_s s"

echo
printf '%-36s %12s   %s\n' "measure" "value" "target"
printf '%-36s %12s   %s\n' "writer rows/s" "$rate" ">= 100000 $( [ "$rate" -ge 100000 ] && echo ok || echo MISSED)"
printf '%-36s %12s   %s\n' "replay $n rows (s)" "$replay_s" "< 10 $(echo "$replay_s < 10" | bc | grep -q 1 && echo ok || echo MISSED)"
printf '%-36s %12s   %s\n' "verify $n rows (s)" "$verify_s" "(no target)"
