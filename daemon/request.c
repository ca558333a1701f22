/* SPDX-License-Identifier: MIT */
#include "request.h"

#include <errno.h>

#include "audit.h"
#include "fsop.h"

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

void request_run(const struct request_ctx *ctx, const struct wire_request *req,
                 struct request_result *ret) {
        struct policy_subject subject;
        struct policy_verdict v;
        unsigned need = request_need(req->flags);

        if (policy_uses_user_name(ctx->policy))
                identity_resolve_user_name(ctx->id);
        identity_subject(ctx->id, &subject);
        policy_match(ctx->policy, &subject, req->path, req->path_len, need, &v);

        struct audit_record rec = {
                .id = ctx->id,
                .op = req->op,
                .path = req->path,
                .path_len = req->path_len,
                .flags = req->flags,
                .rule = v.rule,
                .generation = ctx->generation,
        };
        *ret = (struct request_result) { .fd = -1 };

        if (!policy_verdict_allows(&v, need)) {
                rec.denied = true;
                rec.status = EACCES;
                rec.reason = v.denied ? "deny rule" : v.rule ? "permission not granted" : "no rule";
                goto done;
        }

        struct fsop op = {
                .path = req->path,
                .path_len = req->path_len,
                .flags = req->flags,
                .mode = req->mode,
                .check_only = req->op == FDBR_OP_CHECK,
                .need = need,
                .granted = v.granted,
                .policy = ctx->policy,
                .subject = &subject,
        };
        int r = fsop_run(&op);
        if (r < 0) {
                rec.status = -r;
                rec.denied = op.denied;
                rec.reason = op.reason;
                if (op.rule)
                        rec.rule = op.rule;
        } else if (req->op == FDBR_OP_OPEN)
                ret->fd = r;

done:
        ret->status = rec.status;
        ret->denied = rec.denied;
        audit_log(&rec);
}
