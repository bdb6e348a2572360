#!/bin/bash
# SPDX-License-Identifier: MIT
# ward daemon (docs/daemon.md) on a temp socket, state directory and log,
# driven by a small python3 client speaking the protocol (JSON lines, the
# exec's fds with SCM_RIGHTS): create, list fields, exec exit statuses and
# output, two concurrent sessions, a client that disconnects (its session is
# killed), the home kept across stop/start, policy.apply (refused file, new
# revision), secrets (no value in the log), malformed and oversized requests
# answered, a non-member uid refused, groups ward and ward-audit (in a mount
# namespace with its own /etc/group), a second daemon refused, idle timeout,
# kill -9 (no session process left; the restart cleans up and brings the
# sandbox back), rm, SIGTERM. Root only; 77 when something needed is missing.
set -u
. "$(dirname "$0")/../integration/lib.sh"
need_root
for t in python3 sqlite3 setpriv findmnt pgrep unshare; do
	command -v "$t" >/dev/null || { echo "SKIP: $t missing"; exit 77; }
done
CG=$(findmnt -t cgroup2 -n -o TARGET | head -1)
[ -n "$CG" ] || { echo "SKIP: no cgroup2 mount"; exit 77; }

T=$(mktemp -d /tmp/ward-test-daemon.XXXXXX)
chmod 755 "$T"
SOCK=$T/ward.sock
STATE=$T/state
LOG=$T/log.db
DPID=
CLIENTS=()
cleanup() {
	for p in "${CLIENTS[@]}"; do kill -9 "$p" 2>/dev/null; done
	if [ -n "$DPID" ]; then
		kill "$DPID" 2>/dev/null
		for _ in $(seq 100); do kill -0 "$DPID" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$DPID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap cleanup EXIT

# The client: wc.py SOCK VERB [JSON] prints the reply (exit 0 when ok);
# VERB exec: sends fds 0-1-2, prints the reply on stderr, exits with the
# session's status; VERB raw: sends the bytes as given, prints N reply lines.
cat >"$T/wc.py" <<'EOF'
import array, json, socket, sys
sock, verb = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
f = s.makefile("rb")
if verb == "raw":
    s.sendall(sys.argv[3].encode().decode("unicode_escape").encode("latin1"))
    for _ in range(int(sys.argv[4])):
        print(f.readline().decode().strip(), flush=True)
    sys.exit(0)
if verb in ("signal", "winsize"):
    # exec argv[3] with fds 0-1-2 (a pty's slave for winsize), then send
    # argv[4] once the session runs; prints what the pty showed (winsize)
    import os, pty, time
    fds, master = [0, 1, 2], None
    if verb == "winsize":
        master, slave = pty.openpty()
        fds = [slave] * 3
    req = dict(json.loads(sys.argv[3]), id=1, verb="exec", tty=verb == "winsize")
    s.sendmsg([(json.dumps(req) + "\n").encode()],
              [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    rep = json.loads(f.readline())
    if not rep["ok"]:
        print(rep, file=sys.stderr)
        sys.exit(125)
    time.sleep(0.5)
    s.sendall((json.dumps(dict(json.loads(sys.argv[4]), verb=verb)) + "\n").encode())
    ev = json.loads(f.readline())
    if master is not None:
        os.close(slave)
        out = b""
        while True:
            try:
                b = os.read(master, 4096)
            except OSError:
                break
            if not b:
                break
            out += b
        print(out.decode().strip())
    sys.exit(ev["status"])
args = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
data = (json.dumps(dict(args, id=7, verb=verb)) + "\n").encode()
try:
    if verb == "exec":
        s.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [0, 1, 2]))])
    else:
        s.sendall(data)
except OSError:
    pass  # refused at connect: the daemon answered and closed before this write

line = f.readline()
if verb != "exec":
    print(line.decode().strip())
    sys.exit(0 if line and json.loads(line)["ok"] else 1)
rep = json.loads(line)
print(json.dumps(rep), file=sys.stderr, flush=True)
if not rep["ok"]:
    sys.exit(125)
