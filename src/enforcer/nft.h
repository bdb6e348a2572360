/* SPDX-License-Identifier: MIT */
/* The nftables layer inside a sandbox's network namespace: `table inet ward`,
 * built with libnftnl and committed as one atomic batch. Output accepts only
 * loopback, established/related traffic, the proxy (3128, 3129/tcp) and the DNS
 * stub (53/udp+tcp) on the host side of the veth; everything else is logged to
 * NFLOG group WARD_NFLOG_GROUP (prefix WARD_NFT_LOG_PREFIX) and rejected. Input
 * accepts only loopback, established/related and neighbour discovery.
 * The ruleset as `nft list` prints it is in docs/network.md. */
#pragma once

#include "common/error.h"
#include "enforcer/netns.h"

#define WARD_NFT_TABLE "ward"
#define WARD_NFT_LOG_PREFIX "ward-deny"
#define WARD_NFT_LOG_RATE 50   /* NFLOG records per second, per sandbox */
#define WARD_NFT_LOG_BURST 100 /* beyond it packets are still rejected, just not logged */

/* Create (or atomically replace) the table in the netns n->netns_fd, then read
 * it back and check that every rule is in place. */
int ward_nft_apply(const struct ward_netns *n, struct ward_error *err);

/* Number of rules in `table inet ward` of the netns netns_fd (-ENOENT: no table). */
int ward_nft_rule_count(int netns_fd, unsigned *ret_count, struct ward_error *err);
