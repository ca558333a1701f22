/* SPDX-License-Identifier: MIT */
#pragma once

/* One request through the pipeline: decoded record → op → decision on
 * the request path → the op's work (on the loop when it cannot block,
 * else in a worker) → one outcome → reply and audit record.  Transport
 * (conn.c) and deferral to workers (defer.c) are elsewhere. */

#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <stdint.h>

#include "fsop.h"
#include "identity.h"
#include "lane.h"
#include "ops.h"
#include "outcome.h"
#include "policy.h"
#include "wire.h"

struct conn;
struct server;

struct request {
        struct lane_job lj;
        struct conn *conn;
        const struct op_def *def;
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
        struct outcome out;
        bool timed_out;                 /* the client was answered ETIMEDOUT already */
        bool general;                   /* in the general workers, not the local ones */
        struct event deadline;
        size_t path_len;                /* the path area (RENAME: src NUL dst) */
        size_t src_len;                 /* the request path in it: RENAME's src, else all of it */
        const char *path;               /* NUL-terminated after the area */
        char path_buf[];                /* the path area, in a copy for a worker */
};

/* Starts one decoded request of identity (the path area NUL-terminated
 * at req->path_len) and carries it as far as the loop may.  Returns true
 * when the rest is to be done in a worker (request_run); false when
 * r->out is final. */
bool request_start(struct request *r, const struct wire_request *req, struct identity *identity,
                   const struct server *s);

/* The rest, in a worker. */
void request_run(struct request *r);

/* A copy of r that owns its path and a policy reference, for a worker. */
struct request *request_copy(const struct request *r);
/* Frees r; its outcome's descriptor must have been taken. */
void request_free(struct request *r);

/* The record of r's outcome (denials always, the rest from info). */
void request_audit(const struct request *r);
/* The record of r with another outcome than its own: the answer a
 * timeout gave while a worker may still be writing r->out. */
void request_audit_as(const struct request *r, const struct outcome *o);

/* For the ops' filesystem handlers: takes the result of an fsop call
 * (a descriptor, 0 or -errno) and the fsop's report into r->out, unless
 * the call was deferred. */
void request_fs_result(struct request *r, int result);

/* The POLICY_* permissions OPEN/CHECK flags ask for. */
unsigned request_need(uint32_t flags);
