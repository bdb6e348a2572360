// SPDX-License-Identifier: MIT
/* NFLOG reader over raw nfnetlink (libmnl), no libnetfilter_log. See nflog.h. */
#include "enforcer/nflog.h"
#include "audit/audit.h"
#include "common/cleanup.h"
#include "enforcer/netns.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_log.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

DEFINE_CLEANUP(struct mnl_socket *, mnl_socket_close)

#define RECV_SIZE 65536	       /* one datagram; NFLOG batches several packets */
#define RCVBUF_SIZE (1u << 20) /* a burst of rejects queues here, then ENOBUFS */
#define CFG_TIMEOUT_SEC 5
#define MAX_EXT_HEADERS 8 /* IPv6 extension headers walked before giving up */

struct ward_nflog {
	struct mnl_socket *nl;
	uint16_t group;
	uint64_t dropped;  /* records lost: gaps in the instance's sequence numbers */
	uint64_t overruns; /* ENOBUFS seen */
	bool unresolved;   /* an ENOBUFS that no later record has measured yet */
	bool have_seq;
	uint32_t next_seq;
	uint64_t malformed;
	char *buf;
};

/* ---- packet parsing: every read is bounds-checked against len ---- */

static void proto_name(uint8_t p, char *out, size_t n)
{
	switch (p) {
	case IPPROTO_TCP:
		snprintf(out, n, "tcp");
		break;
	case IPPROTO_UDP:
		snprintf(out, n, "udp");
		break;
	case IPPROTO_ICMP:
		snprintf(out, n, "icmp");
		break;
	case IPPROTO_ICMPV6:
		snprintf(out, n, "icmpv6");
		break;
	case IPPROTO_SCTP:
		snprintf(out, n, "sctp");
		break;
	case IPPROTO_UDPLITE:
		snprintf(out, n, "udplite");
		break;
	default:
		snprintf(out, n, "proto-%u", p);
		break;
	}
}

static bool has_ports(uint8_t p)
{
	return p == IPPROTO_TCP || p == IPPROTO_UDP || p == IPPROTO_SCTP || p == IPPROTO_UDPLITE;
}

static void ports(const uint8_t *l4, size_t avail, struct ward_nflog_record *rec)
{
	if (!has_ports(rec->l4proto) || avail < 4)
		return;
	rec->sport = (uint16_t)(l4[0] << 8 | l4[1]);
	rec->dport = (uint16_t)(l4[2] << 8 | l4[3]);
}

int ward_nflog_parse_packet(const uint8_t *pkt, size_t len, struct ward_nflog_record *rec)
{
	if (!pkt || len < 1)
		return -EINVAL;
	rec->sport = rec->dport = 0;
	switch (pkt[0] >> 4) {
	case 4: {
		size_t ihl = (size_t)(pkt[0] & 0x0f) * 4;
		if (len < 20 || ihl < 20 || ihl > len)
			return -EINVAL;
		rec->family = AF_INET;
		rec->l4proto = pkt[9];
		inet_ntop(AF_INET, pkt + 12, rec->src, sizeof(rec->src));
		inet_ntop(AF_INET, pkt + 16, rec->dst, sizeof(rec->dst));
		proto_name(rec->l4proto, rec->protocol, sizeof(rec->protocol));
		/* A non-first fragment has no transport header. */
		if (((pkt[6] << 8 | pkt[7]) & 0x1fff) == 0)
			ports(pkt + ihl, len - ihl, rec);
		return 0;
	}
	case 6: {
		size_t off = 40;
		uint8_t next;
		bool first_fragment = true;

		if (len < 40)
			return -EINVAL;
		rec->family = AF_INET6;
		inet_ntop(AF_INET6, pkt + 8, rec->src, sizeof(rec->src));
		inet_ntop(AF_INET6, pkt + 24, rec->dst, sizeof(rec->dst));
		next = pkt[6];
		for (int i = 0; i < MAX_EXT_HEADERS; i++) {
			size_t hlen;

			if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING ||
			    next == IPPROTO_DSTOPTS) {
				if (off + 2 > len)
					break;
				hlen = ((size_t)pkt[off + 1] + 1) * 8;
			} else if (next == IPPROTO_FRAGMENT) {
				if (off + 8 > len)
					break;
				hlen = 8;
				if (((pkt[off + 2] << 8 | pkt[off + 3]) & 0xfff8) != 0)
					first_fragment = false;
			} else if (next == IPPROTO_AH) {
				if (off + 2 > len)
					break;
				hlen = ((size_t)pkt[off + 1] + 2) * 4;
			} else {
				break;
			}
			next = pkt[off];
			off += hlen;
			if (off > len)
				break;
		}
		rec->l4proto = next;
		proto_name(next, rec->protocol, sizeof(rec->protocol));
		if (first_fragment && off <= len)
			ports(pkt + off, len - off, rec);
		return 0;
	}
	default:
		return -EINVAL;
	}
}

