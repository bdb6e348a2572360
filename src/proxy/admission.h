/* SPDX-License-Identifier: MIT */
/* Admission (docs/proxy.md, "Limits"): which accepted connections the proxy
 * takes on, and a clean answer for the ones it does not. A refused connection
 * is never closed without a word: explicit (and transparent HTTP) clients get
 * a 503 with ward's JSON body, other transparent ones a reset, and every
 * refusal is a row (layer proxy, rule "limits") or, past a rate, part of a
 * counted row (rule "events_dropped", "N connections refused ..."). One fd is
 * kept in reserve so that even at RLIMIT_NOFILE the 503 can be written.
 *
 *   proxy.c: set_limits -> ward_proxy_limits_resolve()
 *            ward_proxy_new -> admission_new(), ward_proxy_free -> admission_free()
 *            do_accept -> admission_accept() (the one call site), tick -> admission_tick() */
#pragma once

#include <stdint.h>
#include <sys/socket.h>

#include "policy/model.h"
#include "proxy/proxy.h"

struct ward_proxy;
struct ward_admission;

/* Fill ret from a policy's `limits:` (0: unset, the proxy's default). */
void ward_proxy_limits_from_policy(const struct ward_limits *pl, struct ward_proxy_limits *ret);
/* The limits in force: in's non-zero fields, defaults for the rest. The
 * default max_conns follows the fd budget (RLIMIT_NOFILE / 6 fds a tunnel,
 * at most WARD_PROXY_MAX_CONNS_DEFAULT); it raises this process's
 * RLIMIT_NOFILE soft limit to the hard limit first. */
#define WARD_PROXY_MAX_CONNS_DEFAULT 16384u
void ward_proxy_limits_resolve(struct ward_proxy_limits *ret, const struct ward_proxy_limits *in);

int admission_new(struct ward_proxy *px, struct ward_admission **ret);
/* The last counted row, lingering sockets closed. NULL is fine. */
void admission_free(struct ward_proxy *px, struct ward_admission *a);
/* Accept the next connection on listener idx: its fd (>= 0, for the caller to
 * take on), -ECONNREFUSED when it was refused here (answered, logged: accept
 * the next), -EAGAIN when there is nothing more to accept now. */
int admission_accept(struct ward_proxy *px, int idx, struct sockaddr_storage *ret_peer);
/* A connection accepted but not taken on (out of memory): answered, logged. */
void admission_refuse(struct ward_proxy *px, int fd, const struct sockaddr_storage *peer, int idx,
		      int why);
/* From the loop's timer: lingering refusals, the counted row (once a second). */
void admission_tick(struct ward_proxy *px);
uint64_t admission_refused(const struct ward_admission *a);
