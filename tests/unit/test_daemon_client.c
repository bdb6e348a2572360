// SPDX-License-Identifier: MIT
/* The daemon client (src/runtime/client.c) against a fake server thread on
 * the other end of a socketpair: framing (several messages in one read, one
 * message over many), replies matched by id with events in between, error
 * replies as -errno with the daemon's message, SCM_RIGHTS fd passing, and
 * replies that are oversized, malformed or cut off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/client.h"

struct fake {
	int fd;				/* the server's end */
	void (*script)(struct fake *f); /* runs in the thread */
	char req[4096];			/* the last request line read */
	int fds[WARD_CLIENT_MAX_FDS];	/* fds received with it */
	size_t n_fds;
	pthread_t thread;
};

static void *fake_main(void *arg)
{
	struct fake *f = arg;

	f->script(f);
	close(f->fd);
	return NULL;
}

static struct ward_client *start(struct fake *f, void (*script)(struct fake *))
{
	struct ward_client *c = NULL;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(f, 0, sizeof(*f));
	f->fd = sv[1];
	f->script = script;
	assert_int_equal(ward_client_from_fd(sv[0], &c), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
	return c;
}

static void finish(struct fake *f, struct ward_client *c)
{
	ward_client_free(c);
	pthread_join(f->thread, NULL);
}

static void put(struct fake *f, const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t w = send(f->fd, s, n, MSG_NOSIGNAL);

		if (w <= 0)
			return;
		s += w;
		n -= (size_t)w;
	}
}

/* Read one request line (and the fds that came with its bytes). */
static void get(struct fake *f)
{
	size_t len = 0;

	f->n_fds = 0;
	while (len < sizeof(f->req) - 1) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * WARD_CLIENT_MAX_FDS)];
			struct cmsghdr align;
		} u;
		struct iovec iov = { .iov_base = f->req + len, .iov_len = 1 };
		struct msghdr mh = { .msg_iov = &iov,
				     .msg_iovlen = 1,
				     .msg_control = u.buf,
				     .msg_controllen = sizeof(u.buf) };
		struct cmsghdr *cm;
		ssize_t n = recvmsg(f->fd, &mh, MSG_CMSG_CLOEXEC);

		if (n <= 0)
			break;
		for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
				f->n_fds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				memcpy(f->fds, CMSG_DATA(cm), f->n_fds * sizeof(int));
			}
		if (f->req[len++] == '\n')
			break;
	}
	f->req[len] = '\0';
}

/* --- framing */

static void script_framing(struct fake *f)
{
	/* two in one write, then one cut in three pieces */
	put(f, "{\"event\":\"a\"}\n{\"event\":\"b\",\"n\":2}\n");
	usleep(10000);
	put(f, "{\"eve");
	usleep(10000);
	put(f, "nt\":\"c\",\"text\":\"li");
	usleep(10000);
	put(f, "ne\\nbreak\"}\n");
}

static void test_framing(void **state)
{
	struct ward_error err = { 0 };
	struct fake f;
	struct ward_client *c = start(&f, script_framing);
	json_t *m = NULL;

	assert_int_equal(ward_client_read(c, 5000, &m, &err), 0);
	assert_string_equal(json_string_value(json_object_get(m, "event")), "a");
	json_decref(m);
	/* the second message arrived with the first: no poll() would report it */
	assert_true(ward_client_pending(c));
	assert_int_equal(ward_client_read(c, 5000, &m, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(m, "n")), 2);
	json_decref(m);
	assert_false(ward_client_pending(c));
	assert_int_equal(ward_client_read(c, 5000, &m, &err), 0);
	assert_string_equal(json_string_value(json_object_get(m, "text")), "line\nbreak");
	json_decref(m);
	/* then the server is gone: EOF between messages */
	assert_int_equal(ward_client_read(c, 5000, &m, &err), -ECONNRESET);
	finish(&f, c);
}

/* --- call: ids, events in between, one line per request */

static void script_call(struct fake *f)
{
	char out[256];
	json_t *req;
	json_int_t id;

	get(f);
	req = json_loads(f->req, 0, NULL);
	id = json_integer_value(json_object_get(req, "id"));
	/* an event, a reply to another id, then ours */
	put(f, "{\"event\":\"exit\",\"session\":\"s\",\"status\":0}\n");
	snprintf(out, sizeof(out), "{\"id\":%lld,\"ok\":true,\"stale\":true}\n",
		 (long long)id + 100);
	put(f, out);
	snprintf(out, sizeof(out), "{\"id\":%lld,\"ok\":true,\"verb_seen\":\"%s\"}\n",
		 (long long)id, json_string_value(json_object_get(req, "verb")));
	put(f, out);
	json_decref(req);
	get(f);
}

