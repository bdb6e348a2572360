// SPDX-License-Identifier: MIT
/* Server-sent events parser (sse.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/sse.h"

#define LINE_MAX_EXTRA 64 /* "data: " and a field name on top of the data bytes */

int ward_sse_init(struct ward_sse *s, size_t max)
{
	memset(s, 0, sizeof(*s));
	s->max = max ? max : WARD_SSE_MAX_EVENT;
	s->line = malloc(s->max + LINE_MAX_EXTRA);
	s->data = malloc(s->max + 1);
	if (!s->line || !s->data) {
		ward_sse_free(s);
		return -ENOMEM;
	}
	return 0;
}

void ward_sse_free(struct ward_sse *s)
{
	free(s->line);
	free(s->data);
	s->line = s->data = NULL;
}

static void dispatch(struct ward_sse *s, ward_sse_event_fn cb, void *userdata)
{
	if (s->has_data && !s->overflow) {
		s->data[s->data_len] = '\0';
		s->events++;
		if (cb)
			cb(userdata, s->event, s->data, s->data_len);
	} else if (s->overflow) {
		s->skipped++;
	}
	s->data_len = 0;
	s->has_data = false;
	s->overflow = false;
	s->event[0] = '\0';
}

static void line_done(struct ward_sse *s, ward_sse_event_fn cb, void *userdata)
{
	const char *l = s->line, *colon, *v;
	size_t n = s->line_len, flen, vlen;

	if (s->line_over) {
		/* a line too long to hold: if it was data, the event is lost */
		s->overflow = true;
		s->has_data = true;
		goto out;
	}
	if (n == 0) {
		dispatch(s, cb, userdata);
		goto out;
	}
	if (l[0] == ':')
		goto out; /* comment (keep-alive pings) */
	colon = memchr(l, ':', n);
	flen = colon ? (size_t)(colon - l) : n;
	v = colon ? colon + 1 : l + n;
	vlen = colon ? n - flen - 1 : 0;
	if (vlen && *v == ' ') {
		v++;
		vlen--;
	}
	if (flen == 4 && !memcmp(l, "data", 4)) {
		size_t need = vlen + (s->has_data ? 1 : 0);

		if (s->overflow || s->data_len + need > s->max) {
			s->overflow = true;
		} else {
			if (s->has_data)
				s->data[s->data_len++] = '\n';
			memcpy(s->data + s->data_len, v, vlen);
			s->data_len += vlen;
		}
		s->has_data = true;
	} else if (flen == 5 && !memcmp(l, "event", 5)) {
		size_t k = vlen < sizeof(s->event) - 1 ? vlen : sizeof(s->event) - 1;

		memcpy(s->event, v, k);
		s->event[k] = '\0';
	}
	/* id, retry and unknown fields: nothing ward needs */
out:
	s->line_len = 0;
	s->line_over = false;
}

void ward_sse_feed(struct ward_sse *s, const char *p, size_t n, ward_sse_event_fn cb,
		   void *userdata)
{
	size_t cap = s->max + LINE_MAX_EXTRA;

	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (c == '\n' && s->after_cr) {
			s->after_cr = false; /* the LF of a CRLF */
			continue;
		}
		s->after_cr = false;
		if (c == '\r' || c == '\n') {
			s->after_cr = c == '\r';
			line_done(s, cb, userdata);
			continue;
		}
		if (s->line_len < cap)
			s->line[s->line_len++] = c;
		else
			s->line_over = true;
	}
}
