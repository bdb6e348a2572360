// SPDX-License-Identifier: MIT
/* ward exec: a session in a running sandbox of the daemon. The command gets
 * this process's stdin, stdout and stderr themselves (SCM_RIGHTS) and its
 * environment; signals are forwarded as messages; the exit status follows
 * ward run's contract. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "commands.h"
#include "common/cleanup.h"
#include "daemon_cli.h"
#include "enforcer/sandbox.h"

DEFINE_CLEANUP(struct ward_client *, ward_client_free)

extern char **environ;

static const char usage_exec[] =
	"Usage: ward exec NAME [--cwd DIR] [--socket PATH] [--] CMD [ARG...]\n"
	"\n"
	"Run CMD as a new session in the running sandbox NAME of 'ward daemon': in its\n"
	"namespaces, cgroup and layers, under the policy in force now, as the\n"
	"policy's run_as user (docs/daemon.md). Several sessions may run at once; each\n"
	"has an id that its rows in the decision log carry ('ward sessions').\n"
	"\n"
	"CMD gets this terminal's (or pipe's, or file's) stdin, stdout and stderr\n"
	"themselves, passed to the daemon over its socket, and this process's\n"
	"environment, filtered as in 'ward run' (deny-by-default; secrets reach the\n"
	"sandbox only as placeholders). CMD is searched in $PATH inside the sandbox.\n"
	"\n"
	"SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 sent to ward exec are\n"
	"forwarded to CMD; when stdin is a terminal, a window size change (SIGWINCH)\n"
	"is passed on too. If ward exec dies or loses the daemon, the session gets\n"
	"SIGHUP, then SIGKILL 2 seconds later: nothing keeps running unattended.\n"
	"\n"
	"Options:\n"
	"  --cwd DIR           the directory CMD starts in, an absolute path inside\n"
	"                      the sandbox (default: the sandbox's workdir)\n"
	"  --socket PATH       the daemon's socket (default: $WARD_SOCKET, else\n"
	"                      /run/ward/ward.sock)\n"
	"  -h, --help          show this help\n"
	"\n"
	"Exit status:\n"
	"  N      the command exited with N\n"
	"  128+N  the command died of signal N\n"
	"  125    no session: the daemon is unreachable or refused (no such sandbox,\n"
	"         not running, not allowed, setup failure); the reason on stderr\n"
	"  126    the command is not executable\n"
	"  127    the command was not found\n";

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH };

static int send_msg(struct ward_client *c, json_t *msg)
{
	struct ward_error err = { 0 };
	int r;

	if (!msg)
		return -ENOMEM;
	r = ward_client_send(c, msg, false, NULL, 0, &err);
	json_decref(msg);
	return r;
}

static int send_winsize(struct ward_client *c)
{
	struct winsize ws;

	if (ioctl(STDIN_FILENO, TIOCGWINSZ, &ws) < 0)
		return 0;
	return send_msg(c, json_pack("{s:s, s:i, s:i}", "verb", "winsize", "rows", ws.ws_row,
				     "cols", ws.ws_col));
}

/* A closed std fd cannot be passed: the command gets /dev/null there. */
static int std_fds(int fds[3])
{
	for (int i = 0; i < 3; i++) {
		if (fcntl(i, F_GETFD) >= 0) {
			fds[i] = i;
			continue;
		}
		fds[i] = open("/dev/null", (i ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
		if (fds[i] < 0)
			return -errno;
	}
	return 0;
}

int cmd_exec(int argc, char **argv)
{
	static const char prog[] = "ward exec";
	_cleanup_(ward_client_freep) struct ward_client *c = NULL;
	_cleanup_(json_decrefp) json_t *req = NULL;
	_cleanup_close_ int sfd = -1;
	struct ward_error err = { 0 };
	const char *name = NULL, *socket = NULL, *cwd = NULL;
	json_int_t req_id;
	bool tty, started = false;
	int fds[3], i, r;
	sigset_t mask;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (cli_is_help(a)) {
			fputs(usage_exec, stdout);
			return 0;
		}
		r = cli_socket_opt(prog, argc, argv, &i, &socket);
		if (r < 0)
			return WARD_EXIT_SETUP;
		if (r > 0)
			continue;
		if (!strncmp(a, "--cwd=", 6) || !strcmp(a, "--cwd")) {
			cwd = a[5] == '=' ? a + 6 : (i + 1 < argc ? argv[++i] : NULL);
			if (!cwd || cwd[0] != '/') {
				fprintf(stderr,
					"%s: --cwd needs an absolute path inside the sandbox\n",
					prog);
				return WARD_EXIT_SETUP;
			}
			continue;
		}
		if (a[0] == '-') {
			fprintf(stderr,
				"%s: unknown option '%s'\nRun 'ward exec --help' for usage.\n",
				prog, a);
			return WARD_EXIT_SETUP;
		}
		if (name)
			break; /* the command: options end at it */
		name = a;
	}
	if (!name || i >= argc) {
		fprintf(stderr, "%s: %s\nRun 'ward exec --help' for usage.\n", prog,
			name ? "no command given (ward exec NAME -- CMD ...)" : "NAME is required");
		return WARD_EXIT_SETUP;
	}

	tty = isatty(STDIN_FILENO);
	req = json_pack("{s:s, s:s, s:[], s:[], s:b}", "verb", "exec", "name", name, "argv", "env",
			"tty", (int)tty);
	if (!req)
		return WARD_EXIT_SETUP;
	for (int k = i; k < argc; k++)
		json_array_append_new(json_object_get(req, "argv"), json_string(argv[k]));
	for (char **e = environ; e && *e; e++) {
		json_t *s = json_string(*e);

		/* a variable that is not UTF-8 cannot travel in JSON: it stays here */
		if (s)
			json_array_append_new(json_object_get(req, "env"), s);
	}
	if (cwd)
		json_object_set_new(req, "cwd", json_string(cwd));
	if (json_array_size(json_object_get(req, "argv")) != (size_t)(argc - i)) {
		fprintf(stderr, "%s: the command line is not valid UTF-8\n", prog);
		return WARD_EXIT_SETUP;
	}

	/* from here every forwarded signal is read from sfd, never delivered */
	sigemptyset(&mask);
	for (size_t k = 0; k < ARRAY_SIZE(forwarded); k++)
		sigaddset(&mask, forwarded[k]);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
	    (sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
		fprintf(stderr, "%s: signalfd: %s\n", prog, strerror(errno));
		return WARD_EXIT_SETUP;
	}
	if (std_fds(fds) < 0) {
		fprintf(stderr, "%s: /dev/null: %s\n", prog, strerror(errno));
		return WARD_EXIT_SETUP;
	}
	c = cli_connect(prog, socket);
	if (!c)
		return WARD_EXIT_SETUP;
	if (ward_client_send(c, req, true, fds, 3, &err) < 0) {
		json_t *msg = NULL;

		/* a refused peer is answered at accept: say why, not just "closed" */
		if (ward_client_read(c, 0, &msg, NULL) == 0 && ward_client_reply_errno(msg) < 0)
			cli_print_error(prog, ward_client_error_message(msg));
		else
			fprintf(stderr, "%s: %s\n", prog, err.msg);
		json_decref(msg);
		return WARD_EXIT_SETUP;
	}
	req_id = json_integer_value(json_object_get(req, "id"));

	for (;;) {
		struct pollfd p[2] = { { .fd = ward_client_fd(c), .events = POLLIN },
				       { .fd = sfd, .events = POLLIN } };
		json_t *msg = NULL;

		if (!ward_client_pending(c) && poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "%s: poll: %s\n", prog, strerror(errno));
			return WARD_EXIT_SETUP;
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;

			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo == SIGWINCH)
					r = tty ? send_winsize(c) : 0;
				else
					r = send_msg(c, json_pack("{s:s, s:i}", "verb", "signal",
								  "signo", (int)si.ssi_signo));
				(void)r; /* a gone daemon shows on the socket next */
			}
		}
		if (!ward_client_pending(c) && !(p[0].revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		r = ward_client_read(c, -1, &msg, &err);
		if (r == -EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "%s: %s%s\n", prog, err.msg,
				started ? " before the session ended" : "");
			return WARD_EXIT_SETUP;
		}
		json_t *id = json_object_get(msg, "id");
		const char *ev = json_string_value(json_object_get(msg, "event"));

		if (!started &&
		    (!ev || (json_is_integer(id) && json_integer_value(id) == req_id))) {
			if (ward_client_reply_errno(msg) < 0) {
				cli_print_error(prog, ward_client_error_message(msg));
				json_decref(msg);
				return WARD_EXIT_SETUP;
			}
			/* no size now: the command has our terminal itself, and a
			 * winsize message would be a SIGWINCH it did not ask for */
			started = true;
		} else if (ev && !strcmp(ev, "exit")) {
			json_int_t st = json_integer_value(json_object_get(msg, "status"));

			json_decref(msg);
			return st >= 0 && st <= 255 ? (int)st : WARD_EXIT_SETUP;
		}
		json_decref(msg);
	}
}
