/* SPDX-License-Identifier: MIT */
#include "conn.h"

#include <errno.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "closer.h"
#include "fdpass.h"
#include "log.h"
#include "macro.h"
#include "mounts.h"
#include "request.h"
#include "userdb.h"
#include "defer.h"
#include "server.h"

/* Requests of one connection in the lanes, timed-out ones included (they
 * may still hold a thread).  Past it the connection is not read, and a
 * batch is never larger than the room left, since any record of it may
 * end up in a worker: one client naming files on a hung filesystem cannot
 * take every worker. */
#define CONN_JOBS_MAX 8

/* A reply the client's socket had no room for yet; owns its descriptor. */
struct qreply {
        struct qreply *next;
        int fd;
        bool offloop;              /* the descriptor must be closed off the loop */
        size_t len;
        uint8_t rec[];
};

struct conn {
        LIST_ENTRY(conn) link;
        struct server *srv;
        int fd;
        /* One reference for being connected, one per request in a worker:
         * a client may leave while its open still runs. */
        unsigned n_ref;
        struct event ev_read;
        struct event ev_write;
        struct event ev_timer;     /* idle before the first request; flushing before close */
        struct identity id;
        struct uidtab_entry *ue;   /* what the uid holds, shared by its connections */
        unsigned inflight;         /* received, reply not yet handed to the kernel */
        unsigned jobs;             /* requests in the worker pool */
        struct qreply *q_head;
        struct qreply **q_tail;
        bool reading;
        bool writing;
        bool spoke;                /* a whole request has arrived */
        bool closing;              /* close once every reply is out */
        bool batching;             /* replies go to the server's outbox first */
        bool broken;               /* the socket failed; close at the next chance */
        bool closed;               /* no more reading, writing or answering */
        /* Closed by the broker while descriptors it sent may be unread:
         * shut down, still counted, kept until they are gone. */
        bool draining;
        /* Descriptors sent that the client may not have received yet: the
         * kernel counts them against uid 0's RLIMIT_NOFILE until it does
         * (see conn_may_send_fd). */
        unsigned fds_unread;
        unsigned batch_fds;        /* of the batch being built */
        bool stalled;              /* a descriptor may not be sent now: retry on a timer */
        /* Not read until its user's name and home are known (or the user
         * database's deadline passed): rules with %u and %h need them. */
        bool waiting_user;
        bool shutdown_pending;     /* the broker is stopping: shut down once the user is known */
        struct userdb_wait uw;
        unsigned retry;            /* how often retried without progress: the wait, s->retry_timeouts[] */
        struct event ev_retry;
};

static void conn_on_read(evutil_socket_t fd, short what, void *arg);
static void conn_on_retry(evutil_socket_t fd, short what, void *arg);
static void conn_flush(struct conn *c);
static void conn_dequeue(struct conn *c);
static void conn_reply(struct conn *c, uint16_t op, uint32_t id, struct outcome *o);
static void conn_on_write(evutil_socket_t fd, short what, void *arg);
static void conn_on_timer(evutil_socket_t fd, short what, void *arg);

void conn_ref(struct conn *c) {
        c->n_ref++;
}

void conn_unref(struct conn *c) {
        if (--c->n_ref > 0)
                return;
        identity_done(&c->id);
        free(c);
}

/* How many more descriptors replies not taken by their clients may hold,
 * for this user and in all.  At zero, connections with replies still
 * queued are not read. */
static unsigned conn_fds_room(const struct conn *c) {
        const struct server *s = c->srv;
        unsigned uid_room = c->ue->fds < s->uid_fds_max ? s->uid_fds_max - c->ue->fds : 0;
        unsigned all_room = s->held_fds < s->fds_max ? s->fds_max - s->held_fds : 0;
        return uid_room < all_room ? uid_room : all_room;
}

/* Closes pending off the loop may pile up behind a filesystem whose
 * close hangs: past the budget, the user's connections are not read, as
 * any more would only add to the pile. */
static bool conn_closes_full(const struct conn *c) {
        const struct server *s = c->srv;
        return c->ue->closing >= s->uid_fds_max || s->closing_fds >= s->fds_max;
}

/* Whether another request may be read: not closing, room for it in
 * flight and in the workers, not holding replies back while over the
 * descriptor budget, and not over the budget of pending closes. */
