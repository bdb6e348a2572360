#!/bin/bash
# SPDX-License-Identifier: MIT
# The central store's readers against a real PostgreSQL 15: a throwaway
# cluster (initdb in a temp directory, its own port and socket, stopped and
# removed at the end even on failure) holds two hosts' real logs (the replay
# scenario written through the audit API, then `ward run` rows with denials;
# beta pruned with `ward audit prune` so its chain starts at a checkpoint),
# loaded with psql \copy from sqlite3 CSV exports of the same columns. Then:
# `ward audit verify --db` says both intact, names host and first bad id after
# an edit, a deleted row, a truncated tail, a bad checkpoint; `ward logs --db
# --host` prints what the local `ward logs` prints (but for the host field)
# under several filters; `ward replay --db` prints what the local replay does;
# a log shipped with `ward logs ship` verifies and reads back the same.
set -u
. "$(dirname "$0")/lib.sh"
need_root

here=$(cd "$(dirname "$0")/../.." && pwd)
: "${WARD_BUILD:=$here/build}"
gen=$WARD_BUILD/test_replay
pgbin=/usr/lib/postgresql/15/bin
port=54363
for t in "$gen" "$pgbin/initdb" "$pgbin/pg_ctl" "$(command -v psql)" "$(command -v sqlite3)" \
	"$(command -v jq)" "$(command -v runuser)"; do
	if [ ! -x "$t" ]; then
		echo "SKIP: needs test_replay, PostgreSQL 15 (tools/install-deps.sh), psql, sqlite3, jq"
		exit 77
	fi
done

tmp=$(test_tmpdir central-test)
cleanup() {
	if [ -f "$tmp/data/postmaster.pid" ]; then
		runuser -u postgres -- "$pgbin/pg_ctl" -D "$tmp/data" -m immediate -w stop >/dev/null 2>&1
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
chown postgres: "$tmp"
runuser -u postgres -- "$pgbin/initdb" -D "$tmp/data" -A trust -U postgres >"$tmp/initdb.log" 2>&1 ||
	{ echo "FAIL: initdb: $(tail -5 "$tmp/initdb.log")"; exit 1; }
runuser -u postgres -- "$pgbin/pg_ctl" -D "$tmp/data" -l "$tmp/pg.log" -w -t 60 \
	-o "-p $port -k $tmp -c listen_addresses='' -c fsync=off" start >/dev/null ||
	{ echo "FAIL: pg_ctl start: $(tail -5 "$tmp/pg.log")"; exit 1; }
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h "$tmp" -p "$port" -U postgres)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE ward" || { echo "FAIL: createdb"; exit 1; }
PSQL+=(-d ward)
"${PSQL[@]}" -f "$here/src/fleet/schema.sql" >/dev/null || { echo "FAIL: schema"; exit 1; }
url="postgresql:///ward?host=$tmp&port=$port&user=postgres"
sql() { "${PSQL[@]}" -At -c "$1"; }

# ---- two hosts' real logs ----
cat >"$tmp/p.yaml" <<'EOF'
version: 1
filesystem_policy:
  include_workdir: true
  read_only: [/usr, /lib, /lib64, /bin, /etc]
  read_write: [/tmp]
network_policies:
  github:
    binaries: [{ path: /usr/bin/curl }]
    endpoints:
      - { host: api.github.com, port: 443 }
