// SPDX-License-Identifier: MIT
/* ward policy bundle [keygen|verify]: signed policy bundles for a fleet
 * (docs/fleet.md "Signed policy bundles"; the container: src/fleet/bundle.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "commands.h"
#include "common/cleanup.h"
#include "common/util.h"
#include "fleet/bundle.h"
#include "policy/ceiling.h"
#include "policy/policy.h"
#include "policy/rules.h"

DEFINE_CLEANUP(EVP_PKEY *, EVP_PKEY_free)
DEFINE_CLEANUP(struct ward_policy *, ward_policy_free)
DEFINE_CLEANUP(struct ward_bundle *, ward_bundle_free)

static const char usage_bundle[] =
	"Usage: ward policy bundle --key KEY.pem -o BUNDLE [--version N]\n"
	"                          [--host-policy FILE] [--sandbox NAME=FILE]... [FILE...]\n"
	"       ward policy bundle verify --pub PUB.pem BUNDLE [--json]\n"
	"       ward policy bundle keygen -o KEY.pem\n"
	"\n"
	"Make a signed policy bundle for ward daemon --policy-source (docs/fleet.md,\n"
	"'Signed policy bundles'): one file with a host policy and sandbox policies,\n"
	"a version, the time it was made, each file's role, name, length and sha256,\n"
	"and an ed25519 signature over all of that with KEY.pem.\n"
	"\n"
	"Every policy must pass what ward policy check checks before anything is\n"
	"signed: it compiles, the rule packs of /etc/ward/rules.d ($WARD_RULES_DIR)\n"
	"pass it, and each sandbox policy is within the bundle's host policy (the\n"
	"org ceiling) when the bundle has one. A problem is printed as\n"
	"FILE:LINE:COL: message and no bundle is written.\n"
	"\n"
	"Options:\n"
	"  --key KEY.pem     the ed25519 private key (PEM, from 'bundle keygen')\n"
	"  -o BUNDLE         where to write the bundle (replaced atomically)\n"
	"  --version N       the bundle version, 1..2^53-1 (default: the current\n"
	"                    time in unix seconds); a daemon applies only a version\n"
	"                    greater than the one it applied last\n"
	"  --host-policy FILE  the host policy (ward host enforce) of the bundle\n"
	"  --sandbox NAME=FILE the policy of the daemon sandbox NAME (repeatable)\n"
	"  FILE              a sandbox policy for the sandbox named as the file,\n"
	"                    without its directory and .yaml/.yml ending\n"
	"\n"
	"verify: check BUNDLE's structure, its signature with the public key\n"
	"PUB.pem and every file's sha256, and list what it holds (--json: one\n"
	"object). keygen: write a new private key to KEY.pem (0600) and its public\n"
	"key to KEY.pub.pem (KEY without .pem, then .pub.pem); neither may exist.\n"
	"\n"
	"Exit status: 0 done (verify: the bundle verifies), 1 a policy or key\n"
	"problem (verify: the bundle is refused), 2 a usage error.\n";

static __attribute__((format(printf, 1, 2))) int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("ward policy bundle: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nRun 'ward policy bundle --help' for usage.\n", stderr);
	return 2;
}

static int keygen(int argc, char **argv)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *k = NULL;
	_cleanup_free_ char *pub = NULL;
	struct ward_error err = { 0 };
	const char *out = NULL;
	char id[65];
	size_t n;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage_bundle, stdout);
			return 0;
		}
		if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc)
			out = argv[++i];
		else
			return usage_error("keygen: unexpected '%s'", argv[i]);
	}
	if (!out)
		return usage_error("keygen needs -o KEY.pem");
	n = strlen(out);
	if (n > 4 && !strcmp(out + n - 4, ".pem"))
		n -= 4;
	if (asprintf(&pub, "%.*s.pub.pem", (int)n, out) < 0)
		return 1;
	if (ward_bundle_keygen(&k, &err) < 0 || ward_bundle_key_write(k, out, pub, &err) < 0 ||
	    ward_bundle_key_id(k, id, &err) < 0) {
		fprintf(stderr, "ward policy bundle keygen: %s\n", err.msg);
		return 1;
	}
	printf("%s: private key\n%s: public key (key %.16s)\n", out, pub, id);
	return 0;
}

static json_t *bundle_json(const char *path, const struct ward_bundle *b)
{
	json_t *files = json_array();

	for (size_t i = 0; i < b->n_files; i++) {
		const struct ward_bundle_file *f = &b->files[i];
		json_t *o = json_pack("{s:s, s:s, s:I, s:s}", "role",
				      ward_bundle_role_name(f->role), "name", f->name, "bytes",
				      (json_int_t)f->len, "sha256", f->sha256);

		if (o && f->sandbox)
			json_object_set_new(o, "sandbox", json_string(f->sandbox));
		json_array_append_new(files, o);
	}
	return json_pack("{s:s, s:b, s:I, s:I, s:s, s:s, s:o}", "bundle", path, "ok", 1, "version",
			 (json_int_t)b->version, "created", (json_int_t)b->created, "key",
			 b->key_id, "sha256", b->sha256, "files", files);
}

static int verify(int argc, char **argv)
{
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *pub = NULL;
	_cleanup_(ward_bundle_freep) struct ward_bundle *b = NULL;
	struct ward_error err = { 0 };
	const char *pub_path = NULL, *path = NULL;
	bool json = false;
	char when[64];
	struct tm tm;
	time_t t;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			fputs(usage_bundle, stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--pub") && i + 1 < argc)
			pub_path = argv[++i];
		else if (!strncmp(argv[i], "--pub=", 6))
			pub_path = argv[i] + 6;
		else if (!strcmp(argv[i], "--json"))
			json = true;
		else if (argv[i][0] == '-' || path)
			return usage_error("verify: unexpected '%s'", argv[i]);
		else
			path = argv[i];
	}
	if (!pub_path || !path)
		return usage_error("verify needs --pub PUB.pem and a BUNDLE");
	if (ward_bundle_key_load(pub_path, false, &pub, &err) < 0 ||
	    ward_bundle_load(path, pub, &b, &err) < 0) {
		if (json) {
			json_t *o = json_pack("{s:s, s:b, s:s}", "bundle", path, "ok", 0, "error",
					      err.msg);

			json_dumpf(o, stdout, JSON_COMPACT);
			putchar('\n');
			json_decref(o);
		}
		fprintf(stderr, "ward policy bundle verify: refused: %s\n", err.msg);
		return 1;
	}
	if (json) {
		json_t *o = bundle_json(path, b);

		json_dumpf(o, stdout, JSON_COMPACT);
		putchar('\n');
		json_decref(o);
		return 0;
	}
	t = (time_t)b->created;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("%s: ok, version %" PRIu64 ", created %s, key %.16s, sha256 %.16s\n", path,
	       b->version, when, b->key_id, b->sha256);
	for (size_t i = 0; i < b->n_files; i++) {
		const struct ward_bundle_file *f = &b->files[i];

		printf("  %-7s %-16s %-24s %7zu bytes  sha256 %.16s\n",
		       ward_bundle_role_name(f->role), f->sandbox ? f->sandbox : "-", f->name,
		       f->len, f->sha256);
	}
	return 0;
}

struct item {
	enum ward_bundle_role role;
	char sandbox[WARD_BUNDLE_SANDBOX_MAX + 1];
	const char *path;
	char *text;
	size_t len;
	struct ward_policy *p;
};

/* "dir/dev.yaml" -> "dev" */
static void sandbox_of_file(const char *path, char *out, size_t n)
{
	const char *base = strrchr(path, '/');
	size_t len;

	base = base ? base + 1 : path;
	len = strlen(base);
	if (len > 5 && !strcmp(base + len - 5, ".yaml"))
		len -= 5;
	else if (len > 4 && !strcmp(base + len - 4, ".yml"))
		len -= 4;
	snprintf(out, n, "%.*s", (int)len, base);
}

