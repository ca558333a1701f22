/* SPDX-License-Identifier: MIT */
#pragma once

/* Records waiting for the socket to become writable, in submission order.
 * Each record is sent whole or not at all (SOCK_SEQPACKET), so an entry is
 * just a copy of the encoded record. */

#include <stddef.h>
#include <stdint.h>

struct sendq_item {
        struct sendq_item *next;
        size_t len;
        uint8_t data[];
};

struct sendq {
        struct sendq_item *head;
        struct sendq_item **tail;
        size_t n;
        size_t bytes;
};

void sendq_init(struct sendq *q);

/* Appends a copy of buf.  Returns 0 or -ENOMEM. */
int sendq_push(struct sendq *q, const void *buf, size_t len);

static inline const struct sendq_item *sendq_peek(const struct sendq *q) { return q->head; }

/* Drops the head. */
void sendq_pop(struct sendq *q);

void sendq_clear(struct sendq *q);
