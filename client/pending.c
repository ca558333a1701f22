/* SPDX-License-Identifier: MIT */
#include "pending.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#define PENDING_BITS_MIN 4u
/* 2^31 slots would already be 32 GiB; the caller caps far below. */
#define PENDING_BITS_MAX 30u

/* Fibonacci hashing: ids are mostly sequential, and multiplying spreads
 * neighbours apart so that a burst of ids does not form one long run. */
static size_t pending_home(uint32_t id, unsigned bits) {
        return (size_t) ((id * UINT32_C(2654435769)) >> (32 - bits));
}

static size_t pending_capacity(const struct pending_table *t) {
        return t->bits ? (size_t) 1 << t->bits : 0;
}

static void pending_insert_slot(struct pending_slot *slots, unsigned bits, uint32_t id, void *value) {
        size_t mask = ((size_t) 1 << bits) - 1;

        for (size_t i = pending_home(id, bits);; i = (i + 1) & mask)
                if (!slots[i].value) {
                        slots[i] = (struct pending_slot) { .id = id, .value = value };
                        return;
                }
}

static int pending_resize(struct pending_table *t, unsigned bits) {
        struct pending_slot *slots = calloc((size_t) 1 << bits, sizeof(*slots));
        if (!slots)
                return -ENOMEM;

        size_t cap = pending_capacity(t);
        for (size_t i = 0; i < cap; i++)
                if (t->slots[i].value)
                        pending_insert_slot(slots, bits, t->slots[i].id, t->slots[i].value);

        free(t->slots);
        t->slots = slots;
        t->bits = bits;
        return 0;
}

void pending_done(struct pending_table *t) {
        free(t->slots);
        *t = PENDING_TABLE_INIT;
}

static struct pending_slot *pending_find(const struct pending_table *t, uint32_t id) {
        if (t->n == 0)
                return NULL;

        size_t mask = pending_capacity(t) - 1;
        for (size_t i = pending_home(id, t->bits);; i = (i + 1) & mask) {
                if (!t->slots[i].value)
                        return NULL;
                if (t->slots[i].id == id)
                        return &t->slots[i];
        }
}

int pending_put(struct pending_table *t, uint32_t id, void *value) {
        if (!value)
                return -EINVAL;
        if (pending_find(t, id))
                return -EEXIST;

        /* Load stays at most 1/2: probe runs stay short. */
        if ((t->n + 1) * 2 > pending_capacity(t)) {
                unsigned bits = t->bits ? t->bits + 1 : PENDING_BITS_MIN;
                if (bits > PENDING_BITS_MAX)
                        return -ENOMEM;
                int r = pending_resize(t, bits);
                if (r < 0)
                        return r;
        }

        pending_insert_slot(t->slots, t->bits, id, value);
        t->n++;
        return 0;
}

void *pending_get(const struct pending_table *t, uint32_t id) {
        struct pending_slot *s = pending_find(t, id);
        return s ? s->value : NULL;
}

/* Is home h outside the cyclic range (hole, j]?  Then the entry at j may
 * move back into the hole without becoming unreachable. */
static bool pending_may_move(size_t hole, size_t j, size_t h) {
        if (hole <= j)
                return h <= hole || h > j;
        return h <= hole && h > j;
}

void *pending_remove(struct pending_table *t, uint32_t id) {
        struct pending_slot *s = pending_find(t, id);
        if (!s)
                return NULL;

        void *value = s->value;
        size_t mask = pending_capacity(t) - 1;
        size_t hole = (size_t) (s - t->slots);

        for (size_t j = (hole + 1) & mask; t->slots[j].value; j = (j + 1) & mask)
                if (pending_may_move(hole, j, pending_home(t->slots[j].id, t->bits))) {
                        t->slots[hole] = t->slots[j];
                        hole = j;
                }
        t->slots[hole] = (struct pending_slot) { 0 };
        t->n--;

        /* Give memory back after a burst; shrinking at 1/8 keeps a gap to
         * the growth threshold so that a steady load does not thrash. */
        if (t->bits > PENDING_BITS_MIN && t->n * 8 < pending_capacity(t))
                (void) pending_resize(t, t->bits - 1); /* failing to shrink is harmless */

        return value;
}
