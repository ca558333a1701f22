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
        bool keep_path_fd;                /* cached OPEN: leave the O_PATH descriptor in path_fd */
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
        /* With keep_path_fd, after a cached OPEN returned a descriptor: the
         * O_PATH descriptor it was reopened from (owned by the caller, to
         * be closed with the returned one, in one close_range when the two
         * numbers are adjacent); else not written. */
        int path_fd;
        /* What a cached run learnt of mounts_fast_dir(path): 1 a local
         * mount holds it, -1 none, 0 not asked.  For placing a deferred
         * request without asking again (the loop runs both). */
        int8_t path_local;
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

/* ---- for the handlers of the other ops (fs-*.c) ---------------------------
 * The pieces OPEN is made of, under the same rules. */

struct statx;

/* openat2(2): a descriptor or -errno. */
int fsop_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
/* op->path reached with O_PATH and pflags, as OPEN reaches it: a
 * descriptor, or the answer (-EAGAIN deferred, a refusal, the kernel's
 * error).  *ret_local: it is known to be on a local mount; otherwise a
 * caller on the loop looks its mount up before trusting it. */
int fsop_reach(struct fsop *op, int pflags, bool *ret_local);
/* A refusal by policy (-EACCES, audited with reason). */
int fsop_deny(struct fsop *op, const char *reason);
/* -EAGAIN with op->deferred set: run again in a worker. */
int fsop_defer(struct fsop *op);
/* The answer to a failed resolution of path (or, with suffix, of the
 * parent of the name suffix): a refusal for a symlink without follow, the
 * judged answer under follow (never an existence oracle), the kernel's
 * otherwise. */
int fsop_resolve_error(struct fsop *op, int r, const char *path, const char *suffix);
/* The parent directory of op->path (NUL-terminated where the path ends:
 * op->path_len is not used) opened O_PATH as OPEN resolves a path, and the
 * final name in *ret_name (pointing into op->path; "" for "/").  Under
 * follow, <real path of the parent>/<name> must be allowed for op->need. */
int fsop_open_parent(struct fsop *op, const char **ret_name);
/* The checks of a file reached by fd, whatever its type: `owner` for
 * need, and under follow its real path for need. */
int fsop_check_reached(struct fsop *op, int fd, const struct statx *sx, unsigned need);
/* The same for the existing file sx that is name in dfd (not opened): its
 * owner, and under follow <real path of dfd>/<name> with that owner. */
int fsop_check_name(struct fsop *op, int dfd, const char *name, const struct statx *sx, unsigned need);