static bool conn_may_read(const struct conn *c) {
        return !c->closing && !c->broken && !c->waiting_user && c->inflight < c->srv->cfg.max_inflight &&
               c->jobs < CONN_JOBS_MAX &&
               !(c->q_head && conn_fds_room(c) == 0) && !conn_closes_full(c);
}

/* Adds or removes ev; false if it could not be added. */
static bool conn_event_set(struct event *ev, bool *on, bool want) {
        if (want == *on)
                return true;
        if (!want)
                event_del(ev);
        else if (event_add(ev, NULL) < 0)
                return false;
        *on = want;
        return true;
}

/* Brings the registered events in line with the state: read while there
 * is room for more requests, write while replies wait.  The loop's first
 * registration of a descriptor number allocates (its table grows with
 * the highest number, and draining connections keep numbers taken): an
 * add that fails is tried again on the retry timer (a common timeout,
 * which does not allocate), never left to fail unseen with the
 * connection never read. */
static void conn_update(struct conn *c) {
        if (c->closed)
                return;
        bool want_read = conn_may_read(c);
        bool want_write = !c->broken && c->q_head && !c->stalled;
        bool ok = conn_event_set(&c->ev_read, &c->reading, want_read);

        ok = conn_event_set(&c->ev_write, &c->writing, want_write) && ok;
        if (!ok && !event_pending(&c->ev_retry, EV_TIMEOUT, NULL))
                evtimer_add(&c->ev_retry, c->srv->retry_timeouts[0]);
}

static void conn_user_known(void *userdata, const char *name, const char *home) {
        struct conn *c = userdata;

        identity_set_user(&c->id, name, home);
        c->waiting_user = false;
        if (c->shutdown_pending)
                conn_shutdown(c);
        else
                conn_update(c);
}

int conn_new(struct server *s, int fd, struct identity *id, struct uidtab_entry *ue, struct conn **ret) {
        struct conn *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;

        c->srv = s;
        c->fd = fd;
        c->ue = ue;
        c->n_ref = 1;
        c->id = *id;
        *id = (struct identity) {};
        c->q_tail = &c->q_head;
        event_assign(&c->ev_read, s->base, fd, EV_READ | EV_PERSIST, conn_on_read, c);
        event_assign(&c->ev_write, s->base, fd, EV_WRITE | EV_PERSIST, conn_on_write, c);
        evtimer_assign(&c->ev_timer, s->base, conn_on_timer, c);
        evtimer_assign(&c->ev_retry, s->base, conn_on_retry, c);
        evtimer_add(&c->ev_timer, s->idle_timeout);
        LIST_INSERT_HEAD(&s->conns, c, link);
        s->n_conns++;
        c->waiting_user = true;
        userdb_get(c->id.uid, conn_user_known, c, &c->uw);
        conn_update(c);
        *ret = c;
        return 0;
}

/* ---- descriptors in flight ---------------------------------------------- */

/* Replies with a descriptor each a connection may leave unread before its
 * user's budget is asked (but never more than the connection's bound,
 * s->conn_out_max), so that a user's new connection is not starved by its
 * old ones; and never past twice the user's budget, or a user with many
 * connections, draining ones included, could hold what all users share. */
#define CONN_FDS_UNREAD_FREE 4
#define CONN_FDS_USER_HARD(s) (2 * (s)->uid_out_max)

/* What the client has received since: SIOCOUTQ is what is still queued
 * for it, in bytes of at least s->fd_msg_size a record, so it bounds from
 * above how many of the descriptors sent are still unread. */
static int conn_refresh_unread(struct conn *c) {
        struct server *s = c->srv;
        int outq;

        if (c->fds_unread == 0)
                return 0;
        if (ioctl(c->fd, SIOCOUTQ, &outq) < 0)
                return -errno;
        size_t most = outq <= 0 ? 0 : ((size_t) outq + s->fd_msg_size - 1) / s->fd_msg_size;
        unsigned left = most < c->fds_unread ? (unsigned) most : c->fds_unread;
        unsigned gone = c->fds_unread - left;
        c->fds_unread = left;
        c->ue->fds_out -= gone;
        s->fds_out -= gone;
        if (c->draining)
                s->draining_fds -= gone;
        return 0;
}

