/* SPDX-License-Identifier: MIT */
/* The client side of the daemon's control socket (docs/daemon.md): one JSON
 * object per line in both directions over AF_UNIX SOCK_STREAM, replies matched
 * to requests by "id", events (no "id") interleaved, file descriptors passed
 * with SCM_RIGHTS on a request's bytes.
 *
 *   ward_client_connect(ward_client_socket_path(opt), &c, &err);
 *   ward_client_call(c, req, &reply, &err);     send + wait for the reply
 *   ward_client_send(c, req, fds, 3, &err);     exec: send with the fds,
 *   ward_client_read(c, -1, &msg, &err);        then read reply and events
 *   ward_client_free(c);
 *
 * Library code: nothing is printed; errors are -errno with a message in err. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

#define WARD_CLIENT_DEFAULT_SOCKET "/run/ward/ward.sock"
/* A reply line longer than this is a protocol error (a sessions list of a
 * long-lived daemon is the largest legitimate reply). */
#define WARD_CLIENT_MAX_LINE (16u << 20)
#define WARD_CLIENT_MAX_FDS 3

struct ward_client;

/* opt when set, else $WARD_SOCKET (secure_getenv), else the default. */
const char *ward_client_socket_path(const char *opt);

int ward_client_connect(const char *path, struct ward_client **ret, struct ward_error *err);
/* Wrap a connected stream socket (tests: one end of a socketpair); owns fd. */
int ward_client_from_fd(int fd, struct ward_client **ret);
void ward_client_free(struct ward_client *c);
/* The socket, for poll() beside other fds (readable: call ward_client_read). */
int ward_client_fd(const struct ward_client *c);
/* Bytes read from the socket but not yet returned as messages: poll() says
 * nothing about them, so a loop calls ward_client_read while this is true. */
bool ward_client_pending(const struct ward_client *c);

/* Send one request. When req has no "id" and assign_id is set, the next id is
 * stored into it first. fds (n_fds <= WARD_CLIENT_MAX_FDS) travel with the
 * request's first bytes. -EPIPE when the daemon is gone. */
int ward_client_send(struct ward_client *c, json_t *req, bool assign_id, const int *fds,
		     size_t n_fds, struct ward_error *err);

/* Read the next message (a reply or an event), waiting at most timeout_ms (-1:
 * no limit). *ret is a new reference to a JSON object. -ETIMEDOUT on timeout;
 * -ECONNRESET when the daemon closed the connection (no partial line is a
 * message); -E2BIG for a line over WARD_CLIENT_MAX_LINE and -EPROTO for a line
 * that is not a JSON object (both leave the stream unusable: close it). */
int ward_client_read(struct ward_client *c, int timeout_ms, json_t **ret, struct ward_error *err);

/* Send req with the next id and return the reply that carries it (events read
 * meanwhile are dropped). 0 with *ret_reply set when the daemon replied
 * ok:true. When it replied ok:false: the negative errno named by the reply's
 * error code (-EIO when the name is unknown), err->msg holds the daemon's
 * message, and *ret_reply is set too so a caller can print a message longer
 * than err holds (ward_client_error_message). A reply without an id (the
 * daemon's answer about the line or the peer itself, e.g. EPERM at accept)
 * counts too, also when the request could no longer be sent. Transport
 * errors: as above, *ret_reply untouched. */
int ward_client_call(struct ward_client *c, json_t *req, json_t **ret_reply,
		     struct ward_error *err);

/* The error of an ok:false message: -errno of its code (-EIO when unknown or
 * absent), 0 when the message says ok:true. */
int ward_client_reply_errno(const json_t *msg);
/* Its error message (never NULL; "" when absent). */
const char *ward_client_error_message(const json_t *msg);

/* errno <-> name ("ENOENT"); NULL / 0 when unknown. */
const char *ward_errno_name(int errnum);
int ward_errno_from_name(const char *name);
