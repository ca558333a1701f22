/* SPDX-License-Identifier: MIT */
#include "conn.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "export.h"
#include "fdbroker.h"
#include "fdpass.h"
#include "macro.h"
#include "pending.h"
#include "sendq.h"
#include "socket.h"
#include "wire.h"

/* Requests the broker has not answered yet, timed-out ones included (their
 * reply is still owed).  Far above what a sane caller has in flight, low
 * enough that a broker that never answers cannot make us grow forever. */
#define CONN_INFLIGHT_MAX 65536u
/* Encoded records waiting for the socket: a stalled broker must not turn
 * into unbounded memory on this side. */
#define CONN_SENDQ_BYTES_MAX (16u * 1024 * 1024)
/* Replies handled per wakeup, so that one busy connection does not starve
 * the caller's other events. */
#define CONN_READ_BATCH 64
/* A status is an errno value; anything larger is not one. */
#define CONN_STATUS_MAX 4095u

/* What the broker's version is known to serve: ops 4-11 or not. */
enum conn_ops {
        CONN_OPS_UNKNOWN,
        CONN_OPS_NEW,
        CONN_OPS_OLD,
};

enum conn_cb_kind {
        CONN_CB_NONE,  /* already told (timeout) */
        CONN_CB_PLAIN,
        CONN_CB_STAT,
        CONN_CB_DATA,
        CONN_CB_PROBE, /* internal: the GRANTS that tells an old broker */
};

struct conn_request;

struct conn_cb {
        enum conn_cb_kind kind;
        union {
                fdbr_callback_t plain;
                fdbr_stat_callback_t stat;
                fdbr_data_callback_t data;
                struct conn_request *waiter; /* PROBE; NULL once it is gone */
        } u;
        void *userdata;
};

_Static_assert(sizeof(struct statx) == FDBR_WIRE_STATX_SIZE, "the wire carries the kernel's struct statx");

enum conn_state {
        CONN_OPEN,
        CONN_DEAD,  /* lost or failed: requests are refused with -ENOTCONN */
        CONN_FREED, /* the caller let go; memory lives on while dispatching */
};

struct conn_request {
        struct conn_request *prev, *next; /* conn->head/tail, submission order */
        fdbr_conn *conn;
        uint32_t id;
        uint16_t op;
        struct flags_wire flags;
        /* The timeout already ran the callback; the entry stays so that the
         * reply, when it comes, is recognized and its descriptor closed. */
        bool timed_out;
        /* Answered EINVAL; a probe asks whether the broker knows the op.
         * The id stays taken, a second reply to it is a broken broker. */
        struct conn_request *probe;
        struct conn_cb cb;
        struct event timer;
};

struct fdbr_conn {
        struct event_base *base;
        int fd;
        enum conn_state state;
        /* One reference for the caller, one per handler on the stack: a
         * callback may free the connection it is called from. */
        unsigned n_ref;
        unsigned timeout_ms;
        uint32_t next_id;
        unsigned n_pending; /* callbacks still to run */
        struct pending_table table;
        struct conn_request *head, *tail;
        struct sendq sendq;
        bool write_armed;
        enum conn_ops ops;
        uint8_t *rbuf; /* one reply, and a NUL after its data */
        struct event read_event;
        struct event write_event;
        struct event broken_event;
};

static void conn_ref(fdbr_conn *conn) {
        conn->n_ref++;
}

static void conn_unref(fdbr_conn *conn) {
        if (--conn->n_ref > 0)
                return;

        /* Every path to the last reference went through conn_flush(). */
        pending_done(&conn->table);
        sendq_clear(&conn->sendq);
        free(conn->rbuf);
        free(conn);
}

/* Stops all I/O; requests stay until conn_flush(). */
static void conn_shutdown(fdbr_conn *conn, enum conn_state state) {
        if (conn->state == CONN_OPEN) {
                event_del(&conn->read_event);
                event_del(&conn->write_event);
                event_del(&conn->broken_event);
                conn->fd = safe_close(conn->fd);
                conn->write_armed = false;
                sendq_clear(&conn->sendq);
        }
        conn->state = state;
}

