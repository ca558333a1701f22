/* SPDX-License-Identifier: MIT */
#pragma once

/* The broker confines itself once its socket, policy and descriptors are
 * set up: whatever a client manages to make it do afterwards happens with
 * four capabilities, no way to gain more, and only the system calls it
 * needs to serve. */

#include <stdbool.h>

/* The only capabilities a root broker keeps: open anything the policy
 * grants (DAC_OVERRIDE, DAC_READ_SEARCH, which also cover re-reading the
 * policy on SIGHUP), and give created files to the client (CHOWN, FOWNER). */
#define CONFINE_CAPS                                                                     \
        ((1ULL << 1 /* CAP_DAC_OVERRIDE */) | (1ULL << 2 /* CAP_DAC_READ_SEARCH */) |  \
         (1ULL << 0 /* CAP_CHOWN */) | (1ULL << 3 /* CAP_FOWNER */))

/* Drops every capability but CONFINE_CAPS from every set (when running as
 * root), sets no_new_privs and installs the system-call allow-list for
 * every thread of the process.  A call outside the list fails with EPERM
 * and is reported on stderr; it never kills the broker.  Returns 0 or
 * -errno (the broker must then not serve: it would run with more than the
 * contract allows). */
int confine_self(void);
