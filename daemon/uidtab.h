/* SPDX-License-Identifier: MIT */
#pragma once

/* Connections per uid, for --max-clients-per-uid.  A uid's entry exists
 * only while it has connections, so the table is bounded by the number of
 * clients. */

#include <sys/types.h>

struct uidtab_entry;

struct uidtab {
        struct uidtab_entry **buckets;
        unsigned n_buckets;
        unsigned n_entries;
};

/* Counts one more connection for uid unless it already has max.  Returns
 * the new count, -EUSERS when at the limit, -ENOMEM. */
int uidtab_acquire(struct uidtab *t, uid_t uid, unsigned max);
void uidtab_release(struct uidtab *t, uid_t uid);
unsigned uidtab_count(const struct uidtab *t, uid_t uid);
void uidtab_done(struct uidtab *t);
