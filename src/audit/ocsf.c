// SPDX-License-Identifier: MIT
/* OCSF 1.1 export of decision rows. Each row becomes one event of the class
 * its layer describes; the fields OCSF has no place for (rule, policy_rev,
 * hash, ...) go to `unmapped`, so nothing the log holds is lost. */
#include "audit/ocsf.h"
#include "common/util.h"

#include <string.h>

#ifndef WARD_VERSION
#define WARD_VERSION "0.1.0"
#endif

enum {
	CLASS_FILE = 1001,
	CLASS_PROCESS = 1007,
	CLASS_NETWORK = 4001,
	CLASS_HTTP = 4002,
};

static bool is(const char *a, const char *b)
{
	return a && !strcmp(a, b);
}

unsigned ward_ocsf_class(const struct ward_audit_row *r)
{
	if (is(r->layer, "l7") || is(r->layer, "inference"))
		return CLASS_HTTP;
	if (is(r->layer, "fs"))
		return CLASS_FILE;
	if (is(r->layer, "lifecycle") || is(r->layer, "seccomp"))
		return CLASS_PROCESS;
	return CLASS_NETWORK;
}

struct act {
	unsigned id;
	const char *name;
};

static struct act http_activity(const char *method)
{
	static const struct {
		const char *m;
		struct act a;
	} map[] = {
		{ "CONNECT", { 1, "Connect" } }, { "DELETE", { 2, "Delete" } },
		{ "GET", { 3, "Get" } },	 { "HEAD", { 4, "Head" } },
		{ "OPTIONS", { 5, "Options" } }, { "POST", { 6, "Post" } },
		{ "PUT", { 7, "Put" } },	 { "TRACE", { 8, "Trace" } },
	};

	if (!method)
		return (struct act){ 0, "Unknown" };
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(map[i].m, method))
			return map[i].a;
	return (struct act){ 99, "Other" }; /* PATCH and extension methods */
}

static struct act activity(unsigned cls, const struct ward_audit_row *r)
{
	switch (cls) {
	case CLASS_HTTP:
		return http_activity(r->method);
	case CLASS_FILE:
		return (struct act){ 14, "Open" };
	case CLASS_PROCESS:
		if (is(r->rule, "start"))
			return (struct act){ 1, "Launch" };
		if (is(r->rule, "exit"))
			return (struct act){ 2, "Terminate" };
		return (struct act){ 99, "Other" };
	default:
		/* a refused connection is "Refuse"; an allowed one "Open" */
		return is(r->action, "deny") ? (struct act){ 5, "Refuse" }
					     : (struct act){ 1, "Open" };
	}
}

static const char *class_name(unsigned cls)
{
	switch (cls) {
	case CLASS_HTTP:
		return "HTTP Activity";
	case CLASS_FILE:
		return "File System Activity";
	case CLASS_PROCESS:
		return "Process Activity";
	default:
		return "Network Activity";
	}
}

static void key_str(FILE *f, bool *first, const char *k, const char *v)
{
	if (!v)
		return;
	fprintf(f, "%s\"%s\":", *first ? "" : ",", k);
	ward_json_str(f, v);
	*first = false;
}

static void key_int(FILE *f, bool *first, const char *k, bool present, long long v)
{
	if (!present)
		return;
	fprintf(f, "%s\"%s\":%lld", *first ? "" : ",", k, v);
	*first = false;
}

static const char *file_name(const char *path)
{
	const char *s = path ? strrchr(path, '/') : NULL;

	return s ? s + 1 : path;
}

static void print_process(FILE *f, const struct ward_audit_row *r)
{
	bool first = true;

	fputs("{", f);
	key_int(f, &first, "pid", r->has_pid, r->pid);
	if (r->binary) {
		bool ff = true;

		fprintf(f, "%s\"file\":{", first ? "" : ",");
		first = false;
		key_str(f, &ff, "path", r->binary);
		key_str(f, &ff, "name", file_name(r->binary));
		key_int(f, &ff, "type_id", true, 1); /* Regular File */
		if (r->binary_sha256) {
			/* algorithm_id 3: SHA-256 */
			fputs(",\"hashes\":[{\"algorithm_id\":3,\"algorithm\":\"SHA-256\",\"value\":",
			      f);
			ward_json_str(f, r->binary_sha256);
			fputs("}]", f);
		}
		fputs("}", f);
	}
	fputs("}", f);
}

