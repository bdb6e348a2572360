/* SPDX-License-Identifier: MIT */
/* The little JSON ward needs for inference (docs/inference.md): find a
 * top-level member of a request body, rewrite "model", read "usage" from a
 * response or a streamed event. A strict validating scanner (RFC 8259, depth
 * bounded), not a DOM: bodies are forwarded as they are except for the
 * spliced spans. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WARD_JSON_MAX_DEPTH 128

struct ward_json_span {
	size_t off, len; /* the raw value text (strings with their quotes) */
};

/* The whole document must be one valid JSON value (surrounding whitespace
 * allowed). 0, or -EBADMSG. */
int ward_json_validate(const char *doc, size_t len);

/* Member key of the top-level object. 1 found, 0 absent, -EBADMSG malformed
 * or not an object, -EEXIST the key appears twice (ambiguous: upstreams
 * disagree on which one wins). */
int ward_json_member(const char *doc, size_t len, const char *key, struct ward_json_span *ret);

/* A string value span (with quotes) decoded into out (NUL-terminated, UTF-8).
 * 0, -EBADMSG (not a string) or -ENAMETOOLONG (does not fit). */
int ward_json_string(const char *val, size_t len, char *out, size_t outsz);
/* Non-negative integer value. 0 or -EBADMSG. */
int ward_json_uint(const char *val, size_t len, uint64_t *ret);
bool ward_json_is_true(const char *val, size_t len);

/* Token usage as a provider reports it, normalised: input counts every
 * input token (cached ones included), cached those of them read from the
 * provider's prompt cache (billed at the cached-input price). */
struct ward_usage {
	uint64_t input;
	uint64_t cached;
	uint64_t output;
	bool has_output;
};

/* Token usage in a response body or a streamed event: the "usage" object at
 * the top, or inside "message" (Anthropic message_start) or "response"
 * (OpenAI responses events). Input: prompt_tokens (OpenAI chat; includes
 * prompt_tokens_details.cached_tokens), input_tokens (Responses API: includes
 * input_tokens_details.cached_tokens; Anthropic: excludes the cache), plus
 * Anthropic's cache_creation_input_tokens and cache_read_input_tokens.
 * Cached: cache_read_input_tokens or the *_details.cached_tokens. Output:
 * completion_tokens or output_tokens. 1 found, 0 none (*ret untouched). */
int ward_json_usage(const char *doc, size_t len, struct ward_usage *ret);