/* What `ward policy check` checks: compiles (diagnostics printed), the rule
 * packs pass it, within the bundle's host policy. 0 ok, 1 not. */
static int check_item(struct item *it, const struct ward_policy *host)
{
	struct ward_diags diags = { 0 };
	struct ward_error err = { 0 };
	int r = ward_read_file(it->path, WARD_POLICY_MAX_SOURCE, &it->text, &it->len);

	if (r < 0) {
		fprintf(stderr, "%s: %s\n", it->path, strerror(-r));
		return 1;
	}
	r = ward_policy_load_buffer(it->path, it->text, it->len, &it->p, &diags, &err);
	ward_diags_print(&diags, stderr);
	ward_diags_free(&diags);
	if (r < 0) {
		if (r != -EINVAL)
			fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	if (host) {
		struct ward_ceiling_report rep = { 0 };

		r = ward_policy_ceiling(it->p, host, &rep, &err);
		ward_ceiling_print(&rep, stderr);
		ward_ceiling_report_free(&rep);
		if (r < 0) {
			if (r != -EPERM)
				fprintf(stderr, "ward policy bundle: %s\n", err.msg);
			return 1;
		}
	}
	r = ward_rules_check(NULL, it->p, stderr, NULL, &err);
	if (r < 0) {
		fprintf(stderr, "ward policy bundle: %s: %s\n", it->path, err.msg);
		return 1;
	}
	return 0;
}

static int write_out(const char *out, const uint8_t *buf, size_t len)
{
	_cleanup_free_ char *tmp = NULL;
	_cleanup_close_ int fd = -1;
	size_t off = 0;

	if (asprintf(&tmp, "%s.tmp.%d", out, (int)getpid()) < 0)
		return -ENOMEM;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	while (off < len) {
		ssize_t w = write(fd, buf + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			int e = w < 0 ? -errno : -EIO;

			unlink(tmp);
			return e;
		}
		off += (size_t)w;
	}
	/* a watcher sees the whole bundle or none: rename, never a partial write */
	if (fsync(fd) < 0 || rename(tmp, out) < 0) {
		int e = -errno;

		unlink(tmp);
		return e;
	}
	return 0;
}

static int create(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "output", required_argument, NULL, 'o' },
		{ "version", required_argument, NULL, 'V' },
		{ "host-policy", required_argument, NULL, 'H' },
		{ "sandbox", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	_cleanup_(EVP_PKEY_freep) EVP_PKEY *key = NULL;
	_cleanup_free_ struct item *items = NULL;
	_cleanup_free_ struct ward_bundle_input *in = NULL;
	_cleanup_free_ uint8_t *buf = NULL;
	struct ward_error err = { 0 };
	const char *key_path = NULL, *out = NULL, *host = NULL;
	uint64_t version = (uint64_t)time(NULL);
	size_t n = 0, len = 0;
	int c, status = 0, host_idx = -1;
	char sha[65];

	items = calloc((size_t)argc + 1, sizeof(*items));
	if (!items)
		return 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "ho:", opts, NULL)) != -1) {
		switch (c) {
		case 'k':
			key_path = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'V': {
			char *end;

			errno = 0;
			version = strtoull(optarg, &end, 10);
			if (errno || *end || !*optarg || optarg[0] == '-' || version < 1 ||
			    version > WARD_BUNDLE_VERSION_MAX)
				return usage_error("--version '%s': an integer 1..2^53-1", optarg);
			break;
		}
		case 'H':
			host = optarg;
			break;
		case 's': {
			const char *eq = strchr(optarg, '=');

			if (!eq || eq == optarg || !eq[1] ||
			    (size_t)(eq - optarg) > WARD_BUNDLE_SANDBOX_MAX)
				return usage_error("--sandbox '%s': NAME=FILE", optarg);
			items[n].role = WARD_BUNDLE_SANDBOX;
			snprintf(items[n].sandbox, sizeof(items[n].sandbox), "%.*s",
				 (int)(eq - optarg), optarg);
			items[n++].path = eq + 1;
			break;
		}
		case 'h':
			fputs(usage_bundle, stdout);
			return 0;
		default:
			fputs("Run 'ward policy bundle --help' for usage.\n", stderr);
			return 2;
		}
	}
	for (int i = optind; i < argc; i++) {
		items[n].role = WARD_BUNDLE_SANDBOX;
		sandbox_of_file(argv[i], items[n].sandbox, sizeof(items[n].sandbox));
		items[n++].path = argv[i];
	}
	if (host) {
		host_idx = (int)n;
		items[n].role = WARD_BUNDLE_HOST;
		items[n++].path = host;
	}
	if (!key_path || !out)
		return usage_error("needs --key KEY.pem and -o BUNDLE");
	if (n == 0)
		return usage_error("no policy to bundle");
	if (n > WARD_BUNDLE_MAX_FILES)
		return usage_error("more than %d policies", WARD_BUNDLE_MAX_FILES);
	for (size_t i = 0; i < n; i++) {
		if (items[i].role != WARD_BUNDLE_SANDBOX)
			continue;
		if (!ward_bundle_name_valid(items[i].sandbox, WARD_BUNDLE_SANDBOX_MAX))
			return usage_error("'%s' is not a sandbox name ([A-Za-z0-9._-], 1..63)",
					   items[i].sandbox);
		for (size_t j = 0; j < i; j++)
			if (items[j].role == WARD_BUNDLE_SANDBOX &&
			    !strcmp(items[j].sandbox, items[i].sandbox))
				return usage_error("sandbox '%s' named twice", items[i].sandbox);
	}
	if (ward_bundle_key_load(key_path, true, &key, &err) < 0) {
		fprintf(stderr, "ward policy bundle: %s\n", err.msg);
		return 1;
	}
	/* the host policy first: it is the sandboxes' ceiling */
	if (host_idx >= 0 && check_item(&items[host_idx], NULL) != 0)
		status = 1;
	for (size_t i = 0; i < n; i++)
		if ((int)i != host_idx &&
		    check_item(&items[i], host_idx >= 0 ? items[host_idx].p : NULL) != 0)
			status = 1;
	in = calloc(n, sizeof(*in));
	if (status == 0 && in) {
		for (size_t i = 0; i < n; i++) {
			const char *base = strrchr(items[i].path, '/');
			char *name = (char *)(base ? base + 1 : items[i].path);

			if (!ward_bundle_name_valid(name, WARD_BUNDLE_NAME_MAX)) {
				fprintf(stderr,
					"ward policy bundle: %s: the file name must be "
					"[A-Za-z0-9._-] (1..128), not starting with '.'\n",
					items[i].path);
				status = 1;
			}
			in[i] = (struct ward_bundle_input){ .role = items[i].role,
							    .sandbox = items[i].sandbox,
							    .name = name,
							    .data = items[i].text,
							    .len = items[i].len };
		}
		if (status == 0 && ward_bundle_write(in, n, version, (int64_t)time(NULL), key, &buf,
						     &len, &err) < 0) {
			fprintf(stderr, "ward policy bundle: %s\n", err.msg);
			status = 1;
		}
		if (status == 0) {
			int r = write_out(out, buf, len);

			if (r < 0) {
				fprintf(stderr, "ward policy bundle: write %s: %s\n", out,
					strerror(-r));
				status = 1;
			}
		}
	} else if (!in) {
		status = 1;
	}
	for (size_t i = 0; i < n; i++) {
		free(items[i].text);
		ward_policy_free(items[i].p);
	}
	if (status == 0) {
		ward_sha256_hex(buf, len, sha);
		printf("%s: version %" PRIu64 ", %zu %s, sha256 %.16s\n", out, version, n,
		       n == 1 ? "policy" : "policies", sha);
	}
	return status;
}

int cmd_policy_bundle(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "keygen"))
		return keygen(argc - 1, argv + 1);
	if (argc >= 2 && !strcmp(argv[1], "verify"))
		return verify(argc - 1, argv + 1);
	return create(argc, argv);
}
