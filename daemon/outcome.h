/* SPDX-License-Identifier: MIT */
#pragma once

/* What a request came to: the one thing the reply is encoded from and the
 * audit record is written from.  Whatever decided (the policy on the
 * request path, the filesystem on the real path, a timeout) writes here
 * and nowhere else. */

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "macro.h"

struct policy_rule;

struct outcome {
        int status;                      /* 0 or a positive errno value */
        int fd;                          /* -1, or the descriptor the reply carries (owned) */
        /* The descriptor was opened in a worker: the file may be anywhere
         * and its close may block, so it is closed off the loop. */
        bool fd_offloop;
        /* -1, or an O_PATH descriptor of the same file opened on the loop
         * (owned): closed together with fd once the reply is sent. */
        int path_fd;
        uint8_t *data;                   /* data_len bytes for the reply (owned), or NULL */
        uint32_t data_len;
        bool denied;                     /* refused by policy, not failed */
        const char *reason;              /* static text for the record, or NULL */
        const struct policy_rule *rule;  /* the rule to cite, or NULL */
        char *judged_path;               /* the other path a refusal was judged on (owned), or NULL */
};

#define OUTCOME_INIT ((struct outcome) { .fd = -1, .path_fd = -1 })

/* A status alone (0 or a positive errno). */
static inline void outcome_status(struct outcome *o, int status) {
        o->status = status;
}

/* The result of a call that returns a descriptor, 0 or -errno. */
static inline void outcome_result(struct outcome *o, int r, bool offloop) {
        if (r > 0) {
                o->fd = r;
                o->fd_offloop = offloop;
                o->status = 0;
        } else
                o->status = -r;
}

/* Frees what only the record or the reply needed.  A descriptor still
 * here was opened on the loop (on a local filesystem): its close cannot
 * block.  Ones opened in a worker are handed to the closers before. */
static inline void outcome_clear(struct outcome *o) {
        if (o->fd >= 0 && !o->fd_offloop)
                safe_close(o->fd);
        safe_close(o->path_fd);
        free(o->data);
        free(o->judged_path);
        *o = OUTCOME_INIT;
}
