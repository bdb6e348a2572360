#!/bin/bash
# SPDX-License-Identifier: MIT
# ward logs through the real binary: a log written by `ward run`, extended here
# with rows chained by an independent implementation of the documented hash
# (docs/audit.md), then every filter, --json, the table, --follow and errors.
set -u
. "$(dirname "$0")/lib.sh"
need_root

here=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(test_tmpdir ward-test-logs)
follow_pid=
cleanup() {
	[ -n "$follow_pid" ] && kill "$follow_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
db=$tmp/log/decisions.db

if ! timeout 60 "$WARD" run --policy "$here/policies/examples/deny-all.yaml" --log "$db" -- /bin/true </dev/null \
	>"$tmp/run.out" 2>&1; then
	echo "SKIP: ward run cannot start a sandbox here: $(tail -n1 "$tmp/run.out")"
	exit 77
fi

# append ROWS-JSON: insert rows after the current head, chained per docs/audit.md
append() {
	python3 - "$db" "$1" <<'PY'
import hashlib, json, sqlite3, struct, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
cols = ["id", "ts_ns", "sandbox", "layer", "action", "binary", "binary_sha256", "pid", "host",
        "ip", "port", "protocol", "method", "path", "rule", "reason", "policy_rev"]
ints = {"id", "ts_ns", "pid", "port", "uid"}
def canon(row):
    out = b""
    # session and via only when one of the tail is set, uid and cgroup only
    # when one of them is (docs/audit.md)
    extra2 = ["uid", "cgroup"] if any(row.get(c) is not None for c in ("uid", "cgroup")) else []
    extra = ["session", "via"] + extra2 if extra2 or any(
        row.get(c) is not None for c in ("session", "via")) else []
    for c in cols + extra:
        v = row.get(c)
        if v is None:
            out += b"\x00"
        elif c in ints:
            out += b"\x01" + struct.pack(">q", v)
        else:
            b = v.encode()
            out += b"\x02" + struct.pack(">I", len(b)) + b
    return out
db.execute("BEGIN IMMEDIATE")
head = db.execute("SELECT id, hash FROM decisions ORDER BY id DESC LIMIT 1").fetchone()
last_id, prev = head if head else (0, "0" * 64)
for row in json.loads(sys.argv[2]):
    last_id += 1
    row["id"] = last_id
    h = hashlib.sha256(prev.encode() + canon(row)).hexdigest()
    vals = [row.get(c) for c in cols] + [row.get("session"), row.get("via"), row.get("uid"),
                                         row.get("cgroup"), h]
    db.execute("INSERT INTO decisions(%s, session, via, uid, cgroup, hash) VALUES (%s)" % (", ".join(cols), ", ".join("?" * 22)), vals)
    prev = h
db.execute("COMMIT")
PY
}

# verify: recompute the whole chain (rows written by ward and by this script)
verify() {
	python3 - "$db" <<'PY'
import hashlib, sqlite3, struct, sys
db = sqlite3.connect(sys.argv[1])
cols = ["id", "ts_ns", "sandbox", "layer", "action", "binary", "binary_sha256", "pid", "host",
        "ip", "port", "protocol", "method", "path", "rule", "reason", "policy_rev"]
prev, n = "0" * 64, 0
for r in db.execute("SELECT %s, session, via, uid, cgroup, hash FROM decisions ORDER BY id" % ", ".join(cols)):
    out = b""
    t2 = r[19] is not None or r[20] is not None
    t1 = t2 or r[17] is not None or r[18] is not None
    for v in r[:17] + (r[17:19] if t1 else ()) + (r[19:21] if t2 else ()):
        if v is None: out += b"\x00"
        elif isinstance(v, int): out += b"\x01" + struct.pack(">q", v)
        else:
            b = v.encode(); out += b"\x02" + struct.pack(">I", len(b)) + b
    h = hashlib.sha256(prev.encode() + out).hexdigest()
    if h != r[21]:
        sys.exit("chain breaks at id %d" % r[0])
    prev, n = h, n + 1
sys.exit(0 if n > 0 else "empty")
PY
}

check "ward run's rows follow the documented chain" verify

T=1735787045000000000 # 2025-01-02T03:04:05Z
append '[
 {"ts_ns": '$T', "sandbox": "sb-a", "layer": "kernel", "action": "deny", "binary": "/usr/bin/nc",
  "pid": 41, "ip": "10.0.0.1", "port": 80, "rule": null, "reason": "no network policy",
  "uid": 1000, "cgroup": "/user.slice/user-1000.slice/session-3.scope"},
 {"ts_ns": '$((T + 1000000))', "sandbox": "sb-a", "layer": "proxy", "action": "allow",
  "binary": "/usr/bin/curl", "pid": 42, "host": "api.github.com", "ip": "140.82.112.6",
  "port": 443, "protocol": "rest", "method": "GET", "path": "/repos/x", "rule": "github",
  "reason": ""},
 {"ts_ns": '$((T + 2000000))', "sandbox": "sb-b", "layer": "l7", "action": "audit",
  "binary": "/usr/local/bin/node", "host": "evil.example", "port": 443, "method": "POST",
  "path": "/upload", "rule": "audit-only", "reason": "would deny: \"POST /upload\""},
 {"ts_ns": '$((T + 3000000))', "sandbox": "sb-b", "layer": "fs", "action": "deny",
  "binary": "/bin/cat", "path": "/etc/shadow", "reason": "landlock"}
]'
check "appended rows chain on from ward's" verify

