// SPDX-License-Identifier: MIT
/* `table inet ward` in the sandbox netns, as one libnftnl batch. See nft.h. */
#include "enforcer/nft.h"
#include "common/cleanup.h"

#include <errno.h>
#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_conntrack_common.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>

DEFINE_CLEANUP(struct mnl_socket *, mnl_socket_close)
DEFINE_CLEANUP(struct nftnl_table *, nftnl_table_free)
DEFINE_CLEANUP(struct nftnl_chain *, nftnl_chain_free)
DEFINE_CLEANUP(struct nftnl_rule *, nftnl_rule_free)

#define LOOPBACK_IFINDEX 1 /* lo is ifindex 1 in every network namespace */
#define ACK_TIMEOUT_SEC 5  /* the kernel answers at once; never wait forever */
#define BATCH_SIZE 32768   /* the whole ruleset is ~10 KiB */
#define RECV_SIZE 32768

struct batch {
	struct mnl_nlmsg_batch *b;
	uint32_t seq;
	uint32_t first_seq;
	unsigned n_ack;	  /* messages sent with NLM_F_ACK */
	unsigned n_rules; /* rules added, to verify after commit */
	int error;	  /* sticky: the first failure while building */
};

static void *cur(struct batch *bt)
{
	return mnl_nlmsg_batch_current(bt->b);
}

static void next(struct batch *bt)
{
	if (!mnl_nlmsg_batch_next(bt->b) && !bt->error)
		bt->error = -ENOBUFS;
}

/* ---- expressions; a NULL from nftnl_expr_alloc marks the rule failed ---- */

struct rule {
	struct nftnl_rule *r;
	bool oom;
};

static struct nftnl_expr *expr(struct rule *rl, const char *name)
{
	struct nftnl_expr *e = nftnl_expr_alloc(name);

	if (!e)
		rl->oom = true;
	return e;
}

static void add(struct rule *rl, struct nftnl_expr *e)
{
	if (e)
		nftnl_rule_add_expr(rl->r, e);
}

static void meta(struct rule *rl, uint32_t key)
{
	struct nftnl_expr *e = expr(rl, "meta");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	}
	add(rl, e);
}

static void cmp(struct rule *rl, uint32_t op, const void *data, uint32_t len)
{
	struct nftnl_expr *e = expr(rl, "cmp");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
		nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, data, len);
	}
	add(rl, e);
}

static void meta_u8(struct rule *rl, uint32_t key, uint8_t value)
{
	meta(rl, key);
	cmp(rl, NFT_CMP_EQ, &value, sizeof(value));
}

static void payload(struct rule *rl, uint32_t base, uint32_t offset, uint32_t len)
{
	struct nftnl_expr *e = expr(rl, "payload");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, base);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, offset);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, len);
	}
	add(rl, e);
}

/* ct state established,related */
static void ct_established(struct rule *rl)
{
	uint32_t mask = NF_CT_STATE_BIT(IP_CT_ESTABLISHED) | NF_CT_STATE_BIT(IP_CT_RELATED);
	uint32_t zero = 0;
	struct nftnl_expr *e = expr(rl, "ct");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	}
	add(rl, e);
	e = expr(rl, "bitwise");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, sizeof(uint32_t));
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, sizeof(mask));
		nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &zero, sizeof(zero));
	}
	add(rl, e);
	cmp(rl, NFT_CMP_NEQ, &zero, sizeof(zero));
}

static void verdict(struct rule *rl, int v)
{
	struct nftnl_expr *e = expr(rl, "immediate");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, (uint32_t)v);
	}
	add(rl, e);
}

static void counter(struct rule *rl)
{
	add(rl, expr(rl, "counter"));
}

/* ---- messages ---- */

