// SPDX-License-Identifier: MIT
/* ward run's proxy hook (layer_proxy.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "enforcer/egress.h"
#include "enforcer/sandbox.h"
#include "proxy/admission.h"
#include "proxy/cred.h"
#include "runtime/layer_proxy.h"
#include "proxy/tls.h"

/* The proxy's identity callback: the egress maps' record, in the proxy's
 * neutral form (policy/peer.h). */
int ward_proxy_egress_lookup(void *userdata, const struct sockaddr *peer,
			     struct ward_peer_ident *ret)
{
	struct ward_egress_peer who;
	const char *via;
	int r = ward_egress_peer_lookup(userdata, peer, &who);

	if (r < 0)
		return r;
	memset(ret, 0, sizeof(*ret));
	ward_egress_peer_exe(&who, ret->binary, sizeof(ret->binary));
	via = ward_egress_peer_via(&who);
	snprintf(ret->via, sizeof(ret->via), "%s", via ? via : "");
	snprintf(ret->keys, sizeof(ret->keys), "%s", who.rule ? who.rule : "");
	snprintf(ret->exe_sha, sizeof(ret->exe_sha), "%s", who.exe_sha ? who.exe_sha : "");
	ret->pid = who.pid;
	/* the file that acted, not the ancestor that decided: TOFU hashes it */
	ret->dev = who.own_ino ? who.own_dev : who.dev;
	ret->ino = who.own_ino ? who.own_ino : who.ino;
	ret->allowed_ip = who.flags & WARD_CONN_ALLOWED_IP;
	ret->orig = who.orig;
	ret->cgid = who.cgid;
	memcpy(ret->session, who.session, sizeof(ret->session));
	ret->has_uid = who.has_uid;
	ret->uid = who.uid;
	return 0;
}

int ward_proxy_hook(struct ward_sandbox *sb, void *data, struct ward_error *err)
{
	static const char *const proxy_vars[] = { "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY",
						  "http_proxy", "https_proxy", "all_proxy" };
	struct ward_proxy_run *run = data;
	struct ward_proxy_config cfg = { 0 };
	char url[64];
	int r;

	if (!run->net || !run->net->net)
		return ward_errx(err, -EINVAL, "proxy: the network hook must run first");
	snprintf(run->sandbox, sizeof(run->sandbox), "%s", sb->id);
	cfg.policy = run->policy;
	if (run->egress && run->egress->egress) {
		cfg.lookup = ward_proxy_egress_lookup;
		cfg.lookup_data = run->egress->egress;
	}
	cfg.audit = run->audit;
	cfg.log_path = run->log_path;
	cfg.sandbox = run->sandbox;
	cfg.hosts_file = run->hosts_file;
	cfg.listen4 = run->net->net->host_ip4;
	cfg.listen6 = run->net->net->host_ip6;
	cfg.has_listen6 = true;
	cfg.explicit_port = run->net->net->proxy_port;
	cfg.transparent_port = run->net->net->tproxy_port;
	cfg.tls_ca = run->tls_ca;
	cfg.tls_upstream = run->tls_upstream;
	cfg.creds = run->creds;
	cfg.inference = run->inference; /* inference.local (i1) */
	cfg.learn = run->learn;
	ward_proxy_limits_from_policy(&run->policy->limits, &cfg.limits);
	r = ward_proxy_new(&cfg, &run->proxy, err);
	if (r < 0)
		return ward_err_prefix(err, "proxy");
	r = ward_proxy_start(run->proxy, err);
	if (r < 0)
		return r;
	snprintf(url, sizeof(url), "http://%s:%u", run->net->net->host_ip4_str,
		 ward_proxy_explicit_port(run->proxy));
	for (size_t i = 0; i < sizeof(proxy_vars) / sizeof(proxy_vars[0]); i++) {
		r = ward_sandbox_setenv(sb, proxy_vars[i], url, err);
		if (r < 0)
			return r;
	}
	r = ward_sandbox_setenv(sb, "NO_PROXY", "localhost,127.0.0.1,::1", err);
	if (r >= 0)
		r = ward_sandbox_setenv(sb, "no_proxy", "localhost,127.0.0.1,::1", err);
	if (r >= 0)
		r = ward_sandbox_setenv(sb, "NODE_USE_ENV_PROXY", "1", err);
	for (size_t i = 0; r >= 0 && run->bundle_path && ward_tls_ca_env_vars[i]; i++)
		r = ward_sandbox_setenv(sb, ward_tls_ca_env_vars[i], run->bundle_path, err);
	/* SECURITY: a credential's variable holds its placeholder inside, even
	 * when environment.pass names it (ward's value is never the secret's) */
	for (size_t i = 0; r >= 0 && i < ward_cred_count(run->creds); i++)
		r = ward_sandbox_setenv(sb, ward_cred_env_name(run->creds, i),
					ward_cred_placeholder(run->creds, i), err);
	return r;
}

void ward_proxy_run_finish(struct ward_proxy_run *run)
{
	ward_proxy_free(run->proxy);
	run->proxy = NULL;
}