static void test_call(void **state)
{
	struct ward_error err = { 0 };
	struct fake f;
	struct ward_client *c = start(&f, script_call);
	json_t *req = json_pack("{s:s, s:s}", "verb", "sandbox.list", "name", "a\"b\n");
	json_t *reply = NULL;

	assert_int_equal(ward_client_call(c, req, &reply, &err), 0);
	assert_string_equal(json_string_value(json_object_get(reply, "verb_seen")), "sandbox.list");
	assert_null(json_object_get(reply, "stale"));
	json_decref(reply);
	json_decref(req);
	/* the request was one line: escapes kept the newline inside the string */
	assert_non_null(strstr(f.req, "\"name\":\"a\\\"b\\n\""));
	assert_int_equal(strchr(f.req, '\n') - f.req, (long)strlen(f.req) - 1);
	/* the second request gets the next id */
	req = json_pack("{s:s}", "verb", "hello");
	assert_int_equal(ward_client_send(c, req, true, NULL, 0, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(req, "id")), 2);
	json_decref(req);
	finish(&f, c);
}

/* --- error replies */

static void script_errors(struct fake *f)
{
	get(f);
	put(f, "{\"id\":1,\"ok\":false,\"error\":{\"code\":\"ENOENT\","
	       "\"message\":\"sandbox 'x' does not exist\"}}\n");
	get(f);
	put(f, "{\"id\":2,\"ok\":false,\"error\":{\"code\":\"EINVAL\","
	       "\"message\":\"/p.yaml:3:5: unknown key 'x'\\n/p.yaml:7:1: bad\"}}\n");
	get(f);
	put(f, "{\"id\":3,\"ok\":false,\"error\":{\"code\":\"EWHATEVER\",\"message\":\"m\"}}\n");
	get(f);
	/* an error about the request line itself comes without an id */
	put(f, "{\"ok\":false,\"error\":{\"code\":\"E2BIG\",\"message\":\"request too long\"}}\n");
	/* a refused peer: answered at accept with "id":null, then closed before
	 * the request could be sent */
	put(f,
	    "{\"id\":null,\"ok\":false,\"error\":{\"code\":\"EPERM\",\"message\":\"uid 1 is not root\"}}\n");
	shutdown(f->fd, SHUT_RDWR);
}

static void test_errors(void **state)
{
	struct ward_error err = { 0 };
	struct fake f;
	struct ward_client *c = start(&f, script_errors);
	json_t *req = json_pack("{s:s}", "verb", "sandbox.rm");
	json_t *reply = NULL;

	assert_int_equal(ward_client_call(c, req, &reply, &err), -ENOENT);
	assert_string_equal(err.msg, "sandbox 'x' does not exist");
	assert_non_null(reply);
	json_decref(reply);
	reply = NULL;
	assert_int_equal(ward_client_call(c, req, &reply, &err), -EINVAL);
	assert_string_equal(ward_client_error_message(reply),
			    "/p.yaml:3:5: unknown key 'x'\n/p.yaml:7:1: bad");
	json_decref(reply);
	reply = NULL;
	assert_int_equal(ward_client_call(c, req, &reply, &err), -EIO);
	json_decref(reply);
	reply = NULL;
	assert_int_equal(ward_client_call(c, req, &reply, &err), -E2BIG);
	json_decref(reply);
	reply = NULL;
	/* the EPERM is read although sending failed (or not: either way, the reply) */
	usleep(20000);
	assert_int_equal(ward_client_call(c, req, &reply, &err), -EPERM);
	assert_string_equal(err.msg, "uid 1 is not root");
	json_decref(reply);
	json_decref(req);
	finish(&f, c);
}

/* --- SCM_RIGHTS */

static void script_fds(struct fake *f)
{
	get(f);
	/* write through what arrived as "stdout" */
	if (f->n_fds == 3) {
		ssize_t w = write(f->fds[1], "via fd\n", 7);

		(void)w;
	}
	for (size_t i = 0; i < f->n_fds; i++)
		close(f->fds[i]);
	put(f, f->n_fds == 3 ? "{\"id\":1,\"ok\":true,\"session\":\"s1\",\"pid\":7}\n"
			     : "{\"id\":1,\"ok\":false,\"error\":{\"code\":\"EBADF\"}}\n");
	put(f, "{\"event\":\"exit\",\"session\":\"s1\",\"status\":137}\n");
}

static void test_fd_passing(void **state)
{
	struct ward_error err = { 0 };
	struct fake f;
	struct ward_client *c = start(&f, script_fds);
	int out[2], in[2];
	char buf[16] = "";
	json_t *req, *m = NULL;

	assert_int_equal(pipe2(out, O_CLOEXEC), 0);
	assert_int_equal(pipe2(in, O_CLOEXEC), 0);
	req = json_pack("{s:s, s:s, s:[s]}", "verb", "exec", "name", "box", "argv", "true");
	assert_int_equal(ward_client_send(c, req, true, (int[]){ in[0], out[1], out[1] }, 3, &err),
			 0);
	json_decref(req);
	close(out[1]);
	assert_int_equal(ward_client_read(c, 5000, &m, &err), 0);
	assert_int_equal(ward_client_reply_errno(m), 0);
	assert_string_equal(json_string_value(json_object_get(m, "session")), "s1");
	json_decref(m);
	assert_int_equal(ward_client_read(c, 5000, &m, &err), 0);
	assert_int_equal(json_integer_value(json_object_get(m, "status")), 137);
	json_decref(m);
	/* the server wrote into our pipe through the fd it received */
	assert_int_equal(read(out[0], buf, sizeof(buf) - 1), 7);
	assert_string_equal(buf, "via fd\n");
	close(out[0]);
	close(in[0]);
	close(in[1]);
	/* more fds than the protocol has are refused before anything is sent */
	req = json_pack("{s:s}", "verb", "exec");
	assert_int_equal(ward_client_send(c, req, true, (int[]){ 0, 1, 2, 2 }, 4, &err), -EINVAL);
	json_decref(req);
	finish(&f, c);
}

