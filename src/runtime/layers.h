/* SPDX-License-Identifier: MIT */
/* The layers `ward run` puts around its sandbox (runtime.h), in dependency
 * order: netns (veth + nftables) → egress (eBPF) → dns (the stub) → tls (CA,
 * credentials) → inference (inference.local) → proxy → unix (host sockets) →
 * fs (denials, protected paths). The network layers are in the run only when
 * the policy lets something leave (a network policy or an inference route);
 * unix only where the kernel offers it (else the socket directories are
 * private, and said so); fs always. */
#pragma once

#include "common/error.h"
#include "runtime/runtime.h"

int ward_run_layers_add(struct ward_runtime *rt, struct ward_error *err);
