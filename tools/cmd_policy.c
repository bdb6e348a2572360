// SPDX-License-Identifier: MIT
/* ward policy check|compile: the front end of the policy compiler. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "common/cleanup.h"
#include "daemon_cli.h"
#include "policy/ceiling.h"
#include "policy/diff.h"
#include "policy/policy.h"
#include "policy/rules.h"

DEFINE_CLEANUP(struct ward_policy *, ward_policy_free)

static const char usage_policy[] =
	"Usage: ward policy SUBCOMMAND [OPTIONS] FILE...\n"
	"\n"
	"Work with ward policy files (YAML, schema version 1; see docs/policy.md).\n"
	"\n"
	"Subcommands:\n"
	"  check [--org ORG] [--rules PACK.lua]... FILE...\n"
	"                           validate policies, report every problem\n"
	"  compile FILE [--json]    print the compiled form of one policy\n"
	"  diff OLD NEW [--json]    the access NEW adds to and removes from OLD\n"
	"  explain FILE --binary B --host H --port P [--method M --path P] [--json]\n"
	"                           the decision for one request, and why\n"
	"  test POLICY CASES.yaml [--json]\n"
	"                           check the verdicts a cases file expects\n"
	"  suggest [--log DB] [--sandbox ID] [--since T] [-o FILE]\n"
	"                           a policy that allows what the decision log observed\n"
	"  apply NAME FILE [--wait] [--dry-run] [--json]\n"
	"                           switch a daemon sandbox to the policy FILE while it runs\n"
	"  bundle --key KEY.pem -o BUNDLE [--host-policy F] [--sandbox NAME=F]... [FILE...]\n"
	"                           a signed policy bundle for daemon --policy-source\n"
	"                           (also: bundle verify, bundle keygen)\n"
	"\n"
	"Run 'ward policy SUBCOMMAND --help' for details.\n";

static const char usage_check[] =
	"Usage: ward policy check [--org ORG.yaml] [--rules PACK.lua]... FILE...\n"
	"\n"
	"Validate each policy FILE: parse the YAML, check it against the schema\n"
	"(version 1), expand the presets named by 'extends', and compile it.\n"
	"\n"
	"Every problem is printed to standard error as\n"
	"    FILE:LINE:COL: message\n"
	"(warnings as 'FILE:LINE:COL: warning: message'); all problems of a file are\n"
	"reported, not only the first. For each valid file, standard output gets\n"
	"    FILE: ok (rev REV)\n"
	"where REV is the first 12 hex digits of the policy revision (the sha256 of\n"
	"its canonical compiled form, as stored in the decision log).\n"
	"\n"
	"Options:\n"
	"  --org ORG    also check each FILE against the org ceiling ORG, a host\n"
	"               policy (as for 'ward host enforce'): a FILE may narrow the\n"
	"               network access ORG grants, never widen it. Each grant ORG\n"
	"               does not make is an error naming both positions:\n"
	"                 FILE:LINE:COL: error: WHAT is not allowed by the host policy\n"
	"                 ORG:LINE:COL: note: the host policy's closest rule for B is here\n"
	"               (docs/policy.md, 'The org ceiling'). ward run, sandbox\n"
	"               create/start and policy apply make the same check against\n"
	"               the host policy in force ($WARD_STATE/host/policy.yaml)\n"
	"  --rules PACK  also hold each FILE to the Lua rule pack PACK (repeatable),\n"
	"                besides every pack in /etc/ward/rules.d/*.lua ($WARD_RULES_DIR\n"
	"                overrides the directory). What a pack reports is printed as\n"
	"                  FILE:LINE:COL: error: MSG [pack NAME.lua:LINE]\n"
	"                and a pack that fails itself (a Lua error, a limit) as\n"
	"                  PACK.lua:LINE: error: MSG\n"
	"                (docs/rules.md). ward run, sandbox create/start and policy\n"
	"                apply hold every policy to the directory's packs the same way\n"
	"  -h, --help   show this help\n"
	"\n"
	"Exit status: 0 when every file is valid (and within ORG, and no pack\n"
	"reports an error), 1 when any is invalid, unreadable, wider than ORG (or\n"
	"ORG itself is invalid) or breaks a pack (or a pack fails), 2 on a usage\n"
	"error.\n";

static const char usage_compile[] =
	"Usage: ward policy compile FILE [--json]\n"
	"\n"
	"Compile one policy FILE and print the result.\n"
	"\n"
	"Options:\n"
	"  --json    print the canonical compiled form: one JSON object with a fixed\n"
	"            key order, exactly the text whose sha256 is the revision\n"
	"            (docs/policy.md, 'Compiled form')\n"
	"  -h, --help  show this help\n"
	"\n"
	"Without --json, a readable summary: presets, filesystem access, process\n"
	"identity, and every network policy with its binaries and endpoints.\n"
	"Problems are printed as in 'ward policy check'.\n"
	"\n"
	"Exit status: 0 compiled, 1 invalid policy, 2 usage error.\n";

static const char usage_diff[] =
	"Usage: ward policy diff OLD NEW [--json]\n"
	"\n"
	"Compile the policies OLD and NEW and print the access NEW adds and removes:\n"
	"what each binary may connect to (host, port, protocol, every L7 allow and\n"
	"deny rule, allowed_ips), the unix sockets it may reach and the names it may\n"
	"resolve, the paths mapped read-only or read-write (for all or per binary),\n"
	"the credentials injected, inference routes, binaries and budgets, the\n"
	"environment, the process identity, Landlock, resources and limits.\n"
	"\n"
	"The comparison is of access, not of text: comments, formatting, the order\n"
	"of entries and a network policy's key or name never show, and an endpoint's\n"
	"'access:' shorthand equals the rules it stands for (read-only: GET, HEAD,\n"
	"OPTIONS on /**). Output is grouped by section, in the order of the compiled\n"
	"form, one line per item ('-' removed, '+' added); a network line names the\n"
	"entry it comes from, then the binary:\n"
	"    # network_policies\n"
	"    - claude (/usr/bin/node) -> api.example.com:443 GET /v1/*\n"
	"    + claude (/usr/bin/node) -> api.example.com:443 GET /v1/**\n"
	"    + claude (/usr/bin/node) -> cdn.example.com:443\n"
	"    # dns\n"
	"    + claude (/usr/bin/node) resolves cdn.example.com\n"
	"A changed setting is a '-' line with the old value and a '+' line with the\n"
	"new. Nothing is printed when the policies grant the same access.\n"
	"\n"
	"Options:\n"
	"  --json      one JSON object: {\"added\":[ITEM...],\"removed\":[ITEM...],\n"
	"              \"sections\":[NAME...]}; each ITEM has \"section\", \"kind\", its\n"
	"              fields (\"binary\", \"host\", \"port\", \"method\", \"path\", ...)\n"
	"              and \"text\", the line above (docs/policy.md, 'Comparing policies')\n"
	"  -h, --help  show this help\n"
	"\n"
	"Problems in either file are printed as in 'ward policy check'\n"
	"(FILE:LINE:COL: message).\n"
	"\n"
	"Exit status, as diff(1): 0 the same access, 1 differences, 2 an invalid or\n"
	"unreadable policy or a usage error.\n";

static bool is_help(const char *a)
{
	return !strcmp(a, "--help") || !strcmp(a, "-h");
}

/* Load one file and print its diagnostics; 0 valid, 1 invalid. */
static int load_one(const char *path, struct ward_policy **ret)
{
	struct ward_diags diags = { 0 };
	struct ward_error err = { 0 };
	int r;

	r = ward_policy_load(path, ret, &diags, &err);
	ward_diags_print(&diags, stderr);
	ward_diags_free(&diags);
	if (r == -EINVAL)
		return 1;
	if (r < 0) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	return 0;
}

