/* SPDX-License-Identifier: MIT */
#pragma once

/* The table of ops: what each asks of the policy and what it does.  To add
 * an op: its number and flag rules go to proto/wire.c (wire_request_check),
 * its entry here, its handler next to those of its kind (fs-*.c for the
 * filesystem, ops.c for the broker's own state).  The pipeline
 * (request.c) and the transport (conn.c) do not change. */

#include <stdbool.h>
#include <stdint.h>

struct request;
struct server;

struct op_def {
        /* The permissions the request path must be granted, from the
         * request's flags.  NULL: the op names no path (its handler is
         * `state`). */
        unsigned (*need)(const struct request *r);
        /* Answered on the loop from the broker's own state, never blocking. */
        void (*state)(struct request *r, const struct server *s);
        /* The filesystem part, called once the policy allowed the path:
         * first on the loop with r->fs.cached set, where it must not block
         * and sets r->fs.deferred to be run again in a worker. */
        void (*fs)(struct request *r);
        /* Not worth an audit record (PING). */
        bool quiet;
};

/* The entry of op, or NULL for an op this broker does not serve: EINVAL,
 * as a broker that predates it answers. */
const struct op_def *op_get(uint16_t op);
