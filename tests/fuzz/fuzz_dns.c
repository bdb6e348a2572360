// SPDX-License-Identifier: MIT
/* Fuzz the DNS stub's query parser and answer builder. Besides "no crash, no
 * read past the buffer" (libFuzzer's buffer is exactly sized), it checks: a
 * parsed name respects the label and length bounds; the answer echoes the id
 * and the question, never exceeds its buffer or WARD_DNS_MAX_ANSWERS, and
 * parses back as a response (QR set) that the parser refuses to answer. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/dns.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "fuzz_dns: check failed: %s (line %d)\n", #c, __LINE__);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t addrs[WARD_DNS_MAX_ANSWERS * 2 * 16] = { 1, 2, 3, 4 };
	struct ward_dns_query q, again;
	uint8_t out[WARD_DNS_UDP_MAX];
	int rc = ward_dns_parse_query(data, size, &q);
	int len;

	if (rc < 0)
		return 0;
	CHECK(rc == WARD_DNS_NOERROR || rc == WARD_DNS_FORMERR || rc == WARD_DNS_NOTIMP);
	CHECK(q.id == (uint16_t)(data[0] << 8 | data[1]));
	if (rc == WARD_DNS_NOERROR) {
		size_t n = strlen(q.name), label = 0;

		CHECK(n < WARD_DNS_NAME_MAX);
		CHECK(q.qwire_len >= 5 && q.qwire_len <= WARD_DNS_NAME_MAX + 4);
		for (size_t i = 0; i < n; i++) {
			CHECK(q.name[i] < 'A' || q.name[i] > 'Z');
			label = q.name[i] == '.' ? 0 : label + 1;
			CHECK(label <= 63);
		}
	}
	/* the peer chooses how many addresses it gets back: the builder bounds it */
	len = ward_dns_build_response(&q, rc, addrs, size % (2 * WARD_DNS_MAX_ANSWERS), out,
				      sizeof(out));
	if (len < 0)
		return 0;
	CHECK((size_t)len <= sizeof(out) && len >= 12);
	CHECK(out[0] == data[0] && out[1] == data[1]);
	CHECK(out[2] & 0x80);
	CHECK(out[7] <= WARD_DNS_MAX_ANSWERS && out[6] == 0);
	CHECK(memcmp(out + 12, q.qwire, q.qwire_len) == 0);
	/* a response is never taken for a query: no stub-to-stub loops */
	CHECK(ward_dns_parse_query(out, (size_t)len, &again) == -EINVAL);
	return 0;
}

#include "replay.h"
