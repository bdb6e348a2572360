// SPDX-License-Identifier: MIT
/* The responses ward writes itself: 403 denials with a JSON body that says
 * which part failed and what would allow it, and 4xx/5xx errors with a JSON
 * body. Always "Connection: close": a denial ends the connection. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "proxy/proxy_internal.h"

static const char *status_text(int status)
{
	switch (status) {
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 408:
		return "Request Timeout";
	case 413:
		return "Content Too Large";
	case 414:
		return "URI Too Long";
	case 421:
		return "Misdirected Request";
	case 431:
		return "Request Header Fields Too Large";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}

/* Header values: printable ASCII only; ';' and ',' would split the fields. */
static void header_safe(FILE *f, const char *s)
{
	for (; s && *s; s++)
		fputc((*s >= 0x20 && *s < 0x7f && *s != ';' && *s != ',') ? *s : ' ', f);
}

static char *finish(int status, const char *decision_rule, const char *decision_reason, char *body,
		    size_t body_len, size_t *ret_len)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f) {
		free(body);
		return NULL;
	}
	fprintf(f,
		"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		"Cache-Control: no-store\r\nConnection: close\r\n",
		status, status_text(status), body_len);
	if (decision_reason) {
		fputs("X-Ward-Decision: deny; rule=", f);
		header_safe(f, decision_rule && *decision_rule ? decision_rule : "none");
		fputs("; reason=", f);
		header_safe(f, decision_reason);
		fputs("\r\n", f);
	}
	fputs("\r\n", f);
	fwrite(body, 1, body_len, f);
	free(body);
	if (fclose(f)) {
		free(out);
		return NULL;
	}
	*ret_len = len;
	return out;
}

static void field(FILE *f, const char *name, const char *value, bool comma)
{
	fprintf(f, "%s\"%s\":", comma ? "," : "", name);
	ward_json_str(f, value);
}

char *deny_response(const char *layer, const struct ward_request *req,
		    const struct ward_net_verdict *v, const char *reason, size_t *ret_len)
{
	const char *failed = ward_failed_str(v->failed);
	char *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);

	if (!f)
		return NULL;
	if (!reason)
		reason = v->reason;
	fputs("{", f);
	field(f, "error", "ward_denied", false);
	field(f, "layer", layer, true);
	field(f, "failed", *failed ? failed : "host", true);
	field(f, "binary", req->binary, true);
	field(f, "host", req->host, true);
	fprintf(f, ",\"port\":%u", req->port);
	field(f, "method", req->method, true);
	field(f, "path", req->path, true);
	field(f, "reason", reason, true);
	fputs(",\"closest_rule\":", f);
	if (v->closest) {
		fputs("{", f);
		field(f, "policy", v->closest->key, false);
		field(f, "why", v->why, true);
		fputs("}", f);
	} else {
		fputs("null", f);
	}
	field(f, "hint", v->hint[0] ? v->hint : NULL, true);
	fputs("}\n", f);
	if (fclose(f)) {
		free(body);
		return NULL;
	}
	return finish(403, v->closest ? v->closest->key : NULL, reason, body, len, ret_len);
}

char *error_response(int status, const char *error, const char *reason, size_t *ret_len)
{
	char *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);

	if (!f)
		return NULL;
	fputs("{", f);
	field(f, "error", error, false);
	field(f, "layer", "proxy", true);
	field(f, "reason", reason, true);
	fputs("}\n", f);
	if (fclose(f)) {
		free(body);
		return NULL;
	}
	return finish(status, NULL, NULL, body, len, ret_len);
}