/* The FILE a --org option names: "--org ORG" or "--org=ORG"; NULL when a is
 * not --org; "" (after the message) when its value is missing. */
static const char *org_opt(int argc, char **argv, int *i)
{
	const char *a = argv[*i];

	if (!strncmp(a, "--org=", 6))
		return a + 6;
	if (strcmp(a, "--org"))
		return NULL;
	if (*i + 1 >= argc) {
		fprintf(stderr, "ward policy check: --org needs a file\n%s", usage_check);
		return "";
	}
	return argv[++*i];
}

/* The PACK a --rules option names, as org_opt. */
static const char *rules_opt(int argc, char **argv, int *i)
{
	const char *a = argv[*i];

	if (!strncmp(a, "--rules=", 8))
		return a + 8;
	if (strcmp(a, "--rules"))
		return NULL;
	if (*i + 1 >= argc) {
		fprintf(stderr, "ward policy check: --rules needs a file\n%s", usage_check);
		return "";
	}
	return argv[++*i];
}

static int policy_check(int argc, char **argv)
{
	_cleanup_(ward_rules_freep) struct ward_rules *rules = ward_rules_new();
	_cleanup_(ward_policy_freep) struct ward_policy *org = NULL;
	const char *org_path = NULL;
	int status = 0, files = 0;
	bool dashdash = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			break;
		if (is_help(argv[i])) {
			fputs(usage_check, stdout);
			return 0;
		}
	}
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		const char *o = org_opt(argc, argv, &i);

		if (o && !*o)
			return 2;
		if (o) {
			org_path = o;
			continue;
		}
		o = rules_opt(argc, argv, &i);
		if (o && !*o)
			return 2;
		if (o && !rules)
			return 1;
		if (o) {
			struct ward_error err = { 0 };

			if (ward_rules_add_file(rules, o, &err) < 0) {
				fprintf(stderr, "ward policy check: %s\n", err.msg);
				return 1;
			}
		}
	}
	if (!rules) {
		fprintf(stderr, "ward policy check: out of memory\n");
		return 1;
	} else {
		struct ward_error err = { 0 };

		if (ward_rules_add_dir(rules, NULL, &err) < 0) {
			fprintf(stderr, "ward policy check: %s\n", err.msg);
			return 1;
		}
	}
	/* an invalid ceiling judges nothing: its problems, then each FILE alone */
	if (org_path && load_one(org_path, &org) != 0)
		status = 1;
	for (int i = 1; i < argc; i++) {
		_cleanup_(ward_policy_freep) struct ward_policy *p = NULL;
		struct ward_ceiling_report rep = { 0 };
		struct ward_error err = { 0 };
		int r;

		if (!dashdash && !strcmp(argv[i], "--")) {
			dashdash = true;
			continue;
		}
		if (!dashdash && (org_opt(argc, argv, &i) || rules_opt(argc, argv, &i)))
			continue;
		if (!dashdash && argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "ward policy check: unknown option '%s'\n%s", argv[i],
				usage_check);
			return 2;
		}
		files++;
		if (load_one(argv[i], &p) != 0) {
			status = 1;
			continue;
		}
		if (org) {
			r = ward_policy_ceiling(p, org, &rep, &err);
			ward_ceiling_print(&rep, stderr);
			ward_ceiling_report_free(&rep);
			if (r < 0) {
				if (r != -EPERM)
					fprintf(stderr, "ward policy check: %s\n", err.msg);
				status = 1;
				continue;
			}
		}
		if (ward_rules_count(rules)) {
			struct ward_diags diags = { 0 };

			r = ward_rules_run(rules, p, &diags, &err);
			ward_diags_print(&diags, stderr);
			if (r < 0)
				fprintf(stderr, "ward policy check: %s\n", err.msg);
			if (r < 0 || ward_diags_errors(&diags)) {
				ward_diags_free(&diags);
				status = 1;
				continue;
			}
			ward_diags_free(&diags);
		}
		printf("%s: ok (rev %.12s)%s%s\n", argv[i], p->rev,
		       org ? ", within the ceiling" : "",
		       ward_rules_count(rules) ? ", rule packs passed" : "");
	}
	if (!files) {
		fputs(usage_check, stderr);
		return 2;
	}
	return status;
}