/* Descriptors in flight are the kernel's to count, per sending user: past
 * the sender's RLIMIT_NOFILE it refuses further ones (ETOOMANYREFS) to
 * anyone uid 0 sends to, unless the sender keeps CAP_SYS_ADMIN, which the
 * broker does not.  So a client that does not read cannot be allowed to
 * pile them up: a connection may always have a few unread, then as many
 * as its user's budget allows, up to a bound; all together never more
 * than the broker's share of its descriptors. */
static bool conn_fd_room(const struct conn *c) {
        const struct server *s = c->srv;
        unsigned unread = c->fds_unread + c->batch_fds;
        return s->fds_out < s->fds_max && unread < s->conn_out_max &&
               c->ue->fds_out < (unread < CONN_FDS_UNREAD_FREE ? CONN_FDS_USER_HARD(s) : s->uid_out_max);
}

static bool conn_may_send_fd(struct conn *c) {
        if (conn_fd_room(c))
                return true;
        conn_refresh_unread(c);
        return conn_fd_room(c);
}

static void conn_sent_fd(struct conn *c) {
        c->fds_unread++;
        c->ue->fds_out++;
        c->srv->fds_out++;
}

/* Waits before sending more: no descriptor may be sent now, or the kernel
 * said ETOOMANYREFS. */
static void conn_stall(struct conn *c) {
        if (c->stalled)
                return;
        c->stalled = true;
        evtimer_add(&c->ev_retry, c->srv->retry_timeouts[c->retry]);
        if (c->retry + 1 < SERVER_RETRY_STEPS)
                c->retry++;
}

/* The socket and the connection's counts go: what the client was sent
 * and has not read stays in flight (if it keeps its end) beyond what the
 * budget sees, so only a connection with none, or the broker stopping,
 * gets here (see conn_close). */
static void conn_release(struct conn *c) {
        struct server *s = c->srv;

        event_del(&c->ev_retry);
        if (c->draining) {
                c->draining = false;
                s->n_draining--;
                s->draining_fds -= c->fds_unread;
        }
        c->ue->fds_out -= c->fds_unread;
        s->fds_out -= c->fds_unread;
        c->fds_unread = 0;
        c->fd = safe_close(c->fd);
        LIST_REMOVE(c, link);
        s->n_conns--;
        /* Requests still in a lane keep the entry (and c->ue valid); the
         * last of them puts it. */
        struct uidtab_entry *ue = c->ue;
        ue->conns--;
        uidtab_put(&s->uids, ue);
        server_conn_gone(s);
        conn_unref(c);
}

/* Stops everything the connection does: its events, the queue and the
 * requests waiting for a thread go now; the memory when the last worker
 * holding a request of ours is done. */
static void conn_disconnect(struct conn *c) {
        c->closed = true;
        event_del(&c->ev_read);
        event_del(&c->ev_write);
        event_del(&c->ev_timer);
        event_del(&c->ev_retry);
        userdb_cancel(&c->uw);
        while (c->q_head)
                conn_dequeue(c);
        defer_drop(c);
}

/* Disconnects at once, draining or not: the broker is stopping. */
void conn_free(struct conn *c) {
        if (!c || (c->closed && !c->draining))
                return;
        if (!c->closed)
                conn_disconnect(c);
        conn_release(c);
}

/* The broker ends the connection (EPROTO, idle, replies not taken, the
 * client gone or its socket failed).  Descriptors the client was sent and
 * has not read stay in flight, counted by the kernel against uid 0, for
 * as long as it keeps its end: closing now would forget them, and a
 * client repeating that would take uid 0's in-flight count past what the
 * budget sees.  So such a connection drains instead: shut down both ways
 * (the client reads what is queued, then EOF, as after a close, and can
 * send nothing more), no events but a timer, its unread descriptors still
 * charged to its user and in all, and still one of its user's
 * connections.  The timer looks at SIOCOUTQ again, ever less often; once
 * nothing is unread (taken, or purged by the kernel when the client
 * closed its end) the socket is closed. */