/* ---- nfnetlink messages ---- */

static int attr_cb(const struct nlattr *attr, void *data)
{
	const struct nlattr **tb = data;
	int type = mnl_attr_get_type(attr);

	/* Unknown attributes are the kernel's future: ignore, never fail. */
	if (mnl_attr_type_valid(attr, NFULA_MAX) > 0)
		tb[type] = attr;
	return MNL_CB_OK;
}

static int parse_one(const struct nlmsghdr *nlh, struct ward_nflog_record *rec)
{
	const struct nlattr *tb[NFULA_MAX + 1] = { 0 };

	if (nlh->nlmsg_len < mnl_nlmsg_size(sizeof(struct nfgenmsg)))
		return -EINVAL;
	if (mnl_attr_parse(nlh, sizeof(struct nfgenmsg), attr_cb, tb) < 0)
		return -EINVAL;
	if (!tb[NFULA_PAYLOAD])
		return -EINVAL;
	memset(rec, 0, sizeof(*rec));
	if (ward_nflog_parse_packet(mnl_attr_get_payload(tb[NFULA_PAYLOAD]),
				    mnl_attr_get_payload_len(tb[NFULA_PAYLOAD]), rec) < 0)
		return -EINVAL;
	if (tb[NFULA_PREFIX]) {
		/* The kernel NUL-terminates it, but a hostile length must not be trusted. */
		size_t n = mnl_attr_get_payload_len(tb[NFULA_PREFIX]);
		const char *s = mnl_attr_get_payload(tb[NFULA_PREFIX]);
		size_t k = strnlen(s, n < sizeof(rec->prefix) ? n : sizeof(rec->prefix) - 1);
		memcpy(rec->prefix, s, k);
		rec->prefix[k] = '\0';
	}
	if (tb[NFULA_UID] && mnl_attr_get_payload_len(tb[NFULA_UID]) >= 4) {
		rec->has_uid = true;
		rec->uid = ntohl(mnl_attr_get_u32(tb[NFULA_UID]));
	}
	if (tb[NFULA_GID] && mnl_attr_get_payload_len(tb[NFULA_GID]) >= 4) {
		rec->has_gid = true;
		rec->gid = ntohl(mnl_attr_get_u32(tb[NFULA_GID]));
	}
	if (tb[NFULA_SEQ] && mnl_attr_get_payload_len(tb[NFULA_SEQ]) >= 4) {
		rec->has_seq = true;
		rec->seq = ntohl(mnl_attr_get_u32(tb[NFULA_SEQ]));
	}
	return 0;
}

