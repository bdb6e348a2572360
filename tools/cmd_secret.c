// SPDX-License-Identifier: MIT
/* ward secret set|list|rm: the daemon's secret store. A value is read from
 * stdin only (never argv, where ps and shell history would see it) and never
 * printed. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "commands.h"
#include "common/cleanup.h"
#include "daemon_cli.h"
#include "policy/secrets.h"

DEFINE_CLEANUP(struct ward_client *, ward_client_free)
DEFINE_CLEANUP(struct ward_secrets *, ward_secrets_unref)

/* The request line is capped at 64 KiB by the daemon; JSON escapes grow a value. */
#define SECRET_MAX (16 * 1024)

static const char usage_secret[] =
	"Usage: ward secret SUBCOMMAND [--socket PATH] [ARGS...]\n"
	"\n"
	"Manage the daemon's secrets: values a policy names with 'secret: NAME'\n"
	"(credentials) or 'api_key_secret: NAME' (inference routes) instead of an\n"
	"environment variable. A new value is used from the next request in every\n"
	"running sandbox, without a restart. Values are stored root-only in the\n"
	"daemon's state directory and never appear in a row, a message or output.\n"
	"\n"
	"Subcommands:\n"
	"  set NAME          read the value from stdin and store it\n"
	"  list [--json]     the names and when each was set, never the values\n"
	"  rm NAME           delete the secret\n"
	"\n"
	"Options (every subcommand):\n"
	"  --socket PATH     the daemon's socket (default: $WARD_SOCKET, else\n"
	"                    /run/ward/ward.sock)\n"
	"  -h, --help        show this help\n"
	"\n"
	"Without a daemon (nothing answers on /run/ward/ward.sock, and neither\n"
	"--socket nor $WARD_SOCKET names another socket), root works on the store\n"
	"directly: $WARD_STATE/secrets, else\n"
	"/var/lib/ward/secrets, the store 'ward run' reads; a line on stderr says so.\n"
	"\n"
	"Run 'ward secret SUBCOMMAND --help' for details.\n";

static const char usage_secret_set[] =
	"Usage: ward secret set NAME [--socket PATH] < FILE\n"
	"\n"
	"Store the secret NAME with the value read from stdin, replacing the old\n"
	"value. The value never comes from the command line. One trailing newline\n"
	"(\\n or \\r\\n) is removed, so 'echo TOKEN | ward secret set NAME' and a file\n"
	"that ends in a newline both store TOKEN. When stdin is a terminal, the value\n"
	"is read as one line with echo off after a prompt on stderr.\n"
	"\n"
	"The value must be UTF-8 text of 1 to 16384 bytes.\n"
	"\n"
	"Options:\n"
	"  --socket PATH     the daemon's socket (default: $WARD_SOCKET, else\n"
	"                    /run/ward/ward.sock)\n"
	"  -h, --help        show this help\n"
	"\n"
	"Exit status: 0 stored, 1 refused or failed, 2 usage error.\n";

static const char usage_secret_list[] =
	"Usage: ward secret list [--json] [--socket PATH]\n"
	"\n"
	"List the daemon's secrets: each name and when it was last set (local time).\n"
	"Values are never shown.\n"
	"\n"
	"Options:\n"
	"  --json            one JSON object per secret and line: name, set_ns\n"
	"  --socket PATH     the daemon's socket (default: $WARD_SOCKET, else\n"
	"                    /run/ward/ward.sock)\n"
	"  -h, --help        show this help\n"
	"\n"
	"Exit status: 0 listed, 1 refused or failed, 2 usage error.\n";

static const char usage_secret_rm[] =
	"Usage: ward secret rm NAME [--socket PATH]\n"
	"\n"
	"Delete the secret NAME. Sandboxes whose policy references it fail closed:\n"
	"requests that need it are refused (and logged) until it is set again.\n"
	"\n"
	"Options:\n"
	"  --socket PATH     the daemon's socket (default: $WARD_SOCKET, else\n"
	"                    /run/ward/ward.sock)\n"
	"  -h, --help        show this help\n"
	"\n"
	"Exit status: 0 removed, 1 refused or failed, 2 usage error.\n";

/* The value from stdin into buf (NUL-terminated); its length, or -errno:
 * -E2BIG over SECRET_MAX, -ENODATA empty. */