static const char *proto_name(enum ward_protocol p)
{
	switch (p) {
	case WARD_PROTO_REST:
		return "rest";
	case WARD_PROTO_TCP:
		return "tcp";
	case WARD_PROTO_L4:
		break;
	}
	return "L4";
}

static const char *access_name(enum ward_access a)
{
	switch (a) {
	case WARD_ACCESS_READ_ONLY:
		return " access read-only";
	case WARD_ACCESS_READ_WRITE:
		return " access read-write";
	case WARD_ACCESS_FULL:
		return " access full";
	case WARD_ACCESS_NONE:
		break;
	}
	return "";
}

static void print_paths(const char *what, const struct ward_fs_path *v, size_t n, const char *ind)
{
	for (size_t i = 0; i < n; i++)
		printf("%s%-10s %s\n", ind, what, v[i].path);
}

static void print_binaries(const struct ward_binary *v, size_t n, const char *ind)
{
	for (size_t i = 0; i < n; i++)
		printf("%sbinary %s%s\n", ind, v[i].path,
		       v[i].ancestors ? " (or an ancestor)" : "");
}

static void print_rules(const char *what, const struct ward_l7_rule *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		printf("      %s %s %s", what, v[i].method, v[i].path);
		for (size_t q = 0; q < v[i].n_query; q++)
			printf("%s%s=%s", q ? "&" : "?", v[i].query[q].key, v[i].query[q].glob);
		putchar('\n');
	}
}

