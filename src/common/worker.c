// SPDX-License-Identifier: MIT
#include "common/worker.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <unistd.h>

int ward_worker_start(struct ward_worker *w, void *(*fn)(void *), void *arg, const char *what,
		      struct ward_error *err)
{
	int r;

	w->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (w->stop_fd < 0)
		return ward_err(err, -errno, "%s: eventfd", what);
	r = pthread_create(&w->thread, NULL, fn, arg);
	if (r) {
		close(w->stop_fd);
		w->stop_fd = -1;
		return ward_err(err, -r, "%s thread", what);
	}
	w->started = true;
	return 0;
}

static void *reader_main(void *p)
{
	struct ward_worker *w = p;
	struct pollfd pfd[2] = {
		{ .fd = w->fd, .events = POLLIN },
		{ .fd = w->stop_fd, .events = POLLIN },
	};
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	for (;;) {
		int n = poll(pfd, 2, w->timeout_ms);

		if (n < 0 && errno != EINTR)
			break;
		w->drain(w->arg);
		if (pfd[1].revents & POLLIN)
			break;
	}
	w->drain(w->arg);
	return NULL;
}

int ward_worker_start_reader(struct ward_worker *w, int fd, int timeout_ms, void (*drain)(void *),
			     void *arg, const char *what, struct ward_error *err)
{
	w->fd = fd;
	w->timeout_ms = timeout_ms;
	w->drain = drain;
	w->arg = arg;
	return ward_worker_start(w, reader_main, w, what, err);
}

void ward_worker_stop(struct ward_worker *w)
{
	if (w->started) {
		uint64_t one = 1;

		/* An eventfd write only fails on overflow; cancel rather than hang. */
		if (write(w->stop_fd, &one, sizeof(one)) != sizeof(one))
			pthread_cancel(w->thread);
		pthread_join(w->thread, NULL);
		w->started = false;
	}
	if (w->stop_fd >= 0) {
		close(w->stop_fd);
		w->stop_fd = -1;
	}
}