/* --- bad replies */

static void script_oversized(struct fake *f)
{
	static char chunk[65536];

	memset(chunk, 'x', sizeof(chunk));
	put(f, "{\"s\":\"");
	/* past the limit without a newline: the client must stop reading */
	for (size_t sent = 0; sent <= WARD_CLIENT_MAX_LINE + sizeof(chunk); sent += sizeof(chunk)) {
		if (send(f->fd, chunk, sizeof(chunk), MSG_NOSIGNAL) < 0)
			return;
	}
}

static void test_oversized(void **state)
{
	struct ward_error err = { 0 };
	struct fake f;
	struct ward_client *c = start(&f, script_oversized);
	json_t *m = NULL;

	assert_int_equal(ward_client_read(c, 20000, &m, &err), -E2BIG);
	assert_null(m);
	finish(&f, c);
}

static void script_malformed(struct fake *f)
{
	put(f, "not json\n");
	put(f, "[1,2]\n");
	put(f, "{\"a\":1,\"a\":2}\n");
	put(f, "{\"ok\":true}\n");
	put(f, "{\"cut\":");
}

static void test_malformed(void **state)
{
	struct ward_error err = { 0 };
	struct fake f;
	struct ward_client *c = start(&f, script_malformed);
	json_t *m = NULL;

	assert_int_equal(ward_client_read(c, 5000, &m, &err), -EPROTO);
	assert_non_null(strstr(err.msg, "malformed"));
	assert_int_equal(ward_client_read(c, 5000, &m, &err), -EPROTO);
	assert_int_equal(ward_client_read(c, 5000, &m, &err), -EPROTO);
	assert_null(m);
	/* a good line after bad ones still parses */
	assert_int_equal(ward_client_read(c, 5000, &m, &err), 0);
	json_decref(m);
	m = NULL;
	/* a line cut off by the end of the stream is not a message */
	assert_int_equal(ward_client_read(c, 5000, &m, &err), -ECONNRESET);
	assert_non_null(strstr(err.msg, "in the middle of a reply"));
	assert_null(m);
	finish(&f, c);
}

static void script_silent(struct fake *f)
{
	get(f); /* waits for the client to go away */
}

static void test_timeout_and_gone(void **state)
{
	struct ward_error err = { 0 };
	struct fake f;
	struct ward_client *c = start(&f, script_silent);
	json_t *m = NULL;

	assert_int_equal(ward_client_read(c, 50, &m, &err), -ETIMEDOUT);
	assert_null(m);
	finish(&f, c);

	/* sending to a daemon that went away is -EPIPE, not a SIGPIPE */
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(ward_client_from_fd(sv[0], &c), 0);
	close(sv[1]);
	m = json_pack("{s:s}", "verb", "hello");
	assert_int_equal(ward_client_send(c, m, true, NULL, 0, &err), -EPIPE);
	json_decref(m);
	ward_client_free(c);
}

static void test_socket_path(void **state)
{
	struct ward_error err = { 0 };
	struct ward_client *c = NULL;

	unsetenv("WARD_SOCKET");
	assert_string_equal(ward_client_socket_path(NULL), "/run/ward/ward.sock");
	setenv("WARD_SOCKET", "/tmp/env.sock", 1);
	assert_string_equal(ward_client_socket_path(NULL), "/tmp/env.sock");
	assert_string_equal(ward_client_socket_path("/tmp/opt.sock"), "/tmp/opt.sock");
	unsetenv("WARD_SOCKET");
	/* nobody listening: a message that says what to do */
	assert_int_equal(ward_client_connect("/nonexistent/ward.sock", &c, &err), -ENOENT);
	assert_non_null(strstr(err.msg, "ward daemon"));
	assert_null(c);
}

static void test_errno_names(void **state)
{
	static const int nums[] = { EINVAL, ENOENT, EEXIST, EPERM, EBUSY, E2BIG, EIO };

	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
		assert_int_equal(ward_errno_from_name(ward_errno_name(nums[i])), nums[i]);
	assert_string_equal(ward_errno_name(-ENOENT), "ENOENT");
	assert_int_equal(ward_errno_from_name("ENOPE"), 0);
	assert_int_equal(ward_errno_from_name(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_framing),		 cmocka_unit_test(test_call),
		cmocka_unit_test(test_errors),		 cmocka_unit_test(test_fd_passing),
		cmocka_unit_test(test_oversized),	 cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_timeout_and_gone), cmocka_unit_test(test_socket_path),
		cmocka_unit_test(test_errno_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
