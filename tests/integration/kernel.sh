# SPDX-License-Identifier: MIT
# What the kernel under test offers, for the tests whose expectations depend
# on it (docs/kernels.md): Debian 12's 6.1 has no BPF hooks for unix sockets
# (Linux >= 6.7), so ward leaves its unix-socket layer out, says so on stderr
# and keeps /tmp, /run, /var/tmp and /dev/shm private; the test guest runs
# the suite there (make check-kernels). Sourced by lib.sh and test_run.sh.

# has_feature NAME: `ward doctor` finds it available (bpf.cgroup_unix, ...)
has_feature() {
	"$WARD" doctor --json |
		jq -e --arg n "$1" '.features[] | select(.name == $n and .available)' >/dev/null
}

# no_layer_warnings: stdin without the warning ward prints when the kernel
# lacks a layer; for the tests that compare ward's whole output (a run's
# stderr and the command's output together)
no_layer_warnings() { grep -v '^ward: warning: unix sockets: ' || true; }
