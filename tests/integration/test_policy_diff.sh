# SPDX-License-Identifier: MIT
# `ward policy diff OLD NEW [--json]` as a user runs it: exit 0 for the same
# access, 1 for differences, 2 for an invalid file (with its FILE:LINE:COL
# diagnostic) or a usage error; the lines and the JSON it prints. No root.
set -u
. "$(dirname "$0")/lib.sh"

T=$(test_tmpdir diff-test)
trap 'rm -rf "$T"' EXIT

cat >"$T/old.yaml" <<'EOF'
version: 1
network_policies:
  claude:
    binaries: [{ path: /usr/bin/node }]
    endpoints:
      - { host: api.example.com, port: 443, protocol: rest,
          rules: [{ allow: { method: GET, path: "/v1/*" } }] }
EOF
# the same access: block style, comments, another key
cat >"$T/same.yaml" <<'EOF'
# reformatted
version: 1
network_policies:
  agent:   # renamed
    binaries:
      - path: /usr/bin/node
    endpoints:
      - host: api.example.com
        port: 443
        protocol: rest
        rules:
          - allow: { path: "/v1/*", method: GET }
EOF
cat >"$T/new.yaml" <<'EOF'
version: 1
network_policies:
  claude:
    binaries: [{ path: /usr/bin/node }]
    endpoints:
      - { host: api.example.com, port: 443, protocol: rest,
          rules: [{ allow: { method: GET, path: "/v1/**" } }] }
      - { host: cdn.example.com, port: 443 }
EOF
printf 'version: 1\nnetwork_policies:\n  x:\n    binaries: [{ path: usr/bin/node }]\n    endpoints: [{ host: a.example.com, port: 443 }]\n' >"$T/bad.yaml"

rc() { "$@" >"$T/out" 2>"$T/err"; echo $?; }

check "same access: exit 0" [ "$(rc "$WARD" policy diff "$T/old.yaml" "$T/same.yaml")" = 0 ]
check "same access: no output" [ ! -s "$T/out" ]

check "differences: exit 1" [ "$(rc "$WARD" policy diff "$T/old.yaml" "$T/new.yaml")" = 1 ]
cat >"$T/want" <<'EOF'
# network_policies
- claude (/usr/bin/node) -> api.example.com:443 GET /v1/*
+ claude (/usr/bin/node) -> api.example.com:443 GET /v1/**
+ claude (/usr/bin/node) -> cdn.example.com:443
# dns
+ claude (/usr/bin/node) resolves cdn.example.com
EOF
check "differences: the access lines" cmp -s "$T/want" "$T/out"
cmp -s "$T/want" "$T/out" || diff "$T/want" "$T/out"

check "--json: exit 1" [ "$(rc "$WARD" policy diff --json "$T/old.yaml" "$T/new.yaml")" = 1 ]
check "--json: valid JSON, 3 added, 1 removed" python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert [(i["section"], i["kind"], i.get("host", i.get("name"))) for i in d["added"]] == [
    ("network_policies", "rule", "api.example.com"),
    ("network_policies", "endpoint", "cdn.example.com"),
    ("dns", "name", "cdn.example.com")], d
assert d["added"][0]["path"] == "/v1/**" and d["added"][0]["port"] == 443, d
assert [i["path"] for i in d["removed"]] == ["/v1/*"], d
assert d["sections"] == ["network_policies", "dns"], d
' "$T/out"
check "--json same access: exit 0, empty lists" \
	[ "$(rc "$WARD" policy diff "$T/old.yaml" "$T/same.yaml" --json)" = 0 ]
check "--json same access: the empty object" \
	[ "$(cat "$T/out")" = '{"added":[],"removed":[],"sections":[]}' ]

check "invalid policy: exit 2" [ "$(rc "$WARD" policy diff "$T/old.yaml" "$T/bad.yaml")" = 2 ]
check "invalid policy: FILE:LINE:COL on stderr" grep -q "^$T/bad.yaml:4:[0-9]*: " "$T/err"
check "invalid policy: nothing on stdout" [ ! -s "$T/out" ]
check "missing file: exit 2" [ "$(rc "$WARD" policy diff "$T/old.yaml" "$T/nope.yaml")" = 2 ]
check "one file: exit 2" [ "$(rc "$WARD" policy diff "$T/old.yaml")" = 2 ]
check "three files: exit 2" [ "$(rc "$WARD" policy diff "$T/old.yaml" "$T/old.yaml" "$T/old.yaml")" = 2 ]
check "unknown option: exit 2" [ "$(rc "$WARD" policy diff --bogus "$T/old.yaml" "$T/new.yaml")" = 2 ]
check "--help: exit 0" [ "$(rc "$WARD" policy diff --help)" = 0 ]
check "--help: the exit status documented" grep -q "0 the same access, 1 differences, 2" "$T/out"
check "ward policy --help lists diff" sh -c "'$WARD' policy --help | grep -q '^  diff OLD NEW'"

finish