static void conn_unlink(fdbr_conn *conn, struct conn_request *req) {
        if (req->prev)
                req->prev->next = req->next;
        else
                conn->head = req->next;
        if (req->next)
                req->next->prev = req->prev;
        else
                conn->tail = req->prev;
        req->prev = req->next = NULL;
}

static void conn_call(fdbr_conn *conn, const struct conn_cb *cb, int result, const void *data, size_t len) {
        switch (cb->kind) {
        case CONN_CB_PLAIN:
                cb->u.plain(conn, result, cb->userdata);
                break;
        case CONN_CB_STAT:
                cb->u.stat(conn, result, result == 0 ? data : NULL, cb->userdata);
                break;
        case CONN_CB_DATA:
                cb->u.data(conn, result, result == 0 ? data : NULL, result == 0 ? len : 0, cb->userdata);
                break;
        case CONN_CB_NONE:
        case CONN_CB_PROBE:
                break;
        }
}

static void conn_finish(fdbr_conn *conn, struct conn_request *req, int result, const void *data, size_t len);

/* The probe for waiter came back: any answer but EINVAL is from a broker
 * that knows the ops added after the first release. */
static void conn_probe_done(fdbr_conn *conn, struct conn_request *waiter, int result) {
        waiter->probe = NULL;
        conn->ops = result == -EINVAL ? CONN_OPS_OLD : CONN_OPS_NEW;
        conn_finish(conn, waiter, conn->ops == CONN_OPS_OLD ? -ENOSYS : -EINVAL, NULL, 0);
}

/* Forgets req and runs its callback, unless the timeout already did (then
 * result is never a descriptor).  The bookkeeping is done before the
 * callback, which may submit or free.  The caller holds a reference. */
static void conn_finish(fdbr_conn *conn, struct conn_request *req, int result, const void *data, size_t len) {
        struct conn_cb cb = req->cb;
        struct conn_request *probe = req->probe;

        event_del(&req->timer);
        conn_unlink(conn, req);
        (void) pending_remove(&conn->table, req->id);
        if (!req->timed_out && cb.kind != CONN_CB_PROBE)
                conn->n_pending--;
        free(req);

        /* Finished before its probe (flushed, or its probe failed): the
         * probe's answer concerns nobody any more. */
        if (probe)
                probe->cb.u.waiter = NULL;
        if (cb.kind == CONN_CB_PROBE) {
                /* Only a reply reaches a live waiter: a flush finishes the
                 * waiter, submitted first, before its probe. */
                if (cb.u.waiter)
                        conn_probe_done(conn, cb.u.waiter, result);
                return;
        }
        conn_call(conn, &cb, result, data, len);
}

/* Completes every request with error, in submission order.  Callbacks may
 * submit (refused: the connection is no longer open) or free the
 * connection, which flushes the rest with -ECANCELED; either way each
 * callback runs once. */
static void conn_flush(fdbr_conn *conn, int error) {
        while (conn->head)
                conn_finish(conn, conn->head, error, NULL, 0);
}

static void conn_fail(fdbr_conn *conn, int error) {
        if (conn->state != CONN_OPEN)
                return;
        conn_shutdown(conn, CONN_DEAD);
        conn_flush(conn, error);
}

/* Reply validation: anything off is a broker we can no longer trust to
 * match replies to requests. */
static int conn_check_reply(fdbr_conn *conn, const struct fdpass_msg *m, const uint8_t *buf,
                            struct wire_reply *ret_reply, struct conn_request **ret_req) {
        struct wire_reply rep;

        if (m->flags & (FDPASS_TRUNCATED | FDPASS_BAD_CONTROL))
                return -EBADMSG;
        if (wire_reply_decode(buf, m->len, &rep) < 0)
                return -EBADMSG;
        if (rep.status > CONN_STATUS_MAX)
                return -EBADMSG;

        struct conn_request *req = pending_get(&conn->table, rep.id);
        if (!req || req->op != rep.op || req->probe)
                return -EBADMSG;
        /* Text is text: a NUL inside would cut it short for a caller that
         * takes it as a string. */
        if (rep.data_len > 0 && rep.op != FDBR_OP_STAT && memchr(rep.data, 0, rep.data_len))
                return -EBADMSG;

        /* nfds must say exactly what arrived, and only a successful OPEN
         * carries a descriptor (wire_reply_decode() already refused one with
         * a non-zero status). */
        bool want_fd = rep.op == FDBR_OP_OPEN && rep.status == 0;
        if ((rep.nfds == 1) != want_fd || (m->fd >= 0) != want_fd)
                return -EBADMSG;

        *ret_reply = rep;
        *ret_req = req;
        return 0;
}