static void conn_close(struct conn *c) {
        struct server *s = c->srv;

        if (c->closed)
                return;
        conn_disconnect(c);
        if (s->stopping || conn_refresh_unread(c) < 0 || c->fds_unread == 0 || shutdown(c->fd, SHUT_RDWR) < 0) {
                conn_release(c);
                return;
        }
        log_msg(LOG_DEBUG, "pid=%d uid=%u: %u descriptors maybe unread, draining", (int) c->id.pid,
                (unsigned) c->id.uid, c->fds_unread);
        c->draining = true;
        s->n_draining++;
        s->draining_fds += c->fds_unread;
        c->retry = 0;
        /* ev_retry: never pending on a closed connection otherwise.  A
         * timer that cannot be added (the loop's heap could not grow)
         * would never come: then the count is given up. */
        if (evtimer_add(&c->ev_retry, s->drain_timeouts[0]) < 0)
                conn_release(c);
}

static void conn_on_drain(struct conn *c) {
        struct server *s = c->srv;

        /* A socket whose queue cannot be measured is closed: it cannot be
         * told when the client has read it. */
        if (conn_refresh_unread(c) < 0 || c->fds_unread == 0) {
                conn_release(c);
                return;
        }
        if (c->retry + 1 < SERVER_DRAIN_STEPS)
                c->retry++;
        if (evtimer_add(&c->ev_retry, s->drain_timeouts[c->retry]) < 0)
                conn_release(c);
}

static void conn_on_retry(evutil_socket_t fd, short what, void *arg) {
        struct conn *c = arg;

        if (c->draining) {
                conn_on_drain(c);
                return;
        }

        /* A client taking what it was sent is retried at the first
         * interval again; one that takes nothing, ever less often. */
        unsigned before = c->fds_unread;
        conn_refresh_unread(c);
        if (c->fds_unread < before)
                c->retry = 0;
        c->stalled = false;
        conn_flush(c);
        conn_settle(c);
}

/* Keeps a reply (and its descriptor) until the socket has room.  False if
 * it cannot, and then the connection is broken: dropping a reply silently
 * would leave the client waiting forever. */
static bool conn_enqueue(struct conn *c, const uint8_t *rec, size_t len, int fd, bool offloop) {
        struct qreply *q = malloc(sizeof *q + len);
        if (!q) {
                closer_dispose(c->srv, c->ue, fd, offloop);
                c->broken = true;
                return false;
        }
        *q = (struct qreply) { .fd = fd, .offloop = offloop, .len = len };
        memcpy(q->rec, rec, len);
        *c->q_tail = q;
        c->q_tail = &q->next;
        if (fd >= 0) {
                c->ue->fds++;
                c->srv->held_fds++;
        }
        return true;
}

/* One descriptor of a budget (the user's count, the count of all) is
 * given back; connections stopped because the budget was spent are looked
 * at again, only when it was. */
static void conn_budget_returned(struct server *s, struct uidtab_entry *ue, unsigned *user, unsigned *all) {
        bool user_was_full = *user >= s->uid_fds_max;
        bool all_were_full = *all >= s->fds_max;

        (*user)--;
        (*all)--;
        if (!user_was_full && !all_were_full)
                return;
        for (struct conn *c = LIST_FIRST(&s->conns); c; c = LIST_NEXT(c, link))
                if (all_were_full || c->ue == ue)
                        conn_update(c);
}

void conn_fds_returned(struct server *s, struct uidtab_entry *ue) {
        conn_budget_returned(s, ue, &ue->fds, &s->held_fds);
}

void conn_close_done(struct server *s, struct uidtab_entry *ue) {
        conn_budget_returned(s, ue, &ue->closing, &s->closing_fds);
}

/* Takes the first queued reply off and frees it with its descriptor. */
static void conn_dequeue(struct conn *c) {
        struct qreply *q = c->q_head;

        c->q_head = q->next;
        if (!c->q_head)
                c->q_tail = &c->q_head;
        /* Counted first, so that a close handed on is counted again. */
        if (q->fd >= 0)
                conn_fds_returned(c->srv, c->ue);
        closer_dispose(c->srv, c->ue, q->fd, q->offloop);
        free(q);
}

/* Hands the reply of an outcome to the kernel, or queues it behind
 * earlier ones.  Takes the outcome's descriptor (closed off the loop if it
 * was opened in a worker: its close may block) and data.  Never blocks: a
 * client that does not read is bounded by max_inflight, counted until the
 * reply has left. */
