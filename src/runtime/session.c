// SPDX-License-Identifier: MIT
/* Sessions: commands started in a running sandbox (runtime.h). */
#include <errno.h>

#include "runtime/runtime.h"

int ward_runtime_start(struct ward_runtime *rt, const struct ward_runtime_start *st,
		       struct ward_error *err)
{
	(void)rt;
	(void)st;
	return ward_errx(err, -EOPNOTSUPP, "sessions: not implemented yet");
}

int ward_runtime_exec(struct ward_runtime *rt, const struct ward_session_spec *s,
		      struct ward_session **ret, struct ward_error *err)
{
	(void)rt;
	(void)s;
	*ret = NULL;
	return ward_errx(err, -EOPNOTSUPP, "sessions: not implemented yet");
}

const char *ward_session_id(const struct ward_session *s)
{
	(void)s;
	return "";
}

pid_t ward_session_pid(const struct ward_session *s)
{
	(void)s;
	return -1;
}

uint64_t ward_session_cgroup_id(const struct ward_session *s)
{
	(void)s;
	return 0;
}

int ward_session_fd(const struct ward_session *s)
{
	(void)s;
	return -1;
}

int ward_session_signal(struct ward_session *s, int sig)
{
	(void)s;
	(void)sig;
	return -EOPNOTSUPP;
}

int ward_session_reap(struct ward_session *s, int *ret_status)
{
	(void)s;
	(void)ret_status;
	return -EOPNOTSUPP;
}

void ward_session_free(struct ward_session *s)
{
	(void)s;
}

int ward_runtime_stop(struct ward_runtime *rt, struct ward_error *err)
{
	(void)rt;
	(void)err;
	return 0;
}

int ward_runtime_session_of_cgroup(struct ward_runtime *rt, uint64_t cgid, char out[32])
{
	(void)rt;
	(void)cgid;
	out[0] = '\0';
	return -ENOENT;
}
