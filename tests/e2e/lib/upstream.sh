# SPDX-License-Identifier: MIT
# Test upstreams for the e2e tests, each in a network namespace the test
# creates. Source this file, then:
#
#   upstream_up NAME [--git] [--plain|--bare] [HOST...]
#                                        start upstream NAME (hosts default: NAME.test.example);
#                                        --plain: clear-text HTTP on port 443 too, no TLS;
#                                        --bare: netns, address and certificate only (the
#                                        test starts its own server there)
#   upstream_ip NAME                     its address (192.168.250.4N+2)
#   upstream_dir NAME                    its directory (git repo under git/repo.git)
#   upstream_curl NAME URL [ARGS...]     curl it directly from the host (test CA, --resolve)
#   upstream_down NAME                   stop it (servers, netns, veth, slot)
#   upstream_down_all                    stop every upstream this shell started; runs on EXIT
#
#   $UPSTREAM_CA     the test CA (PEM) every upstream's certificate chains to: --upstream-ca
#   $UPSTREAM_HOSTS  hosts(5) lines for every upstream started: --hosts
#
# Addressing (docs/tls.md, "Test upstreams"): 192.168.250.0/24 on this machine
# only, one /30 per upstream slot N (0..63): host side .4N+1, the upstream's
# netns side .4N+2; netns ward-test-NAME, veth wtuN / wtuNp. Slots are claimed
# with mkdir under /run/ward-test-upstreams so parallel tests never collide.
# Servers (tests/e2e/lib/upstream.py): plain HTTP echo on port 80, HTTPS echo
# on 443, and with --git a `git http-backend` under /git/ on both. They run in
# the netns only and die after $UPSTREAM_LIFETIME seconds (default 900) even
# if nobody stops them.

UPSTREAM_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
UPSTREAM_PY=/usr/bin/python3
UPSTREAM_SLOTS=/run/ward-test-upstreams
: "${UPSTREAM_LIFETIME:=900}"
UPSTREAM_TMP=
UPSTREAM_CA=
UPSTREAM_HOSTS=
UPSTREAM_NAMES=()

_upstream_log() { echo "upstream: $*" >&2; }

_upstream_init() {
	[ -n "$UPSTREAM_TMP" ] && return 0
	UPSTREAM_TMP=$(mktemp -d /tmp/ward-e2e-upstream.XXXXXX) || return 1
	chmod 755 "$UPSTREAM_TMP"
	UPSTREAM_HOSTS=$UPSTREAM_TMP/hosts
	: >"$UPSTREAM_HOSTS"
	mkdir -p "$UPSTREAM_SLOTS" "$UPSTREAM_TMP/ca"
	# One test CA per test run; every upstream's certificate is signed by it.
	local d=$UPSTREAM_TMP/ca
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$d/ca.key" -out "$d/ca.pem" -days 2 -subj "/O=ward tests/CN=ward e2e test CA" \
		-addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null || {
		_upstream_log "cannot create the test CA"
		return 1
	}
	chmod 644 "$d/ca.pem"
	UPSTREAM_CA=$d/ca.pem
	trap upstream_down_all EXIT
	trap 'upstream_down_all; exit 130' INT TERM
}

# Claim the first free slot; a slot whose netns is gone is stale and reused.
_upstream_claim_slot() {
	local name=$1 n
	for n in $(seq 0 63); do
		if mkdir "$UPSTREAM_SLOTS/$n" 2>/dev/null; then
			echo "$name" >"$UPSTREAM_SLOTS/$n/name"
			echo "$n"
			return 0
		fi
		local owner
		owner=$(cat "$UPSTREAM_SLOTS/$n/name" 2>/dev/null)
		if [ -n "$owner" ] && ! ip netns list | grep -qw "ward-test-$owner" &&
			[ "$(find "$UPSTREAM_SLOTS/$n" -maxdepth 0 -mmin +1 2>/dev/null)" ]; then
			rm -rf "${UPSTREAM_SLOTS:?}/$n"
			if mkdir "$UPSTREAM_SLOTS/$n" 2>/dev/null; then
				echo "$name" >"$UPSTREAM_SLOTS/$n/name"
				echo "$n"
				return 0
			fi
		fi
	done
	return 1
}

_upstream_cert() {
	local dir=$1 ip=$2
	shift 2
	local san="IP:$ip" h
	for h in "$@"; do san="$san,DNS:$h"; done
	printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n' \
		"$san" >"$dir/ext.cnf"
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$dir/server.key" \
		-out "$dir/server.csr" -subj "/CN=$1" 2>/dev/null &&
		openssl x509 -req -in "$dir/server.csr" -CA "$UPSTREAM_CA" \
			-CAkey "$UPSTREAM_TMP/ca/ca.key" -CAcreateserial -days 2 -extfile "$dir/ext.cnf" \
			-out "$dir/server.pem" 2>/dev/null
}

_upstream_git_repo() {
	local dir=$1 work=$1/git-work
	mkdir -p "$dir/git" "$work"
	git init -q --bare "$dir/git/repo.git" &&
		git -C "$dir/git/repo.git" config http.receivepack true &&
		git init -q -b main "$work" &&
		echo "hello from the ward test upstream" >"$work/README" &&
		git -C "$work" add README &&
		git -C "$work" -c user.name=ward -c user.email=ward@test.example commit -q -m initial &&
		git -C "$work" push -q "$dir/git/repo.git" main &&
		git -C "$dir/git/repo.git" symbolic-ref HEAD refs/heads/main &&
		rm -rf "$work"
}

