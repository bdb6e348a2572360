/* SPDX-License-Identifier: MIT */
/* Incremental server-sent events parser (WHATWG HTML "event stream
 * interpretation"): bytes arrive in pieces of any size, complete events come
 * out. Lines end in CRLF, LF or CR (a CRLF split across pieces counts once).
 * ward only reads the events (usage accounting): the bytes themselves are
 * forwarded untouched by the caller, so an event too large to hold is
 * skipped, never an error. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WARD_SSE_MAX_EVENT (1u << 20) /* data bytes of one event held for the callback */
#define WARD_SSE_MAX_NAME 64u

/* event: the "event:" field ("" when none, i.e. "message"); data: the data
 * lines joined with '\n', NUL-terminated. */
typedef void (*ward_sse_event_fn)(void *userdata, const char *event, const char *data, size_t len);

struct ward_sse {
	char *line; /* the current line, up to max + some */
	size_t line_len;
	char *data;
	size_t data_len;
	size_t max; /* data bytes held per event */
	char event[WARD_SSE_MAX_NAME];
	bool has_data;
	bool overflow; /* this event's data did not fit: it is skipped */
	bool line_over;
	bool after_cr;
	uint64_t events, skipped;
};

/* max 0: WARD_SSE_MAX_EVENT. 0 or -ENOMEM. */
int ward_sse_init(struct ward_sse *s, size_t max);
void ward_sse_free(struct ward_sse *s);
void ward_sse_feed(struct ward_sse *s, const char *p, size_t n, ward_sse_event_fn cb,
		   void *userdata);
