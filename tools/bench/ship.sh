#!/bin/bash
# SPDX-License-Identifier: MIT
# Shipping throughput (docs/fleet.md): rows/s of `ward logs ship` into a local
# PostgreSQL 15 against `psql \copy` of the same rows (exported from the
# SQLite log as CSV) into the same table with the same primary key and
# indexes, side by side in one run: ROUNDS interleaved rounds, each from an
# empty table, medians and their ratio (goal >= 0.8). Then, when this build
# has it (`ward audit verify --db`), the central verify of the shipped rows
# beside the local SQLite verify of the same log.
# A throwaway cluster (initdb in a temp dir, port $PORT, socket in the temp
# dir) is stopped and removed at the end. Must run as root (initdb runs as
# the postgres user).
# Usage: ship.sh [BUILD_DIR] [ROWS] [ROUNDS]  (defaults: build 300000 3)
set -eu

BUILD=$(realpath "${1:-${WARD_BUILD:-build}}")
ROWS=${2:-300000}
ROUNDS=${3:-3}
PORT=${PORT:-54361}
BATCH=${BATCH:-10000}
PGBIN=/usr/lib/postgresql/15/bin
WARD=$BUILD/ward
GEN=$BUILD/test_replay
[ "$ROWS" -ge 1000 ] && [ "$ROWS" -le 5000000 ] || { echo "ROWS must be 1000..5000000" >&2; exit 2; }
[ -x "$WARD" ] && [ -x "$GEN" ] || { echo "build $BUILD first (targets ward, test_replay)" >&2; exit 2; }
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL 15 missing (tools/install-deps.sh)" >&2; exit 2; }

T=$(mktemp -d /tmp/ward-bench-ship.XXXXXX)
chmod 755 "$T"
pg() { runuser -u postgres -- "$@"; }
cleanup() {
	[ -f "$T/pg/data/postmaster.pid" ] && pg "$PGBIN/pg_ctl" -D "$T/pg/data" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$T"
}
trap cleanup EXIT
mkdir "$T/pg" && chown postgres "$T/pg"
pg "$PGBIN/initdb" -D "$T/pg/data" -A trust -U postgres >/dev/null
pg "$PGBIN/pg_ctl" -D "$T/pg/data" -l "$T/pg/log" -w -o "-p $PORT -k $T/pg -c listen_addresses=" start >/dev/null
pg "$PGBIN/createdb" -h "$T/pg" -p "$PORT" ward
URL="postgresql:///ward?host=$T/pg&port=$PORT&user=postgres"
q() { psql -X -qAt "$URL" -c "$1"; }

echo "== a $ROWS-row log through the writer (test_replay --bulk)"
mkdir "$T/gen"
"$GEN" --bulk "$ROWS" "$T/r.db" "$T/gen" >/dev/null
n=$(sqlite3 "$T/r.db" "SELECT count(*) FROM decisions")
echo "$n rows"
# the schema, as ward creates it
"$WARD" logs ship --log "$T/r.db" --to "$URL" --host warmup --batch 1000 >/dev/null
cols="id, ts_ns, sandbox, layer, action, \"binary\", binary_sha256, pid, host, ip, port, protocol, method, path, rule, reason, policy_rev, hash, session, via"
sqlite3 -csv "$T/r.db" "SELECT 'bench', ${cols//\"/}, NULL, NULL FROM decisions ORDER BY id" >"$T/r.csv"

reset() { q "TRUNCATE ward.decisions, ward.policies, ward.binaries; DELETE FROM ward.hosts; CHECKPOINT"; }
# run CMD...: "wall_s cpu_s" (cpu: the client's user+sys), output in $T/out
run() {
	local s e
	s=$(date +%s%N)
	/usr/bin/time -f "%U %S" -o "$T/time" "$@" >"$T/out" 2>&1 || { cat "$T/out" >&2; exit 1; }
	e=$(date +%s%N)
	echo "$(( (e - s) / 1000000 )) $(awk '{printf "%.3f", $1 + $2}' "$T/time")"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }

: >"$T/copy_ms"; : >"$T/ship_ms"; : >"$T/ship_cpu"; : >"$T/ratio"
for i in $(seq "$ROUNDS"); do
	reset
	read -r c_ms _ < <(run psql -X -q "$URL" -c "\\copy ward.decisions (host_id, $cols, uid, cgroup) FROM '$T/r.csv' CSV")
	[ "$(q "SELECT count(*) FROM ward.decisions")" = "$n" ] || { echo "psql \\copy: wrong count" >&2; exit 1; }
	reset
	read -r s_ms s_cpu < <(run "$WARD" logs ship --log "$T/r.db" --to "$URL" --host bench --batch "$BATCH")
	[ "$(q "SELECT count(*) FROM ward.decisions")" = "$n" ] || { echo "ward logs ship: wrong count" >&2; exit 1; }
	echo "round $i: psql \\copy $c_ms ms, ward logs ship $s_ms ms (client CPU $s_cpu s)"
	echo "$c_ms" >>"$T/copy_ms"; echo "$s_ms" >>"$T/ship_ms"; echo "$s_cpu" >>"$T/ship_cpu"
	echo "scale=3; $c_ms / $s_ms" | bc >>"$T/ratio"
done
c_med=$(median <"$T/copy_ms"); s_med=$(median <"$T/ship_ms"); r_med=$(median <"$T/ratio")
c_rate=$(echo "$n * 1000 / $c_med" | bc); s_rate=$(echo "$n * 1000 / $s_med" | bc)

echo
printf '%-44s %12s   %s\n' "measure ($n rows, $ROUNDS rounds, medians)" "value" "goal"
printf '%-44s %12s\n' "psql \\copy rows/s (one transaction)" "$c_rate"
printf '%-44s %12s\n' "ward logs ship rows/s (batch $BATCH)" "$s_rate"
printf '%-44s %12s\n' "ward logs ship client CPU (s)" "$(median <"$T/ship_cpu")"
printf '%-44s %12s   %s\n' "ratio ship / copy (median of rounds)" "$r_med" \
	">= 0.8 $(echo "$r_med >= 0.8" | bc | grep -q 1 && echo ok || echo MISSED)"

echo
echo "== central verify (ward audit verify --db) beside the local SQLite verify"
if "$WARD" audit verify --help 2>&1 | grep -q -- "--db"; then
	read -r l_ms _ < <(run "$WARD" audit verify --log "$T/r.db")
	read -r d_ms _ < <(run "$WARD" audit verify --db "$URL")
	printf '%-44s %12s\n' "local verify $n rows (ms)" "$l_ms" "central verify $n rows (ms)" "$d_ms"
else
	echo "not in this build: ward audit verify has no --db yet (issue 16 item 2)"
fi
