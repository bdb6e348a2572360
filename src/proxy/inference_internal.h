/* SPDX-License-Identifier: MIT */
/* Internal to inference: the per-run handle (inference.c) and the
 * per-request state machine (inference_call.c). */
#pragma once

#include <sys/socket.h>

#include "policy/match.h"
#include "proxy/inference.h"
#include "proxy/providers.h"

#define INF_MAX_ADDRS 8
#define INF_PREFIX_MAX 512

struct inf_backend {
	const struct ward_inference_route *route;
	const struct ward_provider *prov;
	char *key; /* the secret; wiped on free */
	size_t key_len;
	bool https;
	char host[WARD_HOST_MAX];
	uint16_t port;
	char prefix[INF_PREFIX_MAX]; /* base_url path, no trailing slash ("/v1") */
	struct sockaddr_storage addrs[INF_MAX_ADDRS];
	size_t n_addrs;
};

struct ward_inference {
	const struct ward_policy *policy;
	struct ward_audit *audit;
	char *sandbox;
	uint32_t idle_ms, total_ms, connect_ms;
	uint64_t max_request, max_response;
	struct inf_backend *b;
	size_t n;
	struct ward_tls_upstream *tls;
	const char **key_envs;
	size_t n_key_envs;
	uint64_t spent;
	uint64_t budget;
	uint64_t calls;
};

/* Route for a requested model: name, then alias, then the route's model;
 * none matches (or model NULL): the first route. NULL when there are none. */
struct inf_backend *inf_route(struct ward_inference *inf, const char *model);