static void print_summary(const struct ward_policy *p)
{
	printf("policy %s (rev %s)\n", p->source_path, p->rev);
	if (p->n_extends) {
		printf("extends");
		for (size_t i = 0; i < p->n_extends; i++)
			printf(" %s", p->extends[i]);
		putchar('\n');
	}
	printf("filesystem (landlock %s)\n", p->landlock_compat == WARD_LANDLOCK_HARD_REQUIREMENT
						     ? "hard_requirement"
						     : "best_effort");
	printf("  workdir    %s\n", p->include_workdir ? "read-write" : "not mapped");
	print_paths("read-only", p->read_only, p->n_read_only, "  ");
	print_paths("read-write", p->read_write, p->n_read_write, "  ");
	for (size_t i = 0; i < p->n_fs_binaries; i++) {
		printf("  for binary %s\n", p->fs_binaries[i].binary.path);
		print_paths("read-only", p->fs_binaries[i].read_only, p->fs_binaries[i].n_read_only,
			    "    ");
		print_paths("read-write", p->fs_binaries[i].read_write,
			    p->fs_binaries[i].n_read_write, "    ");
	}
	printf("process\n");
	if (p->has_user && p->run_as_user)
		printf("  user  %s\n", p->run_as_user);
	else if (p->has_user)
		printf("  user  %u\n", (unsigned)p->uid);
	else
		printf("  user  (default)\n");
	if (p->has_group && p->run_as_group)
		printf("  group %s\n", p->run_as_group);
	else if (p->has_group)
		printf("  group %u\n", (unsigned)p->gid);
	else
		printf("  group (default)\n");
	printf("network policies: %zu%s\n", p->n_net, p->n_net ? "" : " (no network access)");
	for (size_t i = 0; i < p->n_net; i++) {
		const struct ward_net_policy *n = &p->net[i];
		printf("  %s", n->key);
		if (strcmp(n->key, n->name))
			printf(" (%s)", n->name);
		printf("\n");
		print_binaries(n->binaries, n->n_binaries, "    ");
		if (!n->n_binaries)
			printf("    (no binaries: unused)\n");
		for (size_t e = 0; e < n->n_endpoints; e++) {
			const struct ward_endpoint *ep = &n->endpoints[e];
			printf("    endpoint %s port", ep->host);
			for (size_t k = 0; k < ep->n_ports; k++)
				printf("%s%u", k ? "," : " ", ep->ports[k]);
			printf(" %s%s%s\n", proto_name(ep->protocol),
			       ep->enforcement == WARD_AUDIT ? " audit-only" : "",
			       access_name(ep->access));
			print_rules("allow", ep->rules, ep->n_rules);
			print_rules("deny", ep->deny_rules, ep->n_deny_rules);
			for (size_t k = 0; k < ep->n_allowed_ips; k++) {
				char buf[INET6_ADDRSTRLEN];
				inet_ntop(ep->allowed_ips[k].family, ep->allowed_ips[k].addr, buf,
					  sizeof(buf));
				printf("      allowed_ip %s/%u\n", buf, ep->allowed_ips[k].prefix);
			}
		}
	}
	for (size_t i = 0; i < p->n_credentials; i++) {
		const struct ward_credential *c = &p->credentials[i];
		if (c->secret) /* the value is the store's; the sandbox variable holds the
				  placeholder */
			printf("credential %s: secret %s (placeholder in $%s) -> %s: %s on %s:%u%s\n",
			       c->name, c->secret, c->env, c->header, c->format, c->host, c->port,
			       c->path);
		else
			printf("credential %s: $%s -> %s: %s on %s:%u%s\n", c->name, c->env,
			       c->header, c->format, c->host, c->port, c->path);
	}
	for (size_t i = 0; i < p->n_routes; i++) {
		const struct ward_inference_route *r = &p->routes[i];
		printf("inference route %s: %s %s%s%s, key from %s%s\n", r->name, r->provider,
		       r->model, r->base_url ? " at " : "", r->base_url ? r->base_url : "",
		       r->api_key_secret ? "secret " : "$",
		       r->api_key_secret ? r->api_key_secret : r->api_key_env);
	}
	if (p->n_routes) {
		if (p->inference_binaries)
			print_binaries(p->inference_binaries, p->n_inference_binaries,
				       "  inference ");
		if (p->inference_max_tokens)
			printf("  budget %llu tokens\n",
			       (unsigned long long)p->inference_max_tokens);
	}
}