static void put_rule(struct batch *bt, const char *chain,
		     void (*build)(struct rule *, const void *), const void *arg)
{
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *r = nftnl_rule_alloc();
	struct rule rl = { .r = r };
	struct nlmsghdr *nlh;

	if (bt->error)
		return;
	if (!r) {
		bt->error = -ENOMEM;
		return;
	}
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, WARD_NFT_TABLE);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, chain);
	build(&rl, arg);
	if (rl.oom) {
		bt->error = -ENOMEM;
		return;
	}
	nlh = nftnl_rule_nlmsg_build_hdr(cur(bt), NFT_MSG_NEWRULE, NFPROTO_INET,
					 NLM_F_APPEND | NLM_F_CREATE | NLM_F_ACK, bt->seq++);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	next(bt);
	bt->n_ack++;
	bt->n_rules++;
}

static void put_table(struct batch *bt, uint16_t type, uint16_t flags)
{
	_cleanup_(nftnl_table_freep) struct nftnl_table *t = nftnl_table_alloc();
	struct nlmsghdr *nlh;

	if (bt->error)
		return;
	if (!t) {
		bt->error = -ENOMEM;
		return;
	}
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, WARD_NFT_TABLE);
	nlh = nftnl_table_nlmsg_build_hdr(cur(bt), type, NFPROTO_INET, flags | NLM_F_ACK,
					  bt->seq++);
	nftnl_table_nlmsg_build_payload(nlh, t);
	next(bt);
	bt->n_ack++;
}

static void put_chain(struct batch *bt, const char *name, uint32_t hook)
{
	_cleanup_(nftnl_chain_freep) struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;

	if (bt->error)
		return;
	if (!c) {
		bt->error = -ENOMEM;
		return;
	}
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, WARD_NFT_TABLE);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, name);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, hook);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, 0);
	/* Fail closed: whatever no rule accepts is dropped, even if a rule is missing. */
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_DROP);
	nlh = nftnl_chain_nlmsg_build_hdr(cur(bt), NFT_MSG_NEWCHAIN, NFPROTO_INET,
					  NLM_F_CREATE | NLM_F_ACK, bt->seq++);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	next(bt);
	bt->n_ack++;
}

/* ---- the rules ---- */

static void r_oif_lo(struct rule *rl, const void *arg)
{
	uint32_t lo = LOOPBACK_IFINDEX;

	meta(rl, NFT_META_OIF);
	cmp(rl, NFT_CMP_EQ, &lo, sizeof(lo));
	verdict(rl, NF_ACCEPT);
}

static void r_iif_lo(struct rule *rl, const void *arg)
{
	uint32_t lo = LOOPBACK_IFINDEX;

	meta(rl, NFT_META_IIF);
	cmp(rl, NFT_CMP_EQ, &lo, sizeof(lo));
	verdict(rl, NF_ACCEPT);
}

static void r_established(struct rule *rl, const void *arg)
{
	ct_established(rl);
	verdict(rl, NF_ACCEPT);
}

struct service {
	int family;
	const void *addr;
	uint8_t l4proto;
	uint16_t port;
};

/* ip[6] daddr HOST tcp|udp dport PORT accept */
static void r_service(struct rule *rl, const void *arg)
{
	const struct service *s = arg;
	uint16_t port = htons(s->port);

	if (s->family == AF_INET) {
		meta_u8(rl, NFT_META_NFPROTO, NFPROTO_IPV4);
		payload(rl, NFT_PAYLOAD_NETWORK_HEADER, 16, 4);
		cmp(rl, NFT_CMP_EQ, s->addr, 4);
	} else {
		meta_u8(rl, NFT_META_NFPROTO, NFPROTO_IPV6);
		payload(rl, NFT_PAYLOAD_NETWORK_HEADER, 24, 16);
		cmp(rl, NFT_CMP_EQ, s->addr, 16);
	}
	meta_u8(rl, NFT_META_L4PROTO, s->l4proto);
	payload(rl, NFT_PAYLOAD_TRANSPORT_HEADER, 2, 2);
	cmp(rl, NFT_CMP_EQ, &port, sizeof(port));
	verdict(rl, NF_ACCEPT);
}

