/* SPDX-License-Identifier: MIT */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fdpass.h"
#include "log.h"
#include "macro.h"
#include "request.h"
#include "server.h"

/* Records handled per wakeup before yielding to other connections. */
#define READ_BUDGET 32

/* A reply the client's socket had no room for yet; owns its descriptor. */
struct qreply {
        struct qreply *next;
        int fd;
        uint8_t rec[FDBR_WIRE_REPLY_SIZE];
};

struct conn {
        LIST_ENTRY(conn) link;
        struct server *srv;
        int fd;
        struct event ev_read;
        struct event ev_write;
        struct identity id;
        unsigned inflight;         /* received, reply not yet handed to the kernel */
        struct qreply *q_head;
        struct qreply **q_tail;
        bool reading;
        bool writing;
        bool closing;              /* close once the queue is flushed */
        bool broken;               /* the socket failed; free at the next chance */
};

static void conn_on_read(evutil_socket_t fd, short what, void *arg);
static void conn_on_write(evutil_socket_t fd, short what, void *arg);

/* Brings the registered events in line with the state: read while there
 * is room for more requests, write while replies wait. */
static void conn_update(struct conn *c) {
        bool want_read = !c->closing && !c->broken && c->inflight < c->srv->cfg.max_inflight;
        bool want_write = !c->broken && c->q_head;

        if (want_read != c->reading) {
                if (want_read)
                        event_add(&c->ev_read, NULL);
                else
                        event_del(&c->ev_read);
                c->reading = want_read;
        }
        if (want_write != c->writing) {
                if (want_write)
                        event_add(&c->ev_write, NULL);
                else
                        event_del(&c->ev_write);
                c->writing = want_write;
        }
}

int conn_new(struct server *s, int fd, struct identity *id, struct conn **ret) {
        struct conn *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;

        c->srv = s;
        c->fd = fd;
        c->id = *id;
        *id = (struct identity) {};
        c->q_tail = &c->q_head;
        event_assign(&c->ev_read, s->base, fd, EV_READ | EV_PERSIST, conn_on_read, c);
        event_assign(&c->ev_write, s->base, fd, EV_WRITE | EV_PERSIST, conn_on_write, c);
        LIST_INSERT_HEAD(&s->conns, c, link);
        s->n_conns++;
        conn_update(c);
        *ret = c;
        return 0;
}

void conn_free(struct conn *c) {
        struct server *s;

        if (!c)
                return;
        s = c->srv;
        event_del(&c->ev_read);
        event_del(&c->ev_write);
        for (struct qreply *q = c->q_head, *next; q; q = next) {
                next = q->next;
                safe_close(q->fd);
                free(q);
        }
        LIST_REMOVE(c, link);
        s->n_conns--;
        uidtab_release(&s->uids, c->id.uid);
        identity_done(&c->id);
        safe_close(c->fd);
        free(c);
        server_conn_gone(s);
}

/* Hands a reply to the kernel, or queues it behind earlier ones.  Takes
 * ownership of fd.  Never blocks: a client that does not read is bounded
 * by max_inflight, counted until the reply has left. */
static void conn_reply(struct conn *c, uint16_t op, uint32_t id, int status, int fd) {
        struct wire_reply r = { .op = op, .id = id, .status = (uint32_t) status, .nfds = fd >= 0 };
        uint8_t rec[FDBR_WIRE_REPLY_SIZE];

        wire_reply_encode(rec, &r);
        if (c->broken) {
                safe_close(fd);
                c->inflight--;
                return;
        }
        if (!c->q_head) {
                int k = fdpass_send(c->fd, rec, sizeof rec, fd);
                if (k != -EAGAIN) {
                        if (k < 0) {
                                /* EPIPE, ECONNRESET: the client left; nothing to answer. */
                                log_msg(LOG_DEBUG, "pid=%d: send: %s", (int) c->id.pid, strerror(-k));
                                c->broken = true;
                        }
                        safe_close(fd);
                        c->inflight--;
                        return;
                }
        }

        struct qreply *q = malloc(sizeof *q);
        if (!q) {
                /* Cannot keep the reply: dropping it silently would leave the
                 * client waiting forever, so the connection goes. */
                safe_close(fd);
                c->inflight--;
                c->broken = true;
                return;
        }
        *q = (struct qreply) { .fd = fd };
        memcpy(q->rec, rec, sizeof rec);
        *c->q_tail = q;
        c->q_tail = &q->next;
}