static void conn_reply(struct conn *c, uint16_t op, uint32_t id, struct outcome *o) {
        struct server *s = c->srv;
        int fd = o->fd;
        bool offloop = o->fd_offloop;
        int path_fd = TAKE_FD(o->path_fd);
        struct wire_reply r = {
                .op = op, .id = id, .status = (uint32_t) o->status, .nfds = fd >= 0,
                .data_len = o->status == 0 ? o->data_len : 0, .data = o->data,
        };

        /* In flight until the kernel has the reply, or it is dropped. */
        o->fd = -1;
        if (c->closed || c->broken) {
                c->inflight--;
                closer_dispose(s, c->ue, fd, offloop);
                safe_close(path_fd);
                return;
        }
        /* A descriptor that may not be sent now waits in the queue. */
        bool may = fd < 0 || (!c->stalled && conn_may_send_fd(c));
        /* Small replies join the batch, sent in one call at its end. */
        if (may && c->batching && !c->q_head && FDBR_WIRE_HEADER_SIZE + r.data_len <= SERVER_OUT_INLINE) {
                c->batch_fds += fd >= 0;
                size_t len = wire_reply_encode(s->outrecs[s->n_out], &r);
                s->outbox[s->n_out] = (struct fdpass_out) { .buf = s->outrecs[s->n_out], .len = len, .fd = fd };
                s->outoff[s->n_out] = offloop;
                s->outpath[s->n_out] = path_fd;
                s->n_out++;
                return;
        }
        /* Only a batch closes the two together. */
        safe_close(path_fd);
        _cleanup_free_ uint8_t *rec = malloc(FDBR_WIRE_HEADER_SIZE + r.data_len);
        if (!rec) {
                c->inflight--;
                closer_dispose(s, c->ue, fd, offloop);
                c->broken = true;
                return;
        }
        size_t len = wire_reply_encode(rec, &r);
        if (may && !c->q_head) {
                int k = fdpass_send(c->fd, rec, len, fd);
                if (k == -ETOOMANYREFS)
                        conn_stall(c);
                else if (k != -EAGAIN) {
                        c->inflight--;
                        if (k == 0 && fd >= 0)
                                conn_sent_fd(c);
                        if (k < 0) {
                                /* EPIPE, ECONNRESET: the client left; nothing to answer. */
                                log_msg(LOG_DEBUG, "pid=%d: send: %s", (int) c->id.pid, strerror(-k));
                                c->broken = true;
                        }
                        closer_dispose(s, c->ue, fd, offloop);
                        return;
                }
        }
        if (!may)
                conn_stall(c);
        if (!conn_enqueue(c, rec, len, fd, offloop))
                c->inflight--;
}

struct server *conn_server(const struct conn *c) {
        return c->srv;
}

struct uidtab_entry *conn_account(const struct conn *c) {
        return c->ue;
}

const struct identity *conn_identity(const struct conn *c) {
        return &c->id;
}

void conn_job_begin(struct conn *c) {
        conn_ref(c);
        c->jobs++;
}

void conn_job_end(struct conn *c) {
        c->jobs--;
        conn_settle(c);
        conn_unref(c);
}

void conn_forget(struct conn *c) {
        c->inflight--;
}

void conn_answer(struct conn *c, struct request *r) {
        struct server *s = c->srv;

        if (r->def && !r->def->quiet)
                request_audit(r);
        if (r->out.denied)
                s->n_denied++;
        if (r->def) {
                /* r->def is an entry of the table: op is within it. */
                s->n_op[r->op][r->out.denied ? SERVER_DENIED : r->out.status ? SERVER_FAILED : SERVER_ALLOWED]++;
        }
        conn_reply(c, r->op, r->id, &r->out);
}

void conn_answer_status(struct conn *c, uint16_t op, uint32_t id, int status) {
        struct outcome o = OUTCOME_INIT;
        outcome_status(&o, status);
        conn_reply(c, op, id, &o);
}

/* Sends the batch's replies in one call; what the socket cannot take yet
 * is queued in order. */