/* icmpv6 type T accept: neighbour discovery and MLD stay on the link. */
static void r_icmpv6(struct rule *rl, const void *arg)
{
	uint8_t type = *(const uint8_t *)arg;

	meta_u8(rl, NFT_META_NFPROTO, NFPROTO_IPV6);
	meta_u8(rl, NFT_META_L4PROTO, IPPROTO_ICMPV6);
	payload(rl, NFT_PAYLOAD_TRANSPORT_HEADER, 0, 1);
	cmp(rl, NFT_CMP_EQ, &type, sizeof(type));
	verdict(rl, NF_ACCEPT);
}

/* limit rate R/second burst B packets log prefix "ward-deny" group G */
static void r_log(struct rule *rl, const void *arg)
{
	const struct ward_netns *n = arg;
	struct nftnl_expr *e = expr(rl, "limit");

	if (e) {
		nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_RATE, WARD_NFT_LOG_RATE);
		nftnl_expr_set_u64(e, NFTNL_EXPR_LIMIT_UNIT, 1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_BURST, WARD_NFT_LOG_BURST);
		nftnl_expr_set_u32(e, NFTNL_EXPR_LIMIT_TYPE, NFT_LIMIT_PKTS);
	}
	add(rl, e);
	e = expr(rl, "log");
	if (e) {
		nftnl_expr_set_str(e, NFTNL_EXPR_LOG_PREFIX, WARD_NFT_LOG_PREFIX);
		nftnl_expr_set_u16(e, NFTNL_EXPR_LOG_GROUP, n->nflog_group);
		/* Headers are all the reader needs (dst ip, proto, port). */
		nftnl_expr_set_u32(e, NFTNL_EXPR_LOG_SNAPLEN, 128);
	}
	add(rl, e);
}

static void r_reject_tcp(struct rule *rl, const void *arg)
{
	meta_u8(rl, NFT_META_L4PROTO, IPPROTO_TCP);
	counter(rl);
	struct nftnl_expr *e = expr(rl, "reject");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_TCP_RST);
		nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, 0);
	}
	add(rl, e);
}

static void r_reject_other(struct rule *rl, const void *arg)
{
	counter(rl);
	struct nftnl_expr *e = expr(rl, "reject");
	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_REJECT_TYPE, NFT_REJECT_ICMPX_UNREACH);
		nftnl_expr_set_u8(e, NFTNL_EXPR_REJECT_CODE, NFT_REJECT_ICMPX_ADMIN_PROHIBITED);
	}
	add(rl, e);
}

