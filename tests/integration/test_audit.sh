#!/bin/bash
# SPDX-License-Identifier: MIT
# The auditor's tools through the real binary: `ward audit verify` against
# tampering done with the sqlite3 CLI, `ward audit prune`, `ward logs --ocsf`
# under every filter (validated with python3), `ward replay`, `ward policy
# suggest` (checks, and turns the observed denials into allows) and `ward
# policy explain`. Logs come from test_replay's generator (rows submitted
# through the audit API) and, when a sandbox can start here, from `ward run`.
set -u
. "$(dirname "$0")/lib.sh"

here=$(cd "$(dirname "$0")/../.." && pwd)
: "${WARD_BUILD:=$here/build}"
gen=$WARD_BUILD/test_replay
if [ ! -x "$gen" ] || ! command -v sqlite3 >/dev/null || ! command -v python3 >/dev/null; then
	echo "SKIP: needs $gen, sqlite3 and python3"
	exit 77
fi
tmp=$(test_tmpdir ward-test-audit)
trap 'rm -rf "$tmp"' EXIT
db=$tmp/log.db
"$gen" --scenario "$db" "$tmp" || { echo "FAIL: generator"; exit 1; }

# run NAME EXPECTED_STATUS CMD...: output in $out
run() {
	local name=$1 want=$2
	shift 2
	out=$("$@" 2>&1)
	local rc=$?
	if [ "$rc" -eq "$want" ]; then pass "$name"; else fail "$name (exit $rc, want $want): $out"; fi
}
has() { if grep -qF -- "$2" <<<"$out"; then pass "$1"; else fail "$1: no '$2' in: $out"; fi; }

# ---- verify ----
run "verify intact" 0 "$WARD" audit verify --log "$db"
has "verify summary" "17 rows verified, chain intact (head "
run "verify json" 0 "$WARD" audit verify --log "$db" --json
check "verify json fields" python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["intact"] and d["rows"]==17 and d["last_id"]==17 and len(d["head"])==64 and d["bad_id"]==0' "$out"
run "verify missing log" 2 "$WARD" audit verify --log "$tmp/nope.db"
run "verify bad option" 2 "$WARD" audit verify --bogus

tamper() { # NAME BAD_ID SQL
	cp "$db" "$tmp/t.db"
	sqlite3 "$tmp/t.db" "$3"
	run "tamper $1: exit 1" 1 "$WARD" audit verify --log "$tmp/t.db"
	has "tamper $1: first bad id $2" "first bad id $2:"
}
tamper update 6 "UPDATE decisions SET host = 'pypi.org.evil' WHERE id = 6"
tamper delete 9 "DELETE FROM decisions WHERE id = 8"
tamper insert 18 "INSERT INTO decisions(id, ts_ns, layer, action, hash) VALUES (18, 1, 'proxy', 'allow', '$(printf '%064d' 0)')"
tamper swap 3 "UPDATE decisions SET id = -3 WHERE id = 3; UPDATE decisions SET id = 3 WHERE id = 4; UPDATE decisions SET id = 4 WHERE id = -3"
tamper policy 2 "UPDATE policies SET source = source, compiled = replace(compiled, 'pypi', 'pypj')"

# ---- prune ----
cp "$db" "$tmp/p.db"
sleep 1.2
run "prune by age" 0 "$WARD" audit prune --log "$tmp/p.db" --retain 1s
has "prune summary" "pruned 17 rows (ids up to 17)"
run "verify after prune" 0 "$WARD" audit verify --log "$tmp/p.db"
has "verify from checkpoint" "from checkpoint id 17"
check "prune marker row" test "$(sqlite3 "$tmp/p.db" "SELECT id || ' ' || rule FROM decisions WHERE layer = 'lifecycle'")" = "18 pruned"
run "prune nothing" 0 "$WARD" audit prune --log "$tmp/p.db" --retain 1d
has "prune nothing summary" "nothing to prune"
run "prune bad retain" 2 "$WARD" audit prune --log "$tmp/p.db" --retain 3x
cp "$db" "$tmp/b.db"
sqlite3 "$tmp/b.db" "UPDATE decisions SET action = 'allow' WHERE id = 5"
run "prune refuses a broken chain" 1 "$WARD" audit prune --log "$tmp/b.db" --retain 1s
has "prune names the bad id" "first bad id 5"

