/* SPDX-License-Identifier: MIT */
/* What the verbs that talk to the daemon share (sandbox, exec, sessions,
 * secret, policy apply): connecting, printing the daemon's errors as they
 * come, absolute paths, durations and times for tables. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "runtime/client.h"

/* "--socket PATH" / "--socket=PATH" at argv[*i]: 1 taken (*i advanced, *ret
 * set), 0 not this option, -1 missing value (printed). */
int cli_socket_opt(const char *prog, int argc, char **argv, int *i, const char **ret);

/* Connect, or print "PROG: why" and return NULL. */
struct ward_client *cli_connect(const char *prog, const char *socket);

/* One request, one reply: 0 ok (*ret_reply set), else the error was printed
 * (the daemon's message as it came: FILE:LINE:COL lines stay lines) and
 * the -errno is returned. */
int cli_call(const char *prog, struct ward_client *c, json_t *req, json_t **ret_reply);
/* Print a daemon error message (see cli_call). */
void cli_print_error(const char *prog, const char *msg);
/* The "warnings" array of a reply object (the rule packs' FILE:LINE:COL
 * lines), one per line on stderr; nothing when absent. */
void cli_print_warnings(const json_t *obj);

/* realpath of a path given on the command line, or print "PROG: OPT PATH:
 * why" and return NULL. */
char *cli_abspath(const char *prog, const char *opt, const char *path);

/* "30s", "10m", "2h", "1d", "500ms", "90" (seconds) -> milliseconds; -EINVAL. */
int cli_parse_duration_ms(const char *s, uint64_t *ret);
/* 1234567 ms -> "20m34s" (at most two units). */
void cli_format_duration(uint64_t ms, char *buf, size_t n);
/* ns since the epoch -> "2026-12-02 23:58:31" local time; "-" for 0. */
void cli_format_time(uint64_t ns, char *buf, size_t n);

/* One JSON value, compact, on one line of f. */
void cli_print_json(FILE *f, const json_t *v);

static inline bool cli_is_help(const char *a)
{
	return a[0] == '-' && (!__builtin_strcmp(a, "--help") || !__builtin_strcmp(a, "-h"));
}