static void build_ruleset(struct batch *bt, const struct ward_netns *n)
{
	static const uint8_t nd_out[] = { ND_ROUTER_SOLICIT, ND_NEIGHBOR_SOLICIT,
					  ND_NEIGHBOR_ADVERT, 143 /* MLDv2 listener report */ };
	static const uint8_t nd_in[] = { ND_NEIGHBOR_SOLICIT, ND_NEIGHBOR_ADVERT };
	const struct {
		uint8_t l4proto;
		uint16_t port;
	} services[] = {
		{ IPPROTO_TCP, n->proxy_port },
		{ IPPROTO_TCP, n->tproxy_port },
		{ IPPROTO_UDP, n->dns_port },
		{ IPPROTO_TCP, n->dns_port },
	};

	nftnl_batch_begin(cur(bt), bt->seq++);
	next(bt);
	/* add + delete + add: replaces an existing table in the same transaction. */
	put_table(bt, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	put_table(bt, NFT_MSG_DELTABLE, 0);
	put_table(bt, NFT_MSG_NEWTABLE, NLM_F_CREATE);
	put_chain(bt, "output", NF_INET_LOCAL_OUT);
	put_chain(bt, "input", NF_INET_LOCAL_IN);

	put_rule(bt, "output", r_oif_lo, NULL);
	put_rule(bt, "output", r_established, NULL);
	for (int fam = 0; fam < 2; fam++) {
		for (size_t i = 0; i < ARRAY_SIZE(services); i++) {
			struct service s = {
				.family = fam ? AF_INET6 : AF_INET,
				.addr = fam ? (const void *)&n->host_ip6
					    : (const void *)&n->host_ip4,
				.l4proto = services[i].l4proto,
				.port = services[i].port,
			};
			put_rule(bt, "output", r_service, &s);
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(nd_out); i++)
		put_rule(bt, "output", r_icmpv6, &nd_out[i]);
	put_rule(bt, "output", r_log, n);
	put_rule(bt, "output", r_reject_tcp, NULL);
	put_rule(bt, "output", r_reject_other, NULL);

	put_rule(bt, "input", r_iif_lo, NULL);
	put_rule(bt, "input", r_established, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(nd_in); i++)
		put_rule(bt, "input", r_icmpv6, &nd_in[i]);

	if (bt->error)
		return;
	nftnl_batch_end(cur(bt), bt->seq++);
	next(bt);
}

/* ---- talking to the kernel (on a thread inside the sandbox netns) ---- */

static int open_socket(struct mnl_socket **ret, struct ward_error *err)
{
	_cleanup_(mnl_socket_closep) struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct timeval tv = { .tv_sec = ACK_TIMEOUT_SEC };

	if (!nl)
		return ward_err(err, -errno, "nfnetlink socket");
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return ward_err(err, -errno, "bind nfnetlink socket");
	if (setsockopt(mnl_socket_get_fd(nl), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return ward_err(err, -errno, "SO_RCVTIMEO");
	*ret = TAKE_PTR(nl);
	return 0;
}

/* Every message sent with NLM_F_ACK gets exactly one NLMSG_ERROR (0 = ok). */
static int read_acks(struct mnl_socket *nl, const struct batch *bt, struct ward_error *err)
{
	_cleanup_free_ char *buf = malloc(RECV_SIZE);
	unsigned acks = 0;
	int first_error = 0;
	uint32_t bad_seq = 0;

	if (!buf)
		return ward_err(err, -ENOMEM, "ack buffer");
	while (acks < bt->n_ack) {
		ssize_t len = mnl_socket_recvfrom(nl, buf, RECV_SIZE);
		if (len < 0) {
			if (errno == EINTR)
				continue;
			return ward_err(err, errno == EAGAIN ? -ETIMEDOUT : -errno,
					"nftables commit: waiting for the kernel's answer");
		}
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)buf;
		int rest = (int)len;
		for (; mnl_nlmsg_ok(nlh, rest); nlh = mnl_nlmsg_next(nlh, &rest)) {
			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nlmsgerr)))
				return ward_errx(err, -EPROTO,
						 "nftables commit: short netlink error");
			const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);
			acks++;
			if (e->error < 0 && !first_error) {
				first_error = e->error;
				bad_seq = nlh->nlmsg_seq;
			}
		}
		/* After a failure the kernel aborts; it may not ack the rest. */
		if (first_error)
			break;
	}
	if (first_error)
		return ward_err(err, first_error, "nftables commit (message %u of the batch)",
				bad_seq - bt->first_seq);
	return 0;
}

struct apply_ctx {
	const struct ward_netns *n;
	struct ward_error *err;
};

static int apply_inside(void *p)
{
	struct apply_ctx *ctx = p;
	_cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
	_cleanup_free_ char *buf = NULL;
	struct batch bt = { 0 };
	int r;

	r = open_socket(&nl, ctx->err);
	if (r < 0)
		return r;
	/* libmnl wants room for one message past the limit. */
	buf = malloc(2 * BATCH_SIZE);
	if (!buf)
		return ward_err(ctx->err, -ENOMEM, "batch buffer");
	bt.b = mnl_nlmsg_batch_start(buf, BATCH_SIZE);
	if (!bt.b)
		return ward_err(ctx->err, -ENOMEM, "batch");
	bt.seq = bt.first_seq = (uint32_t)time(NULL);
	build_ruleset(&bt, ctx->n);
	if (bt.error) {
		mnl_nlmsg_batch_stop(bt.b);
		return ward_err(ctx->err, bt.error, "build nftables batch");
	}
	if (mnl_socket_sendto(nl, mnl_nlmsg_batch_head(bt.b), mnl_nlmsg_batch_size(bt.b)) < 0) {
		r = -errno;
		mnl_nlmsg_batch_stop(bt.b);
		return ward_err(ctx->err, r, "send nftables batch");
	}
	mnl_nlmsg_batch_stop(bt.b);
	r = read_acks(nl, &bt, ctx->err);
	if (r < 0)
		return r;
	return (int)bt.n_rules;
}