n_json() { "$WARD" logs --log "$db" --json "$@" | wc -l; }

# --json: one object per line, exactly the DESIGN.md keys in order, nulls as null
"$WARD" logs --log "$db" --json >"$tmp/all.json"
check "--json exits 0" [ $? -eq 0 ]
check "--json has every row" [ "$(wc -l <"$tmp/all.json")" -eq 6 ]
check "--json lines are objects with the DESIGN.md fields" python3 - "$tmp/all.json" <<'PY'
import json, sys
keys = ["id", "ts_ns", "sandbox", "session", "layer", "action", "binary", "binary_sha256", "via",
        "pid", "uid", "cgroup", "host", "ip", "port", "protocol", "method", "path", "rule", "reason", "policy_rev",
        "hash"]
rows = [json.loads(l) for l in open(sys.argv[1])]
assert all(list(r) == keys for r in rows), "keys"
assert [r["id"] for r in rows] == list(range(1, 7)), "order"
nc = rows[2]
assert nc["port"] == 80 and nc["pid"] == 41 and nc["rule"] is None and nc["host"] is None, nc
assert nc["uid"] == 1000 and nc["cgroup"] == "/user.slice/user-1000.slice/session-3.scope", nc
curl = rows[3]
assert curl["reason"] == "" and curl["binary_sha256"] is None and curl["ts_ns"] == 1735787045001000000, curl
node = rows[4]
assert node["reason"] == 'would deny: "POST /upload"' and node["pid"] is None, node
assert node["uid"] is None and node["cgroup"] is None, node
assert len(rows[5]["hash"]) == 64
assert rows[0]["layer"] == "lifecycle" and rows[0]["policy_rev"] and len(rows[0]["policy_rev"]) == 64
PY

check "--layer kernel" [ "$(n_json --layer kernel)" -eq 1 ]
check "--ocsf: uid as actor.user.uid (a string), cgroup unmapped" python3 -c '
import json, sys
e = json.loads(sys.stdin.read())
assert e["actor"]["user"] == {"uid": "1000"}, e["actor"]
assert e["unmapped"]["cgroup"] == "/user.slice/user-1000.slice/session-3.scope", e["unmapped"]' \
	< <("$WARD" logs --log "$db" --ocsf --layer kernel)
check "--ocsf: no actor.user without a uid" python3 -c '
import json, sys
assert all("user" not in json.loads(l)["actor"] for l in sys.stdin)' \
	< <("$WARD" logs --log "$db" --ocsf --layer l7)
check "--layer lifecycle" [ "$(n_json --layer lifecycle)" -eq 2 ]
check "--action deny" [ "$(n_json --action deny)" -eq 2 ]
check "--layer proxy --action deny matches nothing" [ "$(n_json --layer proxy --action deny)" -eq 0 ]
check "--binary exact" [ "$(n_json --binary /usr/bin/curl)" -eq 1 ]
check "--binary glob" [ "$(n_json --binary '/usr/*')" -eq 3 ]
check "--host" [ "$(n_json --host api.github.com)" -eq 1 ]
check "--host glob" [ "$(n_json --host '*.example')" -eq 1 ]
check "--sandbox" [ "$(n_json --sandbox sb-b)" -eq 2 ]
check "--since RFC 3339" [ "$(n_json --since 2025-01-02T03:04:05.002Z)" -eq 4 ]
check "--since RFC 3339 with offset" [ "$(n_json --since 2025-01-02T04:04:05.002+01:00)" -eq 4 ]
check "--since unix seconds" [ "$(n_json --since 1735787045.0015)" -eq 4 ]
check "--since 1h (only ward run's rows are recent)" [ "$(n_json --since 1h)" -eq 2 ]
check "--since 1d with --layer fs (old row excluded)" [ "$(n_json --since 1d --layer fs)" -eq 0 ]

