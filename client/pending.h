/* SPDX-License-Identifier: MIT */
#pragma once

/* Requests in flight, keyed by their 32-bit id: an open-addressing hash
 * table with linear probing and backward-shift deletion, so that lookups
 * stay O(1) whatever the order replies come back in and removals leave no
 * tombstones behind. */

#include <stddef.h>
#include <stdint.h>

struct pending_slot {
        uint32_t id;
        void *value; /* NULL: free slot */
};

struct pending_table {
        struct pending_slot *slots;
        unsigned bits;  /* capacity is 1 << bits; 0 while nothing is allocated */
        size_t n;
};

#define PENDING_TABLE_INIT ((struct pending_table) { 0 })

void pending_done(struct pending_table *t);

/* Adds id → value (value != NULL).  Returns 0, -EEXIST if id is present,
 * or -ENOMEM. */
int pending_put(struct pending_table *t, uint32_t id, void *value);

/* The value stored under id, or NULL. */
void *pending_get(const struct pending_table *t, uint32_t id);

/* Removes id and returns its value, or NULL if it was not present. */
void *pending_remove(struct pending_table *t, uint32_t id);

static inline size_t pending_size(const struct pending_table *t) { return t->n; }
