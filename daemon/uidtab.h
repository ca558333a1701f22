/* SPDX-License-Identifier: MIT */
#pragma once

/* What each client uid holds of the daemon: connections (for
 * --max-clients-per-uid), requests in the general worker lane, and
 * descriptors in replies its clients have not taken.  An entry exists only
 * while one of them is not zero, so the table is bounded by what clients
 * hold. */

#include <sys/types.h>

struct request;

struct uidtab_entry {
        struct uidtab_entry *next;
        uid_t uid;
        unsigned conns;
        unsigned jobs;                  /* in the general workers */
        unsigned fds;
        /* Requests waiting for one of the uid's share of general workers,
         * oldest first. */
        struct request *held_head;
        struct request **held_tail;
        unsigned n_held;
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