EOF
# denials that never leave the machine: getent has no network policy (the
# kernel refuses), curl's hosts are not allowed (the proxy refuses before
# resolving), /root is not in the sandbox
wardrun() { # DB
	timeout 60 "$WARD" run --policy "$tmp/p.yaml" --log "$1" -- /bin/sh -c \
		'getent hosts evil.example.com; curl -sS -m 5 http://evil.example.com/;
		 curl -sS -m 5 https://api.github.com.evil/; cat /root/nope; true' \
		</dev/null >>"$tmp/run.out" 2>&1
}
mkdir -p "$tmp/a" "$tmp/b"
"$gen" --scenario "$tmp/alpha.db" "$tmp/a" >/dev/null || { echo "FAIL: generator"; exit 1; }
"$gen" --scenario "$tmp/beta.db" "$tmp/b" >/dev/null || { echo "FAIL: generator"; exit 1; }
wardrun "$tmp/alpha.db" || { echo "FAIL: ward run: $(tail -5 "$tmp/run.out")"; exit 1; }
wardrun "$tmp/beta.db" || { echo "FAIL: ward run: $(tail -5 "$tmp/run.out")"; exit 1; }
sleep 1.2
"$WARD" audit prune --log "$tmp/beta.db" --retain 1s >/dev/null || { echo "FAIL: prune"; exit 1; }
wardrun "$tmp/beta.db" || { echo "FAIL: ward run: $(tail -5 "$tmp/run.out")"; exit 1; }
check "alpha has kernel and proxy denials" test "$(sqlite3 "$tmp/alpha.db" \
	"SELECT count(DISTINCT layer) FROM decisions WHERE action = 'deny' AND id > 17 AND layer IN ('kernel', 'l7', 'proxy')")" -ge 2
ckpt=$(sqlite3 "$tmp/beta.db" "SELECT value FROM meta WHERE key = 'chain_checkpoint_id'")
check "beta has a prune checkpoint" test -n "$ckpt"

# load HOST DB: the local log's rows, policies, checkpoint and head
load() {
	local h=$1 db=$2 ck ckh last lasth
	sqlite3 -csv "$db" "SELECT '$h', id, ts_ns, sandbox, layer, action, binary, binary_sha256,
		pid, host, ip, port, protocol, method, path, rule, reason, policy_rev, hash, session,
		via, uid, cgroup FROM decisions ORDER BY id" >"$tmp/$h.rows.csv"
	sqlite3 -csv "$db" "SELECT '$h', rev, source, compiled, loaded_at FROM policies" >"$tmp/$h.pol.csv"
	ck=$(sqlite3 "$db" "SELECT value FROM meta WHERE key = 'chain_checkpoint_id'")
	ckh=$(sqlite3 "$db" "SELECT value FROM meta WHERE key = 'chain_checkpoint_hash'")
	last=$(sqlite3 "$db" "SELECT max(id) FROM decisions")
	lasth=$(sqlite3 "$db" "SELECT hash FROM decisions WHERE id = $last")
	"${PSQL[@]}" <<SQL
\copy ward.decisions (host_id, id, ts_ns, sandbox, layer, action, "binary", binary_sha256, pid, host, ip, port, protocol, method, path, rule, reason, policy_rev, hash, session, via, uid, cgroup) FROM '$tmp/$h.rows.csv' CSV
\copy ward.policies (host_id, rev, source, compiled, loaded_at) FROM '$tmp/$h.pol.csv' CSV
INSERT INTO ward.hosts (host_id, shipped_id, shipped_hash, ckpt_id, ckpt_hash)
VALUES ('$h', $last, '$lasth', NULLIF('$ck', '')::bigint, NULLIF('$ckh', ''));
SQL
}
load alpha "$tmp/alpha.db" || { echo "FAIL: load alpha"; exit 1; }
load beta "$tmp/beta.db" || { echo "FAIL: load beta"; exit 1; }
na=$(sqlite3 "$tmp/alpha.db" "SELECT count(*) FROM decisions")
nb=$(sqlite3 "$tmp/beta.db" "SELECT count(*) FROM decisions")
la=$(sqlite3 "$tmp/alpha.db" "SELECT max(id) FROM decisions")
lb=$(sqlite3 "$tmp/beta.db" "SELECT max(id) FROM decisions")
check "ward run rows carry uid and cgroup" test "$(sql "SELECT count(*) FROM ward.decisions WHERE uid IS NOT NULL AND cgroup IS NOT NULL")" -gt 0
check "central row counts" test "$(sql "SELECT count(*) FROM ward.decisions")" -eq $((na + nb))