static void conn_flush(struct conn *c) {
        while (c->q_head && !c->broken) {
                struct qreply *q = c->q_head;
                int k = fdpass_send(c->fd, q->rec, sizeof q->rec, q->fd);
                if (k == -EAGAIN)
                        return;
                if (k < 0)
                        c->broken = true;
                c->q_head = q->next;
                if (!c->q_head)
                        c->q_tail = &c->q_head;
                safe_close(q->fd);
                free(q);
                c->inflight--;
        }
}

/* Answers one received record. */
static void conn_handle(struct conn *c, const struct fdpass_msg *m) {
        struct server *s = c->srv;
        struct wire_request req;
        uint16_t op;
        uint32_t id;
        int r;

        c->inflight++;
        s->n_requests++;
        wire_request_echo(s->buf, m->len, &op, &id);
        r = wire_request_decode(s->buf, m->len, &req);

        /* Framing comes first: a record that is not ours cannot be trusted
         * for anything, and the connection ends after the answer. */
        if (r == -EPROTO) {
                log_msg(LOG_INFO, "pid=%d: malformed record (%zu bytes), closing", (int) c->id.pid, m->len);
                c->closing = true;
                conn_reply(c, op, m->len >= 12 ? id : 0, EPROTO, -1);
                return;
        }
        /* The descriptors were already closed by fdpass_recv. */
        if (m->flags & FDPASS_BAD_CONTROL) {
                conn_reply(c, op, id, EBADMSG, -1);
                return;
        }
        /* Never evaluate a cut path. */
        if ((m->flags & FDPASS_TRUNCATED) && r != -EPROTONOSUPPORT)
                r = -EINVAL;
        if (r < 0) {
                conn_reply(c, op, id, -r, -1);
                return;
        }
        if (req.op == FDBR_OP_PING) {
                conn_reply(c, op, id, 0, -1);
                return;
        }

        /* The buffer has one spare byte past the largest record. */
        s->buf[FDBR_WIRE_HEADER_SIZE + req.path_len] = 0;

        struct request_ctx ctx = { .policy = s->policy, .generation = s->generation, .id = &c->id };
        struct request_result res;
        request_run(&ctx, &req, &res);
        if (res.denied)
                s->n_denied++;
        conn_reply(c, op, id, res.status, res.fd);
}

static void conn_on_read(evutil_socket_t fd, short what, void *arg) {
        struct conn *c = arg;
        struct fdpass_msg m;

        for (unsigned budget = READ_BUDGET; budget > 0; budget--) {
                if (c->closing || c->broken || c->inflight >= c->srv->cfg.max_inflight)
                        break;
                int r = fdpass_recv(fd, c->srv->buf, FDBR_WIRE_REQUEST_MAX, false, &m);
                if (r == -EAGAIN)
                        break;
                if (r < 0 || m.len == 0) {
                        /* EOF, or a zero-length record, which SOCK_SEQPACKET
                         * cannot tell from EOF: the client is gone. */
                        conn_free(c);
                        return;
                }
                conn_handle(c, &m);
        }

        if (c->broken || (c->closing && !c->q_head)) {
                conn_free(c);
                return;
        }
        conn_update(c);
}

static void conn_on_write(evutil_socket_t fd, short what, void *arg) {
        struct conn *c = arg;

        conn_flush(c);
        if (c->broken || (c->closing && !c->q_head)) {
                conn_free(c);
                return;
        }
        conn_update(c);
}
