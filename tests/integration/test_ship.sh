#!/bin/bash
# SPDX-License-Identifier: MIT
# ward logs ship against a real PostgreSQL 15 (docs/fleet.md): a throwaway
# cluster (initdb in a temp directory, its own port and socket, stopped and
# removed at the end even on failure); two hosts' logs written by the real
# writer (test_replay --bulk); the shipper killed with SIGKILL while its COPY
# runs, then resumed: no duplicate, no gap; PostgreSQL restarted during
# --follow while rows are written: all arrive; a pruned-before-shipped gap
# and a different log under a shipped host id are refused.
set -u
. "$(dirname "$0")/lib.sh"
need_root

PGBIN=/usr/lib/postgresql/15/bin
PORT=54361
GEN=$(dirname "$WARD")/test_replay
if [ ! -x "$PGBIN/initdb" ]; then
	echo "SKIP: PostgreSQL 15 is not installed (tools/install-deps.sh installs it)"
	exit 77
fi
[ -x "$GEN" ] || { echo "FAIL: $GEN missing (build the unit tests)"; exit 1; }

tmp=$(test_tmpdir ward-test-ship)
chmod 755 "$tmp"
pgdir=$tmp/pg
pids=()
pg() { runuser -u postgres -- "$@"; }
cleanup() {
	for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
	[ -f "$pgdir/data/postmaster.pid" ] && pg "$PGBIN/pg_ctl" -D "$pgdir/data" -m immediate -w stop >/dev/null 2>&1
	rm -rf "$tmp" "/sys/fs/bpf/ward-test-ship-$$"
}
trap cleanup EXIT

mkdir "$pgdir" && chown postgres "$pgdir"
pg "$PGBIN/initdb" -D "$pgdir/data" -A trust -U postgres --no-sync >"$tmp/initdb.out" 2>&1 ||
	{ cat "$tmp/initdb.out"; echo "FAIL: initdb"; exit 1; }
pgstart() {
	pg "$PGBIN/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w \
		-o "-p $PORT -k $pgdir -c listen_addresses= -c fsync=off" "$@"
}
pgstart start >/dev/null || { cat "$pgdir/log"; echo "FAIL: postgres start"; exit 1; }
pg "$PGBIN/createdb" -h "$pgdir" -p $PORT ward
URL="postgresql:///ward?host=$pgdir&port=$PORT&user=postgres"
q() { psql -X -qAt "$URL" -c "$1"; }
local_count() { sqlite3 "$1" "SELECT count(*) || ' ' || max(id) FROM decisions"; }
central_count() { q "SELECT count(*) || ' ' || max(id) FROM ward.decisions WHERE host_id = '$1'"; }

mkdir -p "$tmp/gen"
"$GEN" --bulk 60000 "$tmp/a.db" "$tmp/gen" >/dev/null || { echo "FAIL: generator"; exit 1; }
"$GEN" --bulk 6000 "$tmp/b.db" "$tmp/gen" >/dev/null || { echo "FAIL: generator"; exit 1; }

# --- host b: one run, everything, then again: nothing new, nothing twice
"$WARD" logs ship --log "$tmp/b.db" --to "$URL" --host b --batch 2500 --json >"$tmp/b1.out" 2>&1
check "ship b: exit 0" [ $? -eq 0 ]
check "ship b: all rows" [ "$(central_count b)" = "$(local_count "$tmp/b.db")" ]
check "ship b: three batches (2500 rows at most) and the final line" [ "$(grep -c '"rows":' "$tmp/b1.out")" -eq 4 ]
"$WARD" logs ship --log "$tmp/b.db" --to "$URL" --host b --json >"$tmp/b2.out" 2>&1
check "ship b again: nothing shipped" grep -q '"rows":0,"total":0' "$tmp/b2.out"
check "ship b: policies row shipped" [ "$(q "SELECT count(*) FROM ward.policies WHERE host_id = 'b'")" = \
	"$(sqlite3 "$tmp/b.db" 'SELECT count(*) FROM policies')" ]
