/* SPDX-License-Identifier: MIT */
#pragma once

/* One OPEN or CHECK, from decoded record to status and descriptor.  The
 * policy decides on the request path first (the filesystem is not touched
 * for a path the policy refuses); then fsop resolves and judges the file,
 * on the event loop when that cannot block, otherwise in a worker. */

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>

#include "fsop.h"
#include "identity.h"
#include "policy.h"
#include "lane.h"
#include "wire.h"

struct conn;

struct request {
        struct lane_job lj;
        struct conn *conn;
        struct policy *policy;          /* owned reference only when copied for a worker */
        unsigned generation;
        struct identity *identity;      /* the connection's */
        struct policy_subject subject;
        uint16_t op;
        uint32_t id;
        uint32_t flags;
        uint32_t mode;
        unsigned need;
        struct policy_verdict verdict;
        struct fsop fs;
        int result;                     /* a descriptor (OPEN), 0, or -errno */
        bool timed_out;                 /* the client was answered ETIMEDOUT already */
        bool general;                   /* in the general workers, not the local ones */
        struct event deadline;
        size_t path_len;
        const char *path;               /* NUL-terminated */
        char path_buf[];                /* the path, in a copy for a worker */
};

/* Fills r for one decoded request of identity (path must be NUL-terminated
 * at req->path_len) and decides it on its path.  Returns true when the
 * filesystem has to be asked; false when it is settled (r->result). */
bool request_decide(struct request *r, const struct wire_request *req, struct identity *identity,
                    const struct policy *policy, unsigned generation);

/* Asks the filesystem.  cached: on the loop, never blocking; afterwards
 * r->fs.deferred tells whether it must be run again in a worker. */
void request_fs(struct request *r, bool cached);

/* A copy of r that owns its path and a policy reference, for a worker. */
struct request *request_copy(const struct request *r);
void request_free(struct request *r);

/* The status a reply carries for r->result. */
static inline int request_status(const struct request *r) {
        return r->result < 0 ? -r->result : 0;
}

/* Writes the audit record for r's outcome (denials always), and frees
 * what only the record needed. */
void request_audit(struct request *r);

/* The POLICY_* permissions a set of FDBR_F_* flags asks for. */
unsigned request_need(uint32_t flags);