# ---- logs --ocsf under every filter ----
ocsf_check() { # NAME EXPECTED_COUNT PYTHON_PREDICATE_ON_u (the unmapped dict) LOGS_ARGS...
	local name=$1 count=$2 pred=$3
	shift 3
	"$WARD" logs --log "$db" --ocsf "$@" >"$tmp/ocsf.out" 2>&1 || { fail "ocsf $name: exit $?"; return; }
	check "ocsf $name" python3 - "$tmp/ocsf.out" "$count" "$pred" <<'PY'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
assert len(lines) == int(sys.argv[2]), f"{len(lines)} lines"
classes = {"kernel": 4001, "nft": 4001, "proxy": 4001, "dns": 4001, "l7": 4002,
           "inference": 4002, "fs": 1001, "lifecycle": 1007}
for line in lines:
    e = json.loads(line)
    for k in ("class_uid", "category_uid", "activity_id", "type_uid", "severity_id", "time",
              "metadata", "disposition_id", "unmapped", "actor"):
        assert k in e, k
    u = e["unmapped"]
    assert e["class_uid"] == classes[u["layer"]], line
    assert e["category_uid"] == e["class_uid"] // 1000
    assert e["type_uid"] == e["class_uid"] * 100 + e["activity_id"]
    assert e["metadata"]["product"]["name"] == "ward" and e["metadata"]["version"].startswith("1.")
    assert e["time"] == u["ts_ns"] // 1000000
    assert e["disposition_id"] == {"allow": 1, "deny": 2, "audit": 15}[u["action"]]
    if e["class_uid"] in (4001, 4002):
        assert "dst_endpoint" in e and "src_endpoint" in e
    if e["class_uid"] == 4002 and u["layer"] == "l7" and e["http_request"].get("http_method"):
        assert e["http_request"]["url"]["path"].startswith("/")
    assert len(u["hash"]) == 64 and u["policy_rev"] is None or len(u["policy_rev"]) == 64
    assert eval(sys.argv[3], {"u": u, "e": e}), line
PY
}
ocsf_check all 17 'True'
for layer in kernel l7 proxy dns fs lifecycle; do
	n=$(sqlite3 "$db" "SELECT count(*) FROM decisions WHERE layer = '$layer'")
	ocsf_check "--layer $layer" "$n" "u['layer'] == '$layer'" --layer "$layer"
done
for action in allow deny audit; do
	n=$(sqlite3 "$db" "SELECT count(*) FROM decisions WHERE action = '$action'")
	ocsf_check "--action $action" "$n" "u['action'] == '$action'" --action "$action"
done
ocsf_check "--binary exact" 2 "e['actor']['process']['file']['path'] == '/usr/bin/python3.11'" --binary /usr/bin/python3.11
n=$(sqlite3 "$db" "SELECT count(*) FROM decisions WHERE binary GLOB '/usr/bin/*'")
ocsf_check "--binary glob" "$n" "e['actor']['process']['file']['path'].startswith('/usr/bin/')" --binary '/usr/bin/*'
n=$(sqlite3 "$db" "SELECT count(*) FROM decisions WHERE host = 'api.github.com'")
ocsf_check "--host" "$n" "e['dst_endpoint']['hostname'] == 'api.github.com'" --host api.github.com
ocsf_check "--sandbox" 17 "u['sandbox'] == 'sb1'" --sandbox sb1
ocsf_check "--sandbox other" 0 'True' --sandbox other
ocsf_check "--since 1h" 17 'True' --since 1h
ocsf_check "--since future" 0 'True' --since 2999-01-01T00:00:00Z
ocsf_check "combined" 2 "u['layer'] == 'l7' and u['action'] == 'deny' and e['class_uid'] == 4002" --layer l7 --action deny --host 'api.*'
run "logs --json still plain" 0 "$WARD" logs --log "$db" --json --layer fs
check "logs --json fields" python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["layer"]=="fs" and d["path"]=="/root/.ssh/id_rsa"' "$out"

# ---- replay ----
run "replay under the change" 1 "$WARD" replay --log "$db" --policy "$tmp/b.yaml" --json
check "replay json" python3 - "$out" <<'PY'
import json, sys
d = json.loads(sys.argv[1])
assert d["rows"] == 17 and d["replayed"] == 12 and d["unchanged"] == 8 and d["changed"] == 4, d
assert d["transitions"] == {"allow->deny": 2, "deny->allow": 2, "audit": 0}, d
g = {(x["layer"], x["from"], x["to"]): x for x in d["groups"]}
assert set(g) == {("l7", "deny", "allow"), ("proxy", "deny", "allow"),
                  ("proxy", "allow", "deny"), ("dns", "allow", "deny")}, g
