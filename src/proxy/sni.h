/* SPDX-License-Identifier: MIT */
/* TLS ClientHello parser for the transparent proxy port: the first bytes of
 * a connection tell whether it is TLS and, if so, which name (SNI) and which
 * application protocols (ALPN) the client asks for. Reads only within the
 * buffer it is given; never allocates.
 *
 * The ClientHello may span several TLS records (large post-quantum key
 * shares, or middleboxes that fragment): consecutive handshake records are
 * reassembled up to WARD_SNI_MAX_HELLO bytes of handshake message. An SSLv2
 * compatible hello, or any other first record type, is "not TLS". */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/match.h"

#define WARD_SNI_MAX_HELLO (16u << 10) /* ClientHello message body, header excluded */
#define WARD_SNI_MAX_ALPN 16
#define WARD_SNI_ALPN_LEN 64 /* longest protocol name kept, NUL included */

enum ward_sni_result {
	WARD_SNI_FOUND = 0, /* a complete, well-formed ClientHello */
	WARD_SNI_NEED_MORE, /* so far consistent with a ClientHello: read more */
	WARD_SNI_NOT_TLS,   /* the first bytes are not a TLS handshake record */
	WARD_SNI_MALFORMED, /* TLS, but not a ClientHello ward can trust */
};

struct ward_sni_info {
	bool has_server_name;
	char server_name[WARD_HOST_MAX]; /* host_name, normalised (ward_host_normalize()) */
	size_t n_alpn;
	char alpn[WARD_SNI_MAX_ALPN][WARD_SNI_ALPN_LEN];
	bool alpn_truncated;	 /* more or longer protocols than kept: the rest are ignored */
	uint16_t legacy_version; /* client_version field, e.g. 0x0303 */
	bool supported_versions; /* the supported_versions extension (TLS 1.3) was offered */
	size_t hello_len;	 /* bytes of buf that carried the ClientHello (all its records) */
	const char *reason;	 /* WARD_SNI_MALFORMED / NOT_TLS: why */
};

/* Parse buf[0..len). Fills *ret (always cleared first). */
enum ward_sni_result ward_sni_parse(const uint8_t *buf, size_t len, struct ward_sni_info *ret);

/* True when the client offered this ALPN protocol. */
bool ward_sni_has_alpn(const struct ward_sni_info *info, const char *proto);