/* Handles one record.  Returns 1 to go on reading, 0 when the socket is
 * drained or the connection failed. */
static int conn_submit(fdbr_conn *conn, uint16_t op, const char *path, size_t path_len,
                       const struct flags_wire *flags, const struct conn_cb *cb);

/* An EINVAL to an op added after the first release, for a request checked
 * before it was sent.  Returns the result to complete req with, or 1 when
 * a probe was sent and will complete it. */
static int conn_einval(fdbr_conn *conn, struct conn_request *req) {
        switch (conn->ops) {
        case CONN_OPS_NEW:
                return -EINVAL;
        case CONN_OPS_OLD:
                return -ENOSYS;
        case CONN_OPS_UNKNOWN:
                break;
        }

        /* A current broker answers these EINVAL only to a request it finds
         * malformed, and this one was not. */
        if (req->op != FDBR_OP_READLINK && req->op != FDBR_OP_RENAME) {
                conn->ops = CONN_OPS_OLD;
                return -ENOSYS;
        }

        /* READLINK of a non-symlink and some RENAMEs are EINVAL from a
         * current broker too: ask GRANTS, which it always serves. */
        struct flags_wire none = { 0 };
        struct conn_cb cb = { .kind = CONN_CB_PROBE, .u.waiter = req };
        if (conn_submit(conn, FDBR_OP_GRANTS, NULL, 0, &none, &cb) < 0)
                return -EINVAL; /* cannot tell: say what the broker said */
        req->probe = conn->tail;
        return 1;
}

static int conn_read_one(fdbr_conn *conn) {
        uint8_t *buf = conn->rbuf;
        struct fdpass_msg m;
        struct wire_reply rep;
        struct conn_request *req;
        int r;

        r = fdpass_recv(conn->fd, buf, FDBR_WIRE_REPLY_MAX, true, &m);
        if (r == -EAGAIN || r == -EWOULDBLOCK)
                return 0;
        if (r < 0) {
                conn_fail(conn, -ECONNRESET);
                return 0;
        }

        _cleanup_close_ int fd = m.fd;

        if (m.len == 0 && m.flags == 0 && fd < 0) {
                /* EOF: the broker never sends an empty record. */
                conn_fail(conn, -ECONNRESET);
                return 0;
        }

        if (conn_check_reply(conn, &m, buf, &rep, &req) < 0) {
                fd = safe_close(fd);
                conn_fail(conn, -EBADMSG);
                return 0;
        }

        int result = 0;
        if (rep.status != 0)
                result = -(int) rep.status;
        else if (fd >= 0 && !req->timed_out) {
                r = flags_apply_local(fd, &req->flags);
                result = r < 0 ? r : TAKE_FD(fd);
        }

        /* A probe's own answer is judged by conn_probe_done(). */
        if (rep.op >= FDBR_OP_STAT && req->cb.kind != CONN_CB_PROBE) {
                if (result == -EINVAL) {
                        result = conn_einval(conn, req);
                        if (result > 0)
                                return 1;
                } else
                        conn->ops = CONN_OPS_NEW;
        }

        /* Copied out of the receive buffer: the caller gets a statx that is
         * aligned, and text with a NUL after it (the buffer has room). */
        struct statx stx;
        const void *data = NULL;
        if (result == 0 && rep.op == FDBR_OP_STAT) {
                memcpy(&stx, rep.data, sizeof stx);
                data = &stx;
        } else if (result == 0 && rep.data_len > 0) {
                buf[FDBR_WIRE_HEADER_SIZE + rep.data_len] = 0;
                data = rep.data;
        } else if (result == 0)
                data = "";

        /* A late reply's descriptor is closed by the cleanup. */
        conn_finish(conn, req, result, data, rep.data_len);
        return 1;
}