static int policy_compile(int argc, char **argv)
{
	_cleanup_(ward_policy_freep) struct ward_policy *p = NULL;
	const char *file = NULL;
	bool json = false;

	for (int i = 1; i < argc; i++) {
		if (is_help(argv[i])) {
			fputs(usage_compile, stdout);
			return 0;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "ward policy compile: unknown option '%s'\n%s", argv[i],
				usage_compile);
			return 2;
		} else if (file) {
			fprintf(stderr, "ward policy compile: one FILE only\n%s", usage_compile);
			return 2;
		} else {
			file = argv[i];
		}
	}
	if (!file) {
		fputs(usage_compile, stderr);
		return 2;
	}
	if (load_one(file, &p) != 0)
		return 1;
	if (json)
		fputs(p->compiled_json, stdout);
	else
		print_summary(p);
	return 0;
}

static const char usage_apply[] =
	"Usage: ward policy apply NAME FILE [--wait] [--dry-run] [--json] [--socket PATH]\n"
	"\n"
	"Switch the sandbox NAME of 'ward daemon' to the policy FILE while its sessions\n"
	"run (hot reload). The daemon compiles FILE (errors are printed as\n"
	"FILE:LINE:COL: message and nothing changes), then moves every layer to the new\n"
	"revision in one step each: network policies, credentials, inference routes,\n"
	"DNS and cgroup limits are enforced at once; open connections the new policy\n"
	"denies are closed and logged; the mount plan, Landlock, the process identity\n"
	"and the environment apply to new sessions only. The sandbox keeps the new\n"
	"policy text across stop/start and daemon restarts.\n"
	"\n"
	"Prints the access the change adds (+) and removes (-), in terms of what may\n"
	"be reached or opened, not of YAML text (as 'ward policy diff'), then each\n"
	"policy section that changed and how: applied (enforced now) or 'applies to\n"
	"new sessions only'.\n"
	"\n"
	"Options:\n"
	"  --wait              return once every layer enforces the new revision, and\n"
	"                      print 'enforced in N ms' (the time the switch took)\n"
	"  --dry-run           compile and print the access diff; change nothing\n"
	"  --json              one JSON object: old_rev, new_rev, diff {added,\n"
	"                      removed}, sections [{section, state}], enforced_ms\n"
	"                      (with --wait), timings (where the daemon's time\n"
	"                      went, per step), dry_run (docs/daemon.md)\n"
	"  --socket PATH       the daemon's socket (default: $WARD_SOCKET, else\n"
	"                      /run/ward/ward.sock)\n"
	"  -h, --help          show this help\n"
	"\n"
	"FILE is read by the daemon: a relative path is made absolute here first.\n"
	"Every revision is kept in the decision log's policies table; rows decided\n"
	"under it carry it, and a control row records the apply.\n"
	"\n"
	"Exit status: 0 applied (or, with --dry-run, compiled), 1 invalid policy or\n"
	"refused (the reason on stderr; the policy in force stays), 2 usage error.\n";

DEFINE_CLEANUP(struct ward_client *, ward_client_free)

/* One diff item (policy/diff.h's JSON): its text, else its fields. */
static void print_diff_item(char sign, json_t *item)
{
	const char *key, *text = json_string_value(item);
	json_t *v;

	if (!text)
		text = json_string_value(json_object_get(item, "text"));
	if (text) {
		printf("  %c %s\n", sign, text);
		return;
	}
	printf("  %c", sign);
	json_object_foreach(item, key, v) {
		char *s;

		if (json_is_null(v) || !strcmp(key, "section"))
			continue;
		s = json_is_string(v) ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		printf(" %s=%s", key, s ? s : json_string_value(v) ? json_string_value(v) : "?");
		free(s);
	}
	putchar('\n');
}

