/* SPDX-License-Identifier: MIT */
/* inference.local (docs/inference.md): the proxy answers requests whose host
 * is inference.local itself and routes them to the backend the policy names,
 * with a key read on the host and never visible inside the sandbox.
 *
 * One struct ward_inference per `ward run` (routes, keys, resolved backends,
 * the token and money budgets); one struct ward_inference_call per request. A call is a
 * non-blocking state machine driven by the proxy's event loop:
 *
 *   the proxy parsed a request head with host inference.local:
 *     call = ward_inference_call_new(inf, &who, &head)
 *   request body bytes (framing per the head; the call decodes it):
 *     ward_inference_call_feed(call, data, len, &used)  until it returns 1
 *   the call owns its upstream socket (and TLS); the loop watches
 *     ward_inference_call_fd(call) for ward_inference_call_events(call) and
 *     calls ward_inference_call_io(call, events) when they fire;
 *   bytes for the client (a complete HTTP/1.1 response, re-framed):
 *     ward_inference_call_peek(call, &p) / ward_inference_call_consume(call, n)
 *     (the proxy copies them into its client buffer, TLS or not);
 *   ward_inference_call_deadline(call) / _timeout(call): idle and total limits;
 *   ward_inference_call_done(call, &keep_alive): the response is complete and
 *     consumed; the connection may read its next request if keep_alive.
 *
 * Nothing here blocks, logs to stderr or exits; rows go to the decision log
 * (layer "inference"). Not thread-safe: one loop thread uses a handle. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "audit/audit.h"
#include "common/error.h"
#include "policy/model.h"
#include "proxy/http.h"
#include "proxy/inference_json.h"

#define WARD_INFERENCE_HOST "inference.local"
#define WARD_INFERENCE_MAX_REQUEST (32u << 20) /* request bodies (buffered: model rewrite) */
#define WARD_INFERENCE_MAX_RESPONSE (8u << 20) /* non-streamed response bodies */
#define WARD_INFERENCE_IDLE_MS (120u * 1000)   /* no upstream byte for this long: 504 / cut */
#define WARD_INFERENCE_TOTAL_MS (900u * 1000)  /* whole request, streaming included */
#define WARD_INFERENCE_CONNECT_MS (10u * 1000) /* TCP connect + TLS handshake */

struct ward_tls_upstream;

struct ward_inference_config {
	const struct ward_policy *policy; /* borrowed; must outlive the handle */
	const char *hosts_file;		  /* --hosts: names of route backends; NULL: none */
	const char *upstream_ca;	  /* --upstream-ca for https backends; NULL: none */
	const char *system_roots;	  /* NULL: WARD_TLS_SYSTEM_ROOTS */
	struct ward_audit *audit;	  /* borrowed; NULL: no rows */
	const char *sandbox;		  /* rows' sandbox column (copied) */
	uint32_t idle_ms;		  /* 0: WARD_INFERENCE_IDLE_MS */
	uint32_t total_ms;		  /* 0: WARD_INFERENCE_TOTAL_MS */
	uint32_t connect_ms;		  /* 0: WARD_INFERENCE_CONNECT_MS */
	uint64_t max_request;		  /* 0: WARD_INFERENCE_MAX_REQUEST */
	uint64_t max_response;		  /* 0: WARD_INFERENCE_MAX_RESPONSE */
	/* api_key_secret's store (a reference is taken); NULL: the default store,
	 * opened when a route names a secret */
	struct ward_secrets *secrets;
	/* --learn (docs/learn.md): a binary not in inference.binaries, and a
	 * model inference.strict_models would refuse, are served (the first
	 * route), the row action "audit" with learn=WHAT in the reason; budgets
	 * still refuse (they are money) */
	bool learn;
};

struct ward_inference;
struct ward_secrets;

/* Reads every route's key from ward's environment (secure_getenv) and
 * resolves every backend (hosts file first, then DNS) once. A route with
 * api_key_secret needs that secret set in the store now (a call reads it
 * again: a rotation applies from the next call). A missing or
 * empty key variable, an unknown provider, a bad base_url or an unresolvable
 * backend is an error naming the route ("inference route 'default':
 * environment variable ANTHROPIC_API_KEY is not set"): ward run exits 125.
 * A policy without routes gives an empty handle (every call answers 403). */
int ward_inference_new(const struct ward_inference_config *cfg, struct ward_inference **ret,
		       struct ward_error *err);
/* The handle of another policy generation (live apply): base's settings,
 * p's routes, keys read and backends resolved as ward_inference_new does (so
 * it may block: not on the proxy's loop thread), and base's usage: budgets
 * count across generations. Errors as ward_inference_new's; base is
 * unchanged. p must outlive the new handle. */
int ward_inference_derive(const struct ward_inference *base, const struct ward_policy *p,
			  struct ward_inference **ret, struct ward_error *err);
/* A reference more (each call in flight holds one). */
struct ward_inference *ward_inference_ref(struct ward_inference *inf);
/* Drops a reference; the last wipes the keys. NULL is fine. */
void ward_inference_free(struct ward_inference *inf);

/* The rows' sandbox column, once the sandbox has its id (the hook sets it).
 * 0 or -ENOMEM. */
int ward_inference_set_sandbox(struct ward_inference *inf, const char *sandbox);

