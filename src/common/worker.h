/* SPDX-License-Identifier: MIT */
/* A supervisor thread that reads events until told to stop: the thread polls
 * stop_fd (an eventfd) beside its own fds and returns when it is readable;
 * ward_worker_stop() signals it and joins. */
#pragma once

#include <pthread.h>
#include <stdbool.h>

#include "common/error.h"

struct ward_worker {
	pthread_t thread;
	int stop_fd; /* readable once the thread must finish (after draining) */
	bool started;
	/* ward_worker_start_reader() */
	int fd;
	int timeout_ms;
	void (*drain)(void *arg);
	void *arg;
};

#define WARD_WORKER_INIT                                                                           \
	{                                                                                          \
		.stop_fd = -1                                                                      \
	}

/* Create stop_fd and start fn(arg); what names the thread in errors. */
int ward_worker_start(struct ward_worker *w, void *(*fn)(void *), void *arg, const char *what,
		      struct ward_error *err);
/* The usual worker: wait until fd is readable, or timeout_ms passed (-1:
 * never; for sources that wake their reader lazily), and call drain(arg);
 * once more after the stop, so what was queued before the end is not lost.
 * Signals are blocked in it: they belong to the supervisor, which forwards
 * them to the sandbox. */
int ward_worker_start_reader(struct ward_worker *w, int fd, int timeout_ms, void (*drain)(void *),
			     void *arg, const char *what, struct ward_error *err);

/* Signal, join, close. Safe on a worker that never started. */
void ward_worker_stop(struct ward_worker *w);