static ssize_t read_value(const char *name, char *buf, size_t cap)
{
	struct termios old, quiet;
	bool tty = isatty(STDIN_FILENO), echo_off = false;
	size_t len = 0;

	if (tty) {
		fprintf(stderr, "Value for secret %s (not echoed): ", name);
		fflush(stderr);
		if (tcgetattr(STDIN_FILENO, &old) == 0) {
			quiet = old;
			quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
			echo_off = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet) == 0;
		}
		if (!echo_off) {
			fprintf(stderr, "\n");
			return -ENOTTY; /* never read a secret while the terminal echoes it */
		}
	}
	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			len = (size_t)-errno;
			break;
		}
		len += (size_t)n;
		/* a terminal gives one line; a pipe or file is read to its end */
		if (n == 0 || len == cap || (tty && memchr(buf, '\n', len)))
			break;
	}
	if (echo_off) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
		fprintf(stderr, "\n");
	}
	if ((ssize_t)len < 0)
		return (ssize_t)len;
	if (len == cap)
		return -E2BIG;
	if (len && buf[len - 1] == '\n')
		len--;
	if (len && buf[len - 1] == '\r')
		len--;
	buf[len] = '\0';
	return len ? (ssize_t)len : -ENODATA;
}

/* The daemon, or NULL with *ret_store set: nothing answers on the default
 * socket (no --socket, no $WARD_SOCKET) and we are root, so the store is used
 * directly (the one ward run reads).
 * NULL and no store: the error was printed. */
static struct ward_client *open_target(const char *prog, const char *socket,
				       struct ward_secrets **ret_store)
{
	struct ward_error err = { 0 };
	struct ward_client *c = NULL;
	const char *path = ward_client_socket_path(socket);
	int r;

	*ret_store = NULL;
	r = ward_client_connect(path, &c, &err);
	if (r >= 0)
		return c;
	/* only for the default socket: a socket named explicitly must answer */
	if ((r != -ENOENT && r != -ECONNREFUSED) || strcmp(path, WARD_CLIENT_DEFAULT_SOCKET) ||
	    geteuid() != 0) {
		fprintf(stderr, "%s: %s\n", prog, err.msg);
		return NULL;
	}
	if (ward_secrets_open(NULL, ret_store, &err) < 0) {
		fprintf(stderr, "%s: no daemon at %s, and the store: %s\n", prog, path, err.msg);
		return NULL;
	}
	fprintf(stderr, "%s: no daemon at %s: using the store %s directly\n", prog, path,
		ward_secrets_dir(*ret_store));
	return NULL;
}

static int one_name(const char *prog, const char *usage, int argc, char **argv,
		    const char **ret_name, const char **ret_socket, bool *ret_json)
{
	for (int k = 1; k < argc; k++) {
		int r;

		if (cli_is_help(argv[k])) {
			fputs(usage, stdout);
			return 1;
		}
		r = cli_socket_opt(prog, argc, argv, &k, ret_socket);
		if (r < 0)
			return -1;
		if (r > 0)
			continue;
		if (ret_json && !strcmp(argv[k], "--json")) {
			*ret_json = true;
			continue;
		}
		if (argv[k][0] == '-' || !ret_name || *ret_name) {
			fprintf(stderr, "%s: unexpected argument '%s'\n%s", prog, argv[k], usage);
			return -1;
		}
		*ret_name = argv[k];
	}
	if (ret_name && !*ret_name) {
		fprintf(stderr, "%s: NAME is required\n%s", prog, usage);
		return -1;
	}
	return 0;
}

static int secret_set(int argc, char **argv)
{
	static const char prog[] = "ward secret set";
	_cleanup_(ward_client_freep) struct ward_client *c = NULL;
	_cleanup_(ward_secrets_unrefp) struct ward_secrets *store = NULL;
	_cleanup_(json_decrefp) json_t *reply = NULL;
	const char *name = NULL, *socket = NULL;
	char *buf;
	json_t *req, *val;
	ssize_t n;
	int r;

	r = one_name(prog, usage_secret_set, argc, argv, &name, &socket, NULL);
	if (r)
		return r > 0 ? 0 : 2;
	buf = malloc(SECRET_MAX + 1);
	if (!buf)
		return 1;
	n = read_value(name, buf, SECRET_MAX + 1);
	if (n < 0) {
		explicit_bzero(buf, SECRET_MAX + 1);
		free(buf);
		if (n == -E2BIG)
			fprintf(stderr, "%s: the value is longer than %d bytes\n", prog,
				SECRET_MAX);
		else if (n == -ENODATA)
			fprintf(stderr, "%s: empty value on stdin (nothing stored)\n", prog);
		else if (n == -ENOTTY)
			fprintf(stderr, "%s: cannot turn terminal echo off\n", prog);
		else
			fprintf(stderr, "%s: read stdin: %s\n", prog, strerror((int)-n));
		return 1;
	}
	c = open_target(prog, socket, &store);
	if (store) {
		struct ward_error err = { 0 };

		r = ward_secret_set(store, name, buf, (size_t)n, &err);
		explicit_bzero(buf, SECRET_MAX + 1);
		free(buf);
		if (r < 0) {
			fprintf(stderr, "%s: %s\n", prog, err.msg);
			return 1;
		}
		printf("secret %s set\n", name);
		return 0;
	}
	val = c ? json_stringn(buf, (size_t)n) : NULL;
	explicit_bzero(buf, SECRET_MAX + 1);
	free(buf);
	if (!c)
		return 1;
	if (!val) {
		fprintf(stderr, "%s: the value is not UTF-8 text without NUL bytes\n", prog);
		return 1;
	}
	req = json_pack("{s:s, s:s, s:o}", "verb", "secret.set", "name", name, "value", val);
	r = req ? cli_call(prog, c, req, &reply) : -ENOMEM;
	json_decref(req);
	if (r < 0)
		return 1;
	printf("secret %s set\n", name);
	return 0;
}