static void conn_send_batch(struct conn *c) {
        struct server *s = c->srv;
        unsigned sent = 0;

        c->batching = false;
        c->batch_fds = 0;
        if (s->n_out == 0)
                return;
        if (!c->broken && !c->closed) {
                int k = fdpass_send_many(c->fd, s->outbox, s->n_out);
                if (k >= 0)
                        sent = (unsigned) k;
                else if (k == -ETOOMANYREFS)
                        conn_stall(c);
                else if (k != -EAGAIN) {
                        log_msg(LOG_DEBUG, "pid=%d: send: %s", (int) c->id.pid, strerror(-k));
                        c->broken = true;
                }
        }
        /* What was opened on the loop is closed at the end, together: the
         * descriptors of a reply and of its O_PATH step are adjacent. */
        int local[2 * SERVER_BATCH];
        unsigned n_local = 0;
        for (unsigned i = 0; i < s->n_out; i++) {
                int fd = s->outbox[i].fd;
                if (s->outpath[i] >= 0)
                        local[n_local++] = s->outpath[i];
                if (i < sent && fd >= 0)
                        conn_sent_fd(c);
                if (i < sent || c->broken || c->closed) {
                        if (fd >= 0 && !s->outoff[i])
                                local[n_local++] = fd;
                        else
                                closer_dispose(s, c->ue, fd, s->outoff[i]);
                        c->inflight--;
                } else if (!conn_enqueue(c, s->outrecs[i], s->outbox[i].len, fd, s->outoff[i]))
                        c->inflight--;
        }
        s->n_out = 0;
        closer_close_local(local, n_local);
}

static void conn_flush(struct conn *c) {
        while (c->q_head && !c->broken && !c->stalled) {
                struct qreply *q = c->q_head;
                if (q->fd >= 0 && !conn_may_send_fd(c)) {
                        conn_stall(c);
                        return;
                }
                int k = fdpass_send(c->fd, q->rec, q->len, q->fd);
                if (k == -EAGAIN)
                        return;
                if (k == -ETOOMANYREFS) {
                        conn_stall(c);
                        return;
                }
                if (k < 0)
                        c->broken = true;
                else if (q->fd >= 0)
                        conn_sent_fd(c);
                conn_dequeue(c);
                c->inflight--;
        }
        if (!c->q_head)
                c->retry = 0;
}

/* After any event: close if the connection is done, else re-arm. */
void conn_settle(struct conn *c) {
        if (c->closed)
                return;
        if (c->broken || (c->closing && !c->q_head && c->jobs == 0)) {
                conn_close(c);
                return;
        }
        conn_update(c);
}

/* ---- receiving --------------------------------------------------------- */

/* Answers one received record: framing here, the rest is the pipeline's
 * (request.c), run on the loop or handed to a worker (defer.c). */
static void conn_handle(struct conn *c, char *buf, const struct fdpass_msg *m) {
        struct server *s = c->srv;
        struct wire_request req;
        struct request r;
        uint16_t op;
        uint32_t id;
        int k;

        c->inflight++;
        s->n_requests++;
        wire_request_echo(buf, m->len, &op, &id);
        k = wire_request_decode(buf, m->len, &req);

        /* Framing comes first: a record that is not ours cannot be trusted
         * for anything, and the connection ends after the answer. */
        if (k == -EPROTO) {
                log_msg(LOG_INFO, "pid=%d: malformed record (%zu bytes), closing", (int) c->id.pid, m->len);
                c->closing = true;
                conn_answer_status(c, op, m->len >= FDBR_WIRE_OFF_FLAGS ? id : 0, EPROTO);
                return;
        }
        /* The descriptors went to the closers already (fdpass's strays). */
        if (m->flags & FDPASS_BAD_CONTROL) {
                conn_answer_status(c, op, id, EBADMSG);
                return;
        }
        /* Never evaluate a cut path. */
        if ((m->flags & FDPASS_TRUNCATED) && k != -EPROTONOSUPPORT)
                k = -EINVAL;
        if (k < 0) {
                conn_answer_status(c, op, id, -k);
                return;
        }

        /* The buffer has one spare byte past the largest record. */
        buf[FDBR_WIRE_HEADER_SIZE + req.path_len] = 0;
        if (request_start(&r, &req, &c->id, s))
                defer_request(c, &r);
        else
                conn_answer(c, &r);
        outcome_clear(&r.out);
        fsop_clear(&r.fs);
}

/* Reads and answers up to budget records, a batch at a time, replies sent
 * together after each batch.  Returns false if the connection was closed. */
