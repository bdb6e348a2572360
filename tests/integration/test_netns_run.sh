#!/bin/bash
# SPDX-License-Identifier: MIT
# The network layer through `ward run` (a policy with network rules): inside the
# sandbox the default route goes to the host side of a wardN veth, the proxy
# port answers (a RST from the host: the packet got there), other UDP fails at
# once; the ruleset is `table inet ward`; nothing is left after the run, and
# what a killed ward leaves is removed by the next run. (NFLOG rows are tested
# in test_netns.c: with the BPF layer attached, little reaches nft.)
# Traffic: the host side of the veth, and TEST-NET-1 (192.0.2.0/24), which is
# rejected inside the sandbox netns and never leaves it.
set -u
. "$(dirname "$0")/lib.sh"
need_root
if ! [ -x "$WARD" ]; then
	echo "SKIP: no ward binary at $WARD"
	exit 77
fi
if ! ip link add wardprobe0 type veth peer name wardprobe1 2>/dev/null; then
	echo "SKIP: veth unavailable"
	exit 77
fi
ip link del wardprobe0
command -v bash >/dev/null || exit 77

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db=$tmp/decisions.db
policy=$tmp/policy.yaml
# A network policy is what makes ward run set up the network layers; bash gets
# one so the kernel layer lets it reach the proxy.
cat >"$policy" <<'EOF'
version: 1
extends: [deny-all]
network_policies:
  test:
    binaries: [{ path: /usr/bin/bash }]
    endpoints:
      - host: example.test
        port: 443
EOF

# Inside the sandbox: the gateway from /proc/net/route (no awk or ip needed).
cat >"$tmp/inside.sh" <<'EOF'
gw=
while read -r ifc dest g rest; do
	if [ "$dest" = 00000000 ]; then
		gw=$(printf '%d.%d.%d.%d' 0x${g:6:2} 0x${g:4:2} 0x${g:2:2} 0x${g:0:2})
	fi
done </proc/net/route
echo "gateway=$gw"
# a UDP send that is not refused at once succeeds (UDP has no handshake):
# "failed" means refused by the kernel layer at the call itself
if (echo x >/dev/udp/192.0.2.1/5353) 2>/dev/null; then echo "udp=sent"; else echo "udp=failed"; fi
err=$( (echo >/dev/tcp/$gw/3128) 2>&1)
echo "proxy=${err##*: }"
EOF

out=$(cd "$tmp" && timeout 60 "$WARD" run --policy "$policy" --log "$db" -- bash -c "$(cat "$tmp/inside.sh")" 2>&1)
rc=$?
echo "$out" | sed 's/^/  | /'
check "ward run exits 0" [ "$rc" -eq 0 ]
gw=$(echo "$out" | sed -n 's/^gateway=//p')
gw_ok() { [[ -n $gw && $gw == 10.254.* ]]; }
check "default route via 10.254.x.y ($gw)" gw_ok
# UDP other than DNS is denied by the kernel layer (BPF) or, past it, by nft.
check "UDP to 192.0.2.1:5353 rejected" [ "$(echo "$out" | sed -n 's/^udp=//p')" = failed ]
# The host answers on the proxy port: a RST when no proxy runs, else a connection.
proxy=$(echo "$out" | sed -n 's/^proxy=//p')
reached() { [ "$proxy" = "Connection refused" ] || [ -z "$proxy" ]; }
check "proxy port reaches the host ($proxy)" reached

rows=$("$WARD" logs --log "$db" --json --layer nft 2>/dev/null)
check "no nft row for the proxy port" python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
sys.exit(1 if [r for r in rows if r.get("port") == 3128] else 0)' <<<"$rows"

# Other runs on this machine may claim a freed index at once. A state file is
# written before its link and removed after it, so "wardN exists" implies "N has
# a state file"; a state file of another owner means the index was reused.
link_gone() { # IDX
	! ip link show "ward$1" >/dev/null 2>&1 || [ -e "/run/ward/net/$1" ]
}
state_gone() { # IDX: absent, or claimed again by a live (other) ward
	local owner
	[ ! -e "/run/ward/net/$1" ] && return 0
	owner=$(cut -d' ' -f1 "/run/ward/net/$1" 2>/dev/null)
	[ -n "$owner" ] && kill -0 "$owner" 2>/dev/null
}

# Index N = (last octet - 1) / 4 of the gateway; its link and state are gone.
if [ -n "$gw" ]; then
	o=(${gw//./ })
	idx=$(((o[2] * 256 + o[3] - 1) / 4))
	check "link ward$idx removed after the run" link_gone "$idx"
	check "state /run/ward/net/$idx removed after the run" state_gone "$idx"
fi

# During a run: the ruleset as nft(8) lists it from inside the sandbox netns.
(cd "$tmp" && exec timeout 60 "$WARD" run --policy "$policy" --log "$db" -- sleep 30) &
wardpid=$!
# timeout(1) is the background job: ward is its child, the sandbox init ward's.
ward_real= init=
for _ in $(seq 100); do
	ward_real=$(pgrep -P "$wardpid" -x ward | head -1)
	[ -n "$ward_real" ] && init=$(pgrep -P "$ward_real" | head -1)
	[ -n "$init" ] && [ -n "$(pgrep -P "$init")" ] && break
	sleep 0.1
done
if [ -n "$init" ] && command -v nft >/dev/null; then
	rules=$(nsenter --net=/proc/$init/ns/net nft list table inet ward 2>&1)
	check "nft list shows the output chain with policy drop" \
		grep -q 'hook output priority filter; policy drop;' <<<"$rules"
	check "nft list shows the NFLOG rule" grep -q 'log prefix "ward-deny" group 7761' <<<"$rules"
	check "nft list shows the proxy accept" grep -Eq 'ip daddr 10\.254\.[0-9.]+ tcp dport 3128 accept' <<<"$rules"
	mine=$(grep -l "^$ward_real " /run/ward/net/* 2>/dev/null | head -1)
	check "a state file names the running ward ($mine)" [ -n "$mine" ]
	# A crash: ward is killed, the sandbox dies with it (PDEATHSIG), the state stays.
	kill -9 "$ward_real"
	wait "$wardpid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$init" 2>/dev/null || break; sleep 0.1; done
	# The precondition of the cleanup check below: the killed ward's state is
	# still there, naming a dead owner. Only another ward running at the same
	# moment (a shared machine; never under ctest -j1) may have removed it.
	stale() {
		local owner
		if [ -e "$mine" ]; then
			owner=$(cut -d' ' -f1 "$mine" 2>/dev/null)
			[ "$owner" = "$ward_real" ] && ! kill -0 "$owner" 2>/dev/null && return 0
			[ -n "$owner" ] && kill -0 "$owner" 2>/dev/null # reused by a live ward
			return
		fi
		pgrep -x ward >/dev/null # removed: only a concurrent ward can have done it
	}
	check "the killed ward left stale state ($mine, owner $ward_real dead)" stale
	(cd "$tmp" && timeout 60 "$WARD" run --policy "$policy" --log "$db" -- true)
	check "the next run removed the stale state" state_gone "${mine##*/}"
	check "no link ward${mine##*/} left" link_gone "${mine##*/}"
else
	check "found the sandbox init ($init) and nft(8)" false
	kill "$wardpid" 2>/dev/null
	wait "$wardpid" 2>/dev/null
fi

finish