static void conn_on_read(evutil_socket_t fd, short what, void *userdata) {
        fdbr_conn *conn = userdata;

        conn_ref(conn);
        for (unsigned i = 0; i < CONN_READ_BATCH && conn->state == CONN_OPEN; i++)
                if (conn_read_one(conn) == 0)
                        break;
        conn_unref(conn);
}

/* The socket cannot be written any more.  Replies that already arrived are
 * still delivered before everything else is failed. */
static void conn_broken(fdbr_conn *conn) {
        for (unsigned i = 0; i < CONN_READ_BATCH && conn->state == CONN_OPEN; i++)
                if (conn_read_one(conn) == 0)
                        break;
        conn_fail(conn, -ECONNRESET);
}

static void conn_on_broken(evutil_socket_t fd, short what, void *userdata) {
        fdbr_conn *conn = userdata;

        conn_ref(conn);
        conn_broken(conn);
        conn_unref(conn);
}

static void conn_arm_write(fdbr_conn *conn, bool on) {
        if (conn->write_armed == on)
                return;
        if (on)
                /* Cannot fail for an assigned event on a live base. */
                (void) event_add(&conn->write_event, NULL);
        else
                (void) event_del(&conn->write_event);
        conn->write_armed = on;
}

/* Sends queued records in order.  Returns 0 (all sent, or the socket is
 * full again) or -errno when the socket is broken. */
static int conn_drain(fdbr_conn *conn) {
        const struct sendq_item *i;

        while ((i = sendq_peek(&conn->sendq))) {
                int r = fdpass_send(conn->fd, i->data, i->len, -1);
                if (r == -EAGAIN || r == -EWOULDBLOCK) {
                        conn_arm_write(conn, true);
                        return 0;
                }
                if (r < 0)
                        return r;
                sendq_pop(&conn->sendq);
        }
        conn_arm_write(conn, false);
        return 0;
}

static void conn_on_write(evutil_socket_t fd, short what, void *userdata) {
        fdbr_conn *conn = userdata;

        conn_ref(conn);
        if (conn->state == CONN_OPEN && conn_drain(conn) < 0)
                conn_broken(conn);
        conn_unref(conn);
}

static void conn_on_timeout(evutil_socket_t fd, short what, void *userdata) {
        struct conn_request *req = userdata;
        fdbr_conn *conn = req->conn;
        struct conn_cb cb = req->cb;

        req->timed_out = true;
        req->cb.kind = CONN_CB_NONE;
        conn->n_pending--;

        conn_ref(conn);
        conn_call(conn, &cb, -ETIMEDOUT, NULL, 0);
        conn_unref(conn);
}

static int conn_path_prepare(const char *path, size_t *ret_len) {
        if (!path)
                return -EINVAL;

        size_t len = strnlen(path, FDBR_WIRE_PATH_MAX + 1);
        if (len > FDBR_WIRE_PATH_MAX)
                return -ENAMETOOLONG;
        if (wire_path_check(path, len) < 0)
                return -EINVAL;
        *ret_len = len;
        return 0;
}

