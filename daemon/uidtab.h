/* SPDX-License-Identifier: MIT */
#pragma once

/* What each real user holds of the daemon: connections (for
 * --max-clients-per-uid), jobs in each lane of threads, and descriptors
 * in replies its clients have not taken or waiting to be closed.  The key
 * is the account a connection is charged to (see account.h): a uid inside
 * a user namespace counts against the user who owns it.  An entry exists
 * only while one of them is not zero, so the table is bounded by what
 * clients hold. */

#include <sys/types.h>

/* Lanes of threads (see lane.h): general, local, closer. */
#define UIDTAB_LANES 3

struct lane_job;

struct uidtab_lane {
        unsigned running;               /* jobs in the lane's threads */
        /* Jobs waiting for one of the user's share, oldest first. */
        struct lane_job *held_head;
        struct lane_job **held_tail;
        unsigned n_held;
};

struct uidtab_entry {
        struct uidtab_entry *next;
        uid_t uid;
        unsigned conns;
        unsigned fds;                   /* in untaken replies */
        unsigned closing;               /* waiting to be closed off the loop */
        unsigned fds_out;               /* sent, maybe not received yet (conn.c) */
        struct uidtab_lane lanes[UIDTAB_LANES];
};

struct uidtab {
        struct uidtab_entry **buckets;
        unsigned n_buckets;
        unsigned n_entries;
};

/* Counts one more connection for uid unless it already has max, and
 * returns its entry.  Returns 0, -EUSERS when at the limit, -ENOMEM. */
int uidtab_acquire(struct uidtab *t, uid_t uid, unsigned max, struct uidtab_entry **ret);

/* Frees the entry if it holds nothing any more; call after decrementing. */
void uidtab_put(struct uidtab *t, struct uidtab_entry *e);

unsigned uidtab_count(const struct uidtab *t, uid_t uid);
void uidtab_done(struct uidtab *t);