int ward_nflog_parse(const void *buf, size_t len, ward_nflog_fn fn, void *userdata,
		     uint64_t *malformed)
{
	const uint8_t *p = buf;
	size_t rest = len;
	int n = 0;

	/* Our own walk: mnl_nlmsg_ok() casts nlmsg_len to int, so a huge length
	 * from a hostile buffer would pass it and walk off the end. */
	while (rest >= sizeof(struct nlmsghdr)) {
		const struct nlmsghdr *nlh = (const struct nlmsghdr *)p;
		struct ward_nflog_record rec;
		size_t step;

		if (nlh->nlmsg_len < sizeof(struct nlmsghdr) || nlh->nlmsg_len > rest) {
			if (malformed)
				(*malformed)++;
			break;
		}
		step = NLMSG_ALIGN(nlh->nlmsg_len);
		if (step > rest)
			step = rest;
		p += step;
		rest -= step;

		if (nlh->nlmsg_type != ((NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_PACKET))
			continue;
		if (parse_one(nlh, &rec) < 0) {
			if (malformed)
				(*malformed)++;
			continue;
		}
		if (fn)
			fn(&rec, userdata);
		n++;
	}
	return n;
}

/* ---- the socket ---- */

static int send_config(struct mnl_socket *nl, uint16_t group, uint8_t family,
		       void (*put)(struct nlmsghdr *, const void *), const void *arg, uint32_t seq)
{
	char buf[256];
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;
	uint32_t portid = mnl_socket_get_portid(nl);
	ssize_t len;

	nlh->nlmsg_type = (NFNL_SUBSYS_ULOG << 8) | NFULNL_MSG_CONFIG;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = seq;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = family;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(group);
	put(nlh, arg);
	if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0)
		return -errno;
	for (;;) {
		len = mnl_socket_recvfrom(nl, buf, sizeof(buf));
		if (len < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		int r = mnl_cb_run(buf, (size_t)len, seq, portid, NULL, NULL);
		if (r < 0)
			return -errno;
		if (r == MNL_CB_STOP)
			return 0;
	}
}

static void put_cmd(struct nlmsghdr *nlh, const void *arg)
{
	struct nfulnl_msg_config_cmd cmd = { .command = *(const uint8_t *)arg };

	mnl_attr_put(nlh, NFULA_CFG_CMD, sizeof(cmd), &cmd);
}

static void put_mode(struct nlmsghdr *nlh, const void *arg)
{
	struct nfulnl_msg_config_mode mode = {
		.copy_range = htonl(WARD_NFLOG_COPY_RANGE),
		.copy_mode = NFULNL_COPY_PACKET,
	};

	mnl_attr_put(nlh, NFULA_CFG_MODE, sizeof(mode), &mode);
	/* Deliver each packet at once: the supervisor wants rows, not batches. */
	mnl_attr_put_u32(nlh, NFULA_CFG_QTHRESH, htonl(1));
	mnl_attr_put_u32(nlh, NFULA_CFG_TIMEOUT, htonl(0));
	/* Numbered records: a gap is the exact count of records the socket lost. */
	mnl_attr_put_u16(nlh, NFULA_CFG_FLAGS, htons(NFULNL_CFG_F_SEQ));
}

struct open_ctx {
	uint16_t group;
	struct mnl_socket *nl;
	struct ward_error *err;
};

static int open_inside(void *p)
{
	struct open_ctx *ctx = p;
	_cleanup_(mnl_socket_closep) struct mnl_socket *nl = mnl_socket_open(NETLINK_NETFILTER);
	struct timeval tv = { .tv_sec = CFG_TIMEOUT_SEC };
	int rcvbuf = RCVBUF_SIZE, fd, r;
	uint8_t bind_cmd = NFULNL_CFG_CMD_BIND;

	if (!nl)
		return ward_err(ctx->err, -errno, "nfnetlink socket");
	if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0)
		return ward_err(ctx->err, -errno, "bind nfnetlink socket");
	fd = mnl_socket_get_fd(nl);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return ward_err(ctx->err, -errno, "SO_RCVTIMEO");
	/* Best effort: the default buffer works, only bursts overflow sooner. */
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	r = send_config(nl, ctx->group, AF_UNSPEC, put_cmd, &bind_cmd, 1);
	if (r < 0)
		return ward_err(ctx->err, r, "bind NFLOG group %u", ctx->group);
	r = send_config(nl, ctx->group, AF_UNSPEC, put_mode, NULL, 2);
	if (r < 0)
		return ward_err(ctx->err, r, "configure NFLOG group %u", ctx->group);
	ctx->nl = TAKE_PTR(nl);
	return 0;
}