int conn_op_prepare(const struct conn_op *o, struct conn_wire *ret) {
        struct flags_wire f = { 0 };
        char *buf = ret->paths;
        size_t len = 0, len2;
        int r;

        switch (o->op) {
        case FDBR_OP_OPEN:
        case FDBR_OP_CHECK:
                /* The path first: a bad one is said as such, whatever the
                 * flags. */
                r = conn_path_prepare(o->path, &len);
                if (r < 0)
                        return r;
                r = flags_from_open(o->flags, o->mode, &f);
                if (r < 0)
                        return r;
                memcpy(buf, o->path, len);
                goto done;
        case FDBR_OP_STAT:
                if (o->flags & ~AT_SYMLINK_NOFOLLOW)
                        return -EINVAL;
                if (o->flags & AT_SYMLINK_NOFOLLOW)
                        f.flags = FDBR_F_NOFOLLOW;
                break;
        case FDBR_OP_MKDIR:
                /* As flags_from_open() does for a created file: the broker
                 * makes nothing set-id or sticky, so those bits are dropped
                 * rather than refused. */
                f.mode = (uint32_t) (o->mode & 0777);
                break;
        case FDBR_OP_RENAME:
                if (o->flags & ~(int) FDBR_RENAME_NOREPLACE)
                        return -EINVAL;
                if (o->flags & FDBR_RENAME_NOREPLACE)
                        f.flags = FDBR_F_EXCL;
                break;
        case FDBR_OP_STATUS:
        case FDBR_OP_GRANTS:
                goto done;
        default:
                break;
        }

        r = conn_path_prepare(o->path, &len);
        if (r < 0)
                return r;
        memcpy(buf, o->path, len);
        if (o->op == FDBR_OP_RENAME) {
                r = conn_path_prepare(o->path2, &len2);
                if (r < 0)
                        return r;
                buf[len] = 0;
                memcpy(buf + len + 1, o->path2, len2);
                len += 1 + len2;
        }

        /* The very rules the broker applies: what goes out is valid, so an
         * EINVAL coming back can only mean an op the broker does not know. */
        r = wire_request_check(o->op, f.flags, f.mode, buf, len);
        if (r < 0)
                return r;
done:
        ret->op = o->op;
        ret->flags = f;
        ret->len = len;
        return 0;
}

static uint32_t conn_new_id(fdbr_conn *conn) {
        /* 0 is what the broker echoes for a record too short to hold an id,
         * so it never names a request.  The table holds far fewer than 2^32
         * ids, so this ends quickly even after the counter wrapped. */
        for (;;) {
                uint32_t id = conn->next_id++;
                if (id != 0 && !pending_get(&conn->table, id))
                        return id;
        }
}

static int conn_submit(fdbr_conn *conn, uint16_t op, const char *path, size_t path_len,
                       const struct flags_wire *flags, const struct conn_cb *cb) {
        uint8_t buf[FDBR_WIRE_REQUEST_MAX];
        int r;

        if (conn->state != CONN_OPEN)
                return -ENOTCONN;
        if (pending_size(&conn->table) >= CONN_INFLIGHT_MAX)
                return -EBUSY;

        uint32_t id = conn_new_id(conn);
        int len = wire_request_encode(buf, sizeof buf, op, id, flags->flags, flags->mode, path, path_len);
        if (len < 0)
                return len;

        /* Order on the wire is submission order: once something waits, the
         * new record waits behind it. */
        bool queue = sendq_peek(&conn->sendq) != NULL;
        if (queue && conn->sendq.bytes + (size_t) len > CONN_SENDQ_BYTES_MAX)
                return -ENOBUFS;

        _cleanup_free_ struct conn_request *req = calloc(1, sizeof(*req));
        if (!req)
                return -ENOMEM;
        *req = (struct conn_request) {
                .conn = conn,
                .id = id,
                .op = op,
                .flags = *flags,
                .cb = *cb,
        };
        evtimer_assign(&req->timer, conn->base, conn_on_timeout, req);

        r = pending_put(&conn->table, id, req);
        if (r < 0)
                return r;

        if (!queue) {
                r = fdpass_send(conn->fd, buf, (size_t) len, -1);
                if (r == -EAGAIN || r == -EWOULDBLOCK)
                        queue = true;
                else if (r < 0)
                        /* The request is accepted all the same and fails
                         * with the others, from the loop: callbacks never
                         * run inside a submission. */
                        event_active(&conn->broken_event, EV_TIMEOUT, 0);
        }
        if (queue) {
                r = sendq_push(&conn->sendq, buf, (size_t) len);
                if (r < 0) {
                        (void) pending_remove(&conn->table, id);
                        return r;
                }
                conn_arm_write(conn, true);
        }

        if (conn->timeout_ms > 0 && cb->kind != CONN_CB_PROBE) {
                struct timeval tv = {
                        .tv_sec = conn->timeout_ms / 1000,
                        .tv_usec = (conn->timeout_ms % 1000) * 1000,
                };
                (void) evtimer_add(&req->timer, &tv);
        }

        req->prev = conn->tail;
        if (conn->tail)
                conn->tail->next = req;
        else
                conn->head = req;
        conn->tail = req;
        if (cb->kind != CONN_CB_PROBE)
                conn->n_pending++;
        TAKE_PTR(req);
        return 0;
}

