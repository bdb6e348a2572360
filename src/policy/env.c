// SPDX-License-Identifier: MIT
#include "policy/env.h"

#include <string.h>
#include <strings.h>

/* Exact names, then prefixes ('*' last): what every shell and locale needs. */
static const char *const core[] = { "PATH", "HOME",     "USER", "LOGNAME", "SHELL",
				    "TERM", "COLORTERM", "LANG", "LANGUAGE", "TZ",
				    "LC_*", "WARD_*" };

static const char *const secret_words[] = { "KEY",	  "TOKEN",	"SECRET",
					    "PASSWORD",	  "PASSWD",	"PASSPHRASE",
					    "CREDENTIAL", "AUTH",	"COOKIE",
					    "SESSION",	  "PRIVATE" };
static const char *const secret_prefixes[] = { "AWS_",	  "AZURE_",  "GH_",
					       "GITHUB_", "GITLAB_", "VAULT_" };
static const char *const secret_names[] = { "GOOGLE_APPLICATION_CREDENTIALS", "DATABASE_URL" };

bool ward_env_secret_like(const char *name)
{
	for (size_t i = 0; i < sizeof(secret_words) / sizeof(*secret_words); i++)
		if (strcasestr(name, secret_words[i]))
			return true;
	for (size_t i = 0; i < sizeof(secret_prefixes) / sizeof(*secret_prefixes); i++)
		if (!strncasecmp(name, secret_prefixes[i], strlen(secret_prefixes[i])))
			return true;
	for (size_t i = 0; i < sizeof(secret_names) / sizeof(*secret_names); i++)
		if (!strcasecmp(name, secret_names[i]))
			return true;
	return false;
}

/* Iterative, with one backtrack point (the last '*'): O(glob * name). */
bool ward_env_glob_match(const char *glob, const char *name)
{
	const char *star = NULL, *resume = NULL;

	while (*name) {
		if (*glob == '*') {
			star = glob++;
			resume = name;
		} else if (*glob == *name) {
			glob++;
			name++;
		} else if (star) {
			glob = star + 1;
			name = ++resume;
		} else {
			return false;
		}
	}
	while (*glob == '*')
		glob++;
	return !*glob;
}

static bool is_glob(const char *pattern)
{
	return strchr(pattern, '*') != NULL;
}

bool ward_env_passes(const struct ward_policy *p, const char *name)
{
	bool secret = ward_env_secret_like(name);

	/* where ward's own decision log is: configuration, not for the command */
	if (!strcmp(name, "WARD_LOG"))
		return false;

	for (size_t i = 0; i < sizeof(core) / sizeof(*core); i++) {
		if (!is_glob(core[i]) ? !strcmp(core[i], name)
				      : !secret && ward_env_glob_match(core[i], name))
			return true;
	}
	for (size_t i = 0; p && i < p->n_env_pass; i++) {
		const struct ward_env_pass *e = &p->env_pass[i];

		/* .glob is the compiler's word; a '*' in the text is a glob either way */
		if (e->glob || is_glob(e->pattern)) {
			if (!secret && ward_env_glob_match(e->pattern, name))
				return true;
		} else if (!strcmp(e->pattern, name)) {
			return true;
		}
	}
	return false;
}