check "ship b: hosts.shipped_id and hash = the local head" [ "$(q "SELECT shipped_id || ' ' || shipped_hash FROM ward.hosts WHERE host_id = 'b'")" = \
	"$(sqlite3 "$tmp/b.db" 'SELECT id || " " || hash FROM decisions ORDER BY id DESC LIMIT 1')" ]
check "ship b: a row's columns arrive as they are" [ "$(q "SELECT concat_ws('|', id, ts_ns, sandbox, layer, action, \"binary\", pid, host, ip, port, path, rule, reason, policy_rev, hash) FROM ward.decisions WHERE host_id = 'b' AND id = 4321")" = \
	"$(sqlite3 -separator '|' "$tmp/b.db" 'SELECT id, ts_ns, sandbox, layer, action, binary, pid, host, ip, port, path, rule, reason, policy_rev, hash FROM decisions WHERE id = 4321' | sed 's/||*/|/g')" ]

# --- host a: SIGKILL while the one big batch's COPY runs, then resume
"$WARD" logs ship --log "$tmp/a.db" --to "$URL" --host a --batch 1000000 >"$tmp/a1.out" 2>&1 &
shipper=$!
pids+=("$shipper")
copying=0
for _ in $(seq 600); do # at most 30 s
	n=$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ward' AND query LIKE 'COPY ward.decisions%' AND state = 'active'")
	[ "$n" = 1 ] && { copying=1; break; }
	kill -0 "$shipper" 2>/dev/null || break
	sleep 0.05
done
check "kill: caught the shipper inside its COPY" [ "$copying" = 1 ]
kill -9 "$shipper"
{ wait "$shipper"; } 2>/dev/null
# the server notices the dead client and aborts the transaction
for _ in $(seq 200); do
	[ "$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ward'")" = 0 ] && break
	sleep 0.05
done
check "kill: the batch rolled back (no row of a, no hosts row)" [ "$(q "SELECT (SELECT count(*) FROM ward.decisions WHERE host_id = 'a') || ' ' || (SELECT count(*) FROM ward.hosts WHERE host_id = 'a')")" = "0 0" ]

# resume in smaller batches; kill again between commits, resume again
"$WARD" logs ship --log "$tmp/a.db" --to "$URL" --host a --batch 7000 --json >"$tmp/a2.out" 2>&1 &
shipper=$!
pids+=("$shipper")
for _ in $(seq 600); do
	[ "$(grep -c '"rows":7000' "$tmp/a2.out")" -ge 3 ] && break
	kill -0 "$shipper" 2>/dev/null || break
	sleep 0.05
done
kill -9 "$shipper" 2>/dev/null
{ wait "$shipper"; } 2>/dev/null
partial=$(q "SELECT shipped_id FROM ward.hosts WHERE host_id = 'a'")
check "kill between batches: a committed prefix ($partial rows)" [ "$(central_count a)" = "$partial $partial" ]
"$WARD" logs ship --log "$tmp/a.db" --to "$URL" --host a --batch 50000 >"$tmp/a3.out" 2>&1
check "resume a: exit 0" [ $? -eq 0 ]
check "resume a: count and max id = local" [ "$(central_count a)" = "$(local_count "$tmp/a.db")" ]
check "resume a: ids 1..max, each once" [ "$(q "SELECT count(DISTINCT id) = max(id) AND min(id) = 1 FROM ward.decisions WHERE host_id = 'a'")" = t ]
check "host b untouched" [ "$(central_count b)" = "$(local_count "$tmp/b.db")" ]

# --- --follow across a PostgreSQL restart while rows are written
"$WARD" logs ship --log "$tmp/b.db" --to "$URL" --host b --batch 1000 --follow >"$tmp/f.out" 2>"$tmp/f.err" &
follower=$!
pids+=("$follower")
"$GEN" --bulk 3000 "$tmp/b.db" "$tmp/gen" >/dev/null
pgstart -m fast restart >/dev/null || { cat "$pgdir/log"; fail "postgres restart"; }
"$GEN" --bulk 3000 "$tmp/b.db" "$tmp/gen" >/dev/null
pg "$PGBIN/pg_ctl" -D "$pgdir/data" -m immediate -w stop >/dev/null
sleep 0.3
"$GEN" --bulk 3000 "$tmp/b.db" "$tmp/gen" >/dev/null
pgstart start >/dev/null || { cat "$pgdir/log"; fail "postgres start"; }
want=$(local_count "$tmp/b.db")
for _ in $(seq 400); do # at most 20 s
	[ "$(central_count b 2>/dev/null)" = "$want" ] && break
	sleep 0.05
done
check "follow: every row arrived across the restarts ($want)" [ "$(central_count b)" = "$want" ]
check "follow: ids each once" [ "$(q "SELECT count(DISTINCT id) = count(*) AND count(*) = max(id) FROM ward.decisions WHERE host_id = 'b'")" = t ]
check "follow: the lost connection was retried" grep -q "retrying in" "$tmp/f.err"
check "follow: still running" kill -0 "$follower"
kill -0 "$follower" 2>/dev/null || { echo "--- the follower's stderr:"; cat "$tmp/f.err"; }
kill -TERM "$follower"
wait "$follower"
check "follow: SIGTERM exits 0" [ $? -eq 0 ]

# --- refusals: a gap, a different log under a shipped host id
cp "$tmp/b.db" "$tmp/g.db"
"$WARD" logs ship --log "$tmp/g.db" --to "$URL" --host g >/dev/null 2>&1
top=$(sqlite3 "$tmp/g.db" "SELECT max(id) FROM decisions")
"$GEN" --bulk 100 "$tmp/g.db" "$tmp/gen" >/dev/null
sqlite3 "$tmp/g.db" "DELETE FROM decisions WHERE id BETWEEN $((top + 1)) AND $((top + 10))"
"$WARD" logs ship --log "$tmp/g.db" --to "$URL" --host g >"$tmp/g.out" 2>&1
check "gap: exit 1" [ $? -eq 1 ]
check "gap: names the ids" grep -q "ids $((top + 1))\.\.$((top + 10)) are not in the local log" "$tmp/g.out"
check "gap: nothing after it shipped" [ "$(q "SELECT max(id) FROM ward.decisions WHERE host_id = 'g'")" = "$top" ]
"$WARD" logs ship --log "$tmp/a.db" --to "$URL" --host b >"$tmp/s.out" 2>&1
check "different log under host b: exit 1" [ $? -eq 1 ]
check "different log under host b: says so" grep -q "a different log" "$tmp/s.out"

# --- text that COPY must escape arrives byte for byte
cp "$tmp/b.db" "$tmp/x.db"
sqlite3 "$tmp/x.db" "INSERT INTO decisions (ts_ns, layer, action, path, reason, rule, hash)
	VALUES (1, 'fs', 'deny', 'a' || char(9) || 'b' || char(10) || 'c\d\N', char(13) || 'é ü 日本', '\\.', 'h')"
"$WARD" logs ship --log "$tmp/x.db" --to "$URL" --host x >/dev/null 2>&1
check "escaping: tab, newline, CR, backslash, \\N, UTF-8 as they were" [ \
	"$(q "SELECT upper(encode(convert_to(path || '|' || reason || '|' || rule, 'UTF8'), 'hex')) FROM ward.decisions WHERE host_id = 'x' AND hash = 'h'")" = \
	"$(sqlite3 "$tmp/x.db" "SELECT hex(path || '|' || reason || '|' || rule) FROM decisions WHERE hash = 'h'")" ]

# --- a log pruned before its first ship starts at its checkpoint
cp "$tmp/b.db" "$tmp/p.db"
"$WARD" audit prune --retain 400K --log "$tmp/p.db" >/dev/null 2>&1
ck=$(sqlite3 "$tmp/p.db" "SELECT value FROM meta WHERE key = 'chain_checkpoint_id'")
"$WARD" logs ship --log "$tmp/p.db" --to "$URL" --host p >/dev/null 2>&1
[ -n "$ck" ] || fail "pruned log: no checkpoint"
check "pruned log: shipped from the checkpoint" [ "$(q "SELECT min(id) - 1 || ' ' || count(*) FROM ward.decisions WHERE host_id = 'p'")" = "$ck $(sqlite3 "$tmp/p.db" 'SELECT count(*) FROM decisions')" ]
check "pruned log: hosts.ckpt_id/ckpt_hash = local meta" [ "$(q "SELECT ckpt_id || ' ' || ckpt_hash FROM ward.hosts WHERE host_id = 'p'")" = \
	"$ck $(sqlite3 "$tmp/p.db" "SELECT value FROM meta WHERE key = 'chain_checkpoint_hash'")" ]

# --- bundle keys of the local meta reach hosts.bundle_*
sqlite3 "$tmp/b.db" "INSERT OR REPLACE INTO meta VALUES ('bundle_version', '7'), ('bundle_sha256', 'abc123')"
"$WARD" logs ship --log "$tmp/b.db" --to "$URL" --host b >/dev/null 2>&1
check "bundle version and sha256 copied" [ "$(q "SELECT bundle_version || ' ' || bundle_sha256 || ' ' || (bundle_applied IS NOT NULL) FROM ward.hosts WHERE host_id = 'b'")" = "7 abc123 true" ]

# --- ward daemon --ship: continuous, its lag in doctor and host status
state=$tmp/state
dlog=$tmp/d.db
pin=/sys/fs/bpf/ward-test-ship-$$
"$GEN" --bulk 2000 "$dlog" "$tmp/gen" >/dev/null
"$WARD" daemon --socket "$tmp/ward.sock" --state "$state" --log "$dlog" --host-policy "" \
	--pin-dir "$pin" --ship "$URL" --host-id d >"$tmp/daemon.log" 2>&1 &
daemon=$!
pids+=("$daemon")
caught_up() { [ "$(central_count d 2>/dev/null)" = "$(local_count "$dlog")" ]; }
wait_for() { for _ in $(seq 400); do "$@" && return 0; sleep 0.05; done; return 1; }
check "daemon --ship: the existing rows arrive" wait_for caught_up
"$GEN" --bulk 3000 "$dlog" "$tmp/gen" >/dev/null
check "daemon --ship: new rows arrive" wait_for caught_up
lag() { # CMD...: "lag_rows running" of the ship object in CMD's JSON
	WARD_STATE=$state "$@" 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); s=d["ship"]; print(s["lag_rows"], s["running"], s["host_id"])'
}
check "doctor: ship lag 0" [ "$(lag "$WARD" doctor --json)" = "0 True d" ]
check "host status: ship lag 0" [ "$(lag "$WARD" host status --json --socket "$tmp/ward.sock" --pin-dir "$pin")" = "0 True d" ]
pg "$PGBIN/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null
"$GEN" --bulk 500 "$dlog" "$tmp/gen" >/dev/null
behind=$(( $(sqlite3 "$dlog" "SELECT max(id) FROM decisions") - $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["shipped_id"])' "$state/ship.json") ))
check "database down: doctor shows the rows behind ($behind)" [ "$(lag "$WARD" doctor --json)" = "$behind True d" ]
WARD_STATE=$state "$WARD" doctor >"$tmp/doctor.out" 2>&1
check "database down: doctor's line" grep -q "^ship: host d to postgresql:///ward?host=.*: $behind rows behind, oldest unshipped [0-9.]* s" "$tmp/doctor.out"
pgstart start >/dev/null || { cat "$pgdir/log"; fail "postgres start"; }
check "database back: the daemon catches up" wait_for caught_up
check "daemon still running" kill -0 "$daemon"
kill -TERM "$daemon"
wait "$daemon"
check "daemon: SIGTERM exits 0" [ $? -eq 0 ]
check "daemon log: the lost connection noted" grep -q "retrying in" "$tmp/daemon.log"
rm -rf "$pin"

"$WARD" logs ship --log "$tmp/b.db" --to "postgresql:///ward?host=$pgdir&port=1&user=postgres" --host b >"$tmp/e.out" 2>&1
check "no server: exit 1 after retries" [ $? -eq 1 ]
check "no server: names the URL" grep -q "connect to postgresql:///ward" "$tmp/e.out"

finish
