/* SPDX-License-Identifier: MIT */
/* Decision rows as OCSF 1.1 events (JSON, one object per line) for SIEMs.
 * docs/audit.md, "OCSF export", has the mapping. */
#pragma once

#include <stdio.h>

#include "audit/audit.h"

#define WARD_OCSF_VERSION "1.1.0"

/* OCSF class of a row: 4001 Network Activity (kernel, nft, proxy, dns),
 * 4002 HTTP Activity (l7, inference), 1001 File System Activity (fs),
 * 1007 Process Activity (lifecycle). */
unsigned ward_ocsf_class(const struct ward_audit_row *r);

/* Write r as one OCSF JSON object followed by a newline. */
void ward_ocsf_print(FILE *f, const struct ward_audit_row *r);
