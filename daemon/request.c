/* SPDX-License-Identifier: MIT */
#include "request.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "audit.h"
#include "macro.h"

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
        r->fs.path_len = r->path_len;
        r->fs.policy = r->policy;
        r->fs.subject = &r->subject;
}

bool request_decide(struct request *r, const struct wire_request *req, struct identity *identity,
                    const struct policy *policy, unsigned generation) {
        *r = (struct request) {
                .policy = (struct policy *) policy,
                .generation = generation,
                .identity = identity,
                .op = req->op,
                .id = req->id,
                .flags = req->flags,
                .mode = req->mode,
                .need = request_need(req->flags),
                .path_len = req->path_len,
                .path = req->path,
        };
        if (policy_uses_user_name(policy))
                identity_resolve_user_name(identity);
        identity_subject(identity, &r->subject);
        policy_match(policy, &r->subject, r->path, r->path_len, r->need, &r->verdict);
        /* `append` grants writing only where every write lands at the end:
         * WRITE with APPEND, never TRUNC.  Where it is what the rules give,
         * it is what is needed, here and on the real path under follow. */
        if ((r->need & POLICY_WRITE) && (r->flags & FDBR_F_APPEND) && !(r->flags & FDBR_F_TRUNC) &&
            !(r->verdict.granted & POLICY_WRITE) && (r->verdict.granted & POLICY_APPEND))
                r->need = (r->need & ~POLICY_WRITE) | POLICY_APPEND;

        if (!policy_verdict_allows(&r->verdict, r->need)) {
                r->result = -EACCES;
                r->fs.denied = true;
                r->fs.reason = r->verdict.denied ? "deny rule" : r->verdict.rule ? "permission not granted" : "no rule";
                return false;
        }

        r->fs = (struct fsop) {
                .flags = r->flags,
                .mode = r->mode,
                .check_only = r->op == FDBR_OP_CHECK,
                .need = r->need,
                .granted = r->verdict.granted,
                .owner_only = r->verdict.owner_only,
        };
        request_bind(r);
        return true;
}

void request_fs(struct request *r, bool cached) {
        r->fs.cached = cached;
        r->fs.deferred = false;
        r->result = fsop_run(&r->fs);
        /* A CHECK answers a status, never a descriptor. */
        if (r->result > 0 && r->op != FDBR_OP_OPEN)
                r->result = 0;
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
        request_bind(c);
        return c;
}

void request_free(struct request *r) {
        if (!r)
                return;
        if (r->result > 0)
                safe_close(r->result);
        fsop_clear(&r->fs);
        policy_unref(r->policy);
        free(r);
}

void request_audit(struct request *r) {
        struct audit_record rec = {
                .id = r->identity,
                .account = r->identity->account,
                .op = r->op,
                .path = r->path,
                .path_len = r->path_len,
                .flags = r->flags,
                .denied = r->fs.denied,
                .rule = r->fs.rule ? r->fs.rule : r->verdict.rule,
                .status = request_status(r),
                .reason = r->fs.reason,
                .judged_path = r->fs.judged_path,
                .generation = r->generation,
        };
        if (r->timed_out)
                rec.reason = "timed out in the filesystem";
        audit_log(&rec);
        /* The record was its only reader, and a request answered on the
         * loop is never freed. */
        fsop_clear(&r->fs);
}
