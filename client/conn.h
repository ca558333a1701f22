/* SPDX-License-Identifier: MIT */
#pragma once

/* Internals of the asynchronous connection shared with the blocking
 * calls. */

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "flags.h"

/* Validates path and flags of an OPEN or CHECK the way a submission does,
 * without a connection: -EINVAL for a relative or non-canonical path or
 * bad flags, -ENAMETOOLONG for a path longer than the protocol carries. */
int conn_prepare(const char *path, int oflags, mode_t mode, struct flags_wire *ret, size_t *ret_path_len);

/* Validates path alone, as above: -EINVAL or -ENAMETOOLONG. */
int conn_path_prepare(const char *path, size_t *ret_len);

/* One of the ops after OPEN and CHECK, as the library's caller gave it. */
struct conn_op {
        uint16_t op;
        const char *path;
        const char *path2; /* RENAME: dst */
        int flags;         /* STAT: AT_SYMLINK_NOFOLLOW; RENAME: FDBR_RENAME_NOREPLACE */
        mode_t mode;       /* MKDIR */
};

/* Checks o as the broker will and writes its path area into buf (at least
 * FDBR_WIRE_PATHS_MAX bytes).  Returns 0, *ret_len and *ret_flags, or
 * -EINVAL, -ENAMETOOLONG. */
int conn_op_prepare(const struct conn_op *o, char *buf, size_t *ret_len, struct flags_wire *ret_flags);