int ward_nflog_open(int netns_fd, uint16_t group, struct ward_nflog **ret, struct ward_error *err)
{
	struct open_ctx ctx = { .group = group, .err = err };
	_cleanup_free_ struct ward_nflog *l = calloc(1, sizeof(*l));
	int fd, r;

	if (!l)
		return ward_err(err, -ENOMEM, "calloc");
	l->buf = malloc(RECV_SIZE);
	if (!l->buf)
		return ward_err(err, -ENOMEM, "nflog buffer");
	l->group = group;
	r = ward_netns_run_in(netns_fd, open_inside, &ctx, err);
	if (r < 0) {
		free(l->buf);
		return r;
	}
	l->nl = ctx.nl;
	fd = mnl_socket_get_fd(l->nl);
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
		r = ward_err(err, -errno, "O_NONBLOCK on the NFLOG socket");
		mnl_socket_close(l->nl);
		free(l->buf);
		return r;
	}
	*ret = TAKE_PTR(l);
	return 0;
}

void ward_nflog_free(struct ward_nflog *l)
{
	if (!l)
		return;
	if (l->nl)
		mnl_socket_close(l->nl); /* closing the socket unbinds the group */
	free(l->buf);
	free(l);
}

int ward_nflog_fd(const struct ward_nflog *l)
{
	return mnl_socket_get_fd(l->nl);
}

uint64_t ward_nflog_dropped(const struct ward_nflog *l, bool *ret_more)
{
	if (ret_more)
		*ret_more = l->unresolved;
	return l->dropped;
}

uint64_t ward_nflog_overruns(const struct ward_nflog *l)
{
	return l->overruns;
}

int ward_nflog_set_rcvbuf(struct ward_nflog *l, int bytes)
{
	if (setsockopt(mnl_socket_get_fd(l->nl), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes)) < 0)
		return -errno;
	return 0;
}

struct seq_ctx {
	struct ward_nflog *l;
	ward_nflog_fn fn;
	void *userdata;
};

/* Count the records missing before this one, then hand it on. */
static void seq_track(const struct ward_nflog_record *rec, void *p)
{
	struct seq_ctx *ctx = p;
	struct ward_nflog *l = ctx->l;

	if (rec->has_seq) {
		if (l->have_seq && rec->seq != l->next_seq)
			l->dropped += (uint32_t)(rec->seq - l->next_seq);
		else if (!l->have_seq && rec->seq != 0)
			l->dropped += rec->seq; /* lost from the very first record on */
		l->have_seq = true;
		l->next_seq = rec->seq + 1;
		l->unresolved = false;
	}
	if (ctx->fn)
		ctx->fn(rec, ctx->userdata);
}

uint64_t ward_nflog_malformed(const struct ward_nflog *l)
{
	return l->malformed;
}

int ward_nflog_dispatch(struct ward_nflog *l, ward_nflog_fn fn, void *userdata)
{
	struct seq_ctx ctx = { .l = l, .fn = fn, .userdata = userdata };
	int total = 0;

	for (int i = 0; i < WARD_NFLOG_MAX_BATCH; i++) {
		ssize_t len = recv(mnl_socket_get_fd(l->nl), l->buf, RECV_SIZE, MSG_DONTWAIT);
		if (len < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			if (errno == ENOBUFS) {
				/* The kernel dropped records; the socket is still good.
				 * The next record's sequence number says how many. */
				l->overruns++;
				l->unresolved = true;
				continue;
			}
			return -errno;
		}
		total += ward_nflog_parse(l->buf, (size_t)len, seq_track, &ctx, &l->malformed);
	}
	return total;
}

/* ---- decision rows ---- */

void ward_nflog_decision(const struct ward_nflog_record *rec, const char *sandbox,
			 const char *policy_rev, struct ward_decision *d)
{
	memset(d, 0, sizeof(*d));
	d->sandbox = sandbox;
	d->layer = "nft";
	d->action = "deny";
	d->ip = rec->dst;
	d->port = rec->dport;
	d->protocol = rec->protocol;
	/* No policy rule decided this: the table's catch-all did. */
	d->rule = NULL;
	d->reason = WARD_NFLOG_REASON;
	d->policy_rev = policy_rev;
}
