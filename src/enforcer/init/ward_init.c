// SPDX-License-Identifier: MIT
/* ward-init: the sandbox's pid 1 after it has set the sandbox up and forked
 * the command. A separate static program, so that /proc/1/cmdline, environ
 * and memory inside hold nothing of ward (its arguments: policy, log, hosts
 * and CA paths; its environment: secrets). ward embeds it and init executes
 * it from a memfd (src/enforcer/init_image.c).
 *
 * Started with argv ["ward-init"], no environment and:
 *   fd 3  the SOCK_SEQPACKET socket to ward (WARD_MSG_EXIT goes there);
 *   fd 4  a pipe holding the command's pid (int32_t, in the sandbox).
 * The signal mask (the forwarded signals and SIGCHLD blocked) and
 * PR_SET_PDEATHSIG survive execve. Reaps everything, forwards signals sent
 * to it to the command, and exits with the command's status.
 *
 * argv ["ward-init", "serve"] (ward_sandbox_start): no command and no fd 4;
 * says WARD_MSG_SERVING on fd 3, then reaps whatever is orphaned in the pid
 * namespace (the sessions' background children) and never exits on its own:
 * SIGKILL from ward, or PR_SET_PDEATHSIG, ends the sandbox. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "enforcer/sandbox_internal.h"

#define SOCK_FD 3
#define PID_FD 4

static int exit_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WARD_EXIT_SETUP;
}

static void send_exit(int status)
{
	struct ward_msg m = { .kind = WARD_MSG_EXIT, .value = status };

	while (send(SOCK_FD, &m, offsetof(struct ward_msg, text), MSG_NOSIGNAL) < 0 &&
	       errno == EINTR)
		;
}

_Noreturn static void serve(const sigset_t *wait_mask)
{
	struct ward_msg m = { .kind = WARD_MSG_SERVING };

	while (send(SOCK_FD, &m, offsetof(struct ward_msg, text), MSG_NOSIGNAL) < 0 &&
	       errno == EINTR)
		;
	for (;;) {
		siginfo_t si;

		while (waitpid(-1, NULL, WNOHANG) > 0)
			;
		sigwaitinfo(wait_mask, &si);
	}
}

int main(int argc, char **argv)
{
	static const int forwarded[] = { WARD_FORWARDED_SIGNALS };
	sigset_t wait_mask;
	int32_t cmd;
	ssize_t n;

	sigemptyset(&wait_mask);
	for (size_t i = 0; i < sizeof(forwarded) / sizeof(*forwarded); i++)
		sigaddset(&wait_mask, forwarded[i]);
	sigaddset(&wait_mask, SIGCHLD);
	/* already blocked across execve; said again so nothing depends on it */
	sigprocmask(SIG_BLOCK, &wait_mask, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		_exit(WARD_EXIT_SETUP);
	if (argc > 1 && !strcmp(argv[1], "serve"))
		serve(&wait_mask);
	do
		n = read(PID_FD, &cmd, sizeof(cmd));
	while (n < 0 && errno == EINTR);
	close(PID_FD);
	if (n != (ssize_t)sizeof(cmd) || cmd <= 1)
		_exit(WARD_EXIT_SETUP);

	for (;;) {
		siginfo_t si;
		int status;
		pid_t p;

		/* A SIGCHLD that came before the execve is still pending: the
		 * first pass reaps a command that is already gone. */
		while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
			if (p != cmd)
				continue;
			send_exit(status);
			/* The kernel kills whatever is left in the pid namespace. */
			_exit(exit_code(status));
		}
		if (sigwaitinfo(&wait_mask, &si) < 0)
			continue;
		/* Only what someone sent: terminal signals reached the command already. */
		if (si.si_signo != SIGCHLD && si.si_code <= 0)
			kill(cmd, si.si_signo);
	}
}