/* The caller's callback for op, of the kind op answers with. */
static struct conn_cb conn_cb_of(uint16_t op, const struct conn_callbacks *cbs, void *userdata) {
        switch (op) {
        case FDBR_OP_STAT:
                return (struct conn_cb) { .kind = CONN_CB_STAT, .u.stat = cbs->stat, .userdata = userdata };
        case FDBR_OP_READLINK:
        case FDBR_OP_STATUS:
        case FDBR_OP_GRANTS:
                return (struct conn_cb) { .kind = CONN_CB_DATA, .u.data = cbs->data, .userdata = userdata };
        default:
                return (struct conn_cb) { .kind = CONN_CB_PLAIN, .u.plain = cbs->plain, .userdata = userdata };
        }
}

int conn_submit_wire(fdbr_conn *conn, const struct conn_wire *w, const struct conn_callbacks *cbs,
                     void *userdata) {
        struct conn_cb cb = conn_cb_of(w->op, cbs, userdata);

        if (!conn || !cb.u.plain)
                return -EINVAL;
        return conn_submit(conn, w->op, w->paths, w->len, &w->flags, &cb);
}

static int conn_submit_op(fdbr_conn *conn, const struct conn_op *o, const struct conn_callbacks *cbs,
                          void *userdata) {
        struct conn_cb cb = conn_cb_of(o->op, cbs, userdata);
        struct conn_wire w;
        int r;

        if (!conn || !cb.u.plain)
                return -EINVAL;
        r = conn_op_prepare(o, &w);
        if (r < 0)
                return r;
        return conn_submit(conn, w.op, w.paths, w.len, &w.flags, &cb);
}

#define OP(...) (&(const struct conn_op) { __VA_ARGS__ })
#define CB_PLAIN(f) (&(const struct conn_callbacks) { .plain = (f) })
#define CB_STAT(f) (&(const struct conn_callbacks) { .stat = (f) })
#define CB_DATA(f) (&(const struct conn_callbacks) { .data = (f) })

FDBR_EXPORT int fdbr_conn_open(fdbr_conn *conn, const char *path, int flags, mode_t mode,
                               fdbr_callback_t callback, void *userdata) {
        return conn_submit_op(conn, OP(.op = FDBR_OP_OPEN, .path = path, .flags = flags, .mode = mode),
                              CB_PLAIN(callback), userdata);
}

/* The ops on a path with flags, and those on a path alone: one line each,
 * the same but for the op and the kind of answer. */
#define CONN_PATH_FLAGS_OP(name, op_, callback_t, cb)                                                          \
        FDBR_EXPORT int fdbr_conn_##name(fdbr_conn *conn, const char *path, int flags, callback_t callback,    \
                                         void *userdata) {                                                     \
                return conn_submit_op(conn, OP(.op = op_, .path = path, .flags = flags), cb(callback), userdata); \
        }
#define CONN_PATH_OP(name, op_, callback_t, cb)                                                                \
        FDBR_EXPORT int fdbr_conn_##name(fdbr_conn *conn, const char *path, callback_t callback, void *userdata) { \
                return conn_submit_op(conn, OP(.op = op_, .path = path), cb(callback), userdata);               \
        }

CONN_PATH_FLAGS_OP(check, FDBR_OP_CHECK, fdbr_callback_t, CB_PLAIN)
CONN_PATH_FLAGS_OP(stat, FDBR_OP_STAT, fdbr_stat_callback_t, CB_STAT)
CONN_PATH_OP(readlink, FDBR_OP_READLINK, fdbr_data_callback_t, CB_DATA)
CONN_PATH_OP(unlink, FDBR_OP_UNLINK, fdbr_callback_t, CB_PLAIN)
CONN_PATH_OP(rmdir, FDBR_OP_RMDIR, fdbr_callback_t, CB_PLAIN)

