/* SPDX-License-Identifier: MIT */
#include "ops.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "fs-ops.h"
#include "fsop.h"
#include "macro.h"
#include "mounts.h"
#include "request.h"
#include "server.h"
#include "wire.h"

/* ---- the broker's own state ---------------------------------------------- */

static void op_ping(struct request *r, const struct server *s) {
        outcome_status(&r->out, 0);
}

/* The counters an operator (uid 0) may read, one key=value a line. */
static void op_status(struct request *r, const struct server *s) {
        if (r->identity->uid != 0) {
                r->out.status = EACCES;
                r->out.denied = true;
                r->out.reason = "STATUS is for uid 0";
                return;
        }
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        if (!f) {
                outcome_status(&r->out, ENOMEM);
                return;
        }
        server_status_text(s, f);
        if (fclose(f) != 0 || size > FDBR_WIRE_TEXT_MAX) {
                free(text);
                outcome_status(&r->out, size > FDBR_WIRE_TEXT_MAX ? E2BIG : ENOMEM);
                return;
        }
        r->out.data = (uint8_t *) text;
        r->out.data_len = (uint32_t) size;
}

/* What the rules grant this client, for clients that want to know which
 * paths are worth asking about. */
static void op_grants(struct request *r, const struct server *s) {
        _cleanup_free_ char *buf = malloc(FDBR_WIRE_TEXT_MAX);
        size_t len;
        if (!buf) {
                outcome_status(&r->out, ENOMEM);
                return;
        }
        int k = policy_grants(s->policy, &r->subject, buf, FDBR_WIRE_TEXT_MAX, &len);
        if (k < 0) {
                outcome_status(&r->out, -k);
                return;
        }
        r->out.data = (uint8_t *) TAKE_PTR(buf);
        r->out.data_len = (uint32_t) len;
}

/* ---- opening --------------------------------------------------------------- */

static unsigned need_open(const struct request *r) {
        return request_need(r->flags);
}

static void fs_open(struct request *r) {
        int k = fsop_run(&r->fs);
        /* A CHECK answers a status, never a descriptor. */
        if (k > 0 && r->op != FDBR_OP_OPEN) {
                safe_close(k);
                k = 0;
        }
        request_fs_result(r, k);
}

static const struct op_def ops[FDBR_OP_MAX + 1] = {
        [FDBR_OP_PING] = { .state = op_ping, .quiet = true },
        [FDBR_OP_OPEN] = { .need = need_open, .fs = fs_open },
        [FDBR_OP_CHECK] = { .need = need_open, .fs = fs_open },
        [FDBR_OP_STAT] = { .need = fs_need_stat, .fs = fs_stat },
        [FDBR_OP_READLINK] = { .need = fs_need_stat, .fs = fs_readlink },
        [FDBR_OP_MKDIR] = { .need = fs_need_mkdir, .fs = fs_mkdir },
        [FDBR_OP_UNLINK] = { .need = fs_need_unlink, .fs = fs_unlink },
        [FDBR_OP_RMDIR] = { .need = fs_need_rmdir, .fs = fs_rmdir },
        [FDBR_OP_RENAME] = { .need = fs_need_rename, .fs = fs_rename },
        [FDBR_OP_STATUS] = { .state = op_status },
        [FDBR_OP_GRANTS] = { .state = op_grants },
};

const struct op_def *op_get(uint16_t op) {
        if (op > FDBR_OP_MAX || (!ops[op].state && !ops[op].fs))
                return NULL;
        return &ops[op];
}
