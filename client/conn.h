/* SPDX-License-Identifier: MIT */
#pragma once

/* Internals of the asynchronous connection shared with the blocking
 * calls. */

#include <sys/types.h>

#include "flags.h"

/* Validates path and flags of an OPEN or CHECK the way a submission does,
 * without a connection: -EINVAL for a relative or non-canonical path or
 * bad flags, -ENAMETOOLONG for a path longer than the protocol carries. */
int conn_prepare(const char *path, int oflags, mode_t mode, struct flags_wire *ret, size_t *ret_path_len);
