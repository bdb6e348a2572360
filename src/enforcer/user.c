// SPDX-License-Identifier: MIT
#include "enforcer/user.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

static int lookup_sandbox(uid_t *ret_uid, gid_t *ret_gid)
{
	struct passwd *pw;

	errno = 0;
	pw = getpwnam(WARD_SANDBOX_USER);
	if (!pw)
		return errno ? -errno : -ENOENT;
	*ret_uid = pw->pw_uid;
	*ret_gid = pw->pw_gid;
	return 0;
}

/* Run an account tool (fixed argv, no shell); its exit status, or -errno. */
static int spawn_wait(const char *path, char *const argv[])
{
	char *const envp[] = { "PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL };
	pid_t pid;
	int status, r;

	r = posix_spawn(&pid, path, NULL, NULL, argv, envp);
	if (r != 0)
		return -r;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* The account's home exists, is a directory of its own, 0700. Accounts made
 * by earlier wards had /nonexistent: they are moved to WARD_SANDBOX_HOME. */
static int sandbox_home(uid_t uid, gid_t gid, struct ward_error *err)
{
	char *const usermod[] = { "usermod", "--home", WARD_SANDBOX_HOME, WARD_SANDBOX_USER, NULL };
	struct passwd *pw = getpwnam(WARD_SANDBOX_USER);
	struct stat st;
	int r;

	if (pw && strcmp(pw->pw_dir, WARD_SANDBOX_HOME)) {
		if (strcmp(pw->pw_dir, "/nonexistent"))
			return 0; /* someone chose another home: theirs to keep */
		r = spawn_wait("/usr/sbin/usermod", usermod);
		if (r != 0)
			return ward_errx(err, r < 0 ? r : -EIO,
					 "move the '%s' account's home to %s: "
					 "usermod %s %d",
					 WARD_SANDBOX_USER, WARD_SANDBOX_HOME,
					 r < 0 ? "failed:" : "exited with", r);
	}
	if (mkdir("/home", 0755) < 0 && errno != EEXIST)
		return ward_err(err, -errno, "create /home");
	if (mkdir(WARD_SANDBOX_HOME, 0700) == 0) {
		if (chown(WARD_SANDBOX_HOME, uid, gid) < 0)
			return ward_err(err, -errno, "chown %s", WARD_SANDBOX_HOME);
	} else if (errno != EEXIST) {
		return ward_err(err, -errno, "create %s", WARD_SANDBOX_HOME);
	}
	if (lstat(WARD_SANDBOX_HOME, &st) < 0)
		return ward_err(err, -errno, "%s", WARD_SANDBOX_HOME);
	if (!S_ISDIR(st.st_mode) || st.st_uid != uid)
		return ward_errx(err, -EEXIST, "%s is not a directory of the '%s' account",
				 WARD_SANDBOX_HOME, WARD_SANDBOX_USER);
	return 0;
}

/* Look up (creating it with useradd when missing) the "sandbox" account. */
static int ward_user_sandbox_account(uid_t *ret_uid, gid_t *ret_gid, struct ward_error *err)
{
	/* A system account with no login, its home a directory of its own. */
	char *const argv[] = { "useradd",	   "--system",		"--user-group",
			       "--no-create-home", "--home-dir",	WARD_SANDBOX_HOME,
			       "--shell",	   "/usr/sbin/nologin", "--comment",
			       "ward sandbox",	   WARD_SANDBOX_USER,	NULL };
	int r;

	if (lookup_sandbox(ret_uid, ret_gid) == 0)
		return sandbox_home(*ret_uid, *ret_gid, err);
	r = spawn_wait("/usr/sbin/useradd", argv);
	if (r < 0)
		return ward_err(err, r, "create the '%s' account: spawn /usr/sbin/useradd",
				WARD_SANDBOX_USER);
	/* Exit 9 means another ward created it meanwhile: look it up again. */
	if (lookup_sandbox(ret_uid, ret_gid) == 0)
		return sandbox_home(*ret_uid, *ret_gid, err);
	return ward_errx(err, -ENOENT, "create the '%s' account: useradd exited with %d",
			 WARD_SANDBOX_USER, r);
}

static int parse_id(const char *s, unsigned long *ret)
{
	char *end;

	if (!s || !*s)
		return -EINVAL;
	errno = 0;
	*ret = strtoul(s, &end, 10);
	if (errno || *end || *ret >= (unsigned long)(uid_t)-1)
		return -EINVAL;
	return 0;
}

static int resolve_user(const struct ward_policy *p, uid_t *uid, gid_t *gid, struct ward_error *err)
{
	struct passwd *pw;

	if (!p->run_as_user) {
		*uid = p->uid;
		pw = getpwuid(*uid);
		*gid = pw ? pw->pw_gid : (gid_t)*uid;
		return 0;
	}
	if (!strcmp(p->run_as_user, WARD_SANDBOX_USER))
		return ward_user_sandbox_account(uid, gid, err);
	errno = 0;
	pw = getpwnam(p->run_as_user);
	if (!pw)
		return ward_errx(err, -ENOENT, "run_as_user: no such user '%s'", p->run_as_user);
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

static int resolve_group(const struct ward_policy *p, gid_t *gid, struct ward_error *err)
{
	struct group *gr;
	uid_t u;

	if (!p->run_as_group) {
		*gid = p->gid;
		return 0;
	}
	if (!strcmp(p->run_as_group, WARD_SANDBOX_USER))
		return ward_user_sandbox_account(&u, gid, err);
	gr = getgrnam(p->run_as_group);
	if (!gr)
		return ward_errx(err, -ENOENT, "run_as_group: no such group '%s'", p->run_as_group);
	*gid = gr->gr_gid;
	return 0;
}

static int resolve_default(const char *workdir, uid_t *uid, gid_t *gid, struct ward_error *err)
{
	const char *su = secure_getenv("SUDO_UID"), *sg = secure_getenv("SUDO_GID");
	unsigned long u, g;
	struct stat st;

	if (parse_id(su, &u) == 0 && u != 0) {
		*uid = u;
		*gid = (parse_id(sg, &g) == 0 && g != 0) ? g : u;
		return 0;
	}
	if (workdir && stat(workdir, &st) == 0 && st.st_uid != 0) {
		*uid = st.st_uid;
		*gid = st.st_gid != 0 ? st.st_gid : st.st_uid;
		return 0;
	}
	return ward_user_sandbox_account(uid, gid, err);
}

int ward_user_resolve(const struct ward_policy *p, const char *workdir, uid_t *ret_uid,
		      gid_t *ret_gid, struct ward_error *err)
{
	uid_t uid = 0;
	gid_t gid = 0;
	int r;

	if (!p->has_user && !p->has_group) {
		r = resolve_default(workdir, &uid, &gid, err);
	} else if (p->has_user) {
		r = resolve_user(p, &uid, &gid, err);
		if (r >= 0 && p->has_group)
			r = resolve_group(p, &gid, err);
	} else {
		/* A group alone: the sandbox account in that group. */
		r = ward_user_sandbox_account(&uid, &gid, err);
		if (r >= 0)
			r = resolve_group(p, &gid, err);
	}
	if (r < 0)
		return r;
	if (uid == 0 || gid == 0)
		return ward_errx(err, -EPERM, "refusing to run the command as %s 0 (root)",
				 uid == 0 ? "uid" : "gid");
	*ret_uid = uid;
	*ret_gid = gid;
	return 0;
}