assert g[("l7", "deny", "allow")]["examples"][0]["id"] == 5
assert g[("l7", "deny", "allow")]["examples"][0]["path"] == "/repos/a/b/issues"
assert g[("proxy", "deny", "allow")]["old_rule"] == "github"
assert g[("proxy", "deny", "allow")]["new_rule"] == "example"
assert g[("proxy", "allow", "deny")]["examples"][0]["binary"] == "/usr/bin/python3.11"
assert all(x["count"] == 1 for x in d["groups"])
assert d["not_replayable_total"] == 5 and sum(d["not_replayable"].values()) == 5
PY
run "replay text" 1 "$WARD" replay --log "$db" --policy "$tmp/b.yaml"
has "replay summary" "17 rows, 12 replayed under policy"
has "replay group line" "proxy deny -> allow  rule github -> example  (1 decision)"
run "replay under its own policy" 0 "$WARD" replay --log "$db" --policy "$tmp/a.yaml"
has "replay nothing changes" "0 would change"
run "replay --sandbox" 0 "$WARD" replay --log "$db" --policy "$tmp/b.yaml" --sandbox other
run "replay --since future" 0 "$WARD" replay --log "$db" --policy "$tmp/b.yaml" --since 2999-01-01T00:00:00Z
run "replay without policy" 2 "$WARD" replay --log "$db"
printf 'version: 1\nbogus: 1\n' >"$tmp/bad.yaml"
run "replay invalid policy" 2 "$WARD" replay --log "$db" --policy "$tmp/bad.yaml"
run "replay missing log" 2 "$WARD" replay --log "$tmp/nope.db" --policy "$tmp/a.yaml"

# ---- suggest ----
run "suggest" 0 "$WARD" policy suggest --log "$db" -o "$tmp/s.yaml"
run "suggest checks" 0 "$WARD" policy check "$tmp/s.yaml"
check "suggest header" grep -q "^# Generated by 'ward policy suggest' from the decision log $db" "$tmp/s.yaml"
check "suggest copies the filesystem" grep -q '^  include_workdir: true' "$tmp/s.yaml"
run "replay under the suggestion" 1 "$WARD" replay --log "$db" --policy "$tmp/s.yaml" --json
check "suggestion allows every observed denial" python3 -c 'import json,sys; d=json.loads(sys.argv[1]); t=d["transitions"]; assert t["deny->allow"]==5 and t["allow->deny"]==0, t' "$out"
run "suggest --denied-only" 0 "$WARD" policy suggest --log "$db" --denied-only -o "$tmp/d.yaml"
run "suggest --denied-only checks" 0 "$WARD" policy check "$tmp/d.yaml"
check "denied-only leaves python out" bash -c "! grep -q python3.11 '$tmp/d.yaml'"
run "suggest stdout" 0 "$WARD" policy suggest --log "$db" --sandbox other
has "suggest empty" "network_policies: {}"

# ---- explain ----
run "explain allow" 0 "$WARD" policy explain "$tmp/a.yaml" --binary /usr/bin/curl --host api.github.com --port 443 --method GET --path /repos/x/y
has "explain allow rule" "rule: { method: GET, path: /repos/** }"
run "explain deny method" 1 "$WARD" policy explain "$tmp/a.yaml" --binary /usr/bin/curl --host api.github.com --port 443 --method POST --path /repos/x/y --json
check "explain deny json" python3 -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["action"]=="deny" and d["failed"]=="method" and d["policy"]=="github" and d["hint"], d' "$out"
run "explain deny host" 1 "$WARD" policy explain "$tmp/a.yaml" --binary /usr/bin/curl --host example.com --port 443
has "explain host failed" "deny (failed: host)"
has "explain hint" "hint:"
run "explain deny binary" 1 "$WARD" policy explain "$tmp/a.yaml" --binary /usr/bin/wget --host pypi.org --port 443
has "explain closest" "add { path: /usr/bin/wget } to network_policies.pypi.binaries"
run "explain glob binary" 0 "$WARD" policy explain "$tmp/a.yaml" --binary /usr/bin/python3.12 --host files.pythonhosted.org --port 443
run "explain usage" 2 "$WARD" policy explain "$tmp/a.yaml" --binary /usr/bin/curl --host x.com
run "explain bad port" 2 "$WARD" policy explain "$tmp/a.yaml" --binary /usr/bin/curl --host x.com --port 99999

# ---- a log written by a real sandbox (as root; a failing run is a failure) ----
if [ "$(id -u)" -ne 0 ]; then
	skip "a real sandbox needs root"
elif timeout 60 "$WARD" run --policy "$here/policies/examples/deny-all.yaml" \
	--log "$tmp/run.db" -- /bin/true </dev/null >"$tmp/run.out" 2>&1; then
	run "verify a ward run log" 0 "$WARD" audit verify --log "$tmp/run.db"
	sqlite3 "$tmp/run.db" "UPDATE decisions SET reason = 'x' WHERE id = 1"
	run "tampered ward run log" 1 "$WARD" audit verify --log "$tmp/run.db"
	has "ward run log bad id" "first bad id 1:"
else
	fail "ward run under deny-all failed: $(cat "$tmp/run.out")"
fi
finish
