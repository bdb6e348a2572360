// SPDX-License-Identifier: MIT
/* Shared by the verbs that talk to the daemon (daemon_cli.h). */
#include "daemon_cli.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int cli_socket_opt(const char *prog, int argc, char **argv, int *i, const char **ret)
{
	const char *a = argv[*i];

	if (!strncmp(a, "--socket=", 9)) {
		*ret = a + 9;
	} else if (!strcmp(a, "--socket")) {
		if (*i + 1 >= argc || !argv[*i + 1][0]) {
			fprintf(stderr, "%s: --socket needs a value\n", prog);
			return -1;
		}
		*ret = argv[++*i];
	} else {
		return 0;
	}
	if (!**ret) {
		fprintf(stderr, "%s: --socket needs a value\n", prog);
		return -1;
	}
	return 1;
}

struct ward_client *cli_connect(const char *prog, const char *socket)
{
	struct ward_error err = { 0 };
	struct ward_client *c = NULL;

	if (ward_client_connect(ward_client_socket_path(socket), &c, &err) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		return NULL;
	}
	return c;
}

/* "FILE:LINE:COL: ..." (a compiler diagnostic) */
static bool positioned(const char *line)
{
	const char *p = strchr(line, ':');

	for (int field = 0; field < 2; field++) {
		if (!p || !isdigit((unsigned char)p[1]))
			return false;
		for (p++; isdigit((unsigned char)*p); p++)
			;
		if (*p != ':')
			return false;
	}
	return p[1] == ' ';
}

void cli_print_warnings(const json_t *obj)
{
	const json_t *v;
	size_t i;

	json_array_foreach(json_object_get(obj, "warnings"), i, v)
		if (json_is_string(v))
			fprintf(stderr, "%s\n", json_string_value(v));
}

void cli_print_error(const char *prog, const char *msg)
{
	if (!*msg) {
		fprintf(stderr, "%s: the daemon refused without a reason\n", prog);
		return;
	}
	/* compiler diagnostics stay as they are, one per line, so editors and
	 * scripts read them like ward policy check's */
	if (positioned(msg) || strchr(msg, '\n'))
		fprintf(stderr, "%s%s", msg, msg[strlen(msg) - 1] == '\n' ? "" : "\n");
	else
		fprintf(stderr, "%s: %s\n", prog, msg);
}

int cli_call(const char *prog, struct ward_client *c, json_t *req, json_t **ret_reply)
{
	struct ward_error err = { 0 };
	json_t *reply = NULL;
	int r;

	r = ward_client_call(c, req, &reply, &err);
	if (r < 0 && reply) {
		cli_print_error(prog, ward_client_error_message(reply));
		json_decref(reply);
		return r;
	}
	if (r < 0) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		return r;
	}
	*ret_reply = reply;
	return 0;
}

char *cli_abspath(const char *prog, const char *opt, const char *path)
{
	char *abs = realpath(path, NULL);

	if (!abs)
		fprintf(stderr, "%s: %s%s%s: %s\n", prog, opt ? opt : "", opt ? " " : "", path,
			strerror(errno));
	return abs;
}

int cli_parse_duration_ms(const char *s, uint64_t *ret)
{
	static const struct {
		const char *unit;
		uint64_t ms;
	} units[] = { { "ms", 1 },	  { "s", 1000 },    { "", 1000 },
		      { "m", 60 * 1000 }, { "h", 3600000 }, { "d", 86400000 } };
	unsigned long long v;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit))
			continue;
		if (v > UINT64_MAX / units[i].ms)
			return -EINVAL;
		*ret = v * units[i].ms;
		return 0;
	}
	return -EINVAL;
}

void cli_format_duration(uint64_t ms, char *buf, size_t n)
{
	uint64_t s = ms / 1000;

	if (ms < 1000)
		snprintf(buf, n, "%llums", (unsigned long long)ms);
	else if (s < 60)
		snprintf(buf, n, "%llu.%01llus", (unsigned long long)s,
			 (unsigned long long)(ms % 1000) / 100);
	else if (s < 3600)
		snprintf(buf, n, "%llum%02llus", (unsigned long long)s / 60,
			 (unsigned long long)s % 60);
	else if (s < 86400)
		snprintf(buf, n, "%lluh%02llum", (unsigned long long)s / 3600,
			 (unsigned long long)s % 3600 / 60);
	else
		snprintf(buf, n, "%llud%02lluh", (unsigned long long)s / 86400,
			 (unsigned long long)s % 86400 / 3600);
}

void cli_format_time(uint64_t ns, char *buf, size_t n)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;

	if (!ns || !localtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, n, "-");
}

void cli_print_json(FILE *f, const json_t *v)
{
	json_dumpf(v, f, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
	fputc('\n', f);
}