upstream_up() {
	local name=$1 git=0 plain=0 bare=0 hosts=() slot ns dir a b pid i
	shift
	case "$name" in
	'' | *[!a-z0-9-]*) _upstream_log "bad upstream name '$name'"; return 1 ;;
	esac
	[ ${#name} -le 20 ] || { _upstream_log "name too long: $name"; return 1; }
	while [ $# -gt 0 ]; do
		case "$1" in
		--git) git=1 ;;
		--plain) plain=1 ;;
		--bare) bare=1 ;;
		*) hosts+=("$1") ;;
		esac
		shift
	done
	[ ${#hosts[@]} -gt 0 ] || hosts=("$name.test.example")
	_upstream_init || return 1
	slot=$(_upstream_claim_slot "$name") || { _upstream_log "no free slot"; return 1; }
	ns=ward-test-$name
	dir=$UPSTREAM_TMP/$name
	mkdir -p "$dir"
	echo "$slot" >"$dir/slot"
	UPSTREAM_NAMES+=("$name")
	a=192.168.250.$((4 * slot + 1))
	b=192.168.250.$((4 * slot + 2))
	echo "$b" >"$dir/ip"

	ip netns del "$ns" 2>/dev/null
	ip link del "wtu$slot" 2>/dev/null
	ip netns add "$ns" &&
		ip link add "wtu$slot" type veth peer name "wtu${slot}p" &&
		ip link set "wtu${slot}p" netns "$ns" &&
		ip addr add "$a/30" dev "wtu$slot" &&
		ip link set "wtu$slot" up &&
		ip -n "$ns" addr add "$b/30" dev "wtu${slot}p" &&
		ip -n "$ns" link set "wtu${slot}p" up &&
		ip -n "$ns" link set lo up &&
		ip -n "$ns" route add default via "$a" || {
		_upstream_log "network setup for $name failed"
		upstream_down "$name"
		return 1
	}

	_upstream_cert "$dir" "$b" "${hosts[@]}" || {
		_upstream_log "certificate for $name failed"
		upstream_down "$name"
		return 1
	}
	local git_args=()
	if [ $git -eq 1 ]; then
		_upstream_git_repo "$dir" || {
			_upstream_log "git repository for $name failed"
			upstream_down "$name"
			return 1
		}
		git_args=(--git-root "$dir/git")
	fi
	for h in "${hosts[@]}"; do echo "$b $h" >>"$UPSTREAM_HOSTS"; done
	[ $bare -eq 1 ] && return 0

	local ports=(--https 443)
	[ $plain -eq 1 ] && ports=(--http 443)
	ip netns exec "$ns" timeout -s KILL "$((UPSTREAM_LIFETIME + 5))" \
		"$UPSTREAM_PY" "$UPSTREAM_LIB_DIR/upstream.py" --http 80 "${ports[@]}" \
		--cert "$dir/server.pem" --key "$dir/server.key" --lifetime "$UPSTREAM_LIFETIME" \
		--ready-file "$dir/ready" "${git_args[@]}" >"$dir/server.log" 2>&1 &
	pid=$!
	disown "$pid" # no job-control noise when upstream_down kills it
	echo "$pid" >"$dir/pid"
	for i in $(seq 1 100); do
		[ -s "$dir/ready" ] && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	_upstream_log "servers for $name did not start:"
	cat "$dir/server.log" >&2
	upstream_down "$name"
	return 1
}

upstream_ip() { cat "$UPSTREAM_TMP/$1/ip"; }
upstream_dir() { echo "$UPSTREAM_TMP/$1"; }

# upstream_curl NAME URL [ARGS...]: from the host, straight to the upstream
# (no ward), trusting the test CA; host names resolve to the upstream.
upstream_curl() {
	local name=$1 url=$2 ip h res=()
	shift 2
	ip=$(upstream_ip "$name")
	while read -r _ h; do
		res+=(--resolve "$h:443:$ip" --resolve "$h:80:$ip")
	done < <(grep "^$ip " "$UPSTREAM_HOSTS")
	curl -sS --max-time 10 --noproxy '*' --cacert "$UPSTREAM_CA" "${res[@]}" "$@" "$url"
}

upstream_down() {
	local name=$1 dir=$UPSTREAM_TMP/$1 slot pid
	[ -n "$UPSTREAM_TMP" ] && [ -d "$dir" ] || return 0
	pid=$(cat "$dir/pid" 2>/dev/null)
	if [ -n "$pid" ]; then
		# The timeout wrapper and the server it runs.
		pkill -KILL -P "$pid" 2>/dev/null
		kill -KILL "$pid" 2>/dev/null
	fi
	slot=$(cat "$dir/slot" 2>/dev/null)
	ip netns del "ward-test-$name" 2>/dev/null
	if [ -n "$slot" ]; then
		ip link del "wtu$slot" 2>/dev/null
		rm -rf "${UPSTREAM_SLOTS:?}/$slot"
	fi
	rm -rf "$dir"
}

upstream_down_all() {
	local n
	for n in "${UPSTREAM_NAMES[@]}"; do upstream_down "$n"; done
	UPSTREAM_NAMES=()
	if [ -n "$UPSTREAM_TMP" ]; then
		rm -rf "$UPSTREAM_TMP"
		UPSTREAM_TMP=
	fi
	if declare -F e2e_cleanup_hook >/dev/null; then e2e_cleanup_hook; fi
}

# e2e_require TOOL...: what every e2e test needs before it starts upstreams:
# root, the ward binary ($WARD), a cgroup2 mount and each TOOL; else skip (77).
e2e_require() {
	local t
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
	[ -x "${WARD:-}" ] || { echo "SKIP: no ward binary at ${WARD:-}"; exit 77; }
	grep -q cgroup2 /proc/self/mountinfo || { echo "SKIP: no cgroup2 mount"; exit 77; }
	for t in "$@"; do
		command -v "$t" >/dev/null || { echo "SKIP: needs $t"; exit 77; }
	done
}