run() { # NAME EXPECTED_STATUS CMD...: output in $out
	local name=$1 want=$2
	shift 2
	out=$("$@" 2>&1)
	local rc=$?
	if [ "$rc" -eq "$want" ]; then pass "$name"; else fail "$name (exit $rc, want $want): $out"; fi
}
has() { if grep -qF -- "$2" <<<"$out"; then pass "$1"; else fail "$1: no '$2' in: $out"; fi; }

# ---- verify ----
run "verify intact" 0 "$WARD" audit verify --db "$url"
has "alpha intact" "host alpha: $na rows verified, chain intact"
has "alpha ids" "ids 1..$la)"
has "beta intact from its checkpoint" "host beta: $nb rows verified, chain intact"
has "beta checkpoint" "from checkpoint id $ckpt)"
has "fleet summary" "2 hosts, 2 intact, 0 tampered"
run "verify json" 0 "$WARD" audit verify --db "$url" --json
check "verify json per host" test "$(jq -sc 'map([.host_id, .intact, .rows, .first_id, .last_id])' <<<"$out")" = \
	"[[\"alpha\",true,$na,1,$la],[\"beta\",true,$nb,$((ckpt + 1)),$lb]]"
local_head=$("$WARD" audit verify --log "$tmp/beta.db" --json | jq -r .head)
check "beta head equals the local head" test "$(jq -rs '.[1].head' <<<"$out")" = "$local_head"
run "verify one host" 0 "$WARD" audit verify --db "$url" --host beta
check "only that host" test "$(grep -c '^host ' <<<"$out")" -eq 1
run "verify unknown host" 2 "$WARD" audit verify --db "$url" --host gamma
has "unknown host named" "no host 'gamma'"
run "verify --host without --db" 2 "$WARD" audit verify --host alpha
run "verify unreachable store" 2 "$WARD" audit verify --db "postgresql:///ward?host=$tmp&port=1&connect_timeout=2"

