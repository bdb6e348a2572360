// SPDX-License-Identifier: MIT
/* Fuzz the ClientHello parser. Besides "no crash, no read past the buffer"
 * (the input is libFuzzer's exactly-sized buffer), it checks: a FOUND hello
 * is NEED_MORE at every shorter prefix of its records, and the reported name
 * is already normalised. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/match.h"
#include "proxy/sni.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                                   \
	do {                                                                                       \
		if (!(c)) {                                                                        \
			fprintf(stderr, "fuzz_sni: check failed: %s (line %d)\n", #c, __LINE__);   \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ward_sni_info info, again;
	enum ward_sni_result r = ward_sni_parse(data, size, &info);

	CHECK(r <= WARD_SNI_MALFORMED);
	if (r == WARD_SNI_NOT_TLS || r == WARD_SNI_MALFORMED)
		CHECK(info.reason != NULL);
	if (r != WARD_SNI_FOUND)
		return 0;
	CHECK(info.hello_len >= 9 && info.hello_len <= size);
	CHECK(info.n_alpn <= WARD_SNI_MAX_ALPN);
	for (size_t i = 0; i < info.n_alpn; i++)
		CHECK(strlen(info.alpn[i]) > 0 && strlen(info.alpn[i]) < WARD_SNI_ALPN_LEN);
	if (info.has_server_name) {
		char norm[WARD_HOST_MAX];
		int n = ward_host_normalize(info.server_name, strlen(info.server_name), norm,
					    sizeof(norm));

		CHECK(n >= 0 && strcmp(norm, info.server_name) == 0);
		CHECK(ward_match_host(info.server_name, info.server_name));
	}
	/* the same hello, cut short anywhere, is never judged early */
	for (size_t cut = 0; cut < info.hello_len; cut += 1 + cut / 8)
		CHECK(ward_sni_parse(data, cut, &again) == WARD_SNI_NEED_MORE);
	/* and what follows the hello does not change it */
	CHECK(ward_sni_parse(data, info.hello_len, &again) == WARD_SNI_FOUND);
	CHECK(strcmp(again.server_name, info.server_name) == 0 && again.n_alpn == info.n_alpn);
	return 0;
}

#include "replay.h"