static bool conn_read(struct conn *c, unsigned budget) {
        struct server *s = c->srv;
        struct fdpass_msg m[SERVER_BATCH];
        void *bufs[SERVER_BATCH];

        for (unsigned i = 0; i < SERVER_BATCH; i++)
                bufs[i] = s->bufs[i];

        while (budget > 0) {
                if (!conn_may_read(c))
                        break;
                unsigned want = budget < SERVER_BATCH ? budget : SERVER_BATCH;
                if (want > s->cfg.max_inflight - c->inflight)
                        want = s->cfg.max_inflight - c->inflight;
                if (want > CONN_JOBS_MAX - c->jobs)
                        want = CONN_JOBS_MAX - c->jobs;
                /* Any reply of the batch may stay with us, holding its
                 * descriptor, if the client does not take it: a batch never
                 * outgrows what is left of the budgets (one at a time once
                 * they are spent). */
                unsigned room = conn_fds_room(c);
                if (want > room)
                        want = room > 0 ? room : 1;
                s->reading_ue = c->ue;
                int n = fdpass_recv_many(c->fd, bufs, FDBR_WIRE_REQUEST_MAX, want, false, m);
                s->reading_ue = NULL;
                if (n == -EAGAIN)
                        break;
                if (n < 0) {
                        conn_close(c);
                        return false;
                }
                budget -= (unsigned) n;

                bool eof = false;
                c->batching = true;
                for (int i = 0; i < n; i++) {
                        if (m[i].len == 0) {
                                /* EOF, or a zero-length record, which
                                 * SOCK_SEQPACKET cannot tell from EOF: the
                                 * client is gone. */
                                eof = true;
                                break;
                        }
                        if (!c->spoke) {
                                c->spoke = true;
                                event_del(&c->ev_timer);
                        }
                        /* Once closing (EPROTO), the rest of the batch is
                         * not answered: the connection ends. */
                        if (!c->closing)
                                conn_handle(c, bufs[i], &m[i]);
                }
                conn_send_batch(c);
                if (eof) {
                        conn_close(c);
                        return false;
                }
                if ((unsigned) n < want)
                        break; /* the socket is empty */
        }
        /* Closing waits for replies, but not forever for a client that
         * does not take them. */
        if (c->closing && !event_pending(&c->ev_timer, EV_TIMEOUT, NULL))
                evtimer_add(&c->ev_timer, c->srv->idle_timeout);
        return true;
}

static void conn_on_read(evutil_socket_t fd, short what, void *arg) {
        struct conn *c = arg;

        if (conn_read(c, SERVER_BATCH))
                conn_settle(c);
}

void conn_shutdown_all(struct server *s) {
        for (struct conn *c = LIST_FIRST(&s->conns), *next; c; c = next) {
                next = LIST_NEXT(c, link);
                conn_shutdown(c);
        }
}

void conn_shutdown(struct conn *c) {
        /* Stopping: a draining connection is not waited for. */
        if (c->draining) {
                conn_free(c);
                return;
        }
        if (c->closed)
                return;
        /* Not read yet for want of its user's entry: it is shut down once
         * that comes (within the user database's deadline, shorter than
         * the broker's grace for stopping). */
        if (c->waiting_user) {
                c->shutdown_pending = true;
                return;
        }
        /* What the client sent before the broker was told to stop is
         * answered; what it sends after is not read. */
        if (!conn_read(c, c->srv->cfg.max_inflight))
                return;
        c->closing = true;
        if (!event_pending(&c->ev_timer, EV_TIMEOUT, NULL))
                evtimer_add(&c->ev_timer, c->srv->idle_timeout);
        conn_settle(c);
}

static void conn_on_write(evutil_socket_t fd, short what, void *arg) {
        struct conn *c = arg;

        conn_flush(c);
        conn_settle(c);
}

/* A connection that never sent a whole request, or that does not take the
 * answer it is to be closed after, holds a descriptor for nothing. */
static void conn_on_timer(evutil_socket_t fd, short what, void *arg) {
        struct conn *c = arg;

        log_msg(LOG_INFO, "pid=%d uid=%u: %s, closing", (int) c->id.pid, (unsigned) c->id.uid,
                c->closing ? "replies not taken before close" : "no request within the idle timeout");
        conn_close(c);
}