# the table and the summary
"$WARD" logs --log "$db" >"$tmp/table"
check "table exits 0" [ $? -eq 0 ]
check "table header" grep -qE '^TIME +SANDBOX +LAYER +ACTION +UID +BINARY +DESTINATION +METHOD +RULE +REASON' "$tmp/table"
check "table shows host:port and path" grep -qE 'proxy +allow +- +/usr/bin/curl +api\.github\.com:443/repos/x +GET +github' "$tmp/table"
check "table shows ip:port without host" grep -qE 'kernel +deny +1000 +/usr/bin/nc +10\.0\.0\.1:80 ' "$tmp/table"
check "table time is local ISO 8601 with ms" grep -qE '^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}[+-][0-9]{2}:[0-9]{2} ' "$tmp/table"
check "summary per layer" grep -qE '^ +kernel +0 allowed +1 denied +0 audited$' "$tmp/table"
check "summary l7 audited" grep -qE '^ +l7 +0 allowed +0 denied +1 audited$' "$tmp/table"
check "summary lifecycle" grep -qE '^ +lifecycle +2 allowed +0 denied +0 audited$' "$tmp/table"
check "TZ is honoured" sh -c "TZ=Asia/Kolkata '$WARD' logs --log '$db' --layer kernel | grep -q '2025-01-02T08:34:05.000+05:30'"

# $WARD_LOG is the default
check "WARD_LOG is the default log" [ "$(WARD_LOG=$db "$WARD" logs --json | wc -l)" -eq 6 ]

# errors
"$WARD" logs --log "$tmp/none.db" >/dev/null 2>"$tmp/err"
check "missing log exits 1" [ $? -eq 1 ]
check "missing log is named" grep -q "no decision log at '$tmp/none.db'" "$tmp/err"
check "and not created" [ ! -e "$tmp/none.db" ]
"$WARD" logs --log "$db" --layer bogus >/dev/null 2>&1
check "unknown layer exits 2" [ $? -eq 2 ]
"$WARD" logs --log "$db" --action permit >/dev/null 2>&1
check "unknown action exits 2" [ $? -eq 2 ]
"$WARD" logs --log "$db" --since yesterday >/dev/null 2>&1
check "bad --since exits 2" [ $? -eq 2 ]
"$WARD" logs --log "$db" --since 2025-01-02T03:04:05 >/dev/null 2>&1
check "RFC 3339 without offset exits 2" [ $? -eq 2 ]
"$WARD" logs --help >"$tmp/help"
check "--help exits 0 and documents --since" grep -q -- '--since T' "$tmp/help"

# --follow: new rows appear, SIGINT ends it cleanly
"$WARD" logs --log "$db" --json --follow --layer dns >"$tmp/follow" 2>&1 &
follow_pid=$!
# the row is printed once whether --follow reads it as old or as new; the
# waits below are bounded (30 s) for a slow guest kernel (tests/vm)
sleep 0.5
append '[{"ts_ns": '$((T + 4000000))', "sandbox": "sb-b", "layer": "dns", "action": "deny",
  "host": "exfil.example", "rule": null, "reason": "NXDOMAIN"}]'
for _ in $(seq 1 300); do
	grep -q exfil.example "$tmp/follow" && break
	sleep 0.1
done
check "--follow prints a row appended later" grep -q '"host":"exfil.example"' "$tmp/follow"
kill -INT "$follow_pid"
for _ in $(seq 1 300); do
	kill -0 "$follow_pid" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$follow_pid" 2>/dev/null; then
	fail "--follow stops on SIGINT"
else
	wait "$follow_pid"
	check "--follow exits 0 on SIGINT" [ $? -eq 0 ]
fi
follow_pid=
check "--follow printed the row once" [ "$(grep -c exfil.example "$tmp/follow")" -eq 1 ]

# sessions (ward exec): rows that carry one chain it in; --session selects them
append '[
 {"ts_ns": '$((T + 5000000))', "sandbox": "sb-s", "session": "s-one", "layer": "kernel",
  "action": "deny", "binary": "/usr/bin/nc", "reason": "no network policy"},
 {"ts_ns": '$((T + 6000000))', "sandbox": "sb-s", "session": "s-two", "layer": "kernel",
  "action": "deny", "binary": "/usr/bin/nc", "reason": "no network policy"},
 {"ts_ns": '$((T + 7000000))', "sandbox": "sb-s", "session": "s-one", "layer": "proxy",
  "action": "allow", "binary": "/usr/bin/curl", "host": "api.github.com", "port": 443}
]'
check "rows with sessions chain on" verify
check "ward audit verify accepts them" "$WARD" audit verify --log "$db"
check "--session" [ "$(n_json --session s-one)" -eq 2 ]
check "--session --layer" [ "$(n_json --session s-one --layer proxy)" -eq 1 ]
check "--session names it in --json" sh -c "'$WARD' logs --log '$db' --json --session s-two | grep -q '\"session\":\"s-two\"'"
check "--session unknown matches nothing" [ "$(n_json --session nope)" -eq 0 ]
check "--sandbox sb-s" [ "$(n_json --sandbox sb-s)" -eq 3 ]

finish