/* Is host (normalised, as http.h gives it) inference.local? */
bool ward_inference_is_host(const char *host);
/* Is host one of the routes' provider hosts (route `hosts:`, exact names)?
 * The proxy then serves a direct call there (CONNECT api.anthropic.com:443,
 * TLS terminated with the ward CA) as a call of those routes. */
bool ward_inference_is_route_host(const struct ward_inference *inf, const char *host);

/* The environment variables holding keys (distinct, in route order): the
 * sandbox must not see them (ward_inference_hook overrides each). */
size_t ward_inference_n_key_envs(const struct ward_inference *inf);
const char *ward_inference_key_env(const struct ward_inference *inf, size_t i);

/* Tokens accounted so far (prompt + completion, every route) and the budget
 * (0: none). */
uint64_t ward_inference_spent(const struct ward_inference *inf);
uint64_t ward_inference_budget(const struct ward_inference *inf);
/* The same in USD, at each route's price (inference.budget.max_usd). */
double ward_inference_spent_usd(const struct ward_inference *inf);
double ward_inference_budget_usd(const struct ward_inference *inf);

/* USD of one call at a route's price (USD per million tokens): uncached
 * input at the input price, cached input at the cached price, output at the
 * output price. 0 when the route has no price (price_known false). */
double ward_inference_cost_usd(const struct ward_inference_route *rt, const struct ward_usage *u);

#define WARD_BUDGET_FULL (1u << 8) /* ward_budget_crossed: 100 % */
/* The thresholds a spend has reached that *warned does not hold yet: bit i
 * for warn_at[i] (spent >= warn_at[i] * max), WARD_BUDGET_FULL for spent >=
 * max. They are added to *warned, so each is reported once. max 0 (no
 * budget): none. n is at most 8. */
unsigned ward_budget_crossed(double spent, double max, const double *warn_at, size_t n,
			     unsigned *warned);

/* --- one request --------------------------------------------------------- */

/* Who is asking, as the proxy identified the connection (kernel identity). */
struct ward_inference_client {
	bool known;	    /* the kernel had a record for this connection */
	const char *binary; /* the executable that acted; NULL when unknown */
	const char *via;    /* the ancestor whose identity the kernel matched
			     * (ancestors: true); NULL when it was binary itself */
	const char *sha256; /* TOFU hash, NULL when none */
	int32_t pid;
	bool tofu_failed;    /* the binary failed its integrity check: refuse */
	bool tls;	     /* the client reached ward over TLS (rows' protocol) */
	const char *host;    /* a route's provider host it called; NULL: inference.local */
	const char *session; /* the caller's session (ward exec); NULL: none (ward run) */
	bool has_uid;	     /* the caller's uid is known */
	uint32_t uid;
	uint64_t cgid; /* the caller's cgroup v2 id; 0: unknown */
};

struct ward_inference_call;

/* Start a call for a parsed request head (origin or absolute form, host
 * inference.local). head's spans are copied: the parser may be reset after.
 * Requests ward answers itself (GET /v1/models, refusals) have their answer
 * ready once the body is consumed. NULL + errno (ENOMEM) on failure. */
struct ward_inference_call *ward_inference_call_new(struct ward_inference *inf,
						    const struct ward_inference_client *who,
						    const struct ward_http_head *head);
/* Closes the upstream socket. A call freed before it is done logs its row
 * with the status it had ("client gone"). NULL is fine. */
void ward_inference_call_free(struct ward_inference_call *call);

/* Request body bytes as they arrive. 0: all consumed, more expected; 1: the
 * body is complete (*ret_consumed bytes were part of it; the rest belongs to
 * the next request). Never negative: a malformed or oversized body becomes
 * the call's answer (400 / 413) and 1. */
int ward_inference_call_feed(struct ward_inference_call *call, const char *data, size_t len,
			     size_t *ret_consumed);

/* The upstream socket (-1 when none) and the epoll events it waits for
 * (EPOLLIN / EPOLLOUT; 0 while it waits for the client to drain output). The
 * fd may change between calls (connect retries): re-check after every call. */
int ward_inference_call_fd(const struct ward_inference_call *call);
uint32_t ward_inference_call_events(const struct ward_inference_call *call);
/* Drive the upstream leg after events on its fd (0: just make progress, e.g.
 * after the client drained output). */
void ward_inference_call_io(struct ward_inference_call *call, uint32_t events);

/* Bytes for the client, in order. peek returns how many are ready (0: none
 * now) and where; consume drops n of them once the proxy took them. */
size_t ward_inference_call_peek(const struct ward_inference_call *call, const char **ret_data);
void ward_inference_call_consume(struct ward_inference_call *call, size_t n);

/* Monotonic ns at which ward_inference_call_timeout() must run (0: none). */
uint64_t ward_inference_call_deadline(const struct ward_inference_call *call);
void ward_inference_call_timeout(struct ward_inference_call *call);

/* True once the response is complete and all of it was consumed.
 * *ret_keep_alive: the client connection may carry the next request. */
bool ward_inference_call_done(const struct ward_inference_call *call, bool *ret_keep_alive);
/* The call cannot continue (the response was cut after its head was sent):
 * the proxy closes the client connection once the output is consumed. */
bool ward_inference_call_failed(const struct ward_inference_call *call);
