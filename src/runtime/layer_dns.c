// SPDX-License-Identifier: MIT
/* `ward run` integration of the DNS stub: the resolv.conf file and the hook. */
#include "runtime/layer_dns.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "enforcer/egress.h"
#include "enforcer/sandbox.h"

static const char resolv_conf[] =
	"# ward: the DNS stub answers only names the policy allows (docs/dns.md)\n"
	"nameserver " WARD_DNS_STUB_ADDR "\n";

int ward_dns_resolv_conf(const char **ret_path, struct ward_error *err)
{
	char tmp[64];
	int fd;

	if (mkdir(WARD_DNS_RESOLV_CONF_DIR, 0755) < 0 && errno != EEXIST)
		return ward_err(err, -errno, "mkdir %s", WARD_DNS_RESOLV_CONF_DIR);
	/* every ward writes the same bytes: a private temp file renamed into place */
	snprintf(tmp, sizeof(tmp), "%s.%d", WARD_DNS_RESOLV_CONF, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return ward_err(err, -errno, "create %s", tmp);
	if (write(fd, resolv_conf, sizeof(resolv_conf) - 1) != (ssize_t)sizeof(resolv_conf) - 1 ||
	    fchmod(fd, 0644) < 0) {
		int r = ward_err(err, -errno, "write %s", tmp);

		close(fd);
		unlink(tmp);
		return r;
	}
	close(fd);
	if (rename(tmp, WARD_DNS_RESOLV_CONF) < 0) {
		int r = ward_err(err, -errno, "rename %s", tmp);

		unlink(tmp);
		return r;
	}
	*ret_path = WARD_DNS_RESOLV_CONF;
	return 0;
}

/* The stub's lookup callback: who sent a query, from the egress layer's
 * records, in the neutral form (policy/peer.h; the stub knows nothing of the
 * enforcer). The same conversion as layer_proxy.c's. */
int ward_dns_egress_lookup(void *userdata, int socktype, const struct sockaddr *peer,
			   struct ward_peer_ident *ret)
{
	struct ward_egress *e = userdata;
	struct ward_egress_peer who;
	const char *via;
	int r = socktype == SOCK_DGRAM ? ward_egress_udp_peer_lookup(e, peer, &who)
				       : ward_egress_peer_lookup(e, peer, &who);

	if (r < 0)
		return r;
	memset(ret, 0, sizeof(*ret));
	/* the executable that asked, not the ancestor that decided (via) */
	ward_egress_peer_exe(&who, ret->binary, sizeof(ret->binary));
	via = ward_egress_peer_via(&who);
	snprintf(ret->via, sizeof(ret->via), "%s", via ? via : "");
	snprintf(ret->keys, sizeof(ret->keys), "%s",
		 who.entry != WARD_ENTRY_NONE && who.rule ? who.rule : "");
	snprintf(ret->exe_sha, sizeof(ret->exe_sha), "%s", who.exe_sha ? who.exe_sha : "");
	ret->pid = who.pid;
	ret->dev = who.own_ino ? who.own_dev : who.dev;
	ret->ino = who.own_ino ? who.own_ino : who.ino;
	ret->orig = who.orig;
	ret->cgid = who.cgid;
	memcpy(ret->session, who.session, sizeof(ret->session));
	ret->has_uid = who.has_uid;
	ret->uid = who.uid;
	return 0;
}

int ward_dns_hook(struct ward_sandbox *sb, void *data, struct ward_error *err)
{
	struct ward_dns_run *run = data;
	const struct ward_netns *n;
	struct ward_dns_opts o;

	if (!run->net || !run->net->net || !run->egress || !run->egress->egress)
		return ward_errx(err, -EINVAL, "the network and egress hooks must run first");
	n = run->net->net;
	o = (struct ward_dns_opts){
		.policy = run->policy,
		.audit = run->audit,
		.sandbox = sb->id,
		.lookup = ward_dns_egress_lookup,
		.lookup_data = run->egress->egress,
		.addr4 = n->host_ip4,
		.addr6 = n->host_ip6,
		.has_addr6 = true,
		.port = n->dns_port,
		.hosts_file = sb->opts->hosts_file,
		.learn = run->learn,
	};
	return ward_dns_start(&o, &run->dns, err);
}

void ward_dns_run_finish(struct ward_dns_run *run)
{
	ward_dns_stop(run->dns);
	run->dns = NULL;
}
