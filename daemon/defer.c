/* SPDX-License-Identifier: MIT */
#include "defer.h"

#include <errno.h>

#include "closer.h"
#include "conn.h"
#include "log.h"
#include "macro.h"
#include "mounts.h"
#include "request.h"
#include "server.h"

static void defer_run(struct lane_job *j) {
        request_run(container_of(j, struct request, lj));
}

/* A request that leaves the lanes: its descriptor, if any, to the
 * closers (opened in a worker, its close may block). */
static void defer_end(struct conn *c, struct request *r) {
        event_del(&r->deadline);
        if (r->out.fd >= 0) {
                closer_close(conn_server(c), conn_account(c), r->out.fd);
                r->out.fd = -1;
        }
        request_free(r);
        conn_job_end(c);
}

void defer_drop(struct conn *c) {
        struct server *s = conn_server(c);
        struct uidtab_entry *ue = conn_account(c);
        struct lane *lanes[] = { &s->general, &s->local };

        for (size_t i = 0; i < ELEMENTSOF(lanes); i++) {
                struct uidtab_lane *ul = &ue->lanes[lanes[i]->index];
                for (struct lane_job *j = ul->held_head, *next; j; j = next) {
                        next = j->held_next;
                        struct request *r = container_of(j, struct request, lj);
                        if (r->conn != c || !lane_cancel(j))
                                continue;
                        conn_forget(c);
                        s->n_withdrawn++;
                        defer_end(c, r);
                }
        }
}

static void defer_complete(struct lane_job *j, int status) {
        struct request *r = container_of(j, struct request, lj);
        struct conn *c = r->conn;

        if (status < 0) {
                /* No worker could be started. */
                conn_answer_status(c, r->op, r->id, -status);
        } else if (r->timed_out) {
                /* The client was told ETIMEDOUT: whatever the work did, its
                 * result is not used, and the record says what happened. */
                r->out.reason = r->out.status == 0 ? "completed after the timeout; result discarded"
                                                   : "failed after the timeout; result discarded";
                r->out.status = ETIMEDOUT;
                conn_server(c)->n_discarded++;
                request_audit(r);
        } else
                conn_answer(c, r);
        defer_end(c, r);
}

/* A filesystem that does not answer (a hung FUSE server, a dead NFS
 * server) delays only this request: the client hears ETIMEDOUT now.  A
 * request that has not started yet never will; one that is running may
 * finish, but its result is discarded (and a descriptor closed off the
 * loop). */
static void defer_timeout(evutil_socket_t fd, short what, void *arg) {
        struct request *r = arg;
        struct conn *c = r->conn;
        bool cancelled = lane_cancel(&r->lj);

        conn_server(c)->n_timed_out++;
        struct outcome o = {
                .fd = -1, .status = ETIMEDOUT, .rule = r->verdict.rule,
                .reason = cancelled ? "timed out waiting for a worker; cancelled" : "timed out in the filesystem",
        };
        request_audit_as(r, &o);
        conn_answer_status(c, r->op, r->id, ETIMEDOUT);
        if (cancelled) {
                conn_server(c)->n_withdrawn++;
                defer_end(c, r);
                return;
        }
        r->timed_out = true;
        log_msg(LOG_WARNING, "pid=%d: request %u for %s still blocked after the open timeout",
                (int) conn_identity(c)->pid, r->id, LOG_QUOTED(r->path, r->src_len));
        conn_settle(c);
}

void defer_request(struct conn *c, const struct request *stack) {
        struct server *s = conn_server(c);
        struct request *r = request_copy(stack);
        if (!r) {
                conn_answer_status(c, stack->op, stack->id, ENOMEM);
                return;
        }
        r->conn = c;
        r->lj.run = defer_run;
        r->lj.complete = defer_complete;
        evtimer_assign(&r->deadline, s->base, defer_timeout, r);

        /* Work that stays on a local mount cannot hang: it has workers of
         * its own, so that a hung FUSE or NFS mount, which may hold every
         * general worker, never delays it.  Each lane gives every real
         * user only a share of its threads; past it, the request waits its
         * turn, its deadline running, while the connection goes on. */
        const char *rel;
        r->general = (r->fs.granted & POLICY_FOLLOW) || mounts_stale() ||
                     (r->fs.path_local ? r->fs.path_local < 0 : mounts_fast_dir(r->path, r->src_len, &rel) < 0) ||
                     /* RENAME: the destination's mount, too */
                     (r->src_len < r->path_len &&
                      mounts_fast_dir(r->path + r->src_len + 1, r->path_len - r->src_len - 1, &rel) < 0);
        if (lane_submit(r->general ? &s->general : &s->local, conn_account(c), &r->lj) < 0) {
                request_free(r);
                conn_answer_status(c, stack->op, stack->id, EAGAIN);
                return;
        }
        conn_job_begin(c);
        s->n_deferred++;
        evtimer_add(&r->deadline, s->open_timeout);
}
