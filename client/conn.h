/* SPDX-License-Identifier: MIT */
#pragma once

/* Internals of the asynchronous connection shared with the blocking
 * calls. */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fdbroker.h"
#include "flags.h"
#include "wire.h"

/* A request as the library's caller gave it. */
struct conn_op {
        uint16_t op;
        const char *path;
        const char *path2; /* RENAME: dst */
        int flags;         /* OPEN, CHECK: open(2) flags; STAT: AT_SYMLINK_NOFOLLOW;
                            * RENAME: FDBR_RENAME_NOREPLACE */
        mode_t mode;       /* OPEN, MKDIR */
};

/* A request checked as the broker will check it, ready to be sent. */
struct conn_wire {
        uint16_t op;
        struct flags_wire flags;
        size_t len;
        char paths[FDBR_WIRE_PATHS_MAX];
};

/* Checks o, without a connection.  Returns 0 and *ret, or -EINVAL for a
 * relative or non-canonical path or bad flags, -ENAMETOOLONG for a path
 * longer than the protocol carries. */
int conn_op_prepare(const struct conn_op *o, struct conn_wire *ret);

/* Callbacks by kind: a request calls the one its op answers with (stat for
 * STAT; data for READLINK, STATUS and GRANTS; plain for the others). */
struct conn_callbacks {
        fdbr_callback_t plain;
        fdbr_stat_callback_t stat;
        fdbr_data_callback_t data;
};

/* Submits a request conn_op_prepare() accepted, without checking it again.
 * Returns 0, or -errno as the fdbr_conn_*() calls (-EINVAL when the
 * callback w->op needs is NULL). */
int conn_submit_wire(fdbr_conn *conn, const struct conn_wire *w, const struct conn_callbacks *cbs,
                     void *userdata);