FDBR_EXPORT int fdbr_conn_mkdir(fdbr_conn *conn, const char *path, mode_t mode,
                                fdbr_callback_t callback, void *userdata) {
        return conn_submit_op(conn, OP(.op = FDBR_OP_MKDIR, .path = path, .mode = mode), CB_PLAIN(callback),
                              userdata);
}

FDBR_EXPORT int fdbr_conn_rename(fdbr_conn *conn, const char *src, const char *dst, unsigned flags,
                                 fdbr_callback_t callback, void *userdata) {
        if (flags > INT_MAX)
                return -EINVAL;
        return conn_submit_op(conn, OP(.op = FDBR_OP_RENAME, .path = src, .path2 = dst, .flags = (int) flags),
                              CB_PLAIN(callback), userdata);
}

FDBR_EXPORT int fdbr_conn_status(fdbr_conn *conn, fdbr_data_callback_t callback, void *userdata) {
        return conn_submit_op(conn, OP(.op = FDBR_OP_STATUS), CB_DATA(callback), userdata);
}

FDBR_EXPORT int fdbr_conn_grants(fdbr_conn *conn, fdbr_data_callback_t callback, void *userdata) {
        return conn_submit_op(conn, OP(.op = FDBR_OP_GRANTS), CB_DATA(callback), userdata);
}

FDBR_EXPORT int fdbr_conn_ping(fdbr_conn *conn, fdbr_callback_t callback, void *userdata) {
        static const struct flags_wire none = { 0 };

        if (!conn || !callback)
                return -EINVAL;
        return conn_submit(conn, FDBR_OP_PING, NULL, 0, &none,
                           &(struct conn_cb) { .kind = CONN_CB_PLAIN, .u.plain = callback, .userdata = userdata });
}

FDBR_EXPORT int fdbr_conn_new(struct event_base *base, const char *socket_path, fdbr_conn **ret_conn) {
        if (!base || !ret_conn)
                return -EINVAL;

        _cleanup_close_ int fd = socket_connect(socket_path ?: fdbr_socket_path());
        if (fd < 0)
                return fd;

        /* Blocking for the connect, which a local listener answers at once;
         * non-blocking from here on, the loop decides when to wait. */
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
                return -errno;

        fdbr_conn *conn = calloc(1, sizeof(*conn));
        if (!conn)
                return -ENOMEM;
        conn->rbuf = malloc(FDBR_WIRE_REPLY_MAX + 1);
        if (!conn->rbuf) {
                free(conn);
                return -ENOMEM;
        }

        conn->base = base;
        conn->state = CONN_OPEN;
        conn->n_ref = 1;
        conn->next_id = 1;
        conn->table = PENDING_TABLE_INIT;
        sendq_init(&conn->sendq);
        if (event_assign(&conn->read_event, base, fd, EV_READ | EV_PERSIST, conn_on_read, conn) < 0 ||
            event_assign(&conn->write_event, base, fd, EV_WRITE | EV_PERSIST, conn_on_write, conn) < 0 ||
            event_assign(&conn->broken_event, base, -1, 0, conn_on_broken, conn) < 0 ||
            event_add(&conn->read_event, NULL) < 0) {
                free(conn->rbuf);
                free(conn);
                return -ENOMEM;
        }

        conn->fd = TAKE_FD(fd);
        *ret_conn = conn;
        return 0;
}

FDBR_EXPORT void fdbr_conn_free(fdbr_conn *conn) {
        if (!conn || conn->state == CONN_FREED)
                return;

        /* The caller's reference keeps conn alive through the callbacks; a
         * second free from one of them finds CONN_FREED and returns. */
        conn_shutdown(conn, CONN_FREED);
        conn_flush(conn, -ECANCELED);
        conn_unref(conn);
}

FDBR_EXPORT void fdbr_conn_set_timeout(fdbr_conn *conn, unsigned timeout_ms) {
        if (conn)
                conn->timeout_ms = timeout_ms;
}

FDBR_EXPORT unsigned fdbr_conn_pending(const fdbr_conn *conn) {
        return conn ? conn->n_pending : 0;
}
