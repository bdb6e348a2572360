#!/bin/bash
# SPDX-License-Identifier: MIT
# Central verify against local verify, side by side in one run: a ROWS-row
# log written through the real writer (the replay test's scenario, test_replay
# --bulk), loaded into a throwaway PostgreSQL 15 cluster (psql \copy of the
# same columns), then `ward audit verify --db` and `ward audit verify --log`
# over the same rows, interleaved for ROUNDS rounds; prints each round, the
# medians of wall time and of ward's own CPU time (user + sys; PostgreSQL's
# share is the server's), and the ratios central / local.
# Usage: central-verify.sh [BUILD_DIR] [ROWS] [ROUNDS] (root: initdb runs as
# postgres; default 1,000,000 rows, 5 rounds).
set -eu

BUILD=$(realpath "${1:-${WARD_BUILD:-build}}")
ROWS=${2:-1000000}
ROUNDS=${3:-5}
[ "$ROWS" -ge 1000 ] && [ "$ROWS" -le 5000000 ] || { echo "ROWS must be 1000..5000000" >&2; exit 2; }
[ "$ROUNDS" -ge 1 ] && [ "$ROUNDS" -le 20 ] || { echo "ROUNDS must be 1..20" >&2; exit 2; }
GEN=$BUILD/test_replay
WARD=$BUILD/ward
PGBIN=/usr/lib/postgresql/15/bin
PORT=${WARD_BENCH_PG_PORT:-54363}
[ -x "$GEN" ] && [ -x "$WARD" ] || { echo "build $BUILD first (targets ward, test_replay)" >&2; exit 2; }
[ -x "$PGBIN/initdb" ] || { echo "needs PostgreSQL 15 (tools/install-deps.sh)" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "run as root (initdb runs as postgres)" >&2; exit 2; }

T=$(mktemp -d /tmp/ward-bench-central.XXXXXX)
cleanup() {
	if [ -f "$T/data/postmaster.pid" ]; then
		runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	rm -rf "$T"
}
trap cleanup EXIT
chown postgres: "$T"

echo "== a $ROWS-row log through the writer"
"$GEN" --bulk "$ROWS" "$T/r.db" "$T" >/dev/null
n=$(sqlite3 "$T/r.db" "SELECT count(*) FROM decisions")
echo "$n rows"

echo "== PostgreSQL 15 on port $PORT (socket in $T)"
runuser -u postgres -- "$PGBIN/initdb" -D "$T/data" -A trust -U postgres >/dev/null
runuser -u postgres -- "$PGBIN/pg_ctl" -D "$T/data" -l "$T/pg.log" -w -t 60 \
	-o "-p $PORT -k $T -c listen_addresses='' -c shared_buffers=256MB" start >/dev/null
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h "$T" -p "$PORT" -U postgres)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE ward"
PSQL+=(-d ward)
"${PSQL[@]}" -f "$(dirname "$0")/../../src/fleet/schema.sql" >/dev/null
sqlite3 -csv "$T/r.db" "SELECT 'bench', id, ts_ns, sandbox, layer, action, binary, binary_sha256,
	pid, host, ip, port, protocol, method, path, rule, reason, policy_rev, hash, session, via,
	uid, cgroup FROM decisions ORDER BY id" >"$T/rows.csv"
sqlite3 -csv "$T/r.db" "SELECT 'bench', rev, source, compiled, loaded_at FROM policies" >"$T/pol.csv"
last=$(sqlite3 "$T/r.db" "SELECT max(id) FROM decisions")
lasth=$(sqlite3 "$T/r.db" "SELECT hash FROM decisions WHERE id = $last")
"${PSQL[@]}" <<SQL
\copy ward.decisions (host_id, id, ts_ns, sandbox, layer, action, "binary", binary_sha256, pid, host, ip, port, protocol, method, path, rule, reason, policy_rev, hash, session, via, uid, cgroup) FROM '$T/rows.csv' CSV
\copy ward.policies (host_id, rev, source, compiled, loaded_at) FROM '$T/pol.csv' CSV
INSERT INTO ward.hosts (host_id, shipped_id, shipped_hash) VALUES ('bench', $last, '$lasth');
VACUUM ANALYZE ward.decisions;
SQL
rm -f "$T/rows.csv"
URL="postgresql:///ward?host=$T&port=$PORT&user=postgres"

# run CMD...: "wall_s cpu_s" of CMD (ward's user + sys), which must verify n rows
run() {
	/usr/bin/time -f "%e %U %S" -o "$T/time" "$@" >"$T/out" 2>&1 ||
		{ echo "failed: $*" >&2; cat "$T/out" >&2; exit 1; }
	grep -q "$n rows verified, chain intact" "$T/out" || { cat "$T/out" >&2; exit 1; }
	awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' "$T/time"
}
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

echo "== verify, $ROUNDS interleaved rounds (wall s, ward CPU s)"
: >"$T/local"
: >"$T/central"
for i in $(seq "$ROUNDS"); do
	l=$(run "$WARD" audit verify --log "$T/r.db")
	c=$(run "$WARD" audit verify --db "$URL")
	echo "$l" >>"$T/local"
	echo "$c" >>"$T/central"
	echo "round $i: local $l   central $c"
done
lw=$(cut -d' ' -f1 "$T/local" | median)
lc=$(cut -d' ' -f2 "$T/local" | median)
cw=$(cut -d' ' -f1 "$T/central" | median)
cc=$(cut -d' ' -f2 "$T/central" | median)
echo
printf '%-40s %10s %10s\n' "median over $ROUNDS rounds, $n rows" "wall s" "ward CPU s"
printf '%-40s %10s %10s\n' "ward audit verify --log (SQLite)" "$lw" "$lc"
printf '%-40s %10s %10s\n' "ward audit verify --db (PostgreSQL)" "$cw" "$cc"
printf '%-40s %10s %10s\n' "ratio central / local" "$(echo "scale=2; $cw / $lw" | bc)" \
	"$(echo "scale=2; $cc / $lc" | bc)"
