/* SPDX-License-Identifier: MIT */
#include "sendq.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void sendq_init(struct sendq *q) {
        *q = (struct sendq) { .tail = &q->head };
}

int sendq_push(struct sendq *q, const void *buf, size_t len) {
        struct sendq_item *i = malloc(sizeof(*i) + len);
        if (!i)
                return -ENOMEM;

        i->next = NULL;
        i->len = len;
        memcpy(i->data, buf, len);
        *q->tail = i;
        q->tail = &i->next;
        q->n++;
        q->bytes += len;
        return 0;
}

void sendq_pop(struct sendq *q) {
        struct sendq_item *i = q->head;
        if (!i)
                return;

        q->head = i->next;
        if (!q->head)
                q->tail = &q->head;
        q->n--;
        q->bytes -= i->len;
        free(i);
}

void sendq_clear(struct sendq *q) {
        while (q->head)
                sendq_pop(q);
}