static void print_endpoints(FILE *f, const struct ward_audit_row *r)
{
	bool first = true;

	/* the source is the sandbox; OCSF's endpoint uid names it */
	fputs(",\"src_endpoint\":{", f);
	key_str(f, &first, "uid", r->sandbox);
	fputs("},\"dst_endpoint\":{", f);
	first = true;
	key_str(f, &first, "hostname", r->host);
	key_str(f, &first, "ip", r->ip);
	key_int(f, &first, "port", r->has_port, r->port);
	fputs("}", f);
}

void ward_ocsf_print(FILE *f, const struct ward_audit_row *r)
{
	unsigned cls = ward_ocsf_class(r);
	struct act a = activity(cls, r);
	bool deny = is(r->action, "deny"), audit = is(r->action, "audit");
	/* allowed 1; blocked 2; an audit-mode finding was detected, not blocked (15) */
	unsigned disp = deny ? 2 : audit ? 15 : 1;
	const char *disp_name = deny ? "Blocked" : audit ? "Detected" : "Allowed";
	unsigned sev = deny ? 3 : audit ? 2 : 1; /* Medium, Low, Informational */
	bool first = true;

	fprintf(f,
		"{\"class_uid\":%u,\"class_name\":\"%s\",\"category_uid\":%u,"
		"\"category_name\":\"%s\",\"activity_id\":%u,\"activity_name\":\"%s\","
		"\"type_uid\":%u,\"severity_id\":%u,\"time\":%lld,\"disposition_id\":%u,"
		"\"disposition\":\"%s\",\"action_id\":%u,\"action\":\"%s\","
		"\"status_id\":%u,\"message\":",
		cls, class_name(cls), cls / 1000,
		cls / 1000 == 4 ? "Network Activity" : "System Activity", a.id, a.name,
		cls * 100 + a.id, sev, (long long)(r->ts_ns / 1000000), disp, disp_name,
		deny ? 2u : 1u, deny ? "Denied" : "Allowed", deny ? 2u : 1u);
	ward_json_str(f, r->reason);
	fputs(",\"metadata\":{\"version\":\"" WARD_OCSF_VERSION "\",\"product\":{\"name\":\"ward\","
	      "\"vendor_name\":\"ward\",\"version\":\"" WARD_VERSION
	      "\"},\"log_name\":\"decisions\","
	      "\"uid\":\"",
	      f);
	fprintf(f, "%lld\"}", (long long)r->id);
	fputs(",\"actor\":{\"process\":", f);
	print_process(f, r);
	if (r->has_uid) /* OCSF's user.uid is a string */
		fprintf(f, ",\"user\":{\"uid\":\"%lld\"}", (long long)r->uid);
	fputs("}", f);

	switch (cls) {
	case CLASS_HTTP:
		print_endpoints(f, r);
		fputs(",\"http_request\":{", f);
		key_str(f, &first, "http_method", r->method);
		fprintf(f, "%s\"url\":{", first ? "" : ",");
		first = true;
		key_str(f, &first, "hostname", r->host);
		key_str(f, &first, "path", r->path);
		key_int(f, &first, "port", r->has_port, r->port);
		fputs("}}", f);
		break;
	case CLASS_FILE:
		fputs(",\"file\":{", f);
		key_str(f, &first, "path", r->path);
		key_str(f, &first, "name", file_name(r->path));
		key_int(f, &first, "type_id", true, 0); /* Unknown: the open failed */
		fputs("}", f);
		break;
	case CLASS_PROCESS:
		fputs(",\"process\":", f);
		print_process(f, r);
		break;
	default:
		print_endpoints(f, r);
		if (r->protocol) {
			fputs(",\"connection_info\":{\"protocol_name\":", f);
			ward_json_str(f, r->protocol);
			fputs("}", f);
		}
		break;
	}

	/* ward's own fields, under their decision-log names */
	fputs(",\"unmapped\":{\"layer\":", f);
	ward_json_str(f, r->layer);
	fputs(",\"action\":", f);
	ward_json_str(f, r->action);
	fputs(",\"sandbox\":", f);
	ward_json_str(f, r->sandbox);
	fputs(",\"rule\":", f);
	ward_json_str(f, r->rule);
	fputs(",\"policy_rev\":", f);
	ward_json_str(f, r->policy_rev);
	fputs(",\"session\":", f);
	ward_json_str(f, r->session);
	fputs(",\"via\":", f);
	ward_json_str(f, r->via);
	/* OCSF's process has no cgroup */
	fputs(",\"cgroup\":", f);
	ward_json_str(f, r->cgroup);
	fputs(",\"protocol\":", f);
	ward_json_str(f, r->protocol);
	fputs(",\"hash\":", f);
	ward_json_str(f, r->hash);
	fprintf(f, ",\"id\":%lld,\"ts_ns\":%lld}}\n", (long long)r->id, (long long)r->ts_ns);
}
