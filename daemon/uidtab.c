/* SPDX-License-Identifier: MIT */
#include "uidtab.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "hash.h"

static unsigned bucket(const struct uidtab *t, uid_t uid) {
        return hash_id(uid) & (t->n_buckets - 1);
}

static int grow(struct uidtab *t) {
        unsigned n = t->n_buckets ? t->n_buckets * 2 : 64;
        struct uidtab_entry **b = calloc(n, sizeof *b);
        if (!b)
                return -ENOMEM;

        struct uidtab old = *t;
        t->buckets = b;
        t->n_buckets = n;
        for (unsigned i = 0; i < old.n_buckets; i++)
                for (struct uidtab_entry *e = old.buckets[i], *next; e; e = next) {
                        next = e->next;
                        unsigned k = bucket(t, e->uid);
                        e->next = t->buckets[k];
                        t->buckets[k] = e;
                }
        free(old.buckets);
        return 0;
}

static struct uidtab_entry **find(const struct uidtab *t, uid_t uid) {
        if (!t->buckets)
                return NULL;
        struct uidtab_entry **p = &t->buckets[bucket(t, uid)];
        while (*p && (*p)->uid != uid)
                p = &(*p)->next;
        return p;
}

int uidtab_acquire(struct uidtab *t, uid_t uid, unsigned max, struct uidtab_entry **ret) {
        struct uidtab_entry **p = find(t, uid);

        if (p && *p) {
                if ((*p)->conns >= max)
                        return -EUSERS;
                (*p)->conns++;
                *ret = *p;
                return 0;
        }
        if (max == 0)
                return -EUSERS;
        if (t->n_entries >= t->n_buckets && grow(t) < 0)
                return -ENOMEM;

        struct uidtab_entry *e = malloc(sizeof *e);
        if (!e)
                return -ENOMEM;
        unsigned k = bucket(t, uid);
        *e = (struct uidtab_entry) { .next = t->buckets[k], .uid = uid, .conns = 1 };
        for (unsigned i = 0; i < UIDTAB_LANES; i++)
                e->lanes[i].held_tail = &e->lanes[i].held_head;
        t->buckets[k] = e;
        t->n_entries++;
        *ret = e;
        return 0;
}

void uidtab_put(struct uidtab *t, struct uidtab_entry *e) {
        if (!e || e->conns || e->fds || e->closing || e->fds_out)
                return;
        for (unsigned i = 0; i < UIDTAB_LANES; i++)
                if (e->lanes[i].running || e->lanes[i].n_held)
                        return;
        struct uidtab_entry **p = find(t, e->uid);
        if (!p || *p != e)
                return;
        *p = e->next;
        free(e);
        t->n_entries--;
}

unsigned uidtab_count(const struct uidtab *t, uid_t uid) {
        struct uidtab_entry **p = find(t, uid);
        return p && *p ? (*p)->conns : 0;
}

void uidtab_done(struct uidtab *t) {
        for (unsigned i = 0; i < t->n_buckets; i++)
                for (struct uidtab_entry *e = t->buckets[i], *next; e; e = next) {
                        next = e->next;
                        free(e);
                }
        free(t->buckets);
        *t = (struct uidtab) {};
}
