/* SPDX-License-Identifier: MIT */
#pragma once

/* Translation of open(2) flags into the protocol's access bits, and of the
 * flags that only concern the local descriptor into fcntl() calls. */

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct flags_wire {
        uint32_t flags; /* FDBR_F_* */
        uint32_t mode;  /* what goes on the wire: 0 unless CREATE */
        bool cloexec;   /* the caller asked for O_CLOEXEC */
        bool nonblock;  /* the caller asked for O_NONBLOCK */
};

/* Maps oflags/mode as given to fdbr_open().  Returns 0 and fills *ret, or
 * -EINVAL for a flag the broker cannot honour or a combination the protocol
 * refuses. */
int flags_from_open(int oflags, mode_t mode, struct flags_wire *ret);

/* Gives a descriptor received from the broker (always close-on-exec and
 * blocking) the properties the caller asked for.  Returns 0 or -errno. */
int flags_apply_local(int fd, const struct flags_wire *w);
