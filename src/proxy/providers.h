/* SPDX-License-Identifier: MIT */
/* Inference providers in one table (docs/inference.md): how each one takes
 * its key, its default base URL, which APIs it speaks, and the error format
 * its clients understand. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ward_api {
	WARD_API_NONE = 0,
	WARD_API_CHAT,	      /* POST /v1/chat/completions (OpenAI) */
	WARD_API_COMPLETIONS, /* POST /v1/completions (OpenAI) */
	WARD_API_RESPONSES,   /* POST /v1/responses (OpenAI) */
	WARD_API_EMBEDDINGS,  /* POST /v1/embeddings (OpenAI) */
	WARD_API_MESSAGES,    /* POST /v1/messages (Anthropic) */
	WARD_API_MODELS,      /* GET /v1/models: answered by ward from the routes */
};

/* Whose error body a client expects. */
enum ward_api_style {
	WARD_STYLE_OPENAI = 0,
	WARD_STYLE_ANTHROPIC,
};

struct ward_provider {
	const char *name;	    /* policy value: openai | anthropic | nvidia */
	const char *base_url;	    /* default, no trailing slash, ends in the /v1 prefix */
	const char *auth_header;    /* header the key goes in */
	const char *auth_prefix;    /* before the key in that header ("Bearer ") */
	const char *version_header; /* sent when the client did not send one; NULL: none */
	const char *version_value;
	uint32_t apis; /* 1u << enum ward_api */
};

extern const struct ward_provider ward_providers[]; /* NULL name ends it */

const struct ward_provider *ward_provider_find(const char *name);
static inline bool ward_provider_speaks(const struct ward_provider *p, enum ward_api api)
{
	return p->apis & (1u << api);
}

/* The API of a request (method, path without query), WARD_API_NONE for
 * anything ward does not route. *ret_suffix: the path after "/v1" (what is
 * appended to the route's base_url). */
enum ward_api ward_api_of(const char *method, const char *path, const char **ret_suffix);
const char *ward_api_name(enum ward_api api);
enum ward_api_style ward_api_style(enum ward_api api);

/* Does a header belong to the allowlist forwarded to providers? Auth and
 * hop-by-hop headers never do. name: len bytes, any case. */
bool ward_provider_header_allowed(const char *name, size_t len);

/* An error body in the style's own format (malloc'd JSON, NUL-terminated):
 *   OpenAI:    {"error":{"message":..,"type":type,"param":null,"code":code}}
 *   Anthropic: {"type":"error","error":{"type":atype,"message":..}}
 * type/code: OpenAI's; atype: Anthropic's. NULL on ENOMEM. */
char *ward_provider_error_body(enum ward_api_style style, const char *message, const char *type,
			       const char *code, const char *atype, size_t *ret_len);
