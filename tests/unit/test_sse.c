// SPDX-License-Identifier: MIT
/* The SSE parser: events split at every byte, CRLF/LF/CR line ends (a CRLF
 * across two pieces counts once), multi-line data, comments, event names,
 * and an oversized event skipped without disturbing the next one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/sse.h"

struct got {
	char log[4096];
	int n;
};

static void on_event(void *userdata, const char *event, const char *data, size_t len)
{
	struct got *g = userdata;
	size_t l = strlen(g->log);

	assert_int_equal(strlen(data), len);
	snprintf(g->log + l, sizeof(g->log) - l, "[%s|%s]", event, data);
	g->n++;
}

static void feed_all(struct ward_sse *s, const char *text, size_t step, struct got *g)
{
	size_t n = strlen(text);

	for (size_t i = 0; i < n; i += step)
		ward_sse_feed(s, text + i, i + step <= n ? step : n - i, on_event, g);
}

static const char stream[] = ": ping\r\n"
			     "event: message_start\r\n"
			     "data: {\"a\":1}\r\n"
			     "\r\n"
			     "data: line1\n"
			     "data: line2\n"
			     "id: 7\n"
			     "\n"
			     "data:nospace\r\r"
			     "event: x\n"
			     "\n" /* no data: no event */
			     "data: [DONE]\n\n";

static void test_split_everywhere(void **state)
{
	(void)state;
	for (size_t step = 1; step <= sizeof(stream); step++) {
		struct ward_sse s;
		struct got g = { 0 };

		assert_int_equal(ward_sse_init(&s, 0), 0);
		feed_all(&s, stream, step, &g);
		assert_string_equal(g.log,
				    "[message_start|{\"a\":1}][|line1\nline2][|nospace][|[DONE]]");
		assert_int_equal(g.n, 4);
		ward_sse_free(&s);
	}
}

static void test_oversized_event_skipped(void **state)
{
	struct ward_sse s;
	struct got g = { 0 };
	char big[200];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(ward_sse_init(&s, 64), 0);
	ward_sse_feed(&s, "data: ", 6, on_event, &g);
	ward_sse_feed(&s, big, strlen(big), on_event, &g);
	ward_sse_feed(&s, "\n\ndata: small\n\n", 15, on_event, &g);
	assert_string_equal(g.log, "[|small]");
	assert_int_equal(s.skipped, 1);
	/* two data lines that together exceed the cap */
	g.log[0] = '\0';
	ward_sse_feed(&s, "data: ", 6, on_event, &g);
	ward_sse_feed(&s, big, 40, on_event, &g);
	ward_sse_feed(&s, "\ndata: ", 7, on_event, &g);
	ward_sse_feed(&s, big, 40, on_event, &g);
	ward_sse_feed(&s, "\n\ndata: ok\n\n", 12, on_event, &g);
	assert_string_equal(g.log, "[|ok]");
	assert_int_equal(s.skipped, 2);
	ward_sse_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_everywhere),
		cmocka_unit_test(test_oversized_event_skipped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