static int secret_list(int argc, char **argv)
{
	static const char prog[] = "ward secret list";
	_cleanup_(ward_client_freep) struct ward_client *c = NULL;
	_cleanup_(ward_secrets_unrefp) struct ward_secrets *store = NULL;
	_cleanup_(json_decrefp) json_t *req = NULL, *reply = NULL;
	const char *socket = NULL;
	bool json = false;
	json_t *list, *s;
	size_t i;
	int r;

	r = one_name(prog, usage_secret_list, argc, argv, NULL, &socket, &json);
	if (r)
		return r > 0 ? 0 : 2;
	c = open_target(prog, socket, &store);
	if (store) {
		_cleanup_free_ struct ward_secret_info *v = NULL;
		struct ward_error err = { 0 };
		size_t n = 0;

		if (ward_secret_list(store, &v, &n, &err) < 0) {
			fprintf(stderr, "%s: %s\n", prog, err.msg);
			return 1;
		}
		reply = json_pack("{s:[]}", "secrets");
		for (size_t k = 0; reply && k < n; k++)
			json_array_append_new(json_object_get(reply, "secrets"),
					      json_pack("{s:s, s:I}", "name", v[k].name, "set_ns",
							(json_int_t)v[k].set_ns));
	} else {
		req = json_pack("{s:s}", "verb", "secret.list");
		if (!req || !c || cli_call(prog, c, req, &reply) < 0)
			return 1;
	}
	list = json_object_get(reply, "secrets");
	if (!json_is_array(list)) {
		fprintf(stderr, "%s: the daemon's reply has no secret list\n", prog);
		return 1;
	}
	if (!json && !json_array_size(list))
		printf("no secrets (set one: ward secret set NAME < FILE)\n");
	else if (!json)
		printf("%-32s %s\n", "NAME", "SET");
	json_array_foreach(list, i, s) {
		const char *nm = json_string_value(json_object_get(s, "name"));
		json_int_t set = json_integer_value(json_object_get(s, "set_ns"));
		char when[32];

		if (json) {
			/* names and times only, whatever else a reply might carry */
			json_t *o = json_pack("{s:s?, s:I}", "name", nm, "set_ns", set);

			if (o)
				cli_print_json(stdout, o);
			json_decref(o);
			continue;
		}
		cli_format_time((uint64_t)set, when, sizeof(when));
		printf("%-32s %s\n", nm ?: "?", when);
	}
	return 0;
}

static int secret_rm(int argc, char **argv)
{
	static const char prog[] = "ward secret rm";
	_cleanup_(ward_client_freep) struct ward_client *c = NULL;
	_cleanup_(ward_secrets_unrefp) struct ward_secrets *store = NULL;
	_cleanup_(json_decrefp) json_t *req = NULL, *reply = NULL;
	const char *name = NULL, *socket = NULL;
	int r;

	r = one_name(prog, usage_secret_rm, argc, argv, &name, &socket, NULL);
	if (r)
		return r > 0 ? 0 : 2;
	c = open_target(prog, socket, &store);
	if (store) {
		struct ward_error err = { 0 };

		if (ward_secret_rm(store, name, &err) < 0) {
			fprintf(stderr, "%s: %s\n", prog, err.msg);
			return 1;
		}
		printf("secret %s removed\n", name);
		return 0;
	}
	req = json_pack("{s:s, s:s}", "verb", "secret.rm", "name", name);
	if (!req || !c || cli_call(prog, c, req, &reply) < 0)
		return 1;
	printf("secret %s removed\n", name);
	return 0;
}

int cmd_secret(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_secret, stderr);
		return 2;
	}
	if (cli_is_help(argv[1])) {
		fputs(usage_secret, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "set"))
		return secret_set(argc - 1, argv + 1);
	if (!strcmp(argv[1], "list") || !strcmp(argv[1], "ls"))
		return secret_list(argc - 1, argv + 1);
	if (!strcmp(argv[1], "rm"))
		return secret_rm(argc - 1, argv + 1);
	fprintf(stderr, "ward secret: unknown subcommand '%s'\n%s", argv[1], usage_secret);
	return 2;
}