ev = f.readline()
sys.exit(json.loads(ev)["status"] if ev else 255)
EOF
chmod 644 "$T/wc.py"
PY=/usr/bin/python3
[ -x "$PY" ] || PY=$(command -v python3)
wc() { "$PY" "$T/wc.py" "$SOCK" "$@"; }
# jq-less field access: js JSON EXPR (python expression over `r`)
js() { "$PY" -c 'import json,sys; r=json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
rows() { sqlite3 "$LOG" "SELECT count(*) FROM decisions WHERE $1"; }

start_daemon() {
	"$WARD" daemon --socket "$SOCK" --state "$STATE" --log "$LOG" >>"$T/daemon.log" 2>&1 &
	DPID=$!
	for _ in $(seq 150); do
		wc hello >/dev/null 2>&1 && return 0
		kill -0 "$DPID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
# wait_for N CMD...: CMD succeeds within N tenths of a second
wait_for() {
	local n=$1
	shift
	for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
	return 1
}

cat >"$T/policy.yaml" <<EOF
version: 1
filesystem_policy:
  read_only: [/usr, /lib, /lib64, /bin, /sbin, /etc]
  read_write: [/home/sandbox]
network_policies:
  local:
    binaries: [{ path: /usr/bin/curl }]
    endpoints: [{ host: 10.213.4.1, port: 9 }]
process: { run_as_user: sandbox, run_as_group: sandbox }
EOF
sed 's/port: 9 }/port: 10 }/' "$T/policy.yaml" >"$T/policy2.yaml"
printf 'version: 1\nnetwork_policies:\n  agent: [\n' >"$T/bad.yaml"

check "the daemon starts" start_daemon
[ -n "$DPID" ] && kill -0 "$DPID" 2>/dev/null || { cat "$T/daemon.log"; finish; exit 1; }
check "the socket answers everyone; SO_PEERCRED decides" [ "$(stat -c %a "$SOCK")" = 666 ]
OUT=$(wc hello)
check "hello: protocol 1, the daemon's pid, root manages" \
	[ "$(js "$OUT" '(r["version"], r["pid"], r["uid_can_manage"])')" = "(1, $DPID, True)" ]

# --- create, list
OUT=$(wc sandbox.create "{\"name\":\"box\",\"policy\":\"$T/policy.yaml\",\"workdir\":\"$T\"}")
check "create: ok, running" [ "$(js "$OUT" 'r["ok"] and r["sandbox"]["state"]')" = running ] ||
	{ echo "$OUT"; tail -5 "$T/daemon.log"; }
ID=$(js "$OUT" 'r["sandbox"]["id"]')
OUT=$(wc sandbox.list)
check "list: every field of the protocol" [ "$(js "$OUT" \
	'sorted(k for k in ["name","state","policy_rev","sessions","uptime_ms","workdir","created_ns","id"] if k in r["sandboxes"][0])==sorted(["name","state","policy_rev","sessions","uptime_ms","workdir","created_ns","id"]) and r["sandboxes"][0]["workdir"]')" = "$T" ]
REV1=$(js "$OUT" 'r["sandboxes"][0]["policy_rev"]')
check "list: the revision is the policy's" [ ${#REV1} -eq 64 ]
check "the sandbox's cgroup exists" [ -d "$CG/ward/$ID" ]
check "the state: config.json says running, policy.yaml is the text" \
	grep -q '"state": "running"' "$STATE/sandboxes/box/config.json"
check "policy.yaml is the exact text" cmp -s "$T/policy.yaml" "$STATE/sandboxes/box/policy.yaml"
OUT=$(wc sandbox.create "{\"name\":\"box\",\"policy\":\"$T/policy.yaml\"}")
check "create twice: EEXIST" [ "$(js "$OUT" 'r["error"]["code"]')" = EEXIST ]
OUT=$(wc sandbox.create "{\"name\":\"Bad/Name\",\"policy\":\"$T/policy.yaml\"}")
check "a bad name: EINVAL" [ "$(js "$OUT" 'r["error"]["code"]')" = EINVAL ]
OUT=$(wc sandbox.create "{\"name\":\"bad\",\"policy\":\"$T/bad.yaml\"}")
check "a bad policy: EINVAL with FILE:LINE:COL" \
	grep -q "^$T/bad.yaml:[0-9]*:[0-9]*: " <<<"$(js "$OUT" 'r["error"]["message"]')"
check "a bad policy leaves no record" [ ! -e "$STATE/sandboxes/bad" ]

# --- a project's .ward/policy.yaml is the default policy
mkdir -p "$T/proj/.ward"
cp "$T/policy.yaml" "$T/proj/.ward/policy.yaml"
OUT=$(wc sandbox.create "{\"name\":\"proj\",\"workdir\":\"$T/proj\"}")
check "no policy given: the workdir's .ward/policy.yaml" \
	[ "$(js "$OUT" '(r["sandbox"]["state"], r["sandbox"]["policy"])')" = "('running', '$T/proj/.ward/policy.yaml')" ]
OUT=$(wc sandbox.create '{"name":"nopol"}')
check "no policy and no project default: EINVAL" [ "$(js "$OUT" 'r["error"]["code"]')" = EINVAL ]
wc sandbox.rm '{"name":"proj"}' >/dev/null

# --- exec
wc exec '{"name":"box","argv":["sh","-c","exit 3"],"env":[]}' 2>/dev/null
check "exec: the command's status" [ $? -eq 3 ]
OUT=$(wc exec '{"name":"box","argv":["sh","-c","echo out-$((6*7)); echo err >&2"],"env":[]}' 2>"$T/err")
check "exec: stdout is the client's" [ "$OUT" = out-42 ]
check "exec: stderr is the client's" grep -q '^err$' "$T/err"
wc exec '{"name":"box","argv":["/nonexistent/cmd"],"env":[]}' 2>/dev/null
check "exec: not found is 127" [ $? -eq 127 ]
wc exec '{"name":"box","argv":["sh","-c","kill -9 $$"],"env":[]}' 2>/dev/null
check "exec: killed by signal 9 is 137" [ $? -eq 137 ]
OUT=$(echo piped | wc exec '{"name":"box","argv":["cat"],"env":[]}' 2>/dev/null)
check "exec: stdin is the client's" [ "$OUT" = piped ]
OUT=$(wc exec '{"name":"box","argv":["sh","-c","echo $WARD_SANDBOX $FOO"],"env":["FOO=bar","PATH=/usr/bin:/bin"]}' 2>/dev/null)
check "exec: inside the sandbox (WARD_SANDBOX is its id)" [ "${OUT%% *}" = "$ID" ]
OUT=$(wc exec '{"name":"nope","argv":["true"],"env":[]}' 2>&1)
check "exec in a sandbox that does not exist: ENOENT" grep -q '"ENOENT"' <<<"$OUT"

# --- two sessions at once
wc exec '{"name":"box","argv":["sh","-c","sleep 2; exit 4"],"env":[]}' 2>"$T/s1" &
P1=$!
wc exec '{"name":"box","argv":["sh","-c","sleep 2; exit 5"],"env":[]}' 2>"$T/s2" &
P2=$!
two() { [ "$(js "$(wc sandbox.list)" 'r["sandboxes"][0]["sessions"]')" = 2 ]; }
check "two sessions run at once (list says 2)" wait_for 30 two
wait $P1; S1=$?
wait $P2; S2=$?
check "each gets its own status" [ "$S1.$S2" = 4.5 ]
I1=$(js "$(cat "$T/s1")" 'r["session"]')
I2=$(js "$(cat "$T/s2")" 'r["session"]')
check "each has its own session id" [ -n "$I1" -a "$I1" != "$I2" ]
OUT=$(wc sessions '{"name":"box"}')
check "sessions: both, with their statuses" [ "$(js "$OUT" \
	"sorted(s['status'] for s in r['sessions'] if s['id'] in ('$I1','$I2'))")" = "[4, 5]" ]

# --- signal and winsize messages while a session runs
wc signal '{"name":"box","argv":["sh","-c","trap \"exit 7\" USR1; sleep 30 & wait"],"env":[]}' \
	'{"signo":10}' 2>/dev/null
check "signal: forwarded to the session" [ $? -eq 7 ]
OUT=$(wc winsize '{"name":"box","argv":["sh","-c","sleep 2; stty size"],"env":[]}' \
	'{"rows":33,"cols":111}' 2>/dev/null)
check "winsize: the session's terminal has the client's size" [ "$OUT" = "33 111" ]
[ "$OUT" = "33 111" ] || echo "winsize: $OUT"

# --- a client that goes away: its session is killed (SIGHUP, SIGKILL 2 s later)
# (exec: $! is the client itself, not a subshell around it)
(exec "$PY" "$T/wc.py" "$SOCK" exec \
	'{"name":"box","argv":["sh","-c","trap \"\" HUP; exec sleep 3131"],"env":[]}' 2>/dev/null) &
CL=$!
CLIENTS+=("$CL")
# (the pattern matches the session's command, not the client's argv)
sleeping() { pgrep -f "^sleep $1\$" >/dev/null; }
check "the orphan-to-be runs" wait_for 50 sleeping 3131
kill -9 "$CL"
wait "$CL" 2>/dev/null
nosleep() { ! sleeping "$1"; }
check "client gone: the session is killed (no leak)" wait_for 60 nosleep 3131

# --- the home survives stop/start
wc exec '{"name":"box","argv":["sh","-c","echo kept >$HOME/mark"],"env":[]}' 2>/dev/null
check "exec wrote into the home" [ "$(cat "$STATE/sandboxes/box/home/mark" 2>/dev/null)" = kept ]
OUT=$(wc sandbox.stop '{"name":"box"}')
check "stop: stopped" [ "$(js "$OUT" 'r["sandbox"]["state"]')" = stopped ]
check "stop: the cgroup is gone" [ ! -d "$CG/ward/$ID" ]
OUT=$(wc sandbox.start '{"name":"box"}')
check "start: running, same id" [ "$(js "$OUT" '(r["sandbox"]["state"], r["sandbox"]["id"])')" = "('running', '$ID')" ]
OUT=$(wc exec '{"name":"box","argv":["sh","-c","cat $HOME/mark"],"env":[]}' 2>/dev/null)
check "the home is kept across stop/start" [ "$OUT" = kept ]

# --- policy.apply
OUT=$(wc policy.apply "{\"name\":\"box\",\"policy\":\"$T/bad.yaml\",\"wait\":true}")
check "apply of a bad file: EINVAL, FILE:LINE:COL" \
	grep -q "^$T/bad.yaml:[0-9]*:[0-9]*: " <<<"$(js "$OUT" 'r["error"]["message"]')"
check "apply of a bad file: the revision stays" \
	[ "$(js "$(wc sandbox.list)" 'r["sandboxes"][0]["policy_rev"]')" = "$REV1" ]
OUT=$(wc policy.apply "{\"name\":\"box\",\"policy\":\"$T/policy2.yaml\",\"wait\":true,\"dry_run\":true}")
check "dry run: the diff, nothing applied" [ "$(js "$OUT" \
	'len(r["diff"]["added"])>0 and len(r["diff"]["removed"])>0 and r["old_rev"]!=r["new_rev"]')" = True ]
check "dry run: the revision stays" \
	[ "$(js "$(wc sandbox.list)" 'r["sandboxes"][0]["policy_rev"]')" = "$REV1" ]
OUT=$(wc policy.apply "{\"name\":\"box\",\"policy\":\"$T/policy2.yaml\",\"wait\":true}")
check "apply: old -> new rev, network applied, enforced_ms" [ "$(js "$OUT" \
	"r['old_rev']=='$REV1' and r['new_rev']!='$REV1' and {'section':'network_policies','state':'applied'} in r['sections'] and r['enforced_ms']>=0")" = True ] ||
	echo "$OUT"
check "apply: timings in order, each layer's switch" [ "$(js "$OUT" \
	"(lambda t: 0<=t['compiled']<=t['enforced']<=t['state_saved']<=t['replied'] and 'egress' in t['steps'] and 'proxy' in t['steps'] and 'store_policy' in t['steps'])(r['timings'])")" = True ] ||
	echo "$OUT"
REV2=$(js "$OUT" 'r["new_rev"]')
check "apply: the new text is the sandbox's policy" cmp -s "$T/policy2.yaml" "$STATE/sandboxes/box/policy.yaml"
check "apply: config.json names the new rev and file, no staged file left" [ "$("$PY" -c '
import json, os, sys
c = json.load(open(sys.argv[1] + "/config.json"))
print(c["policy_rev"] == sys.argv[2] and c["policy"] == sys.argv[3] and
      not [f for f in os.listdir(sys.argv[1]) if f.endswith(".tmp")])' \
	"$STATE/sandboxes/box" "$(js "$OUT" 'r["new_rev"]')" "$T/policy2.yaml")" = True ]
check "apply: a control row with the peer and the new rev" \
	[ "$(rows "layer='control' AND rule='policy.apply' AND action='allow' AND policy_rev='$REV2' AND reason LIKE 'uid=0 pid=%'")" -ge 1 ]

# --- secrets
VAL="s3cr3t-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
OUT=$(wc secret.set "{\"name\":\"tok\",\"value\":\"$VAL\"}")
check "secret.set" [ "$(js "$OUT" 'r["ok"]')" = True ]
OUT=$(wc secret.list)
check "secret.list: the name" [ "$(js "$OUT" '[s["name"] for s in r["secrets"]]')" = "['tok']" ]
check "secret.list: never the value" [ "$(grep -c "$VAL" <<<"$OUT")" = 0 ]
check "the value is stored 0600" [ "$(stat -c %a "$STATE/secrets/tok")" = 600 ]
OUT=$(wc secret.rm '{"name":"nope"}')
check "secret.rm of an unknown name: ENOENT" [ "$(js "$OUT" 'r["error"]["code"]')" = ENOENT ]

# --- bad requests are answered and the daemon carries on
OUT=$(wc raw '{not json\n{"verb":"hello","id":9}\n' 2)
check "malformed JSON: EINVAL, the connection stays" \
	[ "$(head -1 <<<"$OUT" | grep -c '"EINVAL"').$(tail -1 <<<"$OUT" | grep -c '"id":9,"ok":true')" = 1.1 ]
OUT=$("$PY" - "$SOCK" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
try:
    s.sendall(b'{"verb":"hello","pad":"' + b"x" * 70000 + b'"}\n')
except OSError:
    pass
print(s.makefile("rb").readline().decode().strip())
EOF
)
check "a request over 64 KiB: E2BIG" grep -q '"code":"E2BIG"' <<<"$OUT"
check "the daemon still answers" wc hello >/dev/null
OUT=$(wc sandbox.frobnicate '{}')
check "an unknown verb: EINVAL" grep -q '"EINVAL"' <<<"$OUT"

# --- a uid that is neither root nor in ward / ward-audit
OUT=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$PY" "$T/wc.py" "$SOCK" sandbox.list 2>&1)
check "a non-member uid is refused (EPERM)" grep -q '"code":"EPERM"' <<<"$OUT" || echo "$OUT"
check "the refusal is a control row" \
	[ "$(rows "layer='control' AND action='deny' AND rule='connect' AND reason LIKE 'uid=65534 %'")" -ge 1 ]
OUT=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$PY" "$T/wc.py" "$SOCK" sandbox.rm '{"name":"box"}' 2>&1)
check "... and can change nothing" [ "$(js "$(wc sandbox.list)" 'r["sandboxes"][0]["state"]')" = running ]

# --- groups ward (manage) and ward-audit (read): a second daemon in a mount
# namespace of its own where /etc/group has them (the host's stays untouched)
GW=4298 GA=4299
while getent group "$GW" >/dev/null || getent group "$GA" >/dev/null; do GW=$((GW + 2)) GA=$((GA + 2)); done
{ grep -v '^ward:\|^ward-audit:' /etc/group; echo "ward:x:$GW:"; echo "ward-audit:x:$GA:"; } >"$T/group"
unshare -m sh -c 'mount --bind "$1/group" /etc/group && exec "$2" daemon --socket "$1/g.sock" --state "$1/gstate" --log "$1/g.db"' \
	sh "$T" "$WARD" >"$T/gdaemon.log" 2>&1 &
GPID=$!
gwc() { setpriv --reuid=65534 --regid="$1" --clear-groups "$PY" "$T/wc.py" "$T/g.sock" "${@:2}" 2>&1; }
gready() { gwc "$GW" hello >/dev/null; }
check "a daemon that knows the groups" wait_for 100 gready
OUT=$(gwc "$GA" hello)
check "ward-audit: hello answered, may not manage" [ "$(js "$OUT" 'r["uid_can_manage"]')" = False ]
OUT=$(gwc "$GA" sandbox.list)
check "ward-audit: may list" [ "$(js "$OUT" 'r["ok"]')" = True ]
OUT=$(gwc "$GA" sandbox.create "{\"name\":\"x\",\"policy\":\"$T/policy.yaml\"}")
check "ward-audit: may not create (EPERM)" [ "$(js "$OUT" 'r["error"]["code"]')" = EPERM ]
OUT=$(gwc "$GA" secret.list)
check "ward-audit: may not read secrets" [ "$(js "$OUT" 'r["error"]["code"]')" = EPERM ]
OUT=$(gwc "$GW" hello)
check "ward: manages" [ "$(js "$OUT" 'r["uid_can_manage"]')" = True ]
install -m 0600 "$T/policy.yaml" "$T/root-only.yaml"
OUT=$(gwc "$GW" sandbox.create "{\"name\":\"x\",\"policy\":\"$T/root-only.yaml\"}")
check "ward: the daemon reads no file for a peer that the peer cannot read" \
	[ "$(js "$OUT" 'r["error"]["code"]')" = EACCES ]
OUT=$(setpriv --reuid=65534 --regid=65534 --groups="$GA" "$PY" "$T/wc.py" "$T/g.sock" hello 2>&1)
check "ward-audit as a supplementary group (SO_PEERGROUPS)" [ "$(js "$OUT" '(r["ok"], r["uid_can_manage"])')" = "(True, False)" ]
check "the refused create is a row with the peer's uid" \
	[ "$(sqlite3 "$T/g.db" "SELECT count(*) FROM decisions WHERE layer='control' AND action='deny' AND rule='sandbox.create' AND reason LIKE 'uid=65534 %may only read%'")" -eq 1 ]
kill "$GPID"
wait "$GPID"
check "that daemon stops cleanly" [ $? -eq 0 ]

# --- one daemon per state directory and per socket
OUT=$("$WARD" daemon --socket "$T/other.sock" --state "$STATE" --log "$LOG" 2>&1)
RC=$?
check "a second daemon on the state dir: exit 1" [ $RC -eq 1 ]
check "... and says why" grep -q "another ward daemon (pid $DPID) uses the state directory" <<<"$OUT"
OUT=$("$WARD" daemon --socket "$SOCK" --state "$T/state2" --log "$LOG" 2>&1)
RC=$?
check "a second daemon on the socket: exit 1" [ $RC -eq 1 ]
check "... and says why" grep -q "another ward daemon answers on $SOCK" <<<"$OUT"
"$WARD" daemon --socket "$T/bad.yaml" --state "$T/state3" --log "$LOG" >/dev/null 2>&1
check "--socket naming a file that is not a socket: refused, the file kept" [ $? -eq 1 -a -s "$T/bad.yaml" ]
check "the first one still answers" wc hello >/dev/null

# --- idle timeout
OUT=$(wc sandbox.create "{\"name\":\"idle\",\"policy\":\"$T/policy.yaml\",\"idle_timeout_ms\":300}")
IDLE_ID=$(js "$OUT" 'r["sandbox"]["id"]')
idle_stopped() { [ "$(js "$(wc sandbox.list)" '[s["state"] for s in r["sandboxes"] if s["name"]=="idle"][0]')" = stopped ]; }
check "idle_timeout_ms: stopped when no session ran for that long" wait_for 100 idle_stopped
check "idle: the row says so" [ "$(rows "layer='control' AND rule='sandbox.stop' AND sandbox='idle' AND reason LIKE '%idle for 300 ms%'")" -eq 1 ]
check "idle: its cgroup is gone" [ ! -d "$CG/ward/$IDLE_ID" ]
wc exec '{"name":"idle","argv":["true"],"env":[]}' 2>/dev/null
check "exec in a stopped sandbox starts it first" [ $? -eq 0 ]
check "... and the idle timeout stops it again" wait_for 100 idle_stopped
check "... a second idle row" [ "$(rows "layer='control' AND rule='sandbox.stop' AND sandbox='idle' AND reason LIKE '%idle for 300 ms%'")" -eq 2 ]

# --- kill -9: no session survives; the next start cleans up and restores
(exec "$PY" "$T/wc.py" "$SOCK" exec \
	'{"name":"box","argv":["sh","-c","exec sleep 3232"],"env":[]}' 2>"$T/k9") &
CL=$!
CLIENTS+=("$CL")
check "a session runs before the kill" wait_for 50 sleeping 3232 || cat "$T/k9"
kill -9 "$DPID"
wait "$DPID" 2>/dev/null
DPID=
check "kill -9 of the daemon: no session process left" wait_for 50 nosleep 3232
wait "$CL" 2>/dev/null
check "kill -9: run.json is left for the next start" [ -e "$STATE/run.json" ]
check "the daemon starts again" start_daemon
check "the next start cleaned up after the crash" grep -q "did not stop cleanly" "$T/daemon.log"
check "... it removed the dead sandbox's cgroup" grep -q "removed cgroup $CG/ward/$ID\$" "$T/daemon.log"
OUT=$(wc sandbox.list)
check "the running sandbox is back, same id; the stopped one stays stopped" [ "$(js "$OUT" \
	"sorted((s['name'], s['state'], s['id']) for s in r['sandboxes'])")" = "[('box', 'running', '$ID'), ('idle', 'stopped', '$IDLE_ID')]" ]
check "it is back with the applied revision" [ "$(js "$OUT" '[s["policy_rev"] for s in r["sandboxes"] if s["name"]=="box"][0]')" = "$REV2" ]
OUT=$(wc exec '{"name":"box","argv":["sh","-c","cat $HOME/mark"],"env":[]}' 2>/dev/null)
check "sessions run in it again; the home survived" [ "$OUT" = kept ]

# --- rm, SIGTERM
OUT=$(wc sandbox.rm '{"name":"idle"}')
check "rm a stopped sandbox" [ "$(js "$OUT" 'r["ok"]')" = True ]
check "rm: its state is gone" [ ! -e "$STATE/sandboxes/idle" ]
OUT=$(wc sandbox.rm '{"name":"box"}')
check "rm a running sandbox" [ "$(js "$OUT" 'r["ok"]')" = True ]
check "rm: its state and cgroup are gone" [ ! -e "$STATE/sandboxes/box" -a ! -d "$CG/ward/$ID" ]
check "list is empty" [ "$(js "$(wc sandbox.list)" 'r["sandboxes"]')" = "[]" ]
for v in sandbox.create sandbox.stop sandbox.start sandbox.rm exec; do
	check "a control row for $v" [ "$(rows "layer='control' AND rule='$v' AND action='allow'")" -ge 1 ]
done
kill "$DPID"
wait "$DPID"
RC=$?
DPID=
check "SIGTERM: exit 0" [ $RC -eq 0 ]
check "SIGTERM: socket and run.json removed" [ ! -e "$SOCK" -a ! -e "$STATE/run.json" ]
check "the log verifies" "$WARD" audit verify --log "$LOG" >/dev/null
check "no secret value in the log" [ "$(sqlite3 "$LOG" "SELECT count(*) FROM decisions WHERE reason LIKE '%$VAL%'")" -eq 0 ]
[ "$FAILED" -eq 0 ] || { echo "--- daemon log"; tail -40 "$T/daemon.log"; }
finish
