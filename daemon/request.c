/* SPDX-License-Identifier: MIT */
#include "request.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "macro.h"
#include "server.h"

unsigned request_need(uint32_t flags) {
        unsigned need = 0;

        if (flags & FDBR_F_READ)
                need |= POLICY_READ;
        if (flags & (FDBR_F_WRITE | FDBR_F_TRUNC | FDBR_F_APPEND))
                need |= POLICY_WRITE;
        if (flags & (FDBR_F_CREATE | FDBR_F_EXCL))
                need |= POLICY_CREATE;
        if (flags & FDBR_F_DIRECTORY)
                need |= POLICY_DIR;
        return need;
}

/* fs points into r: set again whenever r moves. */
static void request_bind(struct request *r) {
        r->fs.path = r->path;
        r->fs.path_len = r->src_len;
        r->fs.policy = r->policy;
        r->fs.subject = &r->subject;
}

static void request_refuse(struct request *r, const char *reason) {
        r->out.status = EACCES;
        r->out.denied = true;
        r->out.reason = reason;
        r->out.rule = r->verdict.rule;
}

/* The policy's decision on the request path, before the filesystem is
 * touched.  True when allowed. */
static bool request_decide(struct request *r) {
        r->need = r->def->need(r);
        policy_match(r->policy, &r->subject, r->path, r->src_len, r->need, &r->verdict);
        /* `append` grants writing only where every write lands at the end:
         * WRITE with APPEND, never TRUNC.  Where it is what the rules give,
         * it is what is needed, here and on the real path under follow. */
        if ((r->need & POLICY_WRITE) && (r->flags & FDBR_F_APPEND) && !(r->flags & FDBR_F_TRUNC) &&
            !(r->verdict.granted & POLICY_WRITE) && (r->verdict.granted & POLICY_APPEND))
                r->need = (r->need & ~POLICY_WRITE) | POLICY_APPEND;

        if (!policy_verdict_allows(&r->verdict, r->need)) {
                request_refuse(r, r->verdict.denied ? "deny rule"
                                  : r->verdict.rule ? "permission not granted"
                                                    : "no rule");
                return false;
        }
        r->fs = (struct fsop) {
                .flags = r->flags,
                .mode = r->mode,
                .check_only = r->op == FDBR_OP_CHECK,
                .need = r->need,
                .granted = r->verdict.granted,
                .owner_only = r->verdict.owner_only,
                .keep_path_fd = true,
                .path_fd = -1,
        };
        request_bind(r);
        return true;
}

bool request_start(struct request *r, const struct wire_request *req, struct identity *identity,
                   const struct server *s) {
        *r = (struct request) {
                .def = op_get(req->op),
                .policy = s->policy,
                .generation = s->generation,
                .identity = identity,
                .op = req->op,
                .id = req->id,
                .flags = req->flags,
                .mode = req->mode,
                .path_len = req->path_len,
                .src_len = req->path_len,
                .path = req->path,
                .out = OUTCOME_INIT,
        };
        if (!r->def) {
                outcome_status(&r->out, EINVAL);
                return false;
        }
        /* The decoder checked the area: only the split is left to do. */
        if (r->op == FDBR_OP_RENAME && wire_rename_split(r->path, r->path_len, &r->src_len) < 0) {
                outcome_status(&r->out, EINVAL);
                return false;
        }
        identity_subject(identity, &r->subject);
        if (r->def->state) {
                r->def->state(r, s);
                return false;
        }
        if (!request_decide(r))
                return false;
        r->fs.cached = true;
        r->def->fs(r);
        return r->fs.deferred;
}

void request_run(struct request *r) {
        r->fs.cached = false;
        r->fs.deferred = false;
        r->def->fs(r);
}

void request_fs_result(struct request *r, int result) {
        if (r->fs.deferred)
                return;
        outcome_result(&r->out, result, !r->fs.cached);
        if (result > 0 && r->fs.path_fd >= 0)
                r->out.path_fd = TAKE_FD(r->fs.path_fd);
        r->out.denied = r->fs.denied;
        r->out.reason = r->fs.reason;
        /* A refusal decided on another path (the real one, RENAME's
         * destination) cites that path's rule, or none. */
        r->out.rule = r->fs.rule || r->fs.judged_path ? r->fs.rule : r->verdict.rule;
        r->out.judged_path = TAKE_PTR(r->fs.judged_path);
}

struct request *request_copy(const struct request *r) {
        struct request *c = malloc(sizeof *c + r->path_len + 1);
        if (!c)
                return NULL;
        *c = *r;
        memcpy(c->path_buf, r->path, r->path_len);
        c->path_buf[r->path_len] = 0;
        c->path = c->path_buf;
        c->policy = policy_ref(r->policy);
        c->fs.judged_path = NULL; /* the original keeps its own */
        c->fs.path_fd = -1;
        c->out = OUTCOME_INIT;
        request_bind(c);
        return c;
}

void request_free(struct request *r) {
        if (!r)
                return;
        outcome_clear(&r->out);
        fsop_clear(&r->fs);
        policy_unref(r->policy);
        free(r);
}

void request_audit(const struct request *r) {
        request_audit_as(r, &r->out);
}

void request_audit_as(const struct request *r, const struct outcome *o) {
        struct audit_record rec = {
                .id = r->identity,
                .account = r->identity->account,
                .op = r->op,
                .path = r->path,
                .path_len = r->src_len,
                .dst = r->src_len < r->path_len ? r->path + r->src_len + 1 : NULL,
                .dst_len = r->src_len < r->path_len ? r->path_len - r->src_len - 1 : 0,
                .flags = r->flags,
                .denied = o->denied,
                .rule = o->rule,
                .status = o->status,
                .reason = o->reason,
                .judged_path = o->judged_path,
                .generation = r->generation,
        };
        audit_log(&rec);
}
