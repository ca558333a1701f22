/* SPDX-License-Identifier: MIT */
#pragma once

/* The filesystem half of a request: resolve, open or create, and check
 * what was actually opened.  Called only after the policy allowed the
 * request path; it never resolves a symlink the policy did not allow and
 * never hands out anything but what the rules grant for the opened file. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "policy.h"

struct fsop {
        /* in */
        const char *path;                 /* absolute, canonical, NUL-terminated */
        size_t path_len;
        uint32_t flags;                   /* FDBR_F_* */
        uint32_t mode;                    /* for CREATE */
        bool check_only;                  /* CHECK: resolve read-only, return no fd */
        bool cached;                      /* on the event loop: never block (see fsop_run) */
        unsigned need;                    /* POLICY_* the flags ask for */
        unsigned granted;                 /* POLICY_* granted on path */
        unsigned owner_only;              /* part of granted that holds only for the client's own files */
        const struct policy *policy;      /* for decisions on the real path (follow) */
        const struct policy_subject *subject;
        /* out, for the audit record */
        const char *reason;               /* why it was refused, static string */
        const struct policy_rule *rule;   /* rule cited for a refusal on the real path */
        char *judged_path;                /* the other path a refusal was decided on (malloc'ed), or NULL */
        bool denied;                      /* refused by policy (as opposed to failed) */
        bool deferred;                    /* cached run gave up: run it again in a worker */
};

/* Runs the operation.  Returns a descriptor (OPEN), 0 (CHECK), or -errno.
 *
 * With cached set, it only goes as far as it can without any chance of
 * blocking: the lookup must be in the dentry cache (RESOLVE_CACHED), the
 * file on a local filesystem (one whose open never leaves the kernel), and
 * not a device; creating and truncating are left out.  Otherwise it
 * returns -EAGAIN with deferred set, having changed nothing, and the
 * operation is to be run again, uncached, where blocking is harmless. */
int fsop_run(struct fsop *op);

/* Frees what fsop_run left in op for the audit record. */
void fsop_clear(struct fsop *op);

/* Refuses to run on a kernel without openat2 (or with it filtered):
 * returns 0 or -errno, and never falls back to a weaker resolution. */
int fsop_probe(void);
void fsop_done(void);