int ward_nft_apply(const struct ward_netns *n, struct ward_error *err)
{
	struct apply_ctx ctx = { .n = n, .err = err };
	unsigned count = 0;
	int expected, r;

	expected = ward_netns_run_in(n->netns_fd, apply_inside, &ctx, err);
	if (expected < 0)
		return expected;
	/* Read it back: a rule the kernel silently lost would be a hole. */
	r = ward_nft_rule_count(n->netns_fd, &count, err);
	if (r < 0)
		return r;
	if (count != (unsigned)expected)
		return ward_errx(err, -EPROTO,
				 "table inet %s has %u rules after commit, expected %d",
				 WARD_NFT_TABLE, count, expected);
	return 0;
}

/* ---- reading back ---- */

struct count_ctx {
	unsigned count;
	struct ward_error *err;
};

static int count_cb(const struct nlmsghdr *nlh, void *data)
{
	unsigned *count = data;
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *r = nftnl_rule_alloc();

	if (!r)
		return MNL_CB_ERROR;
	if (nftnl_rule_nlmsg_parse(nlh, r) < 0)
		return MNL_CB_ERROR;
	const char *table = nftnl_rule_get_str(r, NFTNL_RULE_TABLE);
	if (nftnl_rule_get_u32(r, NFTNL_RULE_FAMILY) == NFPROTO_INET && table &&
	    !strcmp(table, WARD_NFT_TABLE))
		(*count)++;
	return MNL_CB_OK;
}

static int count_inside(void *p)
{
	struct count_ctx *ctx = p;
	_cleanup_(mnl_socket_closep) struct mnl_socket *nl = NULL;
	_cleanup_(nftnl_rule_freep) struct nftnl_rule *filter = nftnl_rule_alloc();
	_cleanup_free_ char *buf = malloc(RECV_SIZE);
	uint32_t seq = (uint32_t)time(NULL), portid;
	struct nlmsghdr *nlh;
	int r;

	if (!filter || !buf)
		return ward_err(ctx->err, -ENOMEM, "rule dump");
	r = open_socket(&nl, ctx->err);
	if (r < 0)
		return r;
	portid = mnl_socket_get_portid(nl);
	nlh = nftnl_rule_nlmsg_build_hdr(buf, NFT_MSG_GETRULE, NFPROTO_INET, NLM_F_DUMP, seq);
	nftnl_rule_set_str(filter, NFTNL_RULE_TABLE, WARD_NFT_TABLE);
	nftnl_rule_nlmsg_build_payload(nlh, filter);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return ward_err(ctx->err, -errno, "request rule dump");
	for (;;) {
		ssize_t len = mnl_socket_recvfrom(nl, buf, RECV_SIZE);
		if (len < 0) {
			if (errno == EINTR)
				continue;
			return ward_err(ctx->err, errno == EAGAIN ? -ETIMEDOUT : -errno,
					"read rule dump");
		}
		r = mnl_cb_run(buf, (size_t)len, seq, portid, count_cb, &ctx->count);
		if (r == MNL_CB_STOP)
			return 0;
		if (r < 0) {
			/* A filtered dump of a table that does not exist: no rules. */
			if (errno == ENOENT)
				return 0;
			return ward_err(ctx->err, -errno, "parse rule dump");
		}
	}
}

int ward_nft_rule_count(int netns_fd, unsigned *ret_count, struct ward_error *err)
{
	struct count_ctx ctx = { .err = err };
	int r;

	r = ward_netns_run_in(netns_fd, count_inside, &ctx, err);
	if (r < 0)
		return r;
	*ret_count = ctx.count;
	return 0;
}
