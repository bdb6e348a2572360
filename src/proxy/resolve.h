/* SPDX-License-Identifier: MIT */
/* Asynchronous name resolution for the proxy's event loop: a small fixed pool
 * of threads calling getaddrinfo(), a bounded queue, results handed back
 * through an eventfd the loop polls. `--hosts FILE` (hosts(5) format) is
 * parsed once and consulted first; a name found there never reaches DNS.
 *
 * getaddrinfo() cannot be interrupted, so the per-lookup timeout belongs to
 * the caller: it stops waiting (its connect deadline) and ignores the late
 * result, which it recognises by the tag it chose. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/error.h"

#define WARD_RESOLVE_THREADS 4
#define WARD_RESOLVE_QUEUE_MAX 4096 /* DNS lookups in flight (proxy limits, docs/proxy.md) */
#define WARD_RESOLVE_MAX_ADDRS 16
#define WARD_HOSTS_MAX_ENTRIES 65536

struct ward_resolve_result {
	uint64_t tag;
	int error; /* 0, -ENOENT (no such name), -EAGAIN (temporary), -EIO */
	bool from_hosts;
	size_t n;
	struct sockaddr_storage addrs[WARD_RESOLVE_MAX_ADDRS]; /* ports 0 */
};

struct ward_resolver;

/* threads 0: WARD_RESOLVE_THREADS; hosts_file NULL: none. A hosts file that
 * cannot be read or has a malformed line is an error naming FILE:LINE. */
int ward_resolver_new(unsigned threads, const char *hosts_file, struct ward_resolver **ret,
		      struct ward_error *err);
/* Joins the threads (a lookup in progress finishes first). NULL is fine. */
void ward_resolver_free(struct ward_resolver *r);

/* Readable (EPOLLIN) when results are waiting. */
int ward_resolver_fd(const struct ward_resolver *r);

/* Queue a lookup of host (normalised name). 0, or -EAGAIN when the queue is
 * full, -ENOMEM. The result comes back through ward_resolver_dispatch(). */
int ward_resolve_start(struct ward_resolver *r, const char *host, uint64_t tag);

/* Call cb for every finished lookup (the result lives until cb returns). */
void ward_resolver_dispatch(struct ward_resolver *r,
			    void (*cb)(void *userdata, const struct ward_resolve_result *res),
			    void *userdata);

/* Synchronous lookup in the hosts table only: number of addresses (0: not there). */
size_t ward_hosts_lookup(const struct ward_resolver *r, const char *host,
			 struct sockaddr_storage *out, size_t max);