# ---- logs --db: the local output, with the host ----
strip_host() { sed -E 's/^(HOST|alpha|beta|delta) +//'; }
same_logs() { # NAME HOST DB LOCAL_ARGS -- DB_ARGS
	local name=$1 h=$2 db=$3 a=() b=()
	shift 3
	while [ $# -gt 0 ] && [ "$1" != -- ]; do a+=("$1"); shift; done
	shift
	b=("$@")
	"$WARD" logs --log "$db" "${a[@]}" >"$tmp/l.local" 2>&1
	"$WARD" logs --db "$url" --host "$h" "${b[@]}" 2>&1 | strip_host >"$tmp/l.central"
	if cmp -s "$tmp/l.local" "$tmp/l.central" && [ -s "$tmp/l.local" ]; then
		pass "logs $name"
	else
		fail "logs $name: $(diff "$tmp/l.local" "$tmp/l.central" | head -10)"
	fi
}
same_logs "table alpha" alpha "$tmp/alpha.db" -- 
same_logs "table beta (pruned)" beta "$tmp/beta.db" -- 
same_logs "denials" alpha "$tmp/alpha.db" --action deny -- --action deny
same_logs "kernel layer" alpha "$tmp/alpha.db" --layer kernel -- --layer kernel
same_logs "destination glob" alpha "$tmp/alpha.db" --host '*.evil' -- --dest '*.evil'
same_logs "binary glob" beta "$tmp/beta.db" --binary '/usr/bin/[cg]*' -- --binary '/usr/bin/[cg]*'
same_logs "sandbox" alpha "$tmp/alpha.db" --sandbox sb1 -- --sandbox sb1
same_logs "since" beta "$tmp/beta.db" --since 1000000000 -- --since 1000000000
same_logs "summary" alpha "$tmp/alpha.db" --summary -- --summary
"$WARD" logs --log "$tmp/beta.db" --json | jq -c . >"$tmp/j.local"
"$WARD" logs --db "$url" --host beta --json | jq -c 'del(.host_id)' >"$tmp/j.central"
check "logs --json equal but for host_id" cmp -s "$tmp/j.local" "$tmp/j.central"
check "logs --json names the host" test "$("$WARD" logs --db "$url" --host beta --json | jq -r .host_id | sort -u)" = beta
run "logs every host" 0 "$WARD" logs --db "$url" --json
check "every host's rows, host by host" test "$(jq -r .host_id <<<"$out" | uniq -c | awk '{print $2 "=" $1}' | tr '\n' ' ')" = "alpha=$na beta=$nb "
run "a quote in a filter is a value" 0 "$WARD" logs --db "$url" --sandbox "x' OR '1'='1"
has "nothing matches it" "no matching decisions"
run "logs --follow --db needs --host" 2 "$WARD" logs --db "$url" --follow

# ---- replay --db: the local output, examples naming the host ----
# beta's scenario rows are pruned: its change lets curl reach evil.example.com
sed 's|      - { host: api.github.com, port: 443 }|&\n      - { host: evil.example.com, port: 80 }|' \
	"$tmp/p.yaml" >"$tmp/p2.yaml"
for h in alpha beta; do
	pol=$tmp/p2.yaml
	[ "$h" = alpha ] && pol=$tmp/a/b.yaml
	"$WARD" replay --log "$tmp/$h.db" --policy "$pol" >"$tmp/r.local" 2>&1
	rl=$?
	"$WARD" replay --db "$url" --host "$h" --policy "$pol" >"$tmp/r.central" 2>&1
	rc=$?
	check "replay $h: decisions change locally" test "$rl" -eq 1
	check "replay $h: same exit" test "$rl" -eq "$rc"
	check "replay $h: examples name the host" grep -q "  host $h  " "$tmp/r.central"
	sed -i "s/  host $h  /  /" "$tmp/r.central"
	if cmp -s "$tmp/r.local" "$tmp/r.central"; then pass "replay $h: same output"; else
		fail "replay $h: $(diff "$tmp/r.local" "$tmp/r.central" | head)"; fi
	"$WARD" replay --log "$tmp/$h.db" --policy "$pol" --json | jq -S . >"$tmp/r.local"
	"$WARD" replay --db "$url" --host "$h" --policy "$pol" --json |
		jq -S 'del(.groups[].examples[].host_id)' >"$tmp/r.central"
	check "replay $h --json: same report" cmp -s "$tmp/r.local" "$tmp/r.central"
done
run "replay of the fleet" 1 "$WARD" replay --db "$url" --policy "$tmp/a/b.yaml"
has "fleet replay counts both hosts" "$((na + nb)) rows"

# ---- tampering, done with psql ----
bad=$(sql "SELECT min(id) FROM ward.decisions WHERE host_id = 'alpha' AND action = 'deny' AND id > 17")
orig=$(sql "SELECT reason FROM ward.decisions WHERE host_id = 'alpha' AND id = $bad")
sql "UPDATE ward.decisions SET reason = 'nothing to see' WHERE host_id = 'alpha' AND id = $bad"
run "edited row: exit 1" 1 "$WARD" audit verify --db "$url"
has "edited row named" "host alpha: TAMPERED: first bad id $bad: id $bad: hash mismatch"
has "the other host still intact" "host beta: $nb rows verified, chain intact"
has "fleet summary names it" "2 hosts, 1 intact, 1 tampered"
run "edited row, json" 1 "$WARD" audit verify --db "$url" --host alpha --json
check "json bad_id" test "$(jq -r '[.intact, .bad_id] | @tsv' <<<"$out")" = "false	$bad"
sql "UPDATE ward.decisions SET reason = \$\$$orig\$\$ WHERE host_id = 'alpha' AND id = $bad"
run "restored: intact" 0 "$WARD" audit verify --db "$url" --host alpha

gap=$((ckpt + 4))
sql "DELETE FROM ward.decisions WHERE host_id = 'beta' AND id = $gap"
run "deleted row: exit 1" 1 "$WARD" audit verify --db "$url"
has "gap named" "host beta: TAMPERED: first bad id $((gap + 1)): id $((gap + 1)) follows id $((gap - 1)): a row is missing (deleted)"

sql "DELETE FROM ward.decisions WHERE host_id = 'alpha' AND id = $la"
run "truncated tail: exit 1" 1 "$WARD" audit verify --db "$url" --host alpha
has "truncation named" "first bad id $la: rows $la..$la are missing (deleted): the shipper recorded id $la as shipped"

sql "UPDATE ward.hosts SET ckpt_hash = repeat('0', 63) || '1' WHERE host_id = 'beta'"
run "bad checkpoint: exit 1" 1 "$WARD" audit verify --db "$url" --host beta
has "checkpoint mismatch named" "first bad id $((ckpt + 1)): id $((ckpt + 1)): checkpoint mismatch"

sql "DELETE FROM ward.decisions WHERE host_id = 'beta' AND id = $((ckpt + 1))"
run "deleted first row: exit 1" 1 "$WARD" audit verify --db "$url" --host beta
has "missing start named" "first bad id $((ckpt + 2)): id $((ckpt + 2)) is the first row but no checkpoint names id $((ckpt + 1))"

# ---- a host that pruned again after shipping: the shipper moves
# hosts.ckpt_id on; the chain stays anchored by the first prune's row ----
cp "$tmp/beta.db" "$tmp/gamma.db"
load gamma "$tmp/gamma.db" || { echo "FAIL: load gamma"; exit 1; }
sleep 1.2
"$WARD" audit prune --log "$tmp/gamma.db" --retain 1s >/dev/null || { echo "FAIL: prune gamma"; exit 1; }
ck2=$(sqlite3 "$tmp/gamma.db" "SELECT value FROM meta WHERE key = 'chain_checkpoint_id'")
ckh2=$(sqlite3 "$tmp/gamma.db" "SELECT value FROM meta WHERE key = 'chain_checkpoint_hash'")
check "gamma's new checkpoint is past its first central row" test "$ck2" -gt $((ckpt + 1))
sql "UPDATE ward.hosts SET ckpt_id = $ck2, ckpt_hash = '$ckh2' WHERE host_id = 'gamma'"
run "re-pruned host: intact" 0 "$WARD" audit verify --db "$url" --host gamma
has "re-pruned host: anchored at the first checkpoint" "host gamma: $nb rows verified, chain intact (head"
has "re-pruned host: from the first checkpoint" "from checkpoint id $ckpt)"
sql "UPDATE ward.hosts SET ckpt_hash = repeat('0', 63) || '1' WHERE host_id = 'gamma'"
run "re-pruned host, forged checkpoint hash: exit 1" 1 "$WARD" audit verify --db "$url" --host gamma
has "forged checkpoint named" "first bad id $ck2: id $ck2: checkpoint mismatch (hosts.ckpt_hash 000000000000"

# ---- what `ward logs ship` writes verifies and reads back the same ----
cp "$tmp/beta.db" "$tmp/delta.db"
run "ship a pruned log" 0 "$WARD" logs ship --log "$tmp/delta.db" --to "$url" --host delta
run "shipped host: intact" 0 "$WARD" audit verify --db "$url" --host delta
has "shipped host: every row, from its checkpoint" "host delta: $nb rows verified, chain intact (head ${local_head:0:16}"
same_logs "shipped host" delta "$tmp/delta.db" --
sql "UPDATE ward.decisions SET reason = 'x' WHERE host_id = 'delta' AND id = $((ckpt + 2))"
run "shipped host, edited: exit 1" 1 "$WARD" audit verify --db "$url" --host delta
has "shipped host, edited row named" "host delta: TAMPERED: first bad id $((ckpt + 2)):"

finish
