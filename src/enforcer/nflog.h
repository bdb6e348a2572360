/* SPDX-License-Identifier: MIT */
/* NFLOG read in-process: an NETLINK_NETFILTER socket created inside the
 * sandbox netns (NFLOG groups are per netns) and bound to the group that
 * `table inet ward` logs its rejects to. The supervisor polls ward_nflog_fd()
 * and calls ward_nflog_dispatch(); each packet becomes a record, and
 * ward_nflog_audit_fn turns records into decision rows (layer "nft"). */
#pragma once

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct ward_decision;
struct ward_audit;

#define WARD_NFLOG_REASON "nft: not proxy or DNS"
#define WARD_NFLOG_COPY_RANGE 128 /* bytes of each packet: headers only */
#define WARD_NFLOG_MAX_BATCH 64	  /* datagrams per dispatch call: keep the loop fair */

struct ward_nflog_record {
	int family;	   /* AF_INET or AF_INET6 */
	uint8_t l4proto;   /* IPPROTO_* (after IPv6 extension headers) */
	char protocol[16]; /* "tcp", "udp", "icmp", "icmpv6", "sctp", or "proto-N" */
	char src[INET6_ADDRSTRLEN];
	char dst[INET6_ADDRSTRLEN];
	uint16_t sport; /* 0: none (no ports, or a non-first fragment) */
	uint16_t dport;
	bool has_uid;
	bool has_gid;
	uint32_t uid; /* of the sending socket's file, as the reader's user ns sees it */
	uint32_t gid;
	char prefix[64]; /* the log rule's prefix, "" if none */
	bool has_seq;
	uint32_t seq; /* the group's sequence number (NFULA_SEQ): gaps are lost records */
};

typedef void (*ward_nflog_fn)(const struct ward_nflog_record *rec, void *userdata);

struct ward_nflog;

/* Bind a reader to group in the netns netns_fd (not consumed). -EBUSY: the group
 * already has a reader in that netns. */
int ward_nflog_open(int netns_fd, uint16_t group, struct ward_nflog **ret, struct ward_error *err);
void ward_nflog_free(struct ward_nflog *l);
/* Non-blocking; readable when records wait. */
int ward_nflog_fd(const struct ward_nflog *l);
/* Read what is queued (at most WARD_NFLOG_MAX_BATCH datagrams), call fn per
 * record; returns the number of records or -errno. Never blocks. */
int ward_nflog_dispatch(struct ward_nflog *l, ward_nflog_fn fn, void *userdata);
/* Records lost to a full socket buffer, counted exactly from the gaps in the
 * records' sequence numbers. *ret_more (may be NULL) is true when an overrun
 * (ENOBUFS) happened after the last record read: more were lost, how many is
 * known only once another record arrives. */
uint64_t ward_nflog_dropped(const struct ward_nflog *l, bool *ret_more);
/* ENOBUFS errors seen, and messages skipped as malformed. */
uint64_t ward_nflog_overruns(const struct ward_nflog *l);
uint64_t ward_nflog_malformed(const struct ward_nflog *l);
/* Shrink (or grow) the socket's receive buffer: tests use it to force losses. */
int ward_nflog_set_rcvbuf(struct ward_nflog *l, int bytes);

/* Parse one datagram of nfnetlink messages; malformed messages are skipped and
 * counted in *malformed (may be NULL). Returns the number of records delivered. */
int ward_nflog_parse(const void *buf, size_t len, ward_nflog_fn fn, void *userdata,
		     uint64_t *malformed);
/* Parse an IP packet (as NFULA_PAYLOAD carries it) into rec's address fields. */
int ward_nflog_parse_packet(const uint8_t *pkt, size_t len, struct ward_nflog_record *rec);

/* A decision row for rec: layer "nft", action "deny", reason WARD_NFLOG_REASON.
 * d's strings point into rec and the arguments. */
void ward_nflog_decision(const struct ward_nflog_record *rec, const char *sandbox,
			 const char *policy_rev, struct ward_decision *d);

/* Userdata for ward_nflog_audit_fn (nflog_audit.c). */
struct ward_nflog_audit {
	struct ward_audit *audit;
	const char *sandbox;
	const char *policy_rev;
	uint64_t submitted;
	uint64_t rejected;	 /* audit queue full */
	uint64_t reported_drops; /* lost records already reported as rows */
	uint64_t last_report_ns;
};
/* A ward_nflog_fn that submits each record as a decision row. */
void ward_nflog_audit_fn(const struct ward_nflog_record *rec, void *userdata);
/* When l lost records since the last such row, one row (layer "nft", action
 * "deny", rule "events_dropped", reason "N events dropped (NFLOG socket
 * buffer full)"); at most once per second unless force (the end, which also
 * reports an unmeasured overrun as "at least"). */
void ward_nflog_audit_drops(struct ward_nflog_audit *ctx, const struct ward_nflog *l, bool force);
