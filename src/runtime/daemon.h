/* SPDX-License-Identifier: MIT */
/* ward daemon: long-lived named sandboxes behind a control socket
 * (docs/daemon.md has the protocol; DESIGN.md "One process or a service").
 *
 * One thread (the caller of ward_daemon_run) owns everything: the socket,
 * the connections, every sandbox's runtime and every session. Sandboxes are
 * created on it, so PR_SET_PDEATHSIG (which follows the creating thread)
 * ties them to the daemon's life: a kill -9 of the daemon ends every
 * sandbox and session, and the next start cleans what was left (run.json)
 * and brings back the sandboxes whose desired state is running.
 *
 *   ward_daemon_new(&cfg, &d, &err);   lock the state dir, clean up after a
 *                                      crash, open the log, bind the socket
 *   ward_daemon_run(d, &err);          until SIGTERM / SIGINT
 *   ward_daemon_free(d);               stop the sandboxes (desired state kept) */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"

#define WARD_DAEMON_PROTOCOL 1
#define WARD_DAEMON_MAX_LINE (64 * 1024) /* bytes of one request line, "\n" included */
#define WARD_DAEMON_KILL_GRACE_MS 2000	 /* SIGHUP -> SIGKILL for an orphaned session */
#define WARD_DAEMON_DEFAULT_SOCKET "/run/ward/ward.sock"
#define WARD_DAEMON_DEFAULT_STATE "/var/lib/ward"
#define WARD_DAEMON_DEFAULT_HOST_POLICY "/etc/ward/host.yaml"

struct ward_daemon;

struct ward_daemon_config {
	const char *socket_path; /* NULL: $WARD_SOCKET, else WARD_DAEMON_DEFAULT_SOCKET */
	const char *state_dir;	 /* NULL: WARD_DAEMON_DEFAULT_STATE */
	const char *log_path;	 /* NULL: $WARD_LOG, else /var/lib/ward/decisions.db */
	/* Host mode (docs/host.md): a policy file enforced at start when it
	 * exists and no host policy is stored (NULL: WARD_DAEMON_DEFAULT_HOST_POLICY;
	 * "": none), and the bpffs directory of the pins (NULL: $WARD_BPFFS_DIR,
	 * else /sys/fs/bpf/ward/host). */
	const char *host_policy;
	const char *host_scope; /* its scope (ward host enforce --scope); NULL: the v2 root */
	const char *pin_dir;
	/* Signed policy bundles (docs/fleet.md): a directory watched for
	 * *.bundle files, and the ed25519 public key (PEM) they must verify
	 * with. NULL: none. */
	const char *policy_source;
	const char *bundle_key;
	/* what the daemon has to say (a sandbox that failed to come back, a
	 * stale sandbox cleaned up, ...); NULL: silent */
	void (*note)(void *data, bool warning, const char *msg);
	void *note_data;
};

/* The socket path cfg resolves to. */
const char *ward_daemon_socket_path(const char *opt);

/* Blocks SIGTERM and SIGINT in the calling thread (they reach the daemon's
 * signalfd): call it from the main thread before starting any other.
 * -EBUSY: another daemon holds the state directory's lock (err says whose);
 * -EADDRINUSE: another daemon answers on the socket. */
int ward_daemon_new(const struct ward_daemon_config *cfg, struct ward_daemon **ret,
		    struct ward_error *err);
/* Serve until SIGTERM or SIGINT, on the thread that called ward_daemon_new
 * (sandboxes die with the thread that created them). 0 on a signal. */
int ward_daemon_run(struct ward_daemon *d, struct ward_error *err);
/* Stop every sandbox (their desired state stays as it was), remove the
 * socket and run.json, close the log. NULL ok. */
void ward_daemon_free(struct ward_daemon *d);
