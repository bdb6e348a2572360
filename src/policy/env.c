// SPDX-License-Identifier: MIT
#include "policy/env.h"

#include <string.h>
#include <strings.h>

/* Substrings: a name containing one of them looks like a secret. */
static const char *const secret_words[] = {
	"KEY",	      "TOKEN", "SECRET", "PASSWORD", "PASSWD",	"PASSPHRASE",
	"CREDENTIAL", "AUTH",  "COOKIE", "SESSION",  "PRIVATE", "BEARER",
};

/* Prefixes of whole families of credentials. */
static const char *const secret_prefixes[] = {
	"AWS_",	     "AZURE_",	     "GOOGLE_APPLICATION_CREDENTIALS",
	"GCP_",	     "GH_",	     "GITHUB_",
	"GITLAB_",   "DOCKER_",	     "NPM_",
	"PYPI_",     "VAULT_",	     "ANTHROPIC_",
	"OPENAI_",   "DATABASE_URL", "PGPASS",
	"MYSQL_PWD",
};

static const char *const core[] = { "PATH", "HOME",	 "USER", "LOGNAME",  "SHELL",
				    "TERM", "COLORTERM", "LANG", "LANGUAGE", "TZ" };

static bool contains_ci(const char *s, const char *word)
{
	size_t n = strlen(word);

	for (; *s; s++)
		if (!strncasecmp(s, word, n))
			return true;
	return false;
}

bool ward_env_secret_like(const char *name)
{
	for (size_t i = 0; i < sizeof(secret_words) / sizeof(*secret_words); i++)
		if (contains_ci(name, secret_words[i]))
			return true;
	for (size_t i = 0; i < sizeof(secret_prefixes) / sizeof(*secret_prefixes); i++)
		if (!strncasecmp(name, secret_prefixes[i], strlen(secret_prefixes[i])))
			return true;
	return false;
}

/* Is NAME in the core set every sandbox gets (PATH, HOME, TERM, LANG, LC_*, ...)? */
static bool ward_env_core(const char *name)
{
	if (!strncmp(name, "LC_", 3) || !strncmp(name, "WARD_", 5))
		return true;
	for (size_t i = 0; i < sizeof(core) / sizeof(*core); i++)
		if (!strcmp(name, core[i]))
			return true;
	return false;
}

bool ward_env_glob_match(const char *pattern, const char *name)
{
	const char *star = NULL, *resume = NULL;

	/* Iterative: no recursion on attacker-sized input. */
	while (*name) {
		if (*pattern == '*') {
			star = pattern++;
			resume = name;
		} else if (*pattern == *name) {
			pattern++;
			name++;
		} else if (star) {
			pattern = star + 1;
			name = ++resume;
		} else {
			return false;
		}
	}
	while (*pattern == '*')
		pattern++;
	return !*pattern;
}

bool ward_env_passes(const struct ward_policy *p, const char *name)
{
	bool secret = ward_env_secret_like(name);

	if (ward_env_core(name))
		return true;
	for (size_t i = 0; i < p->n_env_pass; i++) {
		const struct ward_env_pass *e = &p->env_pass[i];

		if (!e->glob ? !strcmp(e->pattern, name)
			     : !secret && ward_env_glob_match(e->pattern, name))
			return true;
	}
	return false;
}