static bool same_section(json_t *item, const char *section)
{
	const char *s = json_string_value(json_object_get(item, "section"));

	return !section ? !s : s && !strcmp(s, section);
}

/* As 'ward policy diff' prints it: per section "# SECTION", removed then added. */
static void print_diff(json_t *diff)
{
	json_t *added = json_object_get(diff, "added"), *removed = json_object_get(diff, "removed");
	json_t *lists[2] = { removed, added }, *v, *w;
	size_t i, k;

	for (int l = 0; l < 2; l++) {
		json_array_foreach(lists[l], i, v) {
			const char *sec = json_string_value(json_object_get(v, "section"));
			bool seen = false;

			/* the first item of its section prints the whole section */
			for (int m = 0; m <= l && !seen; m++)
				json_array_foreach(lists[m], k, w) {
					if (m == l && k == i)
						break;
					if (same_section(w, sec)) {
						seen = true;
						break;
					}
				}
			if (seen)
				continue;
			printf("  # %s\n", sec ?: "(other)");
			for (int m = 0; m < 2; m++)
				json_array_foreach(lists[m], k, w)
					if (same_section(w, sec))
						print_diff_item(m ? '+' : '-', w);
		}
	}
}

static void print_apply(const char *name, json_t *reply, bool dry_run)
{
	json_t *diff = json_object_get(reply, "diff"), *sections, *v;
	const char *old_rev = json_string_value(json_object_get(reply, "old_rev"));
	const char *new_rev = json_string_value(json_object_get(reply, "new_rev"));
	json_t *enforced = json_object_get(reply, "enforced_ms");
	size_t i, changed = 0;

	cli_print_warnings(reply);
	printf("%s: policy rev %.12s -> %.12s%s\n", name, old_rev ?: "?", new_rev ?: "?",
	       dry_run ? " (dry run: nothing changed)" : "");
	if (old_rev && new_rev && !strcmp(old_rev, new_rev))
		printf("nothing compiled changed\n");
	if (!json_is_object(diff))
		printf("access diff: not available (too many access items to compare)\n");
	else if (!json_array_size(json_object_get(diff, "added")) &&
		 !json_array_size(json_object_get(diff, "removed")))
		printf("access: unchanged\n");
	else {
		printf("access (- removed, + added):\n");
		print_diff(diff);
	}
	sections = json_object_get(reply, "sections");
	json_array_foreach(sections, i, v) {
		const char *st = json_string_value(json_object_get(v, "state"));

		if (st && strcmp(st, "unchanged"))
			changed++;
	}
	if (changed)
		printf("sections:\n");
	json_array_foreach(sections, i, v) {
		const char *sec = json_string_value(json_object_get(v, "section"));
		const char *st = json_string_value(json_object_get(v, "state"));

		if (!st || !strcmp(st, "unchanged"))
			continue;
		if (!strcmp(st, "applied"))
			st = "applied";
		else if (!strcmp(st, "new_sessions"))
			st = "applies to new sessions only";
		else if (!strcmp(st, "next_start"))
			st = "applies at the next start (ward sandbox stop, start)";
		else if (!strcmp(st, "changed"))
			st = dry_run ? "would change" : "changed";
		printf("  %-20s %s\n", sec ?: "?", st);
	}
	if (json_is_number(enforced))
		printf("enforced in %.1f ms\n", json_number_value(enforced));
}

