// SPDX-License-Identifier: MIT
/* The provider table and request classification (providers.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "proxy/providers.h"

#define API(x) (1u << (x))
#define OPENAI_APIS                                                                                \
	(API(WARD_API_CHAT) | API(WARD_API_COMPLETIONS) | API(WARD_API_RESPONSES) |                \
	 API(WARD_API_EMBEDDINGS) | API(WARD_API_MODELS))

const struct ward_provider ward_providers[] = {
	{
		.name = "openai",
		.base_url = "https://api.openai.com/v1",
		.auth_header = "Authorization",
		.auth_prefix = "Bearer ",
		.apis = OPENAI_APIS,
	},
	{
		.name = "anthropic",
		.base_url = "https://api.anthropic.com/v1",
		.auth_header = "x-api-key",
		.auth_prefix = "",
		.version_header = "anthropic-version",
		.version_value = "2023-06-01",
		.apis = API(WARD_API_MESSAGES) | API(WARD_API_MODELS),
	},
	{
		/* NIM speaks the OpenAI chat, completions and embeddings APIs */
		.name = "nvidia",
		.base_url = "https://integrate.api.nvidia.com/v1",
		.auth_header = "Authorization",
		.auth_prefix = "Bearer ",
		.apis = API(WARD_API_CHAT) | API(WARD_API_COMPLETIONS) | API(WARD_API_EMBEDDINGS) |
			API(WARD_API_MODELS),
	},
	{ 0 },
};

const struct ward_provider *ward_provider_find(const char *name)
{
	for (const struct ward_provider *p = ward_providers; name && p->name; p++)
		if (!strcmp(p->name, name))
			return p;
	return NULL;
}

static const struct {
	const char *method, *path;
	enum ward_api api;
} routes[] = {
	{ "POST", "/v1/chat/completions", WARD_API_CHAT },
	{ "POST", "/v1/completions", WARD_API_COMPLETIONS },
	{ "POST", "/v1/responses", WARD_API_RESPONSES },
	{ "POST", "/v1/embeddings", WARD_API_EMBEDDINGS },
	{ "POST", "/v1/messages", WARD_API_MESSAGES },
	{ "GET", "/v1/models", WARD_API_MODELS },
};

enum ward_api ward_api_of(const char *method, const char *path, const char **ret_suffix)
{
	size_t n;

	if (!method || !path)
		return WARD_API_NONE;
	/* one trailing slash is tolerated (/v1/models/) */
	n = strlen(path);
	if (n > 1 && path[n - 1] == '/')
		n--;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(method, routes[i].method) || strlen(routes[i].path) != n ||
		    strncmp(path, routes[i].path, n))
			continue;
		if (ret_suffix)
			*ret_suffix = routes[i].path + 3;
		return routes[i].api;
	}
	return WARD_API_NONE;
}

const char *ward_api_name(enum ward_api api)
{
	switch (api) {
	case WARD_API_CHAT:
		return "chat.completions";
	case WARD_API_COMPLETIONS:
		return "completions";
	case WARD_API_RESPONSES:
		return "responses";
	case WARD_API_EMBEDDINGS:
		return "embeddings";
	case WARD_API_MESSAGES:
		return "messages";
	case WARD_API_MODELS:
		return "models";
	case WARD_API_NONE:
		break;
	}
	return "none";
}

enum ward_api_style ward_api_style(enum ward_api api)
{
	return api == WARD_API_MESSAGES ? WARD_STYLE_ANTHROPIC : WARD_STYLE_OPENAI;
}

bool ward_provider_header_allowed(const char *name, size_t len)
{
	static const char *const allowed[] = {
		"content-type",
		"accept",
		"user-agent",
		"anthropic-version",
		"anthropic-beta",
		"anthropic-dangerous-direct-browser-access",
		"openai-organization",
		"openai-project",
		"openai-beta",
		"idempotency-key",
		"x-request-id",
		"x-stainless-arch",
		"x-stainless-lang",
		"x-stainless-os",
		"x-stainless-package-version",
		"x-stainless-runtime",
		"x-stainless-runtime-version",
		"x-stainless-retry-count",
		"x-stainless-timeout",
		"x-stainless-helper-method",
		"x-stainless-stream-helper",
		NULL,
	};

	for (size_t i = 0; allowed[i]; i++)
		if (strlen(allowed[i]) == len && !strncasecmp(allowed[i], name, len))
			return true;
	return false;
}

char *ward_provider_error_body(enum ward_api_style style, const char *message, const char *type,
			       const char *code, const char *atype, size_t *ret_len)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);

	if (!f)
		return NULL;
	if (style == WARD_STYLE_ANTHROPIC) {
		fputs("{\"type\":\"error\",\"error\":{\"type\":", f);
		ward_json_str(f, atype);
		fputs(",\"message\":", f);
		ward_json_str(f, message);
		fputs("}}\n", f);
	} else {
		fputs("{\"error\":{\"message\":", f);
		ward_json_str(f, message);
		fputs(",\"type\":", f);
		ward_json_str(f, type);
		fputs(",\"param\":null,\"code\":", f);
		ward_json_str(f, code);
		fputs("}}\n", f);
	}
	if (fclose(f)) {
		free(out);
		return NULL;
	}
	if (ret_len)
		*ret_len = len;
	return out;
}
