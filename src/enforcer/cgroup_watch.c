// SPDX-License-Identifier: MIT
/* Watching the limits while the sandbox runs (cgroup.h): a thread woken by
 * inotify when memory.events or pids.events change (the kernel notifies
 * kernfs files on every event), and once a second for the counters that do
 * not notify (v1 memory.oom_control, memory.failcnt). A controller whose
 * counter went up is reported at once, then at most every
 * WATCH_INTERVAL_S, and a last time when the watch stops; CPU throttling
 * is normal scheduling under cpu.max, reported only then. */
#include "enforcer/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define WATCH_INTERVAL_S 10

struct ward_cgroup_watch {
	const struct ward_cgroup *cg;
	ward_cgroup_watch_fn fn;
	void *data;
	int inotify;
	int stop; /* eventfd */
	pthread_t thread;
	struct ward_cgroup_events reported;
	time_t last[WARD_CGROUP_N_CTL];
};

static uint64_t count(const struct ward_cgroup_events *ev, enum ward_cgroup_ctl ctl)
{
	switch (ctl) {
	case WARD_CGROUP_MEMORY:
		return ev->oom_kill + ev->memory_max;
	case WARD_CGROUP_PIDS:
		return ev->pids_max;
	case WARD_CGROUP_CPU:
		return ev->cpu_throttled;
	case WARD_CGROUP_N_CTL:
		break;
	}
	return 0;
}

static void report(struct ward_cgroup_watch *w, bool final)
{
	struct ward_cgroup_events ev;
	time_t now = time(NULL);

	ward_cgroup_events_read(w->cg, &ev);
	for (int i = 0; i < WARD_CGROUP_N_CTL; i++) {
		if (count(&ev, i) <= count(&w->reported, i))
			continue;
		if (!final && (i == WARD_CGROUP_CPU || now - w->last[i] < WATCH_INTERVAL_S))
			continue;
		w->fn(w->data, i, &ev);
		w->last[i] = now;
		switch ((enum ward_cgroup_ctl)i) {
		case WARD_CGROUP_MEMORY:
			w->reported.oom_kill = ev.oom_kill;
			w->reported.memory_max = ev.memory_max;
			break;
		case WARD_CGROUP_PIDS:
			w->reported.pids_max = ev.pids_max;
			break;
		case WARD_CGROUP_CPU:
			w->reported.cpu_throttled = ev.cpu_throttled;
			break;
		case WARD_CGROUP_N_CTL:
			break;
		}
	}
}

static void *watch_thread(void *arg)
{
	struct ward_cgroup_watch *w = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		struct pollfd p[2] = { { .fd = w->stop, .events = POLLIN },
				       { .fd = w->inotify, .events = POLLIN } };

		if (poll(p, 2, 1000) < 0 && errno != EINTR)
			break;
		if (p[0].revents)
			break;
		/* the events themselves say nothing the counters do not */
		while (w->inotify >= 0 && read(w->inotify, buf, sizeof(buf)) > 0)
			;
		report(w, false);
	}
	return NULL;
}

static void watch_file(struct ward_cgroup_watch *w, enum ward_cgroup_ctl ctl, const char *name)
{
	char path[PATH_MAX + 32];
	const struct ward_cgroup_ctl_dir *d = &w->cg->ctl[ctl];

	if (d->where == WARD_CGROUP_NONE)
		return;
	snprintf(path, sizeof(path), "%s/%s", d->where == WARD_CGROUP_V1 ? d->path : w->cg->path,
		 name);
	/* a file that does not notify is read on the 1 s tick all the same */
	inotify_add_watch(w->inotify, path, IN_MODIFY);
}

int ward_cgroup_watch_start(const struct ward_cgroup *cg, ward_cgroup_watch_fn fn, void *data,
			    struct ward_cgroup_watch **ret)
{
	struct ward_cgroup_watch *w = calloc(1, sizeof(*w));
	int r;

	if (!w)
		return -ENOMEM;
	*w = (struct ward_cgroup_watch){ .cg = cg, .fn = fn, .data = data, .inotify = -1 };
	w->stop = eventfd(0, EFD_CLOEXEC);
	if (w->stop < 0) {
		r = -errno;
		free(w);
		return r;
	}
	w->inotify = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (w->inotify >= 0) {
		watch_file(w, WARD_CGROUP_MEMORY, "memory.events");
		watch_file(w, WARD_CGROUP_PIDS, "pids.events");
	}
	r = -pthread_create(&w->thread, NULL, watch_thread, w);
	if (r < 0) {
		if (w->inotify >= 0)
			close(w->inotify);
		close(w->stop);
		free(w);
		return r;
	}
	*ret = w;
	return 0;
}

void ward_cgroup_watch_stop(struct ward_cgroup_watch *w)
{
	uint64_t one = 1;

	if (!w)
		return;
	if (write(w->stop, &one, sizeof(one)) != (ssize_t)sizeof(one))
		pthread_cancel(w->thread);
	pthread_join(w->thread, NULL);
	report(w, true);
	if (w->inotify >= 0)
		close(w->inotify);
	close(w->stop);
	free(w);
}