static int policy_apply(int argc, char **argv)
{
	static const char prog[] = "ward policy apply";
	_cleanup_(ward_client_freep) struct ward_client *c = NULL;
	_cleanup_(json_decrefp) json_t *req = NULL, *reply = NULL;
	_cleanup_free_ char *abs = NULL;
	const char *name = NULL, *file = NULL, *socket = NULL;
	bool wait = false, dry_run = false, json = false;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		int r;

		if (is_help(a)) {
			fputs(usage_apply, stdout);
			return 0;
		}
		r = cli_socket_opt(prog, argc, argv, &i, &socket);
		if (r < 0)
			return 2;
		if (r > 0)
			continue;
		if (!strcmp(a, "--wait")) {
			wait = true;
		} else if (!strcmp(a, "--dry-run")) {
			dry_run = true;
		} else if (!strcmp(a, "--json")) {
			json = true;
		} else if (a[0] == '-' && a[1]) {
			fprintf(stderr, "%s: unknown option '%s'\n%s", prog, a, usage_apply);
			return 2;
		} else if (!name) {
			name = a;
		} else if (!file) {
			file = a;
		} else {
			fprintf(stderr, "%s: unexpected argument '%s'\n%s", prog, a, usage_apply);
			return 2;
		}
	}
	if (!name || !file) {
		fprintf(stderr, "%s: NAME and FILE are required\n%s", prog, usage_apply);
		return 2;
	}
	abs = cli_abspath(prog, NULL, file);
	if (!abs)
		return 1;
	req = json_pack("{s:s, s:s, s:s, s:b, s:b}", "verb", "policy.apply", "name", name, "policy",
			abs, "wait", wait, "dry_run", dry_run);
	c = cli_connect(prog, socket);
	if (!req || !c || cli_call(prog, c, req, &reply) < 0)
		return 1;
	if (json) {
		json_object_del(reply, "id");
		json_object_del(reply, "ok");
		json_object_set_new(reply, "dry_run", json_boolean(dry_run));
		cli_print_json(stdout, reply);
	} else {
		print_apply(name, reply, dry_run);
	}
	return 0;
}

static int policy_diff(int argc, char **argv)
{
	_cleanup_(ward_policy_freep) struct ward_policy *old = NULL, *new = NULL;
	_cleanup_(ward_policy_diff_free) struct ward_policy_diff d = { 0 };
	struct ward_error err = { 0 };
	const char *files[2] = { NULL, NULL };
	bool json = false, dashdash = false;
	size_t n = 0;

	for (int i = 1; i < argc; i++) {
		if (!dashdash && is_help(argv[i])) {
			fputs(usage_diff, stdout);
			return 0;
		} else if (!dashdash && !strcmp(argv[i], "--json")) {
			json = true;
		} else if (!dashdash && !strcmp(argv[i], "--")) {
			dashdash = true;
		} else if (!dashdash && argv[i][0] == '-' && argv[i][1]) {
			fprintf(stderr, "ward policy diff: unknown option '%s'\n%s", argv[i],
				usage_diff);
			return 2;
		} else if (n == 2) {
			fprintf(stderr, "ward policy diff: two files only\n%s", usage_diff);
			return 2;
		} else {
			files[n++] = argv[i];
		}
	}
	if (n != 2) {
		fputs(usage_diff, stderr);
		return 2;
	}
	/* both are checked, so every problem of both files is reported at once */
	if ((load_one(files[0], &old) | load_one(files[1], &new)) != 0)
		return 2;
	if (ward_policy_diff(old, new, &d, &err) < 0) {
		fprintf(stderr, "ward policy diff: %s\n", err.msg);
		return 2;
	}
	ward_policy_diff_print(stdout, &d, json);
	if (fflush(stdout) != 0) {
		fprintf(stderr, "ward policy diff: write: %m\n");
		return 2;
	}
	return ward_policy_diff_empty(&d) ? 0 : 1;
}

int cmd_policy(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage_policy, stderr);
		return 2;
	}
	if (is_help(argv[1])) {
		fputs(usage_policy, stdout);
		return 0;
	}
	if (!strcmp(argv[1], "check"))
		return policy_check(argc - 1, argv + 1);
	if (!strcmp(argv[1], "compile"))
		return policy_compile(argc - 1, argv + 1);
	if (!strcmp(argv[1], "diff"))
		return policy_diff(argc - 1, argv + 1);
	if (!strcmp(argv[1], "explain"))
		return cmd_policy_explain(argc - 1, argv + 1);
	if (!strcmp(argv[1], "test"))
		return cmd_policy_test(argc - 1, argv + 1);
	if (!strcmp(argv[1], "suggest"))
		return cmd_policy_suggest(argc - 1, argv + 1);
	if (!strcmp(argv[1], "apply"))
		return policy_apply(argc - 1, argv + 1);
	if (!strcmp(argv[1], "bundle"))
		return cmd_policy_bundle(argc - 1, argv + 1);
	fprintf(stderr, "ward policy: unknown subcommand '%s'\n%s", argv[1], usage_policy);
	return 2;
}
