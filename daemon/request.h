/* SPDX-License-Identifier: MIT */
#pragma once

/* One OPEN or CHECK, from decoded record to status and descriptor:
 * decide on the request path first (the filesystem is not touched for a
 * path the policy refuses), then let fsop resolve and judge the file, then
 * write the audit record. */

#include <stdint.h>

#include "identity.h"
#include "policy.h"
#include "wire.h"

struct request_ctx {
        const struct policy *policy;
        unsigned generation;
        struct identity *id;
};

struct request_result {
        int status;      /* 0 or a positive errno */
        int fd;          /* OPEN success: the descriptor (caller owns it), else -1 */
        bool denied;
};

/* path must be NUL-terminated at req->path_len (the caller's buffer has
 * room for it). */
void request_run(const struct request_ctx *ctx, const struct wire_request *req,
                 struct request_result *ret);

/* The POLICY_* permissions a set of FDBR_F_* flags asks for. */
unsigned request_need(uint32_t flags);
